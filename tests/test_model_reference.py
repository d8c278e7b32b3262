"""An independent float64 numpy implementation of the model, written with plain loops.

Used by tests/test_model_*.py as the oracle for Eqs. 2, 3, 4, 5, 6 and Eq. 1. It reads only the
parameter arrays (by name) and the configuration, never rcnreid's graph code.
"""
import numpy as np


def conv_np(x, w, same=True):
    """x (C, H, W), w (O, C, k, k): cross-correlation, stride 1, zero padding k // 2 if same."""
    k = w.shape[2]
    p = k // 2 if same else 0
    C, H, W = x.shape
    xp = np.zeros((C, H + 2 * p, W + 2 * p))
    xp[:, p:p + H, p:p + W] = x
    Ho, Wo = H + 2 * p - k + 1, W + 2 * p - k + 1
    out = np.zeros((w.shape[0], Ho, Wo))
    for o in range(w.shape[0]):
        for c in range(C):
            for di in range(k):
                for dj in range(k):
                    out[o] += w[o, c, di, dj] * xp[c, di:di + Ho, dj:dj + Wo]
    return out


def maxpool_np(x, ceil=True):
    C, H, W = x.shape
    Ho, Wo = ((H + 1) // 2, (W + 1) // 2) if ceil else (H // 2, W // 2)
    out = np.empty((C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, i, j] = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(C, -1).max(axis=1)
    return out


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def encoder_np(P, frame, cfg):
    maps = []
    h = frame
    for l in range(len(cfg.encoder_channels)):
        h = conv_np(h, P["enc%d_W" % l], cfg.conv_padding == "same")
        h = h + P["enc%d_b" % l][:, None, None]
        h = np.maximum(h, 0)
        h = maxpool_np(h, cfg.pool_mode == "ceil")
        maps.append(h)
    return maps


def convgru_sequence_np(P, frames, cfg):
    """frames (T, 3, H, W) of one sequence -> list over t of list over levels of h^l_t."""
    L = cfg.num_levels
    hs = None
    out = []
    for t in range(frames.shape[0]):
        xs = encoder_np(P, frames[t], cfg)
        if hs is None:
            hs = [np.zeros((cfg.hidden_channels[l],) + xs[l].shape[1:]) for l in range(L)]
        new = []
        for l in range(L):
            g = lambda n: P["gru%d_%s" % (l, n)]  # noqa: E731
            b = lambda n: (P["gru%d_b_%s" % (l, n)][:, None, None]  # noqa: E731
                           if cfg.gru_bias else 0.0)
            x, h = xs[l], hs[l]
            zp = conv_np(x, g("W_z")) + conv_np(h, g("U_z")) + b("z")
            rp = conv_np(x, g("W_r")) + conv_np(h, g("U_r")) + b("r")
            if cfg.stacked and l > 0:                       # Eq. 3 cross-layer input
                below = maxpool_np(new[l - 1], True)[:, :x.shape[1], :x.shape[2]]
                zp = zp + conv_np(below, g("Wc_z"))
                rp = rp + conv_np(below, g("Wc_r"))
            z, r = sigmoid(zp), sigmoid(rp)
            c = np.tanh(conv_np(x, g("W_h")) + conv_np(r * h, g("U_h")) + b("h"))
            new.append((1 - z) * h + z * c)
        hs = new
        out.append(new)
    return out


def fcgru_sequence_np(P, xs, cfg):
    """xs (T, D) of one sequence -> list over t of list over levels of h^l_t (Eq. 1)."""
    hs = [np.zeros(ch) for ch in cfg.hidden_channels]
    out = []
    for t in range(xs.shape[0]):
        inp = xs[t]
        new = []
        for l, ch in enumerate(cfg.hidden_channels):
            g = lambda n: P["fgru%d_%s" % (l, n)]  # noqa: E731
            b = lambda n: P["fgru%d_b_%s" % (l, n)] if cfg.gru_bias else 0.0  # noqa: E731
            h = hs[l]
            z = sigmoid(inp @ g("W_z") + h @ g("U_z") + b("z"))
            r = sigmoid(inp @ g("W_r") + h @ g("U_r") + b("r"))
            c = np.tanh(inp @ g("W_h") + (r * h) @ g("U_h") + b("h"))
            hn = (1 - z) * h + z * c
            new.append(hn)
            inp = hn
        hs = new
        out.append(new)
    return out


def fuse_np(P, vecs, cfg):
    f = cfg.level_fusion
    if f == "project":
        return np.mean([v @ P["fuse%d_P" % l] for l, v in enumerate(vecs)], axis=0)
    if f == "concat":
        return np.concatenate(vecs)
    if f == "top":
        return vecs[-1]
    if f == "zeropad_mean":
        d = max(len(v) for v in vecs)
        return np.mean([np.concatenate([v, np.zeros(d - len(v))]) for v in vecs], axis=0)
    return np.mean(vecs, axis=0)


def represent_np(P, seq, cfg):
    """One sequence -> (h-bar, frame outputs (T, D))."""
    P = {k: np.asarray(v, dtype=np.float64) for k, v in P.items()}
    seq = np.asarray(seq, dtype=np.float64)
    steps = (convgru_sequence_np if cfg.kind == "convgru" else fcgru_sequence_np)(P, seq, cfg)
    frames = []
    for levels in steps:
        if cfg.kind == "convgru":
            vecs = [h.mean(axis=(1, 2)) if cfg.spatial_pooling == "average" else h.max(axis=(1, 2))
                    for h in levels]
        else:
            vecs = levels
        frames.append(fuse_np(P, vecs, cfg))
    frames = np.array(frames)
    mode = cfg.temporal_pooling
    hbar = frames[-1] if mode == "last" else frames.max(0) if mode == "max" else frames.mean(0)
    if cfg.fc_head_dim:
        hbar = np.tanh(hbar @ P["head_W"] + P["head_b"])
    return hbar, frames


def loss_np(P, xa, xb, y, cfg):
    """Eq. 5 and Eq. 6 (mean over pairs) for time-major batches xa, xb (T, B, ...)."""
    v = np.asarray(P["sim_v"], dtype=np.float64)
    c = float(P["sim_c"])
    total, sims = 0.0, []
    for i in range(xa.shape[1]):
        ha, _ = represent_np(P, xa[:, i], cfg)
        hb, _ = represent_np(P, xb[:, i], cfg)
        s = sigmoid(np.sum(v * ha * hb) + c)
        sims.append(s)
        total += -(y[i] * np.log(s) + (1 - y[i]) * np.log(1 - s))
    return total / xa.shape[1], np.array(sims)


# --- the oracle's own building blocks, checked against scipy ---------------------------------

def test_conv_np_matches_scipy_correlate():
    from scipy.signal import correlate
    rng = np.random.RandomState(0)
    x, w = rng.randn(2, 6, 5), rng.randn(3, 2, 3, 3)
    got = conv_np(x, w, same=True)
    want = np.stack([sum(correlate(x[c], w[o, c], mode="same") for c in range(2))
                     for o in range(3)])
    np.testing.assert_allclose(got, want, atol=1e-12)
    got_valid = conv_np(x, w, same=False)
    want_valid = np.stack([sum(correlate(x[c], w[o, c], mode="valid") for c in range(2))
                           for o in range(3)])
    np.testing.assert_allclose(got_valid, want_valid, atol=1e-12)


def test_maxpool_np_keeps_partial_window_only_in_ceil_mode():
    x = np.arange(15.0).reshape(1, 3, 5)
    assert maxpool_np(x, True).shape == (1, 2, 3)
    assert maxpool_np(x, False).shape == (1, 1, 2)
    np.testing.assert_array_equal(maxpool_np(x, True)[0], [[6, 8, 9], [11, 13, 14]])
