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
# Splits files for make data (.mat with ls_set, or .json): iLIDS-VID's official file is also found
# under ILIDSVID_ROOT; OFFICIAL_SPLITS=1 stops when a dataset's splits file is missing instead of
# drawing random splits; ALLOW_INCOMPLETE=1 converts a copy that falls short of the published one
# (docs/DATA.md).
ILIDSVID_SPLITS ?=
PRID_SPLITS   ?=
OFFICIAL_SPLITS ?=
ALLOW_INCOMPLETE ?=
ILIDSVID_H5   ?= $(DATADIR)/ilidsvid.h5
PRID_H5       ?= $(DATADIR)/prid2011.h5
RESULTS ?= results
VGG16_WEIGHTS ?=
VIPER_H5 ?=
export VGG16_WEIGHTS VIPER_H5
BENCH_CONFIG ?= cpu
TEST_JOBS ?= 2
COMMON_ARGS = --data $(DATA) --profile $(PROFILE) --reading $(READING) --trials $(TRIALS) \
           --ilidsvid $(ILIDSVID_H5) --prid $(PRID_H5) --results $(RESULTS) \
           $(foreach s,$(SET),--set $(s))
EXP_ARGS = $(COMMON_ARGS) --jobs $(JOBS)
# make submit (SLURM, docs/EXPERIMENTS.md): TABLE=table2..table5|fig5|paper, SLURM_ARGS='--partition
# gpu --max-time 24:00:00 --step-seconds 1.2 ...' (python -m experiments.cluster.submit --help)
TABLE ?= paper
SLURM_ARGS ?=

.PHONY: plan help venv test test-slurm submit test-rounding test-interrupt test-cuda-headers test-platforms test-debian13 bundle bundle-check demo info gpu-check bench data table2 table3 table4 table5 fig5 paper collect report clean

help:
	@echo "make demo       synthetic data -> quick training -> CMC table and plot (a few minutes, CPU)"
	@echo "make test       the test suite"
	@echo "make test-rounding  the learned-behaviour tests under each float-rounding setting"
	@echo "make test-interrupt the signal tests, with the slow child-process ones (SIGTERM, SIGKILL)"
	@echo "make gpu-check  DEVICE=cuda|opencl0:0: train a tiny model on the GPU and the CPU, compare (one verdict line)"
	@echo "make test-cuda-headers  compile Theano's GPU conv ops against CUDA 12 + cuDNN 8/9 headers (no GPU; ~1.3 GB download once)"
	@echo "make test-platforms  fresh venvs of Python 3.10/3.12/3.13: repairs' tests + OpenCL gpu-check (docs/INSTALL.md)"
	@echo "make test-debian13  a clean Debian 13 root (debootstrap, as root): fresh clone, make venv, OpenCL gpu-check"
	@echo "make bundle     dist/rcnreid-bundle-*.tar.xz: rcnreid + venv + Python for an offline GPU node"
	@echo "make bundle-check  unpack the bundle elsewhere (originals hidden) and run its OpenCL gpu-check"
	@echo "make info       what Theano configuration is in force"
	@echo "make bench      throughput of the ConvGRU graph (BENCH_CONFIG=cpu|paper)"
	@echo "make data       ILIDSVID_ROOT=... PRID_ROOT=... -> $(DATADIR)/*.h5"
	@echo "                PRID_PROTOCOL=200|178 ILIDSVID_SPLITS=F PRID_SPLITS=F OFFICIAL_SPLITS=1 ALLOW_INCOMPLETE=1"
	@echo "make table2 .. table5, fig5, paper   DATA=real|synthetic PROFILE=paper|cpu|quick"
	@echo "                READING=default|literal|literal-3x3 TRIALS=N JOBS=N SET='train.epochs=5 ...'"
	@echo "make plan       TABLE=2..5|fig5|paper (+ the table variables): the units it computes, steps,"
	@echo "                GPU-hours and wall time from STEP_S=s per paper step or BENCH_JSON=file"
	@echo "make collect    rebuild every table and Fig. 5 from finished trials (computes nothing)"
	@echo "make submit     TABLE=table2|...|paper SLURM_ARGS='--partition gpu ...': one SLURM task per unit of work, prints the job ids"
	@echo "make test-slurm a private SLURM on this machine (root): Table 2 pre-empted, requeued, equal to a local run"
	@echo "make report     results/report.html: tables beside the paper, Fig. 5, training curves, ranked galleries"

venv: $(STAMP)

$(STAMP): setup.py scripts/bootstrap.sh scripts/install_theano.py scripts/build_gpuarray.py \
          scripts/source_archive.py
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/bootstrap.sh
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile tests

# The tests that assert what training learns (marked `outcome`), once under each float-rounding
# setting another CPU would bring: oneDNN or CorrMM convolutions, 1 or 2 threads per worker, and
# AVX2-only kernels unless this machine's environment sets OPENBLAS_CORETYPE (docs/DEVELOPING.md,
# "Float rounding"). ROUNDING_SETTINGS=onednn-1,corrmm-2 chooses others.
ROUNDING_SETTINGS ?=
test-rounding: $(STAMP)
	$(PY) -m tests.outcome_spread --pytest "-m outcome -n $(TEST_JOBS) --dist loadfile tests" \
	    $(if $(ROUNDING_SETTINGS),--settings $(ROUNDING_SETTINGS))

# The signal tests with the slow one (a SIGTERM at a real moment, not at a hooked mini-batch).
test-interrupt: $(STAMP)
	RCNREID_SLOW_TESTS=1 $(PY) -m pytest -q tests/test_train_interrupt.py

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

# Issue 27: docs/INSTALL.md's Debian 13 route in a clean trixie root made by debootstrap (root
# only; the root is kept in .debian13-root and reused): apt-get install as documented, a fresh
# clone of HEAD, make venv && make gpu-check DEVICE=opencl0:0 inside (scripts/test_debian13.sh).
test-debian13:
	bash scripts/test_debian13.sh

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

# --splits-json for a .json file, --splits-mat otherwise; nothing when the variable is empty.
splits_opt = $(if $(1),$(if $(filter %.json,$(1)),--splits-json,--splits-mat) "$(1)")
DATA_OPTS = $(if $(filter 1 yes true,$(OFFICIAL_SPLITS)),--require-official-splits) \
            $(if $(filter 1 yes true,$(ALLOW_INCOMPLETE)),--allow-incomplete)

data: $(STAMP)
	@test -n "$(ILIDSVID_ROOT)$(PRID_ROOT)" || { echo "set ILIDSVID_ROOT=/path/to/i-LIDS-VID and/or PRID_ROOT=/path/to/prid_2011"; exit 2; }
	@if [ -n "$(ILIDSVID_ROOT)" ]; then $(PY) -m rcnreid prepare ilidsvid --root "$(ILIDSVID_ROOT)" --out $(ILIDSVID_H5) $(call splits_opt,$(ILIDSVID_SPLITS)) $(strip $(DATA_OPTS)); fi
	@if [ -n "$(PRID_ROOT)" ]; then $(PY) -m rcnreid prepare prid2011 --root "$(PRID_ROOT)" --protocol $(PRID_PROTOCOL) --out $(PRID_H5) $(call splits_opt,$(PRID_SPLITS)) $(strip $(DATA_OPTS)); fi

table2 table3 table4 table5: $(STAMP)
	$(PY) -m experiments.$@ $(EXP_ARGS)

fig5: $(STAMP)
	$(PY) -m experiments.fig5 $(EXP_ARGS)

paper: table2 table3 table4 table5 fig5

# What a table target will compute and how long it takes, before anything runs (seconds, no
# compilation): the same variables as the table targets, TABLE=2|3|4|5|fig5|paper, the measured
# step as STEP_S=<seconds per paper step> or BENCH_JSON=<rcnreid bench --config paper --json
# output> or FROM_RUN=<a training's run folder> (default: 1.20 s, an H200 on 1 Dec 2026),
# SPEEDUP=<throughput of JOBS jobs over one>
# (default JOBS: one GPU per job). PLAN_ARGS='--json' or '--per-trial'. docs/EXPERIMENTS.md.
TABLE   ?= paper
STEP_S  ?=
BENCH_JSON ?=
FROM_RUN ?=
STEP_CONFIG ?=
SPEEDUP ?=
PLAN_ARGS ?=
plan: $(STAMP)
	@$(PY) -m experiments.plan $(TABLE) $(EXP_ARGS) --prid-protocol $(PRID_PROTOCOL) \
	    $(if $(STEP_S),--step-s $(STEP_S)) $(if $(BENCH_JSON),--bench-json $(BENCH_JSON)) \
	    $(if $(FROM_RUN),--from-run $(FROM_RUN)) \
	    $(if $(STEP_CONFIG),--step-config $(STEP_CONFIG)) $(if $(SPEEDUP),--speedup $(SPEEDUP)) \
	    $(PLAN_ARGS)

collect: $(STAMP)
	$(PY) -m experiments.collect $(EXP_ARGS)

# One SLURM task per unit of work (a training or an evaluation of a row x dataset x trial), with
# the dependencies between units, each sized from its configuration; prints the job ids. Then
# `make collect` with the same settings (docs/EXPERIMENTS.md, "On a SLURM cluster").
submit: $(STAMP)
	$(PY) -m experiments.cluster.submit $(TABLE) $(COMMON_ARGS) $(SLURM_ARGS)

# Issue 30's proof (root, Debian's SLURM packages, installed by the bootstrap): a private
# munge + slurmctld + slurmd with fake GPUs runs a synthetic test-profile Table 2, both datasets,
# two trials; one training pre-empted with SIGTERM and requeued, one killed and resubmitted; the
# collected table, units and networks equal a local run's bit for bit (tests/test_slurm_cluster.py).
test-slurm: $(STAMP)
	RCNREID_SLURM_FULL=1 $(PY) -m pytest -q tests/test_slurm_submit.py tests/test_slurm_cluster.py

report: $(STAMP)
	$(PY) -m experiments.report --results $(RESULTS)

clean:
	rm -rf demo-output .pytest_cache
