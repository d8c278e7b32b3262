"""The Theano-PyMC 1.1.2 repairs of rcnreid.backend.theano_fixes: registered, version-guarded,
needed.

The GPU repairs are shown necessary on the OpenCL device in tests/test_gpu_opencl.py; here are
the CPU ones (each run in a fresh process and a fresh compile cache, with and without it), the
version guard and the source-patching helper.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from rcnreid.backend import theano_fixes
from rcnreid.backend.theano_env import T, describe, theano

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code, tmp_path, flags="", disable=None):
    env = dict(os.environ)
    env.pop("THEANORC", None)
    env["THEANO_FLAGS"] = ",".join(f for f in ["base_compiledir=%s" % tmp_path, flags] if f)
    env.pop("RCNREID_DISABLE_FIXES", None)
    if disable:
        env["RCNREID_DISABLE_FIXES"] = disable
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_every_fix_names_its_bug_and_is_applied_here():
    assert len({f.name for f in theano_fixes.FIXES}) == len(theano_fixes.FIXES)
    for f in theano_fixes.FIXES:
        assert f.stage in ("pre_import", "post_import", "gpu_init")
        assert len(f.bug) > 40, f.name
        expected = "not reached" if f.stage == "gpu_init" else "applied"
        if f.when is not None and not f.when():        # another Python/numpy's repair
            expected = "not needed here"
        assert theano_fixes.STATUS.get(f.name, "not reached").startswith(expected), f.name
    names = [f["name"] for f in describe()["fixes"]]
    assert names == [f.name for f in theano_fixes.FIXES]


def test_other_theano_versions_get_no_fix(monkeypatch):
    calls = []
    probe = theano_fixes.Fix("probe_fix", "a bug that only exists in this test, say so plainly",
                             "probe_stage", lambda th: calls.append(th) or True)
    monkeypatch.setattr(theano_fixes, "FIXES", theano_fixes.FIXES + [probe])
    monkeypatch.setitem(theano_fixes.STATUS, "probe_fix", None)
    monkeypatch.setattr(theano_fixes, "theano_version", lambda: "1.1.3")
    theano_fixes.apply_stage("probe_stage")
    assert calls == [] and theano_fixes.STATUS["probe_fix"].startswith("skipped")
    monkeypatch.setattr(theano_fixes, "theano_version", lambda: theano_fixes.FIXED_VERSION)
    theano_fixes.apply_stage("probe_stage")
    assert calls == [None] and theano_fixes.STATUS["probe_fix"] == "applied"
    monkeypatch.setenv("RCNREID_DISABLE_FIXES", "probe_fix")
    theano_fixes.apply_stage("probe_stage")
    assert calls == [None] and theano_fixes.STATUS["probe_fix"].startswith("disabled")


def test_version_is_read_without_installed_metadata(monkeypatch):
    """A copied Theano (no dist-info, as on a machine where the package was carried over) still
    gets its fixes: the version comes from theano/_version.py, read as text."""
    import importlib.metadata

    def no_metadata(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", no_metadata)
    monkeypatch.delitem(sys.modules, "theano")
    try:
        assert theano_fixes.theano_version() == theano_fixes.FIXED_VERSION
    finally:
        sys.modules["theano"] = theano


class _Target:
    def method(self, x):
        return x + 1


def test_source_patch_applies_exactly_or_not_at_all():
    with pytest.raises(RuntimeError, match="occurs 0 times"):
        theano_fixes._replace_in_source(_Target, "method", [("x + 2", "x + 3", 1)])
    assert _Target().method(1) == 2
    assert theano_fixes._replace_in_source(_Target, "method", [("x + 1", "x * 10", 1)])
    assert _Target().method(2) == 20
    # a second edit is applied on top of the first, from the original source
    assert theano_fixes._replace_in_source(_Target, "method", [("return", "return -1 +", 1)])
    assert _Target().method(2) == 19
    assert not theano_fixes._replace_in_source(_Target, "method", [("x + 1", "x * 10", 1)])


def test_maximum_minimum_propagate_nan_like_numpy():
    a, b = T.fvector(), T.fvector()
    fn = theano.function([a, b], [T.maximum(a, b), T.minimum(a, b)])
    va = np.array([1, np.nan, 3, -2, np.inf], "float32")
    vb = np.array([2, 2, np.nan, -3, np.nan], "float32")
    hi, lo = fn(va, vb)
    np.testing.assert_array_equal(hi, np.maximum(va, vb))
    np.testing.assert_array_equal(lo, np.minimum(va, vb))


OPENMP_CODE = """
import numpy as np
from rcnreid.backend.theano_env import theano, T
x = T.fvector()
f = theano.function([x], T.exp(x) * 2 + 1)
v = np.linspace(0, 1, 300000).astype("float32")
assert np.allclose(f(v), np.exp(v) * 2 + 1)
assert all(n.op.openmp for n in f.maker.fgraph.toposort())
print("openmp elemwise ok")
"""


def test_elemwise_compiles_with_openmp_and_not_without_the_repair(tmp_path):
    good = _python(OPENMP_CODE, tmp_path / "with", flags="openmp=True")
    assert good.returncode == 0 and "openmp elemwise ok" in good.stdout, good.stderr[-2000:]
    bad = _python(OPENMP_CODE, tmp_path / "without", flags="openmp=True",
                  disable="elemwise_openmp_pragma")
    assert bad.returncode != 0
    assert "openmp_elemwise_minsize" in bad.stderr


SCAN_CODE = """
import numpy as np
from rcnreid.backend.theano_env import theano, T
x0 = T.fvector()
out, _ = theano.scan(lambda p: p * 2, outputs_info=[x0], n_steps=3)
f = theano.function([x0], out)
assert np.allclose(f(np.ones(2, "float32"))[-1], 8)
print("scan ok")
"""


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the Cython scan builds before 3.11")
def test_scan_needs_the_python_outer_loop_on_py311(tmp_path):
    good = _python(SCAN_CODE, tmp_path / "with")
    assert good.returncode == 0 and "scan ok" in good.stdout, good.stderr[-2000:]
    bad = _python(SCAN_CODE, tmp_path / "without", disable="scan_perform_ext_py311")
    assert bad.returncode != 0, bad.stdout


def test_profile_summary_at_exit_sums_several_functions(tmp_path):
    """README's profiling recipe (profile=True) with two functions: Theano's summary at exit
    must end with the summed profile, not an AttributeError."""
    code = ("from rcnreid.backend.theano_env import "
            "theano, T; import numpy as np; x = T.vector('x'); "
            "f = theano.function([x], 2 * x); g = theano.function([x], x + 1); "
            "f(np.ones(3, 'float32')); g(np.ones(3, 'float32'))")
    for disable, works in ((None, True), ("profile_atexit_merge", False)):
        proc = _python(code, tmp_path, flags="profile=True", disable=disable)
        assert proc.returncode == 0, proc.stderr[-2000:]
        summed = "Sum of all(2) printed profiles at exit" in proc.stdout + proc.stderr
        broken = "has no attribute 'items'" in proc.stderr
        assert (summed and not broken) == works, (disable, proc.stderr[-1500:])


class _FakeCudaContext:
    kind = b"cuda"


class _FakeCudaArray:
    """What pygpu gives on CUDA: .gpudata is the device pointer, .base_data raises."""
    context = _FakeCudaContext()
    gpudata = 0x7F00_0000_1000
    offset = 0

    @property
    def base_data(self):
        raise TypeError("This is for OpenCL arrays.")


def test_scan_buffer_identity_works_on_cuda_and_opencl():
    """scan_gpudata_identity: the repaired scan loop names a GPU buffer by .gpudata on CUDA and
    by (base_data, offset) on OpenCL. Its first version used (base_data, offset) everywhere,
    which raised 'This is for OpenCL arrays.' in every scan on a real CUDA machine (an H200)."""
    from theano.scan.op import Scan
    assert theano_fixes.gpu_buffer_id(_FakeCudaArray()) == _FakeCudaArray.gpudata
    perform = Scan.perform
    assert "_rcnreid_gpu_buffer_id" in perform.__code__.co_names
    assert not {"gpudata", "base_data"} & set(perform.__code__.co_names)
    assert perform.__globals__["_rcnreid_gpu_buffer_id"] is theano_fixes.gpu_buffer_id
    try:
        import pygpu
        ctx = pygpu.init("opencl0:0")
    except Exception:
        return          # the OpenCL half needs pygpu and pocl (tests/test_gpu_opencl.py)
    a = pygpu.gpuarray.asarray(np.zeros(4, "float32"), context=ctx)
    assert theano_fixes.gpu_buffer_id(a) == (a.base_data, 0)
    assert theano_fixes.gpu_buffer_id(a[1:]) == (a.base_data, 4)
