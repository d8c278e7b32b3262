"""Shapes, Siamese symmetry and sharing, determinism, float32-only graphs, learning, exact resume."""
import dataclasses

import numpy as np
import pytest

from rcnreid.nn.encoder import encode, encoder_layers, level_shapes
from rcnreid.errors import UserError
from rcnreid.nn.model import SiameseRCN, build_param_arrays
from rcnreid.configs.registry import get_config
from rcnreid.nn.model_config import ModelConfig
from rcnreid.nn.optim import OptimConfig
from rcnreid.backend.theano_env import T, theano
from tests.learning import steps_until_learned

TINY = get_config("tiny").model


# ------------------------------------------------------------------ encoder shapes (Table 1)

def test_encoder_shape_table_for_160x60():
    # default reading: zero-padded 3x3 convs, ceil pooling -> levels halve: 80x30, 40x15, 20x8
    assert level_shapes(get_config("deep_rcn").model) == [(32, 80, 30), (32, 40, 15), (32, 20, 8)]
    # Table 1 read literally: valid convs and floor pooling
    rows = encoder_layers(get_config("deep_rcn_table1_valid").model)
    got = [(r["name"], r["out_shape"][1:]) for r in rows]
    assert got == [("conv0", (158, 58)), ("pool0", (79, 29)), ("conv1", (77, 27)),
                   ("pool1", (38, 13)), ("conv2", (36, 11)), ("pool2", (18, 5))]


@pytest.mark.parametrize("preset", ["deep_rcn", "deep_rcn_table1_valid"])
def test_encoder_graph_gives_the_documented_shapes(preset):
    cfg = get_config(preset).model
    P = {k: theano.shared(v) for k, v in build_param_arrays(cfg, 0).items() if k.startswith("enc")}
    x = T.tensor4("x")
    f = theano.function([x], encode(P, x, cfg))
    outs = f(np.zeros((1, 3, 160, 60), dtype="float32"))
    assert [o.shape[1:] for o in outs] == level_shapes(cfg)


# ------------------------------------------------------------------ compiled tiny model

@pytest.fixture(scope="module")
def tiny_model():
    m = SiameseRCN(TINY, seed=0)
    return m, m.build_represent(), m.build_frame_features()


@pytest.fixture(scope="module")
def tiny_trainer():
    m = SiameseRCN(TINY, seed=0)
    return m, m.build_train(OptimConfig(learning_rate=1e-2, dropout=0.0))


def _frames(T_len, B, seed, hw=TINY.input_hw):
    return np.random.RandomState(seed).uniform(-1, 1, (T_len, B, 3) + hw).astype("float32")


def test_similarity_is_symmetric(tiny_model):
    m, rep, _ = tiny_model
    ha, hb = rep(_frames(4, 3, 0)), rep(_frames(4, 2, 1))
    s_ab, s_ba = m.similarity(ha, hb), m.similarity(hb, ha)
    assert s_ab.shape == (3, 2)
    np.testing.assert_allclose(s_ab, s_ba.T, rtol=1e-12)
    assert np.all((s_ab > 0) & (s_ab < 1))


def test_one_parameter_set_moves_both_branches(tiny_model, tiny_trainer):
    m, rep, _ = tiny_model
    xa, xb = _frames(3, 2, 2), _frames(3, 2, 3)
    ha0, hb0 = rep(xa), rep(xb)
    old = m.params["gru1_U_z"].get_value()
    m.params["gru1_U_z"].set_value(old + np.float32(0.5))
    try:
        ha1, hb1 = rep(xa), rep(xb)
    finally:
        m.params["gru1_U_z"].set_value(old)
    assert np.abs(ha1 - ha0).max() > 1e-4 and np.abs(hb1 - hb0).max() > 1e-4
    # the compiled training step holds each parameter exactly once (one set for both branches)
    tm, tr = tiny_trainer
    shared = [v for v in tr.fn.maker.fgraph.inputs if getattr(v, "name", None) in tm.params]
    assert sorted(v.name for v in shared) == sorted(tm.params)


def test_any_sequence_length_and_causality(tiny_model):
    m, rep, frm = tiny_model
    x = _frames(7, 2, 4)
    frames = frm(x)
    assert frames.shape == (7, 2, m.repr_dim) and frames.dtype == np.float32
    # causal: the first t frame outputs of the whole sequence are those of its first t frames,
    # so the representation of x[:t] is their mean over time (the default temporal pooling)
    for t in (1, 4, 7):
        np.testing.assert_allclose(rep(x[:t]), frames[:t].mean(0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(frames[0], frames[-1], atol=1e-3)     # the frames do differ
    np.testing.assert_allclose(rep(x, batch_size=1), rep(x), rtol=1e-6, atol=1e-7)


def test_bad_input_is_a_user_error(tiny_model):
    m, rep, _ = tiny_model
    with pytest.raises(UserError, match="input_hw"):
        rep(np.zeros((2, 1, 3, 20, 8), dtype="float32"))
    with pytest.raises(UserError, match="at least one frame"):
        rep(np.zeros((0, 1, 3) + TINY.input_hw, dtype="float32"))
    with pytest.raises(UserError, match="level_fusion"):
        ModelConfig(level_fusion="sum")


def test_same_seed_same_parameters_other_seed_other():
    a, b, c = (build_param_arrays(TINY, s) for s in (7, 7, 8))
    assert list(a) == list(b)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a if a[k].ndim >= 2)
    uni = build_param_arrays(TINY.scaled(init="uniform1"), 7)["gru0_U_z"]
    assert uni.min() >= -1 and uni.max() <= 1 and uni.std() > 0.4   # U[-1, 1]: std 0.577


def _all_variables(fgraph, seen=None):
    """Every variable of a compiled graph, including the inner graphs of scan ops."""
    from theano.graph.basic import vars_between
    seen = set() if seen is None else seen
    out = []
    for node in fgraph.apply_nodes:
        out.extend(node.inputs + node.outputs)
        op = node.op
        if hasattr(op, "outputs") and hasattr(op, "inputs") and id(op) not in seen:
            seen.add(id(op))
            out.extend(vars_between(op.inputs, op.outputs))
            fn = getattr(op, "fn", None)
            if fn is not None and hasattr(fn, "maker"):
                out.extend(_all_variables(fn.maker.fgraph, seen))
    return out


def test_no_float64_in_the_training_graph(tiny_trainer):
    _, tr = tiny_trainer
    variables = _all_variables(tr.fn.maker.fgraph)
    n_scan = sum(1 for n in tr.fn.maker.fgraph.apply_nodes if "scan" in type(n.op).__name__.lower())
    assert n_scan >= 1 and len(variables) > 100
    bad = sorted({str(v) for v in variables if getattr(v, "dtype", None) == "float64"})
    assert not bad, bad


# ------------------------------------------------------------------ learning and resume

def _pair_batch(rng, protos, B=4, T_len=3):
    """Pairs of sequences of noisy identity prototypes: half same identity, half different."""
    n = len(protos)
    xa, xb, y = [], [], []
    for i in range(B):
        a = rng.randint(n)
        same = i % 2 == 0
        b = a if same else (a + 1 + rng.randint(n - 1)) % n
        for idx, out in ((a, xa), (b, xb)):
            out.append(protos[idx][None] + 0.3 * rng.randn(T_len, *protos[idx].shape))
        y.append(1.0 if same else 0.0)
    f = lambda s: np.clip(np.stack(s, axis=1), -1, 1).astype("float32")  # noqa: E731
    return f(xa), f(xb), np.array(y, dtype="float32")


#: Update budget: about three times the slowest escape from the starting plateau measured over
#: seeds 0-4 and the float-rounding settings (tests/learning.py, docs/DEVELOPING.md).
LOSS_FALLS_CAP = 200


def measure_loss_falls(seed, cap=LOSS_FALLS_CAP):
    """Updates of a fresh tiny network (rate 1e-2, no dropout; 4 pairs of 3 frames) on two
    opposite noisy identities until the loss falls below 0.1 (chance: ln 2), or None."""
    m = SiameseRCN(TINY, seed=seed)
    tr = m.build_train(OptimConfig(learning_rate=1e-2, dropout=0.0), seed=seed)
    rng = np.random.RandomState(seed)
    proto = rng.uniform(-1, 1, (3,) + TINY.input_hw)
    protos = [proto, -proto]          # two identities with opposite appearance, noisy frames
    steps, losses = steps_until_learned(lambda: tr.step(*_pair_batch(rng, protos))["loss"],
                                        0.1, cap)
    return dict(steps=steps, first=float(np.mean(losses[:5])))


@pytest.mark.outcome
def test_loss_falls_on_separable_pairs():
    """Budget (issue 25): updates until the loss is below 0.1, over seeds 0-4: 18-54 under
    onednn-1 and corrmm-1 (docs/DEVELOPING.md, "Float rounding"; the other settings in
    docs/CHANGELOG.md); asserted within LOSS_FALLS_CAP = 200, from chance (ln 2)."""
    r = measure_loss_falls(0)
    assert abs(r["first"] - np.log(2)) < 0.05, r
    assert r["steps"] is not None, r


def test_resume_is_bit_identical_and_updates_are_deterministic(tiny_trainer):
    m, tr = tiny_trainer
    tr.cfg = dataclasses.replace(tr.cfg, dropout=0.5)   # masks come from the trainer's RNG
    rng = np.random.RandomState(1)
    protos = [rng.uniform(-1, 1, (3,) + TINY.input_hw) for _ in range(3)]
    batches = [_pair_batch(rng, protos) for _ in range(3)]
    params0, state0 = m.get_params(), tr.get_state()
    run1 = [tr.step(*b)["loss"] for b in batches]
    params1 = m.get_params()
    m.set_params(params0)
    tr.set_state(state0)
    run2 = [tr.step(*b)["loss"] for b in batches]
    assert run1 == run2
    assert all(np.array_equal(params1[k], v) for k, v in m.get_params().items())
    assert tr.get_state()["steps"] == state0["steps"] + 3
    # with another dropout draw the same batches give other losses (the RNG state matters)
    m.set_params(params0)
    tr.set_state(state0)
    tr.rng.uniform(size=7)
    run3 = [tr.step(*b)["loss"] for b in batches]
    assert run3 != run1
