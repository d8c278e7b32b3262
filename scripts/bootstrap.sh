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
# - Debian's pocl-opencl-icd and libclblast1 (when missing and root): an OpenCL driver that runs
#   on the CPU, and the OpenCL BLAS libgpuarray uses, so the test suite runs Theano's GPU backend
#   for real on any machine (device=opencl0:0).
# - The Python packages pinned in setup.py, per Python (3.9-3.13; docs/INSTALL.md), plus pytest and
#   pytest-xdist. Theano-PyMC 1.1.2 first, by scripts/install_theano.py (its sdist needs a repair
#   to build on Python >= 3.12).
# - Theano's GPU backend, libgpuarray + pygpu 0.7.6, built from source into the venv by
#   scripts/build_gpuarray.py (pygpu is not on PyPI): needs cmake, a C compiler and make (installed
#   when missing and root), Cython (from PyPI) and the source (downloaded, or LIBGPUARRAY_SOURCE=
#   a local .tar.gz). A failed build is one line and not fatal: rcnreid then runs on the CPU only.
#   RCNREID_NO_GPU=1 skips it.
# - Debian's slurmctld, slurmd, slurm-client and munge (when missing and root): the SLURM tests
#   run a private single-node SLURM (tests/slurm_harness.py). RCNREID_NO_SLURM=1 skips them.
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

command -v "$PYTHON" >/dev/null 2>&1 || { echo "[bootstrap] $PYTHON not found; set PYTHON=/path/to/python3.X (3.9-3.13)" >&2; exit 1; }
"$PYTHON" - <<'PY' || { echo "[bootstrap] rcnreid needs Python 3.9-3.13 (Theano-PyMC 1.1.2), $PYTHON is $("$PYTHON" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null); set PYTHON=python3.X" >&2; exit 1; }
import sys
sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 13) else 1)
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

# An OpenCL driver that runs on the CPU (pocl) and the OpenCL BLAS (CLBlast) libgpuarray loads:
# with them the test suite runs Theano's GPU backend for real on any machine
# (THEANO_FLAGS=device=opencl0:0). Installed when missing and root; never fatal: without them the
# OpenCL tests skip with one line. RCNREID_NO_OPENCL=1 skips this step.
if [ -z "${RCNREID_NO_OPENCL:-}" ] && command -v dpkg >/dev/null 2>&1; then
    missing=""
    for pkg in pocl-opencl-icd libclblast1; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086
        apt_install $missing || say "continuing without pocl/CLBlast (the OpenCL tests will skip)"
    fi
fi

# Debian's SLURM (slurmctld, slurmd, slurm-client) and munge (when missing and root): the test
# suite starts a private single-node SLURM with them (tests/slurm_harness.py: its own config,
# ports, munge socket and fake GPUs; never the system's services) and runs a pre-empted table
# through it (tests/test_slurm_cluster.py, make test-slurm). Never fatal: without them those tests
# skip with one line. RCNREID_NO_SLURM=1 skips this step.
if [ -z "${RCNREID_NO_SLURM:-}" ] && command -v dpkg >/dev/null 2>&1; then
    missing=""
    for pkg in slurmctld slurmd slurm-client munge; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086
        apt_install $missing || say "continuing without SLURM (the SLURM tests will skip)"
    fi
fi

# The tools that build libgpuarray (cmake, make; gcc is Theano's compiler anyway).
if [ -z "${RCNREID_NO_GPU:-}" ]; then
    missing=""
    command -v cmake >/dev/null 2>&1 || missing="$missing cmake"
    command -v make >/dev/null 2>&1 || command -v ninja >/dev/null 2>&1 || missing="$missing make"
    command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086
        apt_install $missing || true     # build_gpuarray.py names what is still missing
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv && "$PYTHON" -m venv "$VENV"
    fi
fi

say "installing rcnreid and its pinned dependencies into $VENV (first time: a few minutes)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "pip>=23" "wheel" "setuptools<70" 2>&1 | grep -v '^WARNING: Location' || true
"$VENV/bin/python" scripts/install_theano.py || exit 1
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v -e '^WARNING: Location' -e 'BuildBackendWarning' || true

# Earlier bootstraps exposed Debian's pygpu (Python 3.11 only) through a .pth file: retire it.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -f "$site/rcnreid-debian-pygpu.pth"
rm -rf "$VENV/debian-pygpu"

# Theano's GPU backend: libgpuarray + pygpu built into the venv (scripts/build_gpuarray.py).
if [ -z "${RCNREID_NO_GPU:-}" ]; then
    "$VENV/bin/python" scripts/build_gpuarray.py \
        || say "continuing without Theano's GPU backend: rcnreid runs on the CPU (fix the above and run make venv again)"
fi

"$VENV/bin/python" -c "import rcnreid.backend.theano_env, numpy, scipy, h5py, PIL, matplotlib, sklearn, cv2, pytest, xdist" \
    || { echo "[bootstrap] the installation is incomplete (see the pip output above)" >&2; exit 1; }
say "ready: $("$VENV/bin/python" -c 'import numpy; from rcnreid.backend.theano_env import theano; print("Theano", theano.__version__, "numpy", numpy.__version__)')"
