"""Issue 14: the whole network on Theano's GPU backend (pocl's OpenCL device on the CPU).

``rcnreid gpu-check --device opencl0:0`` trains a tiny Deep RCN a few steps on the device and on
the CPU, in fresh processes, and compares them. Skips with one line where pygpu or an OpenCL
driver is missing (tests/test_gpu_opencl.py says which).
"""
import pytest

from tests.test_gpu_opencl import DEVICE, WHY

pytestmark = pytest.mark.skipif(WHY is not None, reason=str(WHY))


def test_gpu_check_trains_the_same_on_device_and_cpu(tmp_path):
    """(a) no CPU convolution or scan in the device's training step, (b) losses, parameters
    and representation equal the CPU's to float32 rounding, (c) checkpoints cross devices.
    gpu-check's second device run from the same seed (issue 28 item 2) is left out here for
    the suite's time (it doubles this test's four-minute device work); the suite checks the
    same property with tests/opencl_cases.py's ``same_seed`` case, and ``make gpu-check``
    runs it on the real model."""
    from rcnreid.diagnostics.gpu_check import compare, run_check
    lines = []
    good, verdict = run_check(DEVICE, steps=2, keep=str(tmp_path), log=lines.append,
                              repeat=False)
    assert good, "\n".join(lines + [verdict])
    checks = {name: (passed, detail) for name, passed, detail in
              compare(str(tmp_path / "device"), str(tmp_path / "cpu"))}
    assert set(checks) == {"placement", "losses", "parameters", "representation", "checkpoints"}
    assert "GpuCorrMM" in checks["placement"][1] or "GpuDnnConv" in checks["placement"][1]
    assert verdict.startswith("GPU OK") and "device opencl0:0" in verdict
    assert not [ln for ln in lines if ln.startswith("same seed twice:")], lines
