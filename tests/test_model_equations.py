"""Eqs. 1-6 of the Theano graph against the independent numpy loops of test_model_reference.py,
and the graph's gradients against finite differences of that numpy oracle."""
import numpy as np
import pytest

from rcnreid.nn.model import SiameseRCN
from rcnreid.configs.registry import get_config
from rcnreid.nn.similarity import bce_loss, similarity_logit
from rcnreid.backend.theano_env import T, theano
from tests.test_model_reference import loss_np, represent_np

TINY = get_config("tiny").model
VARIANTS = {
    # stacked Deep RCN (Eq. 3), gates fused with the cross-layer kernels, average over time
    "stacked": TINY,
    # RCN-Ind: no cross-layer input; other pooling options, Eq. 4's last time step
    "ind": TINY.scaled(stacked=False, level_fusion="zeropad_mean", temporal_pooling="last",
                       spatial_pooling="max"),
    # 5x5 input / 1x1 hidden kernels (the 9x9/1x1 row's shape of the graph): cross-layer kernel
    # differs from the hidden one, so the gate convolutions are not fused; fc head; concat fusion;
    # odd map sizes (6x3 -> 3x2 -> 2x1) exercise the ceil pooling with a partial window
    "k5_k1": TINY.scaled(input_kernel=5, hidden_kernel=1, level_fusion="concat",
                         temporal_pooling="max", fc_head_dim=4, input_hw=(12, 6)),
    # Table 1's reading: valid convolutions, floor pooling, pooled lower level cropped (Eq. 3)
    "valid": TINY.scaled(conv_padding="valid", pool_mode="floor", input_hw=(30, 22),
                         level_fusion="top"),
}


def _randomise(model, seed):
    """Non-zero biases and moderate weights, so that every term of Eq. 2/3 matters."""
    rng = np.random.RandomState(seed)
    d = {}
    for k, v in model.get_params().items():
        scale = 0.3 if v.ndim < 2 else 1.0
        d[k] = (v + scale * rng.uniform(-1, 1, size=v.shape) * (v.std() if v.ndim >= 2 else 1)
                ).astype("float32")
    model.set_params(d)


def _data(cfg, T_len=3, B=2, seed=0):
    rng = np.random.RandomState(seed)
    shape = (T_len, B, 3) + tuple(cfg.input_hw)
    xa = rng.uniform(-1, 1, size=shape).astype("float32")
    xb = rng.uniform(-1, 1, size=shape).astype("float32")
    y = np.array([1, 0] * (B // 2), dtype="float32")
    return xa, xb, y


def _compile(model, with_grads):
    xa, xb, y = T.tensor5("xa"), T.tensor5("xb"), T.vector("y")
    nb = xa.shape[1]
    x = T.concatenate([xa, xb], axis=1)
    h = model.represent_graph(x)
    logit = similarity_logit(h[:nb], h[nb:], model.params["sim_v"], model.params["sim_c"])
    loss = bce_loss(logit, y)
    outs = [loss, h, model.represent_graph(x, naive=True)]
    if with_grads:
        outs += T.grad(loss, list(model.params.values()))
    return theano.function([xa, xb, y], outs)


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def compiled(request):
    cfg = VARIANTS[request.param]
    model = SiameseRCN(cfg, seed=3)
    _randomise(model, 4)
    fn = _compile(model, with_grads=(request.param == "stacked"))
    return request.param, cfg, model, fn


def test_graph_matches_numpy_eqs_2_to_6(compiled):
    name, cfg, model, fn = compiled
    xa, xb, y = _data(cfg)
    loss, h, h_naive = fn(xa, xb, y)[:3]
    P = model.get_params()
    want_h = np.array([represent_np(P, xa[:, i], cfg)[0] for i in range(2)]
                      + [represent_np(P, xb[:, i], cfg)[0] for i in range(2)])
    want_loss, _ = loss_np(P, xa, xb, y, cfg)
    assert h.dtype == np.float32 and h.shape == (4, model.repr_dim)
    np.testing.assert_allclose(h, want_h, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-4)
    # the naive form of Eq. 2/3 (six convolutions per step in the scan) gives the same numbers
    np.testing.assert_allclose(h_naive, h, rtol=1e-5, atol=1e-6)
    # and the numbers are not trivial
    assert np.std(want_h) > 1e-3


@pytest.mark.parametrize("compiled", ["stacked"], indirect=True)
def test_gradients_match_finite_differences_of_numpy_oracle(compiled):
    # the stacked variant has every term of Eq. 2, 3, 5, 6 (its function also returns gradients)
    name, cfg, model, fn = compiled
    xa, xb, y = _data(cfg)
    outs = fn(xa, xb, y)
    grads = dict(zip(model.params.keys(), outs[3:]))
    P = {k: v.astype(np.float64) for k, v in model.get_params().items()}
    rng = np.random.RandomState(0)
    checked = ["gru0_U_z", "gru0_W_h", "gru1_Wc_r", "gru1_U_h", "gru2_Wc_z", "gru2_b_r",
               "enc0_W", "fuse1_P", "sim_v", "sim_c"]
    eps = 1e-5
    for name_p in checked:
        arr = P[name_p]
        idxs = [tuple(rng.randint(s) for s in arr.shape) for _ in range(2)] if arr.ndim else [()]
        for idx in idxs:
            plus = dict(P)
            minus = dict(P)
            plus[name_p] = arr.copy()
            minus[name_p] = arr.copy()
            plus[name_p][idx] += eps
            minus[name_p][idx] -= eps
            num = (loss_np(plus, xa, xb, y, cfg)[0] - loss_np(minus, xa, xb, y, cfg)[0]) / (2 * eps)
            got = grads[name_p][idx]
            assert abs(got - num) <= 2e-3 * abs(num) + 2e-5, (name_p, idx, got, num)


def test_fcgru_matches_numpy_eq_1():
    cfg = get_config("fc_gru").model.scaled(channels=(4, 3), fc_input_dim=6, level_fusion="project",
                                         temporal_pooling="last")
    model = SiameseRCN(cfg, seed=1)
    _randomise(model, 2)
    rep = model.build_represent()
    frm = model.build_frame_features()
    x = np.random.RandomState(5).uniform(-1, 1, size=(4, 3, 6)).astype("float32")
    got = rep(x)
    got_frames = frm(x)
    P = model.get_params()
    for i in range(3):
        want, want_frames = represent_np(P, x[:, i], cfg)
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(got_frames[:, i], want_frames, rtol=1e-4, atol=1e-6)
    # the representation is the last frame-level output (Eq. 4, temporal_pooling="last")
    np.testing.assert_array_equal(got, got_frames[-1])
