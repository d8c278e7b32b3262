#!/usr/bin/env bash
# `make test-platforms` (issue 27): for each Python given (default: python3.10, 3.12 and 3.13 from
# PATH or pyenv), build a fresh venv .venv-X.Y with the bootstrap (libgpuarray + pygpu from
# source: LIBGPUARRAY_SOURCE names a local tarball where there is no internet), then run
# `rcnreid info`, tests (below), and the OpenCL gpu-check (pocl: DEVICE=opencl0:0). One summary
# line per Python, with times; exit 1 if any step failed.
#   PLATFORM_SUITE=core (default): the repairs' tests and a representative set of core test files
#     (model equations, gradients, training learns, data, evaluation): ~10 min per Python here.
#   PLATFORM_SUITE=full: the whole test suite (tests/) per Python: ~20 min each on a quiet 2-core
#     machine, about an hour on a loaded one.
#   PLATFORM_TESTS="tests/a.py tests/b.py": exactly these files instead.
#   PLATFORM_FRESH=0 reuses existing venvs; PLATFORM_GPU_CHECK=0 skips the gpu-check.
set -uo pipefail
cd "$(dirname "$0")/.."
CORE_TESTS="tests/test_platform_fixes.py tests/test_theano_fixes.py tests/test_install_scripts.py
 tests/test_model_equations.py tests/test_model_bptt.py tests/test_train_learns.py
 tests/test_data_reader.py tests/test_eval_cmc.py"
case "${PLATFORM_SUITE:-core}" in
    core) default_tests=$CORE_TESTS ;;
    full) default_tests=tests ;;
    *) echo "[platforms] PLATFORM_SUITE=${PLATFORM_SUITE} is unknown: use core or full"; exit 2 ;;
esac
PLATFORM_TESTS=${PLATFORM_TESTS:-$default_tests}
DEVICE=${DEVICE:-opencl0:0}
FRESH=${PLATFORM_FRESH:-1}
GPU_CHECK=${PLATFORM_GPU_CHECK:-1}

pythons=("$@")
if [ ${#pythons[@]} = 0 ]; then
    # A pyenv shim on PATH exists for every installed version but runs only the selected ones:
    # take the first candidate that actually runs.
    for v in 3.10 3.12 3.13; do
        p=""
        for c in $(command -v "python$v" 2>/dev/null) $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$v.*/bin/python$v 2>/dev/null | sort -V -r); do
            if "$c" -c pass >/dev/null 2>&1; then p=$c; break; fi
        done
        [ -n "$p" ] && pythons+=("$p") || echo "[platforms] python$v not found: skipped"
    done
fi
[ ${#pythons[@]} -gt 0 ] || { echo "[platforms] no Python to test"; exit 2; }

now() { date +%s; }
start=$(now)
summary=()
status=0
for py in "${pythons[@]}"; do
    ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
        || { summary+=("$py: not a Python"); status=1; continue; }
    venv=.venv-$ver
    log=$venv.log
    line="Python $ver:"
    t0=$(now)
    [ "$FRESH" = 1 ] && rm -rf "$venv"
    if ! make venv PYTHON="$py" VENV="$venv" >"$log" 2>&1; then
        summary+=("$line make venv FAILED ($(grep '^\[bootstrap\]' "$log" | tail -1); see $log)"); status=1; continue
    fi
    line="$line venv $(( $(now) - t0 ))s;"
    # (a reused venv's bootstrap log says nothing of pygpu: ask the venv)
    if ! "$venv/bin/python" -c "import pygpu" >/dev/null 2>&1; then line="$line pygpu NOT installed;"; status=1; fi
    t0=$(now)
    if "$venv/bin/python" -m rcnreid info >>"$log" 2>&1; then line="$line info ok;"; else line="$line info FAILED;"; status=1; fi
    # shellcheck disable=SC2086
    echo "[platforms] pytest $(echo $PLATFORM_TESTS)" >>"$log"
    # shellcheck disable=SC2086
    if "$venv/bin/python" -m pytest -q -p no:cacheprovider -n 2 --dist loadfile $PLATFORM_TESTS >>"$log" 2>&1; then
        line="$line tests $(grep -E '^=* ?[0-9]+ passed' "$log" | tail -1 | tr -d '=' | sed 's/^ *//; s/ in .*//') in $(( $(now) - t0 ))s;"
    else
        line="$line tests FAILED ($(grep -E '(passed|failed)' "$log" | tail -1));"; status=1
    fi
    if [ "$GPU_CHECK" = 1 ]; then
        t0=$(now)
        if make gpu-check VENV="$venv" DEVICE="$DEVICE" >>"$log" 2>&1 && tail -3 "$log" | grep -q "GPU OK"; then
            line="$line gpu-check $DEVICE: GPU OK in $(( $(now) - t0 ))s"
        else
            line="$line gpu-check $DEVICE FAILED ($(grep -E '^GPU NOT OK|^rcnreid: error' "$log" | tail -1 | cut -c1-300))"; status=1
        fi
    fi
    summary+=("$line")
    echo "[platforms] $line"
done
echo "[platforms] summary (logs: .venv-X.Y.log; tests: $(echo $PLATFORM_TESTS)), total $(( $(now) - start ))s:"
printf '  %s\n' "${summary[@]}"
exit $status
