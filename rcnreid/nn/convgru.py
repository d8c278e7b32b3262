"""Stacked convolutional GRUs (Eq. 2 and Eq. 3) over time with ``theano.scan``.

Level l (0-based here, 1-based in the paper) at time t, with x^l_t its input map and, when
``stacked``, P(h^{l-1}_t) the lower level's new hidden state max-pooled (2x2/2, then cropped) to
level l's size (Eq. 3)::

    z = sigmoid(W_z * x + Wc_z * P(h^{l-1}_t) + U_z * h_{t-1} + b_z)
    r = sigmoid(W_r * x + Wc_r * P(h^{l-1}_t) + U_r * h_{t-1} + b_r)
    c = tanh(W_h * x + U_h * (r o h_{t-1}) + b_h)
    h_t = (1 - z) o h_{t-1} + z o c

All convolutions are zero-padded so the spatial size is kept; h_0 = 0. With ``stacked=False``
(RCN-Ind) the Wc terms are absent and each level is the plain Eq. 2.

Two graph forms with the same parameters and the same numbers:

- fused (default): the input-to-hidden convolutions of all time steps run as one batched
  convolution outside the scan with the three kernels concatenated (3*Ch outputs); inside the
  scan one convolution gives both gates from [h_{t-1}, P(h^{l-1}_t)] (U and Wc concatenated when
  their kernels have equal size), and one gives the candidate: the GRU step shared with the
  FC-GRU (:func:`rcnreid.nn.gru_step.gru_step` with the convolution as its connection);
- naive (``naive=True``): the straightforward Eq. 2/3, six (eight with cross-layer input)
  convolutions per level and step inside the scan. Used as a benchmark baseline and test oracle.
"""
from collections import OrderedDict

from rcnreid.nn import init as initlib
from rcnreid.nn.encoder import level_shapes
from rcnreid.errors import UserError
from rcnreid.nn.gru_step import LevelWeights, flatten, gru_step, unflatten
from rcnreid.nn.layers import conv, f32, fold_time, maxpool2, unfold_time
from rcnreid.backend.theano_env import T, theano


def convgru_params(cfg, rng):
    """OrderedDict of numpy arrays for all levels, named ``gru{l}_{W_z,W_r,W_h,U_z,...}``."""
    p = OrderedDict()
    shapes = level_shapes(cfg)
    k, kh, kc = cfg.input_kernel, cfg.hidden_kernel, cfg.cross_k
    for l, ch in enumerate(cfg.hidden_channels):
        cx = shapes[l][0]
        for g in ("z", "r", "h"):
            p["gru%d_W_%s" % (l, g)] = initlib.conv_weight(rng, ch, cx, k, cfg.init)
        for g in ("z", "r", "h"):
            p["gru%d_U_%s" % (l, g)] = initlib.conv_weight(rng, ch, ch, kh, cfg.init)
        if cfg.stacked and l > 0:
            c_prev = cfg.hidden_channels[l - 1]
            for g in ("z", "r"):
                p["gru%d_Wc_%s" % (l, g)] = initlib.conv_weight(rng, ch, c_prev, kc, cfg.init)
        if cfg.gru_bias:
            for g in ("z", "r", "h"):
                p["gru%d_b_%s" % (l, g)] = initlib.zeros((ch,))
    return p


def check_level_sizes(cfg):
    """Eq. 3 needs pool(h^{l-1}) to cover level l: 2x2 ceil pooling, then a crop."""
    shapes = level_shapes(cfg)
    for l in range(1, len(shapes)):
        (_, h0, w0), (_, h1, w1) = shapes[l - 1], shapes[l]
        if (h0 + 1) // 2 < h1 or (w0 + 1) // 2 < w1:
            raise UserError("model option input_hw/conv_padding: level %d (%dx%d) is larger than "
                            "half of level %d (%dx%d); the cross-layer pooling of Eq. 3 cannot "
                            "match it" % (l, h1, w1, l - 1, h0, w0))
    return shapes


def cross_input(h_lower, hw, lower_hw=None):
    """Eq. 3's lower-level input: 2x2/2 max-pool (partial windows kept), cropped to ``hw``.

    ``lower_hw``: the static size of ``h_lower`` when known (lets even sizes use the fast pool).
    """
    pooled = maxpool2(h_lower, ceil=True, hw=lower_hw)
    if lower_hw is not None and ((lower_hw[0] + 1) // 2, (lower_hw[1] + 1) // 2) == tuple(hw):
        return pooled
    return pooled[:, :, :hw[0], :hw[1]]


def _bias(P, l, g):
    b = P.get("gru%d_b_%s" % (l, g))
    return None if b is None else b.dimshuffle("x", 0, "x", "x")


def _zero_state(x_level, ch):
    """h_0 = 0 with shape (B, ch, H, W) taken from a (T, B, C, H, W) tensor."""
    z = T.alloc(f32(0), x_level.shape[1], ch, x_level.shape[3], x_level.shape[4])
    return T.unbroadcast(z, 0, 1, 2, 3)


def run_convgru(P, x_levels, cfg, naive=False, record=None):
    """Hidden sequences of all levels.

    P: name -> Theano variable; x_levels: list of (T, B, Cx_l, H_l, W_l) tensors (the encoder's
    maps). Returns a list of (T, B, Ch_l, H_l, W_l) tensors, one per level.

    ``record`` (a dict, fused form only): filled with what the hand-written backward pass of
    :mod:`rcnreid.nn.convgru_bptt` needs: the scan's input sequences ``pre``, the recurrent kernels
    ``rec``, and the gate activations ``z``, ``r``, ``c`` of every step (extra scan outputs).
    """
    shapes = check_level_sizes(cfg)
    L = cfg.num_levels
    chs = cfg.hidden_channels
    hws = [s[1:] for s in shapes]
    stacked = cfg.stacked
    t_len, batch = x_levels[0].shape[0], x_levels[0].shape[1]
    h0 = [_zero_state(x_levels[l], chs[l]) for l in range(L)]

    if naive:
        names = [n for n in P if n.startswith("gru")]
        weights = [P[n] for n in names]

        def step(*args):
            xs, hs_prev, ws = args[:L], args[L:2 * L], args[2 * L:]
            W = dict(zip(names, ws))
            new = []
            for l in range(L):
                x, h = xs[l], hs_prev[l]

                def g(name):
                    return W["gru%d_%s" % (l, name)]

                def b(name):
                    v = W.get("gru%d_b_%s" % (l, name))
                    return 0 if v is None else v.dimshuffle("x", 0, "x", "x")
                zp = conv(x, g("W_z")) + conv(h, g("U_z")) + b("z")
                rp = conv(x, g("W_r")) + conv(h, g("U_r")) + b("r")
                if stacked and l > 0:
                    below = cross_input(new[l - 1], hws[l], hws[l - 1])
                    zp = zp + conv(below, g("Wc_z"))
                    rp = rp + conv(below, g("Wc_r"))
                z, r = T.nnet.sigmoid(zp), T.nnet.sigmoid(rp)
                c = T.tanh(conv(x, g("W_h")) + conv(r * h, g("U_h")) + b("h"))
                new.append((f32(1) - z) * h + z * c)
            return new

        outs, _ = theano.scan(step, sequences=list(x_levels), outputs_info=h0,
                              non_sequences=weights, strict=True, name="convgru_naive")
        return outs if isinstance(outs, list) else [outs]

    # ---------------- fused form ----------------
    # 1) input-to-hidden convolutions of every time step at once: (T*B, Cx, H, W) -> (T*B, 3Ch, H, W)
    pre = []
    for l in range(L):
        w_in = T.concatenate([P["gru%d_W_%s" % (l, g)] for g in ("z", "r", "h")], axis=0)
        a = conv(fold_time(x_levels[l]), w_in)
        if cfg.gru_bias:
            bias = T.concatenate([P["gru%d_b_%s" % (l, g)] for g in ("z", "r", "h")], axis=0)
            a = a + bias.dimshuffle("x", 0, "x", "x")
        pre.append(unfold_time(a, t_len, batch))
    # 2) recurrent kernels, concatenated once outside the scan, named per level
    fuse_cross = stacked and cfg.cross_k == cfg.hidden_kernel
    levels = []
    for l in range(L):
        u_zr = T.concatenate([P["gru%d_U_z" % l], P["gru%d_U_r" % l]], axis=0)
        w = LevelWeights(gates=u_zr, cand=P["gru%d_U_h" % l])
        if stacked and l > 0:
            wc_zr = T.concatenate([P["gru%d_Wc_z" % l], P["gru%d_Wc_r" % l]], axis=0)
            if fuse_cross:
                w = w._replace(gates=T.concatenate([u_zr, wc_zr], axis=1))
            else:
                w = w._replace(cross=wc_zr)
        levels.append(w)
    flat, spec = flatten(levels)

    def fstep(*args):
        a_t, hs_prev, ws = args[:L], args[L:2 * L], unflatten(args[2 * L:], spec)
        new, acts = [], []
        for l in range(L):
            below = (cross_input(new[l - 1], hws[l], hws[l - 1]) if stacked and l > 0
                     else None)
            h, z, r, c = gru_step(conv, hs_prev[l], a_t[l], ws[l], chs[l], below)
            new.append(h)
            acts.extend([z, r, c])
        return new + acts if record is not None else new

    outs_info = h0 + ([None] * (3 * L) if record is not None else [])
    outs, _ = theano.scan(fstep, sequences=pre, outputs_info=outs_info, non_sequences=flat,
                          strict=True, name="convgru_fused")
    outs = outs if isinstance(outs, list) else [outs]
    if record is not None:
        # per level [U_gates, (Wc_gates if separate), U_h], as rcnreid.nn.convgru_bptt reads it
        rec = [[w.gates] + ([w.cross] if w.cross is not None else []) + [w.cand]
               for w in levels]
        record.update(pre=pre, rec=rec, fuse_cross=fuse_cross, hws=hws, hidden=outs[:L],
                      z=outs[L::3], r=outs[L + 1::3], c=outs[L + 2::3])
    return outs[:L]


def convgru_param_counts(cfg):
    """Per level: dict with Section 4.3's 3*k1*k2*(Cx*Ch + Ch^2) (equal kernels) / its general
    form 3*(k_in^2*Cx*Ch + k_hid^2*Ch^2), the cross-layer term 2*kc^2*C_{l-1}*Ch, the biases 3*Ch,
    and the total."""
    shapes = level_shapes(cfg)
    rows = []
    for l, ch in enumerate(cfg.hidden_channels):
        cx = shapes[l][0]
        eq = 3 * (cfg.input_kernel ** 2 * cx * ch + cfg.hidden_kernel ** 2 * ch * ch)
        cross = (2 * cfg.cross_k ** 2 * cfg.hidden_channels[l - 1] * ch
                 if cfg.stacked and l > 0 else 0)
        bias = 3 * ch if cfg.gru_bias else 0
        rows.append(dict(level=l, cx=cx, ch=ch, section43=eq, cross=cross, bias=bias,
                         total=eq + cross + bias))
    return rows
