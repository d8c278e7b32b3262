# rcnreid: reproduction of Wu, Shen & van den Hengel (arXiv 1606.01609) on Theano-PyMC.
#
# Quick start (README.rst):   make demo   |   make test
# Every target builds ./.venv first (scripts/bootstrap.sh); a second run reuses it.

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.rcnreid-installed

# Reproduction settings (see docs/EXPERIMENTS.md).
DATA    ?= real
PROFILE ?= paper
READING ?= default
SET     ?=
TRIALS  ?= 10
JOBS    ?= 1
DATADIR ?= data
ILIDSVID_ROOT ?=
PRID_ROOT     ?=
PRID_PROTOCOL ?= 200
ILIDSVID_H5   ?= $(DATADIR)/ilidsvid.h5
PRID_H5       ?= $(DATADIR)/prid2011.h5
RESULTS ?= results
VGG16_WEIGHTS ?=
VIPER_H5 ?=
export VGG16_WEIGHTS VIPER_H5
BENCH_CONFIG ?= cpu
TEST_JOBS ?= 2
EXP_ARGS = --data $(DATA) --profile $(PROFILE) --reading $(READING) --trials $(TRIALS) \
           --jobs $(JOBS) --ilidsvid $(ILIDSVID_H5) --prid $(PRID_H5) --results $(RESULTS) \
           $(foreach s,$(SET),--set $(s))

.PHONY: help venv test test-cuda-headers test-platforms bundle bundle-check demo info gpu-check bench data table2 table3 table4 table5 fig5 paper collect report clean

help:
	@echo "make demo       synthetic data -> quick training -> CMC table and plot (a few minutes, CPU)"
	@echo "make test       the test suite"
	@echo "make gpu-check  DEVICE=cuda|opencl0:0: train a tiny model on the GPU and the CPU, compare (one verdict line)"
	@echo "make test-cuda-headers  compile Theano's GPU conv ops against CUDA 12 + cuDNN 8/9 headers (no GPU; ~1.3 GB download once)"
	@echo "make test-platforms  fresh venvs of Python 3.10/3.12/3.13: repairs' tests + OpenCL gpu-check (docs/INSTALL.md)"
	@echo "make bundle     dist/rcnreid-bundle-*.tar.xz: rcnreid + venv + Python for an offline GPU node"
	@echo "make bundle-check  unpack the bundle elsewhere (originals hidden) and run its OpenCL gpu-check"
	@echo "make info       what Theano configuration is in force"
	@echo "make bench      throughput of the ConvGRU graph (BENCH_CONFIG=cpu|paper)"
	@echo "make data       ILIDSVID_ROOT=... PRID_ROOT=... -> $(DATADIR)/*.h5"
	@echo "make table2 .. table5, fig5, paper   DATA=real|synthetic PROFILE=paper|cpu|quick"
	@echo "                READING=default|literal TRIALS=N JOBS=N SET='train.epochs=5 ...'"
	@echo "make collect    rebuild every table and Fig. 5 from finished trials (computes nothing)"
	@echo "make report     results/report.html: tables beside the paper, Fig. 5, training curves, ranked galleries"

venv: $(STAMP)

$(STAMP): setup.py scripts/bootstrap.sh scripts/install_theano.py scripts/build_gpuarray.py
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/bootstrap.sh
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile tests

demo: $(STAMP)
	$(PY) -m rcnreid demo

info: $(STAMP)
	$(PY) -m rcnreid info

# The first command on a GPU workstation: a tiny Deep RCN trained on DEVICE and on the CPU,
# compared; one verdict line (README.rst, 'GPU'). DEVICE=opencl0:0 checks the OpenCL driver.
DEVICE ?= cuda
gpu-check: $(STAMP)
	$(PY) -m rcnreid gpu-check --device $(DEVICE)

# Compile only, no GPU: Theano's GPU convolution ops (GpuCorrMM, GpuDnnConv and gradients)
# against CUDA 12 and cuDNN 8/9 headers from NVIDIA's PyPI wheels (downloaded once, ~1.3 GB;
# 6 MB of headers kept in ~/.cache/rcnreid/cuda-headers) and libgpuarray's (README.rst, 'GPU').
test-cuda-headers: $(STAMP)
	RCNREID_FETCH_CUDA_HEADERS=1 $(PY) -m pytest -q tests/test_cuda_headers.py

# Issue 27: the install on other Pythons, each in its own fresh venv (.venv-3.X, built by the
# bootstrap), checked by the repairs' tests, a few core test files and the OpenCL gpu-check
# (docs/INSTALL.md gives the measured time). PLATFORM_PYTHONS: interpreters to try (default:
# python3.10, 3.12, 3.13 from PATH or pyenv); PLATFORM_FRESH=0 reuses the venvs.
PLATFORM_PYTHONS ?=

test-platforms:
	bash scripts/test_platforms.sh $(PLATFORM_PYTHONS)

# One relocatable archive: rcnreid, $(VENV) and its Python (scripts/make_bundle.py).
bundle: $(STAMP)
	$(PY) scripts/make_bundle.py $(BUNDLE_ARGS)

# Unpack the bundle into a temporary folder and run its OpenCL gpu-check with the venv and the
# Python it came from hidden (a private mount namespace, when root): proof that it is relocatable.
BUNDLE ?= $(lastword $(sort $(wildcard dist/rcnreid-bundle-*.tar.xz)))
bundle-check:
	@test -n "$(BUNDLE)" || { echo "no dist/rcnreid-bundle-*.tar.xz: run make bundle"; exit 2; }
	bash scripts/bundle_check.sh $(BUNDLE) $(VENV)

bench: $(STAMP)
	$(PY) -m rcnreid bench --config $(BENCH_CONFIG)

data: $(STAMP)
	@test -n "$(ILIDSVID_ROOT)$(PRID_ROOT)" || { echo "set ILIDSVID_ROOT=/path/to/i-LIDS-VID and/or PRID_ROOT=/path/to/prid_2011"; exit 2; }
	@if [ -n "$(ILIDSVID_ROOT)" ]; then $(PY) -m rcnreid prepare ilidsvid --root "$(ILIDSVID_ROOT)" --out $(ILIDSVID_H5); fi
	@if [ -n "$(PRID_ROOT)" ]; then $(PY) -m rcnreid prepare prid2011 --root "$(PRID_ROOT)" --protocol $(PRID_PROTOCOL) --out $(PRID_H5); fi

table2 table3 table4 table5: $(STAMP)
	$(PY) -m experiments.$@ $(EXP_ARGS)

fig5: $(STAMP)
	$(PY) -m experiments.fig5 $(EXP_ARGS)

paper: table2 table3 table4 table5 fig5

collect: $(STAMP)
	$(PY) -m experiments.collect $(EXP_ARGS)

report: $(STAMP)
	$(PY) -m experiments.report --results $(RESULTS)

clean:
	rm -rf demo-output .pytest_cache
