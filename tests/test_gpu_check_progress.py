"""gpu-check says how far a slow first compilation has got (seen on a real CUDA machine: the
tiny model's cold compilation ran for minutes with no output), and stops a worker that hangs."""
import subprocess
import sys

from rcnreid.diagnostics import gpu_check


def _fake_worker(monkeypatch, tmp_path, seconds):
    cache = tmp_path / "cache"
    cache.mkdir()
    for i in range(3):
        (cache / ("tmp%d" % i)).mkdir()
    (cache / "lock_dir").mkdir()
    code = ("import sys, time, pathlib; d = pathlib.Path(sys.argv[1]); "
            "(d / 'compiledir.txt').write_text(%r); time.sleep(%r); print('done')"
            % (str(cache), seconds))
    real_popen = subprocess.Popen

    def popen(cmd, **kw):
        out_dir = cmd[cmd.index("--worker") + 1]
        return real_popen([sys.executable, "-c", code, out_dir], **kw)

    monkeypatch.setattr(gpu_check.subprocess, "Popen", popen)


def test_progress_lines_count_the_cache_while_the_worker_runs(monkeypatch, tmp_path):
    _fake_worker(monkeypatch, tmp_path, 1.5)
    out = tmp_path / "out"
    out.mkdir()
    lines = []
    proc = gpu_check._run_worker("cuda", str(out), 2, 0, log=lines.append, every=0.4)
    assert proc.returncode == 0 and proc.stdout.strip() == "done"
    assert len(lines) >= 2
    assert all(ln.startswith("  ... cuda: ") for ln in lines)
    assert lines[-1].endswith("3 compiled modules in Theano's cache")


def test_a_worker_past_its_time_is_stopped(monkeypatch, tmp_path):
    _fake_worker(monkeypatch, tmp_path, 30)
    out = tmp_path / "out"
    out.mkdir()
    proc = gpu_check._run_worker("cuda", str(out), 2, 0, timeout=0.5, every=0.3)
    assert proc.returncode != 0 and "stopped after" in proc.stderr


THEANO_STYLE = """Traceback (most recent call last):
  File "x.py", line 1, in <module>
pygpu.gpuarray.GpuArrayException: b'clEnqueueNDRangeKernel: CL_INVALID_WORK_GROUP_SIZE'
Apply node that caused the error: GpuCorrMM{valid, (1, 1)}(x, w)
Toposort index: 12
HINT: Re-running with most Theano optimizations disabled could provide a back-trace.
HINT: Use the Theano flag 'exception_verbosity=high' for a debugprint and storage map footprint.
"""


def test_a_failed_worker_is_named_by_its_error_and_its_stderr_is_kept(monkeypatch, tmp_path):
    real_popen = subprocess.Popen
    code = "import sys; sys.stderr.write(%r); sys.exit(1)" % THEANO_STYLE
    monkeypatch.setattr(gpu_check.subprocess, "Popen",
                        lambda cmd, **kw: real_popen([sys.executable, "-c", code], **kw))
    import rcnreid.backend.gpu_probe as gpu_probe
    monkeypatch.setattr(gpu_probe, "probe", lambda device: {"facts": [], "problem": None})
    ok, verdict = gpu_check.run_check("opencl0:0", keep=str(tmp_path), log=lambda *a: None)
    assert not ok
    kept = tmp_path / "cpu" / "stderr.txt"
    assert verdict == ("GPU NOT OK: the CPU reference run failed: pygpu.gpuarray."
                       "GpuArrayException: b'clEnqueueNDRangeKernel: CL_INVALID_WORK_GROUP_SIZE'"
                       " (its whole error output: %s)" % kept)
    assert kept.read_text() == THEANO_STYLE


def test_a_worker_that_crashes_is_named_by_its_signal(monkeypatch, tmp_path):
    real_popen = subprocess.Popen
    code = ("import os, signal, sys; sys.stderr.write('Mapped name None to device opencl0:0\\n');"
            " sys.stderr.flush(); os.kill(os.getpid(), signal.SIGSEGV)")
    monkeypatch.setattr(gpu_check.subprocess, "Popen",
                        lambda cmd, **kw: real_popen([sys.executable, "-c", code], **kw))
    import rcnreid.backend.gpu_probe as gpu_probe
    monkeypatch.setattr(gpu_probe, "probe", lambda device: {"facts": [], "problem": None})
    ok, verdict = gpu_check.run_check("opencl0:0", keep=str(tmp_path), log=lambda *a: None)
    assert not ok
    assert verdict.startswith("GPU NOT OK: the CPU reference run failed: the process died of "
                              "SIGSEGV (last line: Mapped name None to device opencl0:0)")
