#!/usr/bin/env bash
# Build the project's virtual environment in ./.venv with the pinned Theano-PyMC stack.
# Called by `make venv` (and so by `make test` / `make demo`); safe to run again.
#
# What it installs, and why:
# - Debian's libopenblas-dev (when missing and we are root): Theano links its BLAS ops against it.
#   Without it rcnreid still runs, on numpy's C-API fallback, more slowly.
# - Debian's libdnnl-dev (oneDNN; when missing and root): CPU convolutions 3x faster than
#   Theano's CorrMM (rcnreid/backend/onednn_conv.py, docs/SPEED.md). Without it rcnreid uses CorrMM.
# - python3-venv / python3-dev (Debian system Python only, when missing and root): the venv
#   module and Python.h, which Theano needs to compile its C code.
# - Debian's chromium (optional, when missing and root): the headless browser of the HTML
#   report's test.
# - Debian's python3-pygpu, libgpuarray-dev and pocl-opencl-icd (when missing and root): Theano's
#   GPU backend, run on the CPU through OpenCL by the test suite (see below).
# - The Python packages pinned in setup.py (Theano-PyMC 1.1.2 needs numpy < 1.24, scipy < 1.12
#   and setuptools < 70 for pkg_resources), plus pytest and pytest-xdist.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

say() { echo "[bootstrap] $*"; }
is_root() { [ "$(id -u)" = 0 ]; }
APT_UPDATED=0
apt_install() {
    if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
        say "missing Debian package(s) $*; not root or no apt-get: install them yourself (apt-get install $*)"
        return 1
    fi
    if [ "$APT_UPDATED" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
        APT_UPDATED=1
    fi
    say "installing Debian package(s): $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

"$PYTHON" - <<'PY' || { echo "[bootstrap] rcnreid needs Python 3.9-3.11 (Theano-PyMC 1.1.2); set PYTHON=python3.11" >&2; exit 1; }
import sys
sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 11) else 1)
PY

# OpenBLAS for Theano's BLAS ops.
if ! ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so '; then
    if [ ! -e /usr/lib/x86_64-linux-gnu/libopenblas.so ] && [ ! -e /usr/lib/aarch64-linux-gnu/libopenblas.so ]; then
        apt_install libopenblas-dev || say "continuing without OpenBLAS (numpy C-API fallback, slower)"
    fi
fi

# oneDNN for the CPU convolutions (issue 18): rcnreid/backend/onednn_conv.py compiles a small C file
# against it at first use. Never fatal: without it the convolutions are Theano's CorrMM.
# RCNREID_NO_ONEDNN=1 skips this step.
if [ -z "${RCNREID_NO_ONEDNN:-}" ] && [ ! -e /usr/include/oneapi/dnnl/dnnl.h ] \
        && command -v dpkg >/dev/null 2>&1 && ! dpkg -s libdnnl-dev >/dev/null 2>&1; then
    apt_install libdnnl-dev || say "continuing without oneDNN (CPU convolutions by Theano's CorrMM, slower)"
fi

# Python headers for Theano's C compilation.
if ! "$PYTHON" -c 'import os, sysconfig, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)'; then
    apt_install python3-dev || { echo "[bootstrap] Python.h is missing: install your Python's development headers" >&2; exit 1; }
fi

# Chromium (optional, large: ~100 MB with its libraries): only tests/test_report_html.py uses it,
# to render results/report.html headless and check that every image loads; without it that test
# skips with one line. Installed when missing and root; a failure never stops the bootstrap.
# RCNREID_NO_CHROMIUM=1 skips this step.
if [ -z "${RCNREID_NO_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
        && ! command -v chromium-browser >/dev/null 2>&1; then
    apt_install chromium || say "continuing without chromium (the HTML report's browser test will skip)"
fi

# Theano's GPU backend (issue 14): pygpu is not on PyPI. Debian's python3-pygpu (built for
# CPython 3.11 and numpy's C-API version 16, which numpy 1.23.5 shares) with libgpuarray-dev (the
# headers of Theano's first GPU compile) and pocl-opencl-icd (an OpenCL driver that runs on the
# CPU) lets the test suite run Theano's GPU backend for real on any machine
# (THEANO_FLAGS=device=opencl0:0). Installed when missing and root; never fatal: without them the
# OpenCL tests skip with one line. RCNREID_NO_OPENCL=1 skips this step.
if [ -z "${RCNREID_NO_OPENCL:-}" ] && command -v dpkg >/dev/null 2>&1; then
    missing=""
    for pkg in python3-pygpu libgpuarray-dev pocl-opencl-icd; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086
        apt_install $missing || say "continuing without Debian's pygpu/OpenCL (the OpenCL tests will skip)"
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv && "$PYTHON" -m venv "$VENV"
    fi
fi

say "installing rcnreid and its pinned dependencies into $VENV (first time: about a minute)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "pip>=23" "wheel" "setuptools<70" 2>&1 | grep -v '^WARNING: Location' || true
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v -e '^WARNING: Location' -e 'BuildBackendWarning' || true
# Expose Debian's pygpu, and only it (not Debian's numpy), to the venv: a folder holding a link to
# the pygpu package, put on the venv's path by a .pth file; pygpu's own needs (six, mako) come
# from PyPI. Skipped when the venv already has a pygpu (e.g. conda-forge's) or its Python is not
# the 3.11 that Debian's build is for.
DEB_PYGPU=/usr/lib/python3/dist-packages/pygpu
if [ -d "$DEB_PYGPU" ] && ! "$VENV/bin/python" -c 'import pygpu' >/dev/null 2>&1; then
    if "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
        mkdir -p "$VENV/debian-pygpu"
        ln -sfn "$DEB_PYGPU" "$VENV/debian-pygpu/pygpu"
        site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        echo "$(cd "$VENV/debian-pygpu" && pwd)" > "$site/rcnreid-debian-pygpu.pth"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check six mako 2>&1 | grep -v '^WARNING: Location' || true
        if "$VENV/bin/python" -c 'import pygpu' >/dev/null 2>&1; then
            say "Debian's pygpu $("$VENV/bin/python" -c 'import pygpu; print(pygpu.__version__)') is visible in $VENV"
        else
            say "Debian's pygpu does not import in $VENV; the OpenCL tests will skip"
        fi
    else
        say "Debian's pygpu is built for Python 3.11; $VENV has another Python: no GPU backend"
    fi
fi

"$VENV/bin/python" -c "import rcnreid.backend.theano_env, numpy, scipy, h5py, PIL, matplotlib, sklearn, cv2, pytest, xdist" \
    || { echo "[bootstrap] the installation is incomplete (see the pip output above)" >&2; exit 1; }
say "ready: $("$VENV/bin/python" -c 'import numpy; from rcnreid.backend.theano_env import theano; print("Theano", theano.__version__, "numpy", numpy.__version__)')"
