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
