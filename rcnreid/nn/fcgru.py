"""Fully connected GRU (Eq. 1) over per-frame feature vectors, e.g. VGG-16 fc7 (Table 2).

    z = sigmoid(x W_z + h_{t-1} U_z + b_z)
    r = sigmoid(x W_r + h_{t-1} U_r + b_r)
    c = tanh(x W_h + (r o h_{t-1}) U_h + b_h)
    h_t = (1 - z) o h_{t-1} + z o c,        h_0 = 0

Input (T, B, D) float32. With several levels, level l > 0 reads level l-1's new hidden state as
its x (a plain stacked GRU). The input projections of level 0 for all time steps are one matrix
product outside the scan; the two gate products inside are one product with U_z, U_r concatenated.
The step is the one shared with the ConvGRU (:func:`rcnreid.nn.gru_step.gru_step`, with the dot
product as its connection).
"""
from collections import OrderedDict

from rcnreid.nn import init as initlib
from rcnreid.nn.gru_step import LevelWeights, flatten, gru_step, unflatten
from rcnreid.nn.layers import f32
from rcnreid.backend.theano_env import T, theano


def fcgru_params(cfg, rng):
    p = OrderedDict()
    n_in = cfg.fc_input_dim
    for l, ch in enumerate(cfg.hidden_channels):
        for g in ("z", "r", "h"):
            p["fgru%d_W_%s" % (l, g)] = initlib.dense_weight(rng, n_in, ch, cfg.init)
        for g in ("z", "r", "h"):
            p["fgru%d_U_%s" % (l, g)] = initlib.dense_weight(rng, ch, ch, cfg.init)
        if cfg.gru_bias:
            for g in ("z", "r", "h"):
                p["fgru%d_b_%s" % (l, g)] = initlib.zeros((ch,))
        n_in = ch
    return p


def fcgru_param_counts(cfg):
    rows = []
    n_in = cfg.fc_input_dim
    for l, ch in enumerate(cfg.hidden_channels):
        eq = 3 * (n_in * ch + ch * ch)
        bias = 3 * ch if cfg.gru_bias else 0
        rows.append(dict(level=l, cx=n_in, ch=ch, section43=eq, cross=0, bias=bias, total=eq + bias))
        n_in = ch
    return rows


def run_fcgru(P, x, cfg):
    """x (T, B, D) -> list of hidden sequences (T, B, Ch_l), one per level."""
    L = cfg.num_levels
    chs = cfg.hidden_channels

    def cat(l, kind, gates):
        return T.concatenate([P["fgru%d_%s_%s" % (l, kind, g)] for g in gates], axis=-1)

    w0 = cat(0, "W", "zrh")
    a0 = T.dot(x, w0)                                    # (T, B, 3Ch): every step at once
    if cfg.gru_bias:
        a0 = a0 + cat(0, "b", "zrh")
    levels = []
    for l in range(L):
        w = LevelWeights(gates=cat(l, "U", "zr"), cand=P["fgru%d_U_h" % l])
        if l > 0:        # the level below's new state is this level's input, inside the step
            w = w._replace(w_in=cat(l, "W", "zrh"),
                           b_in=cat(l, "b", "zrh") if cfg.gru_bias else None)
        levels.append(w)
    flat, spec = flatten(levels)
    h0 = [T.unbroadcast(T.alloc(f32(0), x.shape[1], ch), 0, 1) for ch in chs]

    def step(a_t, *args):
        hs_prev, ws = args[:L], unflatten(args[L:], spec)
        new = []
        for l in range(L):
            a = a_t
            if l > 0:
                a = T.dot(new[l - 1], ws[l].w_in)
                if ws[l].b_in is not None:
                    a = a + ws[l].b_in
            new.append(gru_step(T.dot, hs_prev[l], a, ws[l], chs[l])[0])
        return new

    outs, _ = theano.scan(step, sequences=[a0], outputs_info=h0, non_sequences=flat,
                          strict=True, name="fcgru")
    return outs if isinstance(outs, list) else [outs]
