#!/usr/bin/env bash
# Issue 28 on a lent GPU (an H200): the cuDNN algorithm choices, TF32 against strict float32,
# determinism, the profile by part and JOBS=N, one setting after another, most important first,
# each with its own timeout inside one time budget, so that a run cut short still leaves the
# most important numbers. Every result is a file under $OUT, and $OUT/summary.md (rewritten
# after every step by scripts/device/issue28_summary.py) applies the rule of
# rcnreid.backend.gpu_conv.decide and names the float-arithmetic settings of every number.
#
#   bash scripts/device/issue28.sh [1|2|all]     # phase 1 (default): algorithm A/B, TF32
#                                                # phase 2: same seed twice, bench --ops, JOBS
#   DRY=1 bash scripts/device/issue28.sh all     # the same steps on OpenCL (pocl) with the tiny
#                                                # configuration: checks the script, not speed
#
# Variables: OUT (results; default /tmp/issue28), PY (the Python with rcnreid; default: the
# bundle in dist/ unpacked to /tmp, else .venv/bin/python), BUDGET_S (seconds for this call,
# default 540: a device call may run 600 s), CONFIG (paper), STEPS/WARMUP (timed/untimed calls),
# TIMEOUT_SCALE (each step's timeout and minimum times this; 1, or 4 under DRY=1),
# THEANO_BASE (Theano flags of every step; default device=cuda,dnn__enabled=True,
# gcc__cxxflags=-O1 as on 1 Dec). The Theano compile cache is kept in .device-cache/ of the
# checkout (XDG_CACHE_HOME), so that a second call on a still-warm machine skips the cold
# compile (about 3.5 min for the paper configuration on an H200).
set -u
PHASE=${1:-1}
case "$PHASE" in 1|2|all) ;; *) echo "usage: $0 [1|2|all]" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO" || exit 2
OUT=${OUT:-/tmp/issue28}
mkdir -p "$OUT" || exit 2
START=$(date +%s)
BUDGET_S=${BUDGET_S:-540}
DRY=${DRY:-0}
# On the device: a compile cache in the checkout (ignored by git) that a second call on a warm
# machine finds again. DRY=1 keeps this machine's own cache.
[ "$DRY" = 1 ] || export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$REPO/.device-cache}
if [ "$DRY" = 1 ]; then
    DEVICE=${DEVICE:-opencl0:0}; CONFIG=${CONFIG:-tiny}; STEPS=${STEPS:-2}; WARMUP=${WARMUP:-1}
    THEANO_BASE=${THEANO_BASE:-device=$DEVICE}
    HOST_FLAGS=${HOST_FLAGS:-}
    JOBS_LIST=${JOBS_LIST:-1,2}
    SCALE=${TIMEOUT_SCALE:-4}      # pocl on a shared CPU compiles and runs far slower
else
    DEVICE=${DEVICE:-cuda}; CONFIG=${CONFIG:-paper}; STEPS=${STEPS:-4}; WARMUP=${WARMUP:-2}
    THEANO_BASE=${THEANO_BASE:-device=$DEVICE,dnn__enabled=True,gcc__cxxflags=-O1}
    HOST_FLAGS=${HOST_FLAGS:-dnn__enabled=True,gcc__cxxflags=-O1}
    JOBS_LIST=${JOBS_LIST:-1,2,4}
    SCALE=${TIMEOUT_SCALE:-1}
fi
if [ -z "${PY:-}" ]; then
    bundle=$(ls dist/rcnreid-bundle-*.tar.xz 2>/dev/null | tail -n 1)
    if [ -n "$bundle" ]; then
        dest=/tmp/rcnreid-bundle-issue28
        [ -x "$dest/rcnreid-bundle/bin/python" ] || { mkdir -p "$dest" && tar -xJf "$bundle" -C "$dest"; }
        PY=$dest/rcnreid-bundle/bin/python
    else
        PY=.venv/bin/python
    fi
fi
# The checkout's rcnreid (run from its root) comes first on sys.path, whatever Python runs it.
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}
LOG=$OUT/log.txt
say() { echo "$*" | tee -a "$LOG"; }
left() { echo $(( START + BUDGET_S - $(date +%s) )); }
summary() { "$PY" "$HERE/issue28_summary.py" "$OUT" > /dev/null 2>> "$OUT/summary.err"; }

# step NAME MIN_S TIMEOUT_S OUTFILE ENV... -- COMMAND...: run COMMAND with ENV when MIN_S seconds
# are left, for at most TIMEOUT_S (or what is left); stdout to OUTFILE, stderr to NAME.err.
step() {
    local name=$1 need=$2 limit=$3 outfile=$4; shift 4
    local envs=()
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    need=$(( need * SCALE )); limit=$(( limit * SCALE ))
    local have; have=$(left)
    if [ "$have" -lt "$need" ]; then
        say "== $name skipped: ${have}s left of the budget, needs ${need}s"
        echo "{\"skipped\": \"${have}s left, needs ${need}s\"}" > "$OUT/$name.skipped.json"
        return 0
    fi
    [ "$limit" -gt "$have" ] && limit=$have
    say "== $name start $(date -u +%T) (limit ${limit}s; ${envs[*]:-})"
    local t0; t0=$(date +%s)
    env "${envs[@]}" timeout "$limit" "$@" > "$outfile" 2> "$OUT/$name.err"
    local rc=$?
    say "== $name rc=$rc after $(( $(date +%s) - t0 ))s$([ $rc = 124 ] && echo ' (timed out)')"
    [ "$rc" != 0 ] && tail -n 3 "$OUT/$name.err" | sed 's/^/   /' | tee -a "$LOG"
    summary
    return 0
}

# bench NAME MIN TIMEOUT CHOICE [ENV...]: the training step and inference under a cuDNN choice
bench() {
    local name=$1 need=$2 limit=$3 choice=$4; shift 4
    step "$name" "$need" "$limit" "$OUT/$name.json" RCNREID_GPU_CONV="$choice" \
        THEANO_FLAGS="$THEANO_BASE" "$@" -- \
        "$PY" -m rcnreid bench --config "$CONFIG" --json --steps "$STEPS" --warmup "$WARMUP"
}

chosen() {   # the default the rule picks from what is measured so far
    "$PY" "$HERE/issue28_summary.py" "$OUT" --chosen 2>/dev/null || echo deterministic
}

say "issue28 phase $PHASE: device $DEVICE, config $CONFIG, budget ${BUDGET_S}s, PY $PY, $(date -u)"
step info 30 60 "$OUT/info.json" THEANO_FLAGS="$THEANO_BASE" -- "$PY" -m rcnreid info --json
command -v nvidia-smi > /dev/null && nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1

if [ "$PHASE" = 1 ] || [ "$PHASE" = all ]; then
    # 1. the provisional default; pays the cold compile of the configuration
    bench det 120 330 deterministic
    # 2. cuDNN's own timing of all three (the fastest candidate; Theano's pool preallocated)
    bench time_once 50 150 time_once
    # 3. Theano-PyMC's defaults, the 1 Dec baseline (1.20 s per step)
    bench theano_default 45 120 theano-default
    # 4. strict float32 for the choice the rule picks so far (the <= 0.7 s target)
    c=$(chosen)
    bench "fp32_$c" 45 120 "$c" NVIDIA_TF32_OVERRIDE=0
    # 5. the other candidates
    bench det_timed 45 120 deterministic-timed
    bench guess_once 45 120 guess_once
fi
if [ "$PHASE" = 2 ] || [ "$PHASE" = all ]; then
    c=$(chosen)
    # 6. the same seed twice under the chosen algorithms, on the configuration itself
    # (gpu-check and bench --jobs start the device in their child processes only: the parent
    # gets THEANO_FLAGS without a device, HOST_FLAGS, and the device as an option)
    step "same_seed_$c" 90 240 "$OUT/same_seed_$c.txt" RCNREID_GPU_CONV="$c" \
        THEANO_FLAGS="$HOST_FLAGS" -- \
        "$PY" -m rcnreid gpu-check --device "$DEVICE" --same-seed-only --config "$CONFIG" --steps 2
    # 7. where the step's time goes, by part, beside the device's peaks
    step "ops_$c" 80 200 "$OUT/ops_$c.json" RCNREID_GPU_CONV="$c" CUDA_LAUNCH_BLOCKING=1 \
        THEANO_FLAGS="$THEANO_BASE" -- \
        "$PY" -m rcnreid bench --config "$CONFIG" --ops --json --steps 2 --warmup 1
    # 8. JOBS=N on one device: aggregate training sequences/s
    step "jobs_$c" 150 400 "$OUT/jobs_$c.json" RCNREID_GPU_CONV="$c" \
        THEANO_FLAGS="$HOST_FLAGS" -- \
        "$PY" -m rcnreid bench --config "$CONFIG" --jobs "$JOBS_LIST" --device "$DEVICE" \
        --json --steps 3 --warmup 1
    # 9. Theano's defaults twice from one seed: how far apart ALGO_0 puts them
    step same_seed_theano-default 90 240 "$OUT/same_seed_theano-default.txt" \
        RCNREID_GPU_CONV=theano-default THEANO_FLAGS="$HOST_FLAGS" -- \
        "$PY" -m rcnreid gpu-check --device "$DEVICE" --same-seed-only --config "$CONFIG" --steps 2
fi
summary
say "issue28 phase $PHASE done after $(( $(date +%s) - START ))s; $OUT/summary.md"
cat "$OUT/summary.md" 2>/dev/null
exit 0
