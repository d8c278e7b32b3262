"""From hidden states to the sequence representation h-bar (Eq. 4, Table 3).

1. Spatial pooling: each level's hidden map h^l_t (Ch_l, H_l, W_l) -> a vector of Ch_l numbers
   (``spatial_pooling``: "average", as RCN-Ind's description in Section 5.3, or "max").
2. Level fusion, the "average over levels" of Eq. 4 for levels of unequal widths
   (``level_fusion``): "project" (default; a learned linear map of each level to ``fusion_dim``,
   then the mean over levels), "zeropad_mean" (zero-pad to the widest level, then the mean),
   "concat", "top" (top level only), "mean" (equal widths only, Eq. 4 literally).
   Applied at every time step this gives the frame-level outputs x_t of Table 3.
3. Temporal pooling (``temporal_pooling``): "average" (default; Section 5.4.2: the mean of the
   x_t over all time steps), "max" over all time steps (Table 3), "last" (Eq. 4 read literally:
   the last time step). "fisher" trains with "average" and encodes the frame-level
   outputs with a Fisher vector at evaluation time (:class:`FisherTemporalPooling`).
"""
from collections import OrderedDict

import numpy as np

from rcnreid.nn import init as initlib
from rcnreid.errors import UserError
from rcnreid.backend.theano_env import T


def fused_dim(cfg):
    """Width of the frame-level output / of h-bar before the optional fc head."""
    chs = cfg.hidden_channels
    f = cfg.level_fusion
    if f == "project":
        return cfg.fusion_dim or max(chs)
    if f == "concat":
        return sum(chs)
    if f == "zeropad_mean":
        return max(chs)
    if f == "top":
        return chs[-1]
    return chs[0]   # "mean", equal widths


def fusion_params(cfg, rng):
    p = OrderedDict()
    if cfg.level_fusion == "project":
        d = fused_dim(cfg)
        for l, ch in enumerate(cfg.hidden_channels):
            p["fuse%d_P" % l] = initlib.dense_weight(rng, ch, d, cfg.init)
    return p


def spatial_pool(h, mode):
    """(T, B, C, H, W) -> (T, B, C); vectors (T, B, C) pass unchanged."""
    if h.ndim == 3:
        return h
    return h.mean(axis=(3, 4)) if mode == "average" else h.max(axis=(3, 4))


def fuse_levels(P, vecs, cfg):
    """List of (..., Ch_l) -> (..., D): Eq. 4's average over levels, per ``level_fusion``."""
    f = cfg.level_fusion
    L = len(vecs)
    if f == "project":
        return sum(T.dot(v, P["fuse%d_P" % l]) for l, v in enumerate(vecs)) / np.float32(L)
    if f == "concat":
        return T.concatenate(vecs, axis=-1)
    if f == "top":
        return vecs[-1]
    if f == "zeropad_mean":
        d = max(cfg.hidden_channels)
        padded = []
        for v, ch in zip(vecs, cfg.hidden_channels):
            if ch < d:
                pad = T.zeros_like(v[..., :1]).repeat(d - ch, axis=-1)
                v = T.concatenate([v, pad], axis=-1)
            padded.append(v)
        return sum(padded) / np.float32(L)
    return sum(vecs) / np.float32(L)


def hidden_unit_shapes(cfg):
    """The shape of one frame's hidden state h^l_t per level: (C_l, H_l, W_l) for the ConvGRU
    (level l's map size, Eq. 2 / 3 keep it: zero-padded recurrent convolutions, Section 5.2),
    (C_l,) for the FC-GRU (Eq. 1)."""
    if cfg.kind != "convgru":
        return [(ch,) for ch in cfg.hidden_channels]
    from rcnreid.nn.encoder import level_shapes
    return [(ch,) + tuple(s[1:]) for ch, s in zip(cfg.hidden_channels, level_shapes(cfg))]


def frame_outputs(P, hidden_seqs, cfg, mask=None):
    """Frame-level outputs x_t: (T, B, D) from the levels' hidden sequences.

    ``mask``: a dropout mask per frame, applied before the levels are fused.

    - ``dropout_masks="frames"``: (T, B, sum of the levels' channels), one number per hidden
      channel. It scales whole channel maps, and a channel's spatial average or max of a map
      times m >= 0 is m times that of the map, so it is applied to the spatially pooled vectors
      (same result, less work).
    - ``dropout_masks="units"``: (T, B, sum over levels of C_l * H_l * W_l), one number per
      hidden unit (:func:`hidden_unit_shapes`, flattened level by level in (C, H, W) order),
      multiplied into the hidden maps before the spatial pooling (Section 5.2: dropout "on the
      hidden-unit activations").
    """
    if mask is not None and cfg.dropout_masks == "units":
        masked, start = [], 0
        for h, shape in zip(hidden_seqs, hidden_unit_shapes(cfg)):
            n = int(np.prod(shape))
            m = mask[:, :, start:start + n]
            m = m.reshape((m.shape[0], m.shape[1]) + tuple(shape), ndim=2 + len(shape))
            masked.append(h * m)
            start += n
        hidden_seqs, mask = masked, None
    vecs = [spatial_pool(h, cfg.spatial_pooling) for h in hidden_seqs]
    if mask is not None:
        start = 0
        for l, ch in enumerate(cfg.hidden_channels):
            vecs[l] = vecs[l] * mask[:, :, start:start + ch]
            start += ch
    return fuse_levels(P, vecs, cfg)


def temporal_pool(frames, mode):
    """(T, B, D) -> (B, D). "fisher" is trained with "average" (see module docstring)."""
    if mode == "last":
        return frames[-1]
    if mode == "max":
        return frames.max(axis=0)
    return frames.mean(axis=0)


class FisherTemporalPooling:
    """Table 3's Fisher-vector temporal pooling, at evaluation time.

    ``fit`` takes the frame-level outputs of the *training* sequences of a trial (list of (T_i, D)
    arrays, from ``SiameseRCN.build_frame_features``) after the network is trained, fits a
    diagonal GMM of ``n_components`` on at most ``max_frames`` of those frames (sampled with
    ``seed``), and ``encode`` turns a sequence's frames into a Fisher vector (power- and
    L2-normalised by :class:`rcnreid.nn.fisher.FisherVectorEncoder`). Eq. 5's v has the network's
    width, not the FV's, so sequences are compared by the inner product of their Fisher vectors
    (:meth:`similarity`, the cosine similarity since they are L2-normalised).
    """

    def __init__(self, n_components=16, seed=0, max_frames=20000):
        self.n_components = n_components
        self.seed = seed
        self.max_frames = max_frames
        self.encoder = None

    def fit(self, frame_lists):
        from rcnreid.nn.fisher import FisherVectorEncoder
        frames = [np.asarray(f, dtype=np.float64).reshape(len(f), -1) for f in frame_lists]
        if not frames:
            raise UserError("fisher pooling: no training frames to fit the GMM on")
        X = np.concatenate(frames, axis=0)
        rng = np.random.RandomState(self.seed)
        if len(X) > self.max_frames:
            X = X[np.sort(rng.choice(len(X), self.max_frames, replace=False))]
        self.encoder = FisherVectorEncoder(n_components=self.n_components, seed=self.seed).fit(X)
        return self

    def encode(self, frames):
        if self.encoder is None:
            raise UserError("fisher pooling: call fit() on training frames before encode()")
        return np.asarray(self.encoder.encode(np.asarray(frames, dtype=np.float64)),
                          dtype=np.float32)

    def encode_many(self, frame_lists):
        return np.stack([self.encode(f) for f in frame_lists])

    @staticmethod
    def similarity(fa, fb):
        """(Na, F), (Nb, F) -> (Na, Nb) inner products of Fisher vectors."""
        return np.asarray(fa, dtype=np.float64) @ np.asarray(fb, dtype=np.float64).T
