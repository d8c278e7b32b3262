"""Issue 18: CPU convolutions through oneDNN (rcnreid.backend.onednn_conv) give the numbers of the
equations and of Theano's CorrMM, in every graph rcnreid compiles, and the setting that picks
them (RCNREID_CPU_CONV) fails in one line.

The reference is an independent numpy implementation of the 2-D cross-correlation and of its two
gradients, written tap by tap:
    y[n,o,i,j]   = sum_{c,p,q} xpad[n,c,i+p,j+q] w[o,c,p,q]
    dx_pad[n,c,i+p,j+q] += sum_o dy[n,o,i,j] w[o,c,p,q]
    dw[o,c,p,q]  = sum_{n,i,j} xpad[n,c,i+p,j+q] dy[n,o,i,j]
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from rcnreid.nn import layers
from rcnreid.backend import onednn_conv
from rcnreid.errors import UserError
from rcnreid.backend.theano_env import T, theano

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHY = onednn_conv.unavailable()
needs_onednn = pytest.mark.skipif(WHY is not None, reason=str(WHY))


def np_pads(mode, kh, kw):
    return {"half": (kh // 2, kw // 2, kh // 2, kw // 2), "valid": (0, 0, 0, 0),
            "full": (kh - 1, kw - 1, kh - 1, kw - 1)}.get(mode) or \
        (mode[0], mode[1], mode[0], mode[1])


def np_forward(x, w, mode):
    o, c, kh, kw = w.shape
    pt, pl, pb, pr = np_pads(mode, kh, kw)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho, wo = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    y = np.zeros((x.shape[0], o, ho, wo))
    for p in range(kh):
        for q in range(kw):
            y += np.einsum("nchw,oc->nohw", xp[:, :, p:p + ho, q:q + wo], w[:, :, p, q])
    return y


def np_grads(x, w, dy, mode):
    o, c, kh, kw = w.shape
    pt, pl, pb, pr = np_pads(mode, kh, kw)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho, wo = dy.shape[2:]
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    for p in range(kh):
        for q in range(kw):
            dxp[:, :, p:p + ho, q:q + wo] += np.einsum("nohw,oc->nchw", dy, w[:, :, p, q])
            dw[:, :, p, q] = np.einsum("nchw,nohw->oc", xp[:, :, p:p + ho, q:q + wo], dy)
    dx = dxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]]
    return dx, dw


def close(a, b, rtol=2e-5):
    """float32 against float64: relative to the largest entry (sums of many products)."""
    return np.abs(a - b).max() <= rtol * max(1.0, np.abs(b).max())


CASES = [  # (N, C, H, W), (O, kh, kw), border mode
    ((3, 4, 9, 7), (5, 3, 3), "half"),
    ((1, 2, 6, 5), (3, 5, 5), "half"),
    ((2, 3, 8, 6), (4, 3, 3), "valid"),
    ((2, 3, 5, 4), (2, 2, 3), "full"),
    ((2, 3, 7, 6), (4, 3, 3), (1, 2)),
    ((4, 16, 12, 6), (32, 5, 5), "half"),
]


@needs_onednn
@pytest.mark.parametrize("xs,ks,mode", CASES)
def test_each_kind_against_numpy(xs, ks, mode):
    rng = np.random.RandomState(0)
    x = rng.randn(*xs).astype("float32")
    w = rng.randn(ks[0], xs[1], ks[1], ks[2]).astype("float32")
    y_ref = np_forward(x, w, mode)
    dy = rng.randn(*y_ref.shape).astype("float32")
    dx_ref, dw_ref = np_grads(x, w, dy, mode)
    y = onednn_conv.run(onednn_conv.FORWARD, mode, x, w)
    dx = onednn_conv.run(onednn_conv.GRAD_INPUTS, mode, w, dy, hw=xs[2:])
    dw = onednn_conv.run(onednn_conv.GRAD_WEIGHTS, mode, x, dy, hw=ks[1:])
    assert y.shape == y_ref.shape and close(y, y_ref)
    assert dx.shape == dx_ref.shape and close(dx, dx_ref)
    assert dw.shape == dw_ref.shape and close(dw, dw_ref)
    # strided views are made contiguous; a second call of a cached shape gives the same numbers
    xt = np.asfortranarray(x)
    assert np.array_equal(onednn_conv.run(onednn_conv.FORWARD, mode, xt, w), y)


@needs_onednn
def test_wrong_output_gradient_shape_is_refused():
    x = np.zeros((2, 3, 8, 6), "float32")
    dy = np.zeros((2, 4, 7, 6), "float32")
    with pytest.raises(ValueError, match="does not fit"):
        onednn_conv.run(onednn_conv.GRAD_WEIGHTS, "half", x, dy, hw=(3, 3))


def _conv_ops(fn):
    from rcnreid.diagnostics.gpu_check import _walk_ops
    return sorted({type(n.op).__name__ for n in _walk_ops(fn.maker.fgraph)
                   if "Conv" in type(n.op).__name__ or "Corr" in type(n.op).__name__})


def _conv_and_grads(mode, flip, monkeypatch, setting):
    monkeypatch.setenv(onednn_conv.ENV, setting)
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(x, w, border_mode=mode, filter_flip=flip)
    cost = (y * T.sin(y)).sum()
    return theano.function([x, w], [y] + theano.grad(cost, [x, w]))


@needs_onednn
@pytest.mark.parametrize("mode,flip", [("half", False), ("valid", True), ((1, 2), True)])
def test_compiled_graphs_use_onednn_and_match_corrmm(mode, flip, monkeypatch):
    rng = np.random.RandomState(1)
    x = rng.randn(3, 4, 9, 7).astype("float32")
    w = rng.randn(5, 4, 3, 3).astype("float32")
    fd = _conv_and_grads(mode, flip, monkeypatch, "auto")
    fc = _conv_and_grads(mode, flip, monkeypatch, "corrmm")
    assert _conv_ops(fd) == ["OneDnnConv", "OneDnnConv_gradInputs", "OneDnnConv_gradWeights"]
    assert _conv_ops(fc) == ["CorrMM", "CorrMM_gradInputs", "CorrMM_gradWeights"]
    y_ref = np_forward(x, w[:, :, ::-1, ::-1] if flip else w, mode)
    for a, b in zip(fd(x, w), fc(x, w)):
        assert a.shape == b.shape and close(a, b, 1e-4)
    assert close(fd(x, w)[0], y_ref)


@needs_onednn
def test_convolutions_inside_a_scan_use_onednn(monkeypatch):
    """The ConvGRU's recurrence: convolutions in scan's inner graph, forward and backward."""
    monkeypatch.setenv(onednn_conv.ENV, "auto")
    rng = np.random.RandomState(2)
    u = theano.shared(rng.randn(3, 3, 3, 3).astype("float32") * 0.3, name="u")
    xs = T.tensor4("xs")          # (T, C, H, W): one image per step

    def step(x_t, h):
        return T.tanh(layers.conv(h.dimshuffle("x", 0, 1, 2), u)[0] + x_t)

    h0 = T.zeros_like(xs[0])
    hs, _ = theano.scan(step, sequences=[xs], outputs_info=[h0])
    g = theano.grad(hs[-1].sum(), u)
    fn = theano.function([xs], [hs[-1], g])
    assert "OneDnnConv" in _conv_ops(fn) and not any("Corr" in o for o in _conv_ops(fn))
    xv = rng.randn(4, 3, 5, 6).astype("float32")
    # numpy: the same recurrence and its gradient by forward-mode finite differences
    def np_run(uv):
        h = np.zeros(xv.shape[1:])
        for t in range(len(xv)):
            h = np.tanh(np_forward(h[None], uv, "half")[0] + xv[t])
        return h
    h_last, gu = fn(xv)
    assert close(h_last, np_run(u.get_value().astype(np.float64)), 1e-5)
    d = rng.randn(*u.get_value().shape)
    eps = 1e-4
    uv = u.get_value().astype(np.float64)
    numeric = (np_run(uv + eps * d).sum() - np_run(uv - eps * d).sum()) / (2 * eps)
    assert abs(float((gu * d).sum()) - numeric) <= 1e-3 * max(1.0, abs(numeric))


def test_unknown_setting_is_one_line(monkeypatch):
    monkeypatch.setenv(onednn_conv.ENV, "fastest")
    with pytest.raises(UserError, match="RCNREID_CPU_CONV=fastest is not one of auto, onednn, "
                                        "corrmm"):
        onednn_conv.setting()


def test_missing_library_falls_back_or_fails_in_one_line(monkeypatch):
    monkeypatch.setattr(onednn_conv, "_LIB", {"error": "oneDNN convolutions unavailable "
                                                       "(fatal error: oneapi/dnnl/dnnl.h: No such "
                                                       "file or directory)"})
    monkeypatch.setenv(onednn_conv.ENV, "auto")
    assert onednn_conv.in_use() is False
    d = onednn_conv.describe()
    assert d["cpu_conv"] == "CorrMM" and "libdnnl-dev" in d["cpu_conv_reason"]
    monkeypatch.setenv(onednn_conv.ENV, "onednn")
    with pytest.raises(UserError, match="RCNREID_CPU_CONV=onednn, but oneDNN convolutions "
                                        "unavailable.*apt-get install libdnnl-dev"):
        onednn_conv.in_use()
    x, w = T.tensor4("x"), T.tensor4("w")
    monkeypatch.setenv(onednn_conv.ENV, "auto")
    fn = theano.function([x, w], layers.conv(x, w))
    assert _conv_ops(fn) == ["CorrMM"]


def test_a_source_that_does_not_build_is_reported(monkeypatch, tmp_path):
    bad = tmp_path / "broken.c"
    bad.write_text("#include <no_such_header_rcnreid.h>\n")
    monkeypatch.setattr(onednn_conv, "SOURCE", str(bad))
    monkeypatch.setattr(onednn_conv, "_LIB", {})
    monkeypatch.setattr(onednn_conv, "_cache_root", lambda: str(tmp_path / "cache"))
    assert onednn_conv.library() is None
    assert "no_such_header_rcnreid.h" in onednn_conv.unavailable()
    left = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert left == [], left            # no half-built library is left behind


@needs_onednn
def test_tiny_model_trains_alike_with_onednn_and_corrmm(tmp_path):
    """Two steps of gpu-check's tiny Deep RCN, each setting in its own process: losses, every
    parameter and the representation agree to float32 rounding."""
    out = {}
    for setting in ("onednn", "corrmm"):
        folder = tmp_path / setting
        folder.mkdir()
        env = dict(os.environ, RCNREID_CPU_CONV=setting)
        proc = subprocess.run([sys.executable, "-m", "rcnreid.diagnostics.gpu_check", "--worker",
                               str(folder)], env=env, capture_output=True, text=True,
                              timeout=900, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[setting] = np.load(folder / "result.npz")
    a, b = out["onednn"], out["corrmm"]
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        assert np.allclose(a[key], b[key], rtol=1e-4, atol=1e-5), key


def test_the_backend_start_up_registers_the_rewrite_and_nothing_else_does():
    """Issue 26: the rewrite is put into Theano by the backend's start-up
    (rcnreid.backend.theano_env); importing onednn_conv or the layers on their own changes no
    Theano state beyond what theano_env does."""
    probe = ("import sys; import {mod}; from theano.tensor.nnet import opt; "
             "print('local_conv_onednn' in opt.conv_groupopt.__db__)")
    seen = {}
    for mod in ("rcnreid.backend.onednn_conv", "rcnreid.backend.theano_env"):
        out = subprocess.run([sys.executable, "-c", probe.format(mod=mod)], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        seen[mod] = out.stdout.strip().splitlines()[-1]
    assert seen == {"rcnreid.backend.onednn_conv": "False", "rcnreid.backend.theano_env": "True"}
