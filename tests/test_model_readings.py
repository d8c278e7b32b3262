"""The paper's readings (rcnreid.configs.readings): the literal one sets what the paper states and runs;
Table 1's exact encoder; the dropout readings (rcnreid.nn.model.Trainer, ``dropout_masks``)."""
import dataclasses

import numpy as np
import pytest

from rcnreid.configs.registry import get_config
from rcnreid.nn.encoder import encoder_layers, level_shapes
from rcnreid.errors import UserError
from rcnreid.nn.model import SiameseRCN, draw_dropout_mask
from rcnreid.nn.model_config import ModelConfig
from rcnreid.nn.optim import OptimConfig
from rcnreid.configs.readings import READINGS, apply_reading
from rcnreid.backend.theano_env import T, theano
from tests.learning import steps_until_learned

TINY = get_config("tiny").model


def _pair_batch(rng, protos, B=4, T_len=3):
    """Pairs of noisy sequences of identity prototypes: even pairs same identity, odd different."""
    xa, xb, y = [], [], []
    for i in range(B):
        a = rng.randint(len(protos))
        b = a if i % 2 == 0 else (a + 1 + rng.randint(len(protos) - 1)) % len(protos)
        for idx, out in ((a, xa), (b, xb)):
            out.append(protos[idx][None] + 0.3 * rng.randn(T_len, *protos[idx].shape))
        y.append(1.0 if i % 2 == 0 else 0.0)
    f = lambda s: np.clip(np.stack(s, axis=1), -1, 1).astype("float32")  # noqa: E731
    return f(xa), f(xb), np.array(y, dtype="float32")


# ------------------------------------------------------------------ Table 1 exact

def test_table1_exact_encoder_gives_every_size_table1_lists():
    rows = encoder_layers(get_config("deep_rcn_table1_exact").model)
    got = [(r["name"], r["out_shape"][1:]) for r in rows]
    assert got == [("conv0", (157, 57)), ("pool0", (79, 29)), ("conv1", (76, 26)),
                   ("pool1", (38, 13)), ("conv2", (35, 10)), ("pool2", (18, 5))]


def test_literal_3x3_encoder_gives_table1s_pooled_sizes_not_its_conv_sizes():
    """Table 1's 3x3 as stated (unpadded, floor pooling): the maps the ConvGRUs read have
    Table 1's sizes, the convolutions' outputs are one larger than Table 1 lists."""
    lit = apply_reading(get_config("deep_rcn", "paper"), "literal-3x3")
    m = lit.model
    assert (m.encoder_kernel, m.conv_padding, m.pool_mode) == (3, "valid", "floor")
    assert m.input_hw == (160, 60) and lit.name == "deep_rcn+literal-3x3"
    got = [(r["name"], r["out_shape"][1:]) for r in encoder_layers(m)]
    table1 = [("conv0", (157, 57)), ("pool0", (79, 29)), ("conv1", (76, 26)),
              ("pool1", (38, 13)), ("conv2", (35, 10)), ("pool2", (18, 5))]
    # the sizes computed by hand: conv n -> n - 2, pool n -> floor(n / 2)
    h, w, want = 160, 60, []
    for l in range(3):
        h, w = h - 2, w - 2
        want.append(("conv%d" % l, (h, w)))
        h, w = h // 2, w // 2
        want.append(("pool%d" % l, (h, w)))
    assert got == want
    same = [g == t for g, t in zip(got, table1)]
    assert same == [False, True, False, True, False, True]     # every pool size, no conv size
    assert level_shapes(m) == [(32, 79, 29), (32, 38, 13), (32, 18, 5)]
    # everything else as the literal reading
    lit4 = apply_reading(get_config("deep_rcn", "paper"), "literal")
    strip = dict(encoder_kernel=4, pool_mode="ceil")
    assert dataclasses.replace(m, **strip) == lit4.model
    assert lit.train == lit4.train
    assert apply_reading(get_config("deep_rcn", "test"), "literal-3x3").model.input_hw == (64, 24)


def test_eq4_zeropad_mean_against_numpy():
    """The literal readings' level fusion: (1/L) sum of the levels' spatial means, a narrower
    level zero in the channels it lacks (Eq. 4 with Section 5.3's spatial average pooling)."""
    from rcnreid.nn.pooling import frame_outputs
    cfg = dataclasses.replace(TINY, level_fusion="zeropad_mean")
    rng = np.random.RandomState(2)
    chs = cfg.hidden_channels
    hs = [rng.randn(2, 3, c, 4 + l, 5).astype("float32") for l, c in enumerate(chs)]
    vs = [T.TensorType("float32", (False,) * 5)("h%d" % l) for l in range(len(chs))]
    got = theano.function(vs, frame_outputs({}, vs, cfg))(*hs)
    want = np.zeros((2, 3, max(chs)))
    for h in hs:
        want[:, :, :h.shape[2]] += h.mean(axis=(3, 4))
    np.testing.assert_allclose(got, want / len(chs), rtol=1e-5, atol=1e-6)


def test_uniform1_draws_c_and_leaves_the_other_draws_alone():
    """Section 5.2 draws every parameter of Section 4.5's Theta, c included, from U[-1, 1]; the
    default reading (Glorot) keeps c = 0. c is drawn last, so the other parameters are those
    drawn before it was."""
    from rcnreid.nn.model import build_param_arrays
    cs = [float(build_param_arrays(TINY.scaled(init="uniform1"), s)["sim_c"]) for s in range(40)]
    assert all(-1 <= c <= 1 for c in cs) and len(set(cs)) == 40
    assert min(cs) < -0.3 and max(cs) > 0.3
    assert float(build_param_arrays(TINY, 0)["sim_c"]) == 0.0
    u = build_param_arrays(TINY.scaled(init="uniform1"), 5)
    rng = np.random.RandomState(5)
    for k, v in u.items():
        if k != "sim_c" and not k.endswith("_b") and "_b_" not in k:
            np.testing.assert_array_equal(v, rng.uniform(-1, 1, v.shape).astype("float32"), k)
    assert float(u["sim_c"]) == np.float32(rng.uniform(-1, 1))


def test_even_encoder_kernels_only_without_padding():
    ModelConfig(encoder_kernel=4, conv_padding="valid")
    with pytest.raises(UserError, match="encoder_kernel"):
        ModelConfig(encoder_kernel=4)               # "same" padding cannot keep the size
    with pytest.raises(UserError, match="input_kernel"):
        ModelConfig(input_kernel=4, conv_padding="valid")   # ConvGRU kernels stay odd


def test_even_kernel_graph_matches_the_shape_table():
    from rcnreid.nn.encoder import encode
    from rcnreid.nn.model import build_param_arrays
    cfg = dataclasses.replace(TINY, encoder_kernel=4, conv_padding="valid", input_hw=(40, 30))
    P = {k: theano.shared(v) for k, v in build_param_arrays(cfg, 0).items() if k.startswith("enc")}
    x = T.tensor4("x")
    a = np.random.RandomState(0).uniform(-1, 1, (1, 3, 40, 30)).astype("float32")
    outs = theano.function([x], encode(P, x, cfg))(a)
    assert [o.shape[1:] for o in outs] == level_shapes(cfg)
    # the first map against numpy: unpadded 4x4 correlation + bias, ReLU, 2x2 ceil max-pool
    W, b = P["enc0_W"].get_value(), P["enc0_b"].get_value()
    conv = np.zeros((W.shape[0], 37, 27))
    for i in range(37):
        for j in range(27):
            conv[:, i, j] = np.tensordot(W, a[0, :, i:i + 4, j:j + 4], axes=3) + b
    conv = np.maximum(conv, 0)
    pad = np.full((W.shape[0], 38, 28), -np.inf)
    pad[:, :37, :27] = conv
    pooled = pad.reshape(W.shape[0], 19, 2, 14, 2).max(axis=(2, 4))
    np.testing.assert_allclose(outs[0][0], pooled, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ apply_reading

def test_default_reading_changes_nothing_and_unknown_readings_are_refused():
    cfg = get_config("deep_rcn", "quick")
    assert READINGS == ("default", "literal", "literal-3x3")
    assert apply_reading(cfg, "default") is cfg
    with pytest.raises(UserError, match="reading"):
        apply_reading(cfg, "verbatim")


def test_literal_reading_sets_what_the_paper_states():
    lit = apply_reading(get_config("deep_rcn", "paper"), "literal")
    m, o = lit.model, lit.train.optim
    assert m.init == "uniform1"                     # Section 5.2: U[-1, 1]
    assert m.temporal_pooling == "last"             # Eq. 4, Section 5.2: the last time step
    assert o.loss_reduction == "sum"                # Eq. 6
    assert not m.gru_bias                           # Eq. 2, 3 have no biases
    assert (o.dropout, o.dropout_is_keep, m.dropout_masks) == (0.7, False, "units")   # 5.2
    assert m.level_fusion == "zeropad_mean"         # Eq. 4, no learned projection (4.5)
    assert level_shapes(m) == [(32, 79, 29), (32, 38, 13), (32, 18, 5)]   # Table 1
    assert m.input_hw == (160, 60) and m.hidden_channels == (128, 256, 256)
    assert lit.name == "deep_rcn+literal"
    assert apply_reading(lit, "literal") == lit
    with pytest.raises(UserError, match="another literal reading"):
        apply_reading(lit, "literal-3x3")
    # no parameter outside Section 4.5's Theta but the encoder's: no fusion projection, no biases
    from rcnreid.nn.model import build_param_arrays
    small = apply_reading(get_config("deep_rcn", "test"), "literal").model
    names = list(build_param_arrays(small, 0))
    assert not [k for k in names if k.startswith(("fuse", "head")) or "_b_" in k], names
    # the literal configuration survives the run folder's config.json
    from rcnreid.configs.registry import RunConfig
    assert RunConfig.from_json(lit.to_json()) == lit


def test_literal_reading_keeps_what_each_row_compares():
    for row, pooling in (("pool_max", "max"), ("pool_fisher", "fisher"),
                         ("pool_average", "average"), ("rcn_ind", "last")):
        lit = apply_reading(get_config(row, "quick"), "literal")
        assert lit.model.temporal_pooling == pooling, row
        assert apply_reading(lit, "literal") == lit, row
    assert not apply_reading(get_config("rcn_ind", "paper"), "literal").model.stacked
    # RCN-Ind pools over time as Deep RCN does, in either reading (docs/REPRODUCTION.md section 1)
    assert (get_config("rcn_ind", "paper").model.temporal_pooling
            == get_config("deep_rcn", "paper").model.temporal_pooling == "average")
    fc = apply_reading(get_config("fc_gru", "test"), "literal")
    assert fc.model.kind == "fcgru" and fc.model.init == "uniform1"
    assert fc.model.encoder_kernel == ModelConfig().encoder_kernel


def test_literal_reading_enlarges_inputs_too_small_for_table1():
    for prof in ("quick", "test"):
        lit = apply_reading(get_config("deep_rcn", prof), "literal")
        assert lit.model.input_hw == (64, 24), prof     # 8:3, smallest that takes 3 blocks
        level_shapes(lit.model)                          # builds
        smaller = dataclasses.replace(lit.model, input_hw=(56, 21))
        with pytest.raises(UserError):
            level_shapes(smaller)


def _pair_stream(model, seed):
    """An endless stream of batches of pairs of two opposite noisy prototypes (6 frames)."""
    rng = np.random.RandomState(seed)
    proto = rng.uniform(-1, 1, (3,) + model.cfg.input_hw)
    while True:
        yield _pair_batch(rng, [proto, -proto], T_len=6)


def _train_pairs(model, trainer, seed, steps=150):
    """``steps`` updates on :func:`_pair_stream`; the loss per pair of each step and the pair
    accuracy over the last 30 steps (120 pairs)."""
    per = 4.0 if trainer.cfg.loss_reduction == "sum" else 1.0
    stream = _pair_stream(model, seed)
    out = [trainer.step(*next(stream)) for _ in range(steps)]
    return [o["loss"] / per for o in out], float(np.mean([o["accuracy"] for o in out[-30:]]))


def _steps_to_learn(model, trainer, seed, cap, below=0.1):
    """Updates on :func:`_pair_stream` until the mean loss per pair of 5 steps is below
    ``below`` (chance: ln 2 = 0.69); the count, or None after ``cap`` updates."""
    per = 4.0 if trainer.cfg.loss_reduction == "sum" else 1.0
    stream = _pair_stream(model, seed)
    return steps_until_learned(lambda: trainer.step(*next(stream))["loss"] / per, below, cap)[0]


#: Update budgets of the tests below: about three times the slowest escape from the starting
#: plateau measured over seeds 0-4 and the float-rounding settings of docs/DEVELOPING.md
#: (``python -m tests.outcome_spread``); the spreads are in each test's docstring.
CONTROL_CAP, UNIFORM_CAP, FRAME_DROPOUT_CAP = 6500, 300, 350


def measure_literal_reading(seed, literal_steps=150, control_cap=CONTROL_CAP,
                            reading="literal"):
    """The literal test-profile network of ``reading`` (``literal`` or ``literal-3x3``: Table 1's
    encoder, Eq. 4's last step, no biases, Eq. 6's sum, U[-1, 1], dropout 0.7) trained
    ``literal_steps`` updates on two opposite identities (its pair accuracy over the last 30),
    then the same graph from Glorot weights without dropout (the control) until it separates
    them. Model, dropout and data seeds all
    follow ``seed``."""
    from rcnreid.nn.model import build_param_arrays
    lit = apply_reading(get_config("deep_rcn", "test"), reading)
    m = SiameseRCN(lit.model, seed=seed)
    tr = m.build_train(lit.train.optim, seed=seed)   # the hand-written BPTT, as in training
    p0, s0 = m.get_params(), tr.get_state()
    losses, acc_literal = _train_pairs(m, tr, seed=seed, steps=literal_steps)
    moved = [k for k, v in m.get_params().items() if not np.array_equal(v, p0[k])]
    out = dict(gru_biases=[k for k in p0 if k.startswith("gru") and "_b_" in k],
               literal_finite=bool(np.isfinite(losses).all()),
               literal_acc=acc_literal if literal_steps >= 30 else None,
               moved_enc=any(k.startswith("enc") for k in moved),
               moved_gru=any(k.startswith("gru") for k in moved))
    m.set_params(build_param_arrays(dataclasses.replace(lit.model, init="glorot"), seed))
    tr.set_state(s0)
    tr.cfg = dataclasses.replace(tr.cfg, dropout=0.0)   # read at every step
    out["control_steps"] = _steps_to_learn(m, tr, seed, control_cap)
    return out


@pytest.mark.outcome
def test_literal_reading_builds_runs_and_its_graph_can_learn():
    """The literal graph runs and trains every part (encoder and GRUs); the same graph from Glorot
    weights without dropout separates two identities, so Table 1's encoder, Eq. 4's last step,
    the missing biases and Eq. 6's sum do not by themselves stop learning.

    Nothing is asserted of the literal network's own accuracy: whether U[-1, 1] with dropout 0.7
    leaves chance within 150 updates depends on the seed and on the CPU's float rounding (seed 0:
    0.53 with CorrMM, 0.98 with oneDNN on an AVX-512 Intel machine). Its spread is measured by
    ``python -m tests.outcome_spread literal`` and reported in docs/REPRODUCTION.md.

    Budget (issue 25): the control's updates until its loss per pair is below 0.1 were
    28-92 under onednn-1 and 28-244 under corrmm-1 (seed 4) over seeds 0-4 (docs/DEVELOPING.md,
    "Float rounding") with issue 25's literal reading. Issue 29's (no level projection, per-unit
    dropout, c from U[-1, 1]) learns more slowly: seeds 0-4, onednn-1: 1064, 270, 474, 140, 95;
    corrmm-1: 159, 277, 2150, 171, 114 (``literal-3x3``: 75-713); asserted within
    CONTROL_CAP = 6500 (about three times 2150). The literal network itself: pair
    accuracy 0.48-0.59 after 150 updates over the same seeds and settings (0.42-0.54 under issue
    25's reading; ``literal-3x3``: 0.45-0.60)."""
    r = measure_literal_reading(0, literal_steps=10)
    assert r["gru_biases"] == []
    assert r["literal_finite"] and r["moved_enc"] and r["moved_gru"], r
    assert r["control_steps"] is not None, r


@pytest.mark.parametrize("reading", ["literal", "literal-3x3"])
def test_each_literal_reading_builds_and_trains_a_few_steps(reading):
    """Each literal variant on the test profile: builds, trains a few steps with its unit
    dropout, moves the encoder's, the GRUs' and Eq. 5's parameters, and its losses are finite.
    Nothing is asserted of what it learns (docs/DEVELOPING.md, "Float rounding")."""
    lit = apply_reading(get_config("deep_rcn", "test"), reading)
    m = SiameseRCN(lit.model, seed=0)
    tr = m.build_train(lit.train.optim, seed=0)
    p0 = m.get_params()
    assert p0["sim_c"] != 0 and not [k for k in p0 if k.startswith("fuse")]
    losses, _ = _train_pairs(m, tr, seed=0, steps=4)
    assert np.isfinite(losses).all(), losses
    moved = [k for k, v in m.get_params().items() if not np.array_equal(v, p0[k])]
    for prefix in ("enc", "gru", "sim_v", "sim_c"):
        assert any(k.startswith(prefix) for k in moved), (prefix, moved)


def measure_uniform_tiny(seed, cap=UNIFORM_CAP):
    """Updates until the tiny default-reading network from U[-1, 1] (no dropout, rate 1e-2)
    separates two opposite identities (loss per pair below 0.1), or None."""
    m = SiameseRCN(dataclasses.replace(TINY, init="uniform1"), seed=seed)
    tr = m.build_train(OptimConfig(learning_rate=1e-2, dropout=0.0), seed=seed)
    return dict(steps=_steps_to_learn(m, tr, seed, cap))


@pytest.mark.outcome
def test_uniform_init_trains_the_tiny_default_network():
    """U[-1, 1] alone does not stop the tiny default-reading network (3x3 kernels over 3-5
    channels: small fans) from separating two identities.

    Budget (issue 25): updates until the loss per pair is below 0.1, over seeds 0-4: 37-80 under
    onednn-1, 35-74 under corrmm-1 (docs/DEVELOPING.md, "Float rounding"); asserted within
    UNIFORM_CAP = 300."""
    r = measure_uniform_tiny(0)
    assert r["steps"] is not None, r


# ------------------------------------------------------------------ dropout readings

def _mask(how, keep, n, t_len=1):
    cfg = dataclasses.replace(TINY, dropout_masks=how)
    return draw_dropout_mask(np.random.RandomState(3), cfg, keep, n, t_len)


def test_dropout_masks_per_reading():
    with pytest.raises(UserError, match="dropout_masks"):
        ModelConfig(dropout_masks="paired")
    keep = 0.3
    ind = _mask("independent", keep, 2 * 4000)
    a, b = ind[:4000], ind[4000:]
    # independent masks: a term of Eq. 5's v.(ha o hb) survives with p^2 = 0.09, scaled by 1/p^2
    prod = a * b
    assert abs((prod > 0).mean() - keep ** 2) < 0.01
    np.testing.assert_allclose(prod[prod > 0], 1 / keep ** 2, rtol=1e-5)
    assert abs(prod.mean() - 1) < 0.06
    sh = _mask("shared", keep, 2 * 4000)
    a, b = sh[:4000], sh[4000:]
    assert np.array_equal(a, b)                      # one mask per pair
    prod = a * b                                     # survives with p, scaled by 1/p
    assert abs((prod > 0).mean() - keep) < 0.01
    np.testing.assert_allclose(prod[prod > 0], 1 / keep, rtol=1e-5)
    assert abs(prod.mean() - 1) < 0.03
    fr = _mask("frames", keep, 2 * 3, 7)
    assert fr.shape == (7, 6, sum(TINY.hidden_channels))
    assert set(np.unique(fr)) <= {0.0, np.float32(1 / keep)}


def test_frame_dropout_scales_each_frames_hidden_channels_before_pooling():
    cfg = dataclasses.replace(TINY, level_fusion="concat", dropout_masks="frames")
    m = SiameseRCN(cfg, seed=1)
    x, mask = T.tensor5("x"), T.tensor3("mask")
    f = theano.function([x, mask], [m.represent_graph(x, frame_mask=mask), m.frames_graph(x)])
    rng = np.random.RandomState(0)
    a = rng.uniform(-1, 1, (5, 2, 3) + cfg.input_hw).astype("float32")
    M = (rng.uniform(size=(5, 2, sum(cfg.hidden_channels))) < 0.5).astype("float32") * 2
    h, frames = f(a, M)
    # concat fusion: the frame outputs are the levels' pooled channels side by side
    np.testing.assert_allclose(h, (frames * M).mean(axis=0), rtol=1e-5, atol=1e-6)
    h1, _ = f(a, np.ones_like(M))
    np.testing.assert_allclose(h1, frames.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_unit_dropout_masks_one_bernoulli_per_hidden_unit():
    """Section 5.2's dropout on the hidden-unit activations: a mask per frame, sequence and unit
    (channel x position of each level's map), scaled by 1/p."""
    from rcnreid.nn.pooling import hidden_unit_shapes
    keep = 0.3
    cfg = dataclasses.replace(TINY, dropout_masks="units")
    shapes = hidden_unit_shapes(cfg)
    assert shapes == [(c,) + s[1:] for c, s in zip(cfg.hidden_channels, level_shapes(cfg))]
    units = sum(int(np.prod(s)) for s in shapes)
    m = _mask("units", keep, 2 * 50, 6)
    assert m.shape == (6, 100, units)
    assert set(np.unique(m)) == {0.0, np.float32(1 / keep)}
    assert abs((m > 0).mean() - keep) < 0.01
    assert abs(m.mean() - 1) < 0.03
    # independent across units: the positions of one channel are not dropped together
    first = m[:, :, :int(np.prod(shapes[0][1:]))]               # level 0, channel 0
    per_channel = (first > 0).mean(axis=2)
    assert 0.05 < per_channel.mean() < 0.55 and per_channel.std() < 0.5
    assert ((first > 0).all(axis=2) | (first == 0).all(axis=2)).mean() < 0.05
    r = np.corrcoef((m[0, :, 0] > 0), (m[0, :, 1] > 0))[0, 1]
    assert abs(r) < 0.35


def test_unit_dropout_masks_the_hidden_maps_before_spatial_averaging():
    """The masked graph against numpy: each level's hidden maps times its unit mask, spatially
    averaged, levels concatenated (``level_fusion="concat"`` shows each level), then averaged
    over time."""
    from rcnreid.nn.convgru import run_convgru
    from rcnreid.nn.encoder import encode
    from rcnreid.nn.layers import fold_time, unfold_time
    cfg = dataclasses.replace(TINY, level_fusion="concat", dropout_masks="units")
    m = SiameseRCN(cfg, seed=1)
    x, mask = T.tensor5("x"), T.tensor3("mask")
    levels = [unfold_time(v, x.shape[0], x.shape[1]) for v in encode(m.params, fold_time(x), cfg)]
    hidden = run_convgru(m.params, levels, cfg)
    f = theano.function([x, mask], [m.represent_graph(x, frame_mask=mask)] + list(hidden))
    rng = np.random.RandomState(0)
    a = rng.uniform(-1, 1, (5, 2, 3) + cfg.input_hw).astype("float32")
    M = draw_dropout_mask(rng, cfg, 0.5, 2, 5)
    h, *hs = f(a, M)
    parts, start = [], 0
    for hl in hs:
        n = int(np.prod(hl.shape[2:]))
        parts.append((hl * M[:, :, start:start + n].reshape(hl.shape)).mean(axis=(3, 4)))
        start += n
    assert start == M.shape[2]
    want = np.concatenate(parts, axis=-1).mean(axis=0)
    np.testing.assert_allclose(h, want, rtol=1e-4, atol=1e-5)
    # a mask constant over each channel's positions is the per-channel ("frames") mask
    h1, *_ = f(a, np.ones_like(M))
    np.testing.assert_allclose(h1, np.concatenate([hl.mean(axis=(3, 4)) for hl in hs], -1)
                               .mean(axis=0), rtol=1e-4, atol=1e-5)


def measure_frame_dropout(seed, cap=FRAME_DROPOUT_CAP):
    """Updates until the tiny network with frame dropout (keep 0.7, rate 1e-2) brings the loss
    per pair below 0.2 on two opposite identities, or None."""
    m = SiameseRCN(dataclasses.replace(TINY, dropout_masks="frames"), seed=seed)
    tr = m.build_train(OptimConfig(dropout=0.3, learning_rate=1e-2), seed=seed + 3)
    return dict(steps=_steps_to_learn(m, tr, seed, cap, below=0.2))


@pytest.mark.outcome
def test_frame_dropout_trains():
    """("shared" changes only the numpy masks of the independent reading's graph.)

    Budget (issue 25): updates until the loss per pair is below 0.2, over seeds 0-4: 30-109
    under onednn-1 and corrmm-1 (seed 4 sits on the plateau for about 90 updates;
    docs/DEVELOPING.md, "Float rounding"); asserted within FRAME_DROPOUT_CAP = 350."""
    r = measure_frame_dropout(0)
    assert r["steps"] is not None, r
