"""rcnreid.backend.gpu_probe names the missing piece of a CUDA device (rcnreid info, rcnreid
gpu-check).

The loaders are faked: ``gpu_env._open`` answers for the library names we choose, and versioned
copies are files in temporary folders, so every case runs on a machine without CUDA. The last
test runs ``make gpu-check`` (DEVICE=cuda) here: one verdict line, non-zero status.
"""
import os
import subprocess
import sys

import pytest

from rcnreid.backend import gpu_probe as gpu_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _FakeFunction:
    def __init__(self, value):
        self.value, self.restype = value, None

    def __call__(self):
        return self.value


class _FakeCudnn:
    def __init__(self, version):
        self.cudnnGetVersion = _FakeFunction(version)


def _machine(monkeypatch, tmp_path, loads=(), cudnn=None, versioned=(), flags="",
             disable=""):
    """A machine where exactly ``loads`` open by name, ``cudnn`` = (name, version) opens too,
    ``versioned`` files exist in tmp_path/lib, and nothing else is found."""
    def fake_open(name):
        if cudnn and name == cudnn[0]:
            return _FakeCudnn(cudnn[1])
        return object() if name in loads else None

    lib = tmp_path / "lib"
    lib.mkdir(exist_ok=True)
    for name in versioned:
        (lib / name).write_bytes(b"")
    monkeypatch.setattr(gpu_env, "_open", fake_open)
    monkeypatch.setattr(gpu_env, "search_dirs", lambda: [str(tmp_path / "nowhere"), str(lib)])
    monkeypatch.setenv("THEANO_FLAGS", flags)
    monkeypatch.setenv("RCNREID_DISABLE_FIXES", disable)
    return str(lib)


ALL = ("libcuda.so", "libnvrtc.so", "libcublas.so")


def _problem():
    return gpu_env.probe("cuda", start=False)["problem"]


@pytest.fixture(autouse=True)
def _pygpu_present(monkeypatch):
    monkeypatch.setattr(gpu_env, "pygpu_facts", lambda: ("0.7.6", "/somewhere/pygpu"))


def test_driver_missing_names_the_driver(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, loads=ALL[1:])
    p = _problem()
    assert p.startswith("libcuda.so (the NVIDIA driver library) is not found") and "nvidia-smi" in p


def test_driver_under_a_versioned_name_says_where_to_link_it(monkeypatch, tmp_path):
    lib = _machine(monkeypatch, tmp_path, loads=ALL[1:], versioned=["libcuda.so.1"])
    p = _problem()
    assert "libcuda.so.1 exists" in p
    assert "`ln -s %s/libcuda.so.1 %s/libcuda.so`" % (lib, lib) in p


@pytest.mark.parametrize("missing, words", [("libnvrtc.so", "NVRTC"), ("libcublas.so", "cuBLAS")])
def test_toolkit_library_missing_is_named(monkeypatch, tmp_path, missing, words):
    _machine(monkeypatch, tmp_path, loads=[n for n in ALL if n != missing])
    p = _problem()
    assert p.startswith("%s (%s" % (missing, words)) and "install" in p
    report = gpu_env.probe("cuda", start=False)
    assert (missing, "missing") in report["facts"]


def test_pip_wheel_library_found_for_the_link_advice(monkeypatch, tmp_path):
    wheel_lib = tmp_path / "site" / "nvidia" / "cublas" / "lib"
    wheel_lib.mkdir(parents=True)
    (wheel_lib / "libcublas.so.12").write_bytes(b"")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "site")])
    assert str(wheel_lib) in gpu_env.search_dirs()


def test_no_cudnn_is_a_fact_unless_asked_for(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, loads=ALL)
    report = gpu_env.probe("cuda", start=False)
    assert report["problem"] is None
    assert ("cuDNN", "not found (convolutions use GpuCorrMM)") in report["facts"]
    _machine(monkeypatch, tmp_path, loads=ALL, flags="device=cuda,dnn__enabled=True")
    assert "dnn__enabled=True, but libcudnn is not found" in _problem()


@pytest.mark.parametrize("version", [8907, 90500, 7605])
def test_cudnn_the_repairs_cover_is_fine(monkeypatch, tmp_path, version):
    _machine(monkeypatch, tmp_path, loads=ALL, cudnn=("libcudnn.so", version),
             flags="dnn__enabled=True")
    report = gpu_env.probe("cuda", start=False)
    assert report["problem"] is None, report
    fact = dict(report["facts"])["cuDNN"]
    assert fact.startswith(str(version))
    assert ("rcnreid's repair" in fact) == (version >= 8000)


def test_cudnn_too_new_for_the_repair(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, loads=ALL, cudnn=("libcudnn.so", 100200))
    p = _problem()
    assert p.startswith("cuDNN 10 is newer than rcnreid's repair covers")
    assert "5-7" in p and "8-9" in p and "dnn__enabled=False" in p


def test_cudnn_too_old(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, loads=ALL, cudnn=("libcudnn.so", 4007))
    assert _problem() is None          # auto: Theano passes over it and uses GpuCorrMM
    _machine(monkeypatch, tmp_path, loads=ALL, cudnn=("libcudnn.so", 4007),
             flags="dnn__enabled=True")
    assert _problem().startswith("cuDNN 4 is too old for Theano-PyMC 1.1.2")


def test_cudnn_with_the_repair_switched_off(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, loads=ALL, cudnn=("libcudnn.so", 90100),
             disable="cudnn8_removed_algo_queries")
    p = _problem()
    assert "cuDNN 9 needs rcnreid's repair cudnn8_removed_algo_queries" in p


def test_cudnn_found_only_under_a_versioned_name(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path, loads=ALL, cudnn=("libcudnn.so.9", 90100),
             flags="dnn__enabled=True")
    p = _problem()
    assert "found as libcudnn.so.9 only" in p and "libcudnn9-dev-cuda-12" in p
    _machine(monkeypatch, tmp_path, loads=ALL, cudnn=("libcudnn.so.9", 90100))
    assert _problem() is None


def test_pygpu_missing_comes_first(monkeypatch, tmp_path):
    _machine(monkeypatch, tmp_path)
    monkeypatch.setattr(gpu_env, "pygpu_facts", lambda: (None, "ImportError: no pygpu"))
    p = _problem()
    assert p.startswith("pygpu, which Theano's GPU backend needs, does not import")


def test_cudnn_major():
    assert [gpu_env.cudnn_major(v) for v in (5110, 7605, 8907, 90100, 100000)] == [5, 7, 8, 9, 10]


def _cuda_here():
    return gpu_env._loadable("libcuda.so")


@pytest.mark.skipif(_cuda_here(), reason="this machine has a CUDA driver")
def test_make_gpu_check_without_cuda_is_one_verdict_line():
    env = dict(os.environ)
    env.pop("THEANO_FLAGS", None)
    env.pop("RCNREID_DISABLE_FIXES", None)
    # -o: do not rebuild .venv when setup.py is newer than its stamp (this tests the recipe).
    r = subprocess.run(["make", "-s", "-o", ".venv/.rcnreid-installed", "gpu-check",
                        "PY=%s" % sys.executable], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "Traceback" not in out, out
    verdict = [ln for ln in r.stdout.splitlines() if ln.startswith("GPU ")]
    assert len(verdict) == 1 and verdict[0] == r.stdout.strip().splitlines()[-1], r.stdout
    assert verdict[0].startswith("GPU NOT OK: ") and len(verdict[0]) > 40
    missing = gpu_env.probe("cuda", start=False)["problem"]
    if missing:                       # the missing piece, named as gpu_env names it
        assert verdict[0] == "GPU NOT OK: " + missing


@pytest.mark.skipif(_cuda_here(), reason="this machine has a CUDA driver")
def test_info_names_the_missing_piece():
    env = dict(os.environ)
    env.pop("RCNREID_DISABLE_FIXES", None)
    missing = gpu_env.probe("cuda", start=False)["problem"]
    env["THEANO_FLAGS"] = "device=cuda"
    r = subprocess.run([sys.executable, "-m", "rcnreid", "info"], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    if missing:
        assert lines[0] == ("rcnreid: error: THEANO_FLAGS asks for device=cuda, which cannot "
                            "start: %s; or unset device to run on the CPU" % missing)
        env.pop("THEANO_FLAGS")
        r = subprocess.run([sys.executable, "-m", "rcnreid", "info"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0
        row = [ln for ln in r.stdout.splitlines() if ln.startswith("CUDA check")]
        assert row and row[0].split(None, 2)[2] == "cannot start: " + missing
