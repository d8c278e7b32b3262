"""Issue 14: Theano's GPU backend, repaired, runs rcnreid for real (OpenCL on the CPU via pocl).

Every case of tests/opencl_cases.py runs in its own process with ``device=opencl0:0``: it must
compile onto the device with no optimiser error and give numpy's numbers. Then each GPU repair
of :mod:`rcnreid.backend.theano_fixes` is switched off in turn (RCNREID_DISABLE_FIXES) and the case
that needs it must fail: the repairs are all necessary. The whole network on the device is
tests/test_gpu_check_opencl.py (a file of its own, so pytest-xdist runs the two in parallel).

Where pygpu or an OpenCL driver is missing, every test here skips with one line saying which.
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEVICE = "opencl0:0"


def _why_no_opencl():
    try:
        import pygpu
    except Exception as exc:
        return "pygpu does not import (%s): `make venv` builds it (scripts/build_gpuarray.py)" \
            % exc
    try:
        pygpu.init(DEVICE)
    except Exception as exc:
        return "no OpenCL device %s (%s): install pocl-opencl-icd" % (DEVICE, exc)
    return None


WHY = _why_no_opencl()
pytestmark = pytest.mark.skipif(WHY is not None, reason=str(WHY))


@pytest.fixture(scope="module")
def compiledir(tmp_path_factory):
    # A compile cache of their own: the cases must compile from scratch (a module cached by an
    # earlier, unrepaired run would hide a missing repair).
    return str(tmp_path_factory.mktemp("opencl-compiledir"))


def run_case(name, compiledir, disable=None, timeout=900):
    env = dict(os.environ)
    env.pop("THEANORC", None)
    env["THEANO_FLAGS"] = "device=%s,base_compiledir=%s" % (DEVICE, compiledir)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    if disable:
        env["RCNREID_DISABLE_FIXES"] = disable
    return subprocess.run([sys.executable, os.path.join(HERE, "opencl_cases.py"), name],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def ok(proc, name):
    clean = "ERROR (theano" not in proc.stderr
    return proc.returncode == 0 and ("%s ok" % name) in proc.stdout and clean


CASES = ["init", "elemwise", "join", "conv", "maxmin", "scan", "scan_rotation", "gemv_beta0",
         "op_profile", "same_seed"]


@pytest.mark.parametrize("case", CASES)
def test_case_runs_on_the_device(case, compiledir):
    proc = run_case(case, compiledir)
    assert ok(proc, case), (proc.stdout + proc.stderr)[-3000:]


#: Each GPU repair and a case that fails without it.
NEEDED_BY = {
    "gpuarray_use_optdb": "init",
    "gpu_graph_opt_fgraph": "elemwise",       # the GraphToGPU pass errors (logged) without it
    "gpu_local_opt_fgraph": "conv",
    "gpu_applys_between_len": "elemwise",
    "fusion_gpu_test_value": "elemwise",
    "hidec_hooks_defaults": "join",
    "maximum_minimum_nan": "maxmin",
    "scan_gpudata_identity": "scan",
    "scan_cython_gpudata_opencl": "scan",      # Python < 3.11 only (make test-platforms)
    "scan_buffer_rotation_overlap": "scan_rotation",
    "opencl_blas_beta0_output": "gemv_beta0",
}


#: GPU repairs of CUDA-only code, shown necessary by tests/test_cuda_headers.py instead.
CUDA_ONLY = {"cudnn8_removed_algo_queries"}

#: GPU repairs shown necessary by a test of their own below.
OWN_TEST = {"gpu_elemwise_free_null"}


def test_every_gpu_repair_has_a_case():
    from rcnreid.backend import theano_fixes
    assert {f.name for f in theano_fixes.FIXES if f.gpu} == set(NEEDED_BY) | CUDA_ONLY | OWN_TEST


@pytest.mark.parametrize("fix", sorted(NEEDED_BY))
def test_case_fails_without_the_repair(fix, compiledir):
    from rcnreid.backend import theano_fixes
    found = [f for f in theano_fixes.FIXES if f.name == fix][0]
    if found.when is not None and not found.when():
        pytest.skip("%s is not needed on this Python/numpy" % fix)
    case = NEEDED_BY[fix]
    proc = run_case(case, compiledir, disable=fix)
    assert not ok(proc, case), "the %s case passed with %s disabled" % (case, fix)


def test_a_kernel_that_does_not_build_is_an_error_not_a_crash(compiledir):
    """gpu_elemwise_free_null: an elementwise kernel that does not build (here: maximum's
    unrepaired nan(""), not OpenCL C) must end in Theano's error, not in a segfault of the op's
    cleanup (seen: gpu-check workers dying of SIGSEGV in GpuElemwise_free with no message)."""
    proc = run_case("maxmin", compiledir, disable="maximum_minimum_nan")
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-800:])
    assert "Could not initialize elemwise support" in proc.stderr
    crash = run_case("maxmin", compiledir, disable="maximum_minimum_nan,gpu_elemwise_free_null")
    assert crash.returncode < 0, (crash.returncode, crash.stderr[-800:])   # SIGSEGV


def test_info_tells_the_truth_on_the_device():
    import json
    env = dict(os.environ, THEANO_FLAGS="device=%s" % DEVICE)
    r = subprocess.run([sys.executable, "-m", "rcnreid", "info", "--json"], env=env,
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["gpu_active"] is True and d["device"] == DEVICE
    assert d["pygpu"] and d["device_name"]
    assert d["cuda_available"] is False


def test_gpu_that_does_not_start_is_one_line():
    env = dict(os.environ, THEANO_FLAGS="device=%s" % DEVICE,
               RCNREID_DISABLE_FIXES="gpuarray_use_optdb")
    r = subprocess.run([sys.executable, "-m", "rcnreid", "info"], env=env,
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()
             and not ln.startswith("Mapped name")]
    assert len(lines) == 1 and "could not start" in lines[0] and "optdb" in lines[0], r.stderr
