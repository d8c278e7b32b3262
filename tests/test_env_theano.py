"""Issue 2: the Theano environment module, `rcnreid info`, and the GPU error path."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rcnreid.backend.theano_env import T, describe, theano

INFO_KEYS = {"python", "theano", "numpy", "device", "floatX", "blas_ldflags", "scan_impl",
             "compiledir", "cuda_available", "gpu_conv", "float_arithmetic"}


def _run(code_or_args, env_extra=None, module=False, cwd=None):
    env = dict(os.environ)
    env.pop("THEANO_FLAGS", None)
    env.pop("THEANORC", None)
    env.update(env_extra or {})
    args = [sys.executable] + (["-m"] + code_or_args if module else ["-c", code_or_args])
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_floatx_is_float32_after_import():
    assert theano.config.floatX == "float32"
    assert T.matrix("m").dtype == "float32"


def test_scan_with_gradient_matches_numpy():
    # h_t = tanh(W x_t + U h_{t-1}); loss = sum(h_T); compare value and dL/dU to numpy.
    rng = np.random.RandomState(0)
    W = theano.shared(rng.randn(3, 4).astype("float32"), name="W")
    U = theano.shared((0.5 * rng.randn(3, 3)).astype("float32"), name="U")
    x = T.matrix("x")

    def step(xt, h):
        return T.tanh(T.dot(W, xt) + T.dot(U, h))

    hs, _ = theano.scan(step, sequences=x, outputs_info=T.zeros((3,), dtype="float32"))
    loss = hs[-1].sum()
    f = theano.function([x], [loss, T.grad(loss, U)])
    xv = rng.randn(5, 4).astype("float32")
    loss_v, gU = f(xv)

    def np_loss(Uv):
        h = np.zeros(3)
        for t in range(5):
            h = np.tanh(W.get_value() @ xv[t] + Uv @ h)
        return h.sum()

    assert abs(loss_v - np_loss(U.get_value())) < 1e-4
    eps, num = 1e-3, np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            Up, Um = U.get_value().astype(float), U.get_value().astype(float)
            Up[i, j] += eps
            Um[i, j] -= eps
            num[i, j] = (np_loss(Up) - np_loss(Um)) / (2 * eps)
    np.testing.assert_allclose(gU, num, rtol=1e-2, atol=1e-3)
    assert gU.dtype == np.float32


def test_describe_reports_workarounds():
    d = describe()
    assert INFO_KEYS <= set(d)
    assert d["floatX"] == "float32"
    from rcnreid.backend.theano_env import STATE
    if "openmp" not in STATE["user_flags"]:     # issue 18: on unless one OpenMP thread
        assert d["openmp"] is (os.environ["OMP_NUM_THREADS"] != "1")
    if sys.version_info >= (3, 11):
        assert d["scan_impl"] == "python"


def test_user_theano_flags_win():
    r = _run("import rcnreid.backend.theano_env as e; "
             "print(e.theano.config.floatX, e.theano.config.blas__ldflags)",
             {"THEANO_FLAGS": "floatX=float64,blas__ldflags="})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["float64"], r.stdout  # empty ldflags prints nothing after floatX


def test_theanorc_wins(tmp_path):
    rc = tmp_path / "theanorc"
    rc.write_text("[global]\nfloatX = float64\n[blas]\nldflags = -lblas_from_rc\n")
    r = _run("import rcnreid.backend.theano_env as e; "
             "print(e.theano.config.floatX, e.theano.config.blas__ldflags)",
             {"THEANORC": str(rc)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["float64", "-lblas_from_rc"]


def test_info_json_has_every_key():
    r = _run(["rcnreid", "info", "--json"], module=True)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert INFO_KEYS <= set(d), INFO_KEYS - set(d)
    assert d["floatX"] == "float32"
    assert isinstance(d["cuda_available"], bool)
    # issue 28: off CUDA no cuDNN choice is applied, and the report says so
    assert d["gpu_conv"]["choice"] is None and "not CUDA" in d["gpu_conv"]["source"]
    assert d["float_arithmetic"]["device"] == "cpu"


def test_info_text_lists_blas_and_scan():
    r = _run(["rcnreid", "info"], module=True)
    assert r.returncode == 0, r.stderr
    for label in ("floatX", "BLAS ldflags", "scan outer loop", "compile dir", "CUDA usable",
                  "cuDNN conv algos", "float arithmetic"):
        assert label in r.stdout


def test_cuda_without_pygpu_is_one_clear_line():
    # pygpu hidden (a None in sys.modules makes its import fail), whether or not it is installed
    code = ("import sys; sys.modules['pygpu'] = None; from rcnreid.cli import main; "
            "sys.exit(main(['info']))")
    r = _run(code, {"THEANO_FLAGS": "device=cuda"})
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "pygpu" in lines[0] and "make venv" in lines[0] and "build" in lines[0]
    assert "Traceback" not in r.stderr


def test_unknown_option_is_rejected():
    r = _run(["rcnreid", "info", "--no-such-option"], module=True)
    assert r.returncode == 2
    assert "unrecognized arguments" in r.stderr
