"""The hand-written BPTT of the fused ConvGRU (rcnreid.nn.convgru_bptt) against Theano's own
gradient of the same graph, for every structural variant of the recurrence, and inside the training
step.

(Theano's gradient of the fused graph is itself checked against finite differences of the
independent numpy model in test_model_equations.py, and the fused forward pass against the naive
one there too.)"""
import numpy as np
import pytest

from rcnreid.nn.convgru_bptt import fused_gradients
from rcnreid.nn.model import SiameseRCN
from rcnreid.nn.optim import OptimConfig
from rcnreid.nn.similarity import bce_loss, similarity_logit
from rcnreid.backend.theano_env import T, theano
from tests.test_model_equations import VARIANTS, _data, _randomise

CASES = {
    # Eq. 3 with the gate kernels fused with the cross-layer ones; average temporal pooling puts a
    # gradient on every step's hidden state (not the last only)
    "stacked_average": VARIANTS["stacked"],
    # no cross-layer input (RCN-Ind), only the last step reaches the loss (Eq. 4)
    "ind": VARIANTS["ind"],
    # separate cross-layer kernels, odd map sizes (partial pooling windows), max pooling, fc head
    "k5_k1": VARIANTS["k5_k1"],
    # valid convolutions, cropped cross-layer input, only the top level reaches the loss directly
    "valid": VARIANTS["valid"],
}


def _loss(model, xa, xb, y, naive, record=None):
    nb = xa.shape[1]
    h = model.represent_graph(T.concatenate([xa, xb], axis=1), naive=naive, record=record)
    logit = similarity_logit(h[:nb], h[nb:], model.params["sim_v"], model.params["sim_c"])
    return bce_loss(logit, y)


@pytest.mark.parametrize("name", sorted(CASES))
def test_manual_bptt_equals_theanos_gradient(name):
    cfg = CASES[name]
    model = SiameseRCN(cfg, seed=5)
    _randomise(model, 6)
    params = list(model.params.values())
    xa, xb, y = T.tensor5("xa"), T.tensor5("xb"), T.vector("y")
    record = {}
    manual = fused_gradients(_loss(model, xa, xb, y, False, record), params, record, cfg)
    reference = T.grad(_loss(model, xa, xb, y, False), params)
    f = theano.function([xa, xb, y], manual + reference)
    a, b, yy = _data(cfg, T_len=4)
    out = f(a, b, yy)
    n = len(params)
    for p, got, want in zip(params, out[:n], out[n:]):
        assert got.shape == want.shape and got.dtype == np.float32, p.name
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-6, err_msg=p.name)
    # the recurrent kernels do get a gradient (the check above is not 0 == 0)
    assert all(np.abs(g).max() > 1e-6
               for p, g in zip(params, out[:n]) if p.name.startswith("gru"))


def test_training_step_is_the_same_with_either_backward_pass():
    from theano.scan.op import Scan
    cfg = VARIANTS["stacked"]
    a, b, yy = _data(cfg, T_len=4)
    params = {}
    for bptt in ("manual", "theano"):
        model = SiameseRCN(cfg, seed=2)
        tr = model.build_train(OptimConfig(learning_rate=1e-2, dropout=0.3), bptt=bptt, seed=9)
        assert tr.bptt == bptt
        scans = sorted(n.op.name for n in tr.fn.maker.fgraph.toposort() if isinstance(n.op, Scan))
        if bptt == "manual":
            # the point of the hand-written pass: no differentiated copy of the forward scan,
            # which would recompute every step's convolutions
            assert scans == ["convgru_bptt", "convgru_fused"], scans
        else:
            assert any(n.startswith("grad_of") for n in scans), scans
        losses = [tr.step(a, b, yy)["loss"] for _ in range(3)]
        params[bptt] = (losses, model.get_params())
    np.testing.assert_allclose(params["manual"][0], params["theano"][0], rtol=1e-5)
    for k, v in params["theano"][1].items():
        np.testing.assert_allclose(params["manual"][1][k], v, rtol=1e-4, atol=1e-6, err_msg=k)

