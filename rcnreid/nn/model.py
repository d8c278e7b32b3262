"""The Siamese deep recurrent convolutional network (Section 4, Fig. 2).

Both sequences of a pair go through one set of parameters (the branches are the same graph: the
two batches are concatenated along the batch axis), giving h-bar_a and h-bar_b (Eq. 4); their
similarity is Eq. 5 and the training loss Eq. 6, minimised with RMSProp, elementwise gradient
clipping and dropout on the pooled hidden activations (Section 5.2).

Inputs are time-major float32: images (T, B, 3, H, W) for ``kind="convgru"``, vectors (T, B, D)
for ``kind="fcgru"``. Any T >= 1 works; the batch size is free (no recompilation).
"""
from collections import OrderedDict

import numpy as np

from rcnreid.nn import init as initlib
from rcnreid.nn.convgru import convgru_params, run_convgru, check_level_sizes
from rcnreid.nn.convgru_bptt import fused_gradients
from rcnreid.nn.encoder import encode, encoder_params
from rcnreid.errors import UserError
from rcnreid.nn.fcgru import fcgru_params, run_fcgru
from rcnreid.nn.layers import fold_time, unfold_time
from rcnreid.nn.optim import OptimConfig, clip_gradients, rmsprop_updates
from rcnreid.nn.pooling import (frame_outputs, fused_dim, fusion_params, hidden_unit_shapes,
                                temporal_pool)
from rcnreid.nn.similarity import bce_loss, similarity_logit, pairwise_similarity
from rcnreid.backend.theano_env import T, theano


def build_param_arrays(cfg, seed):
    """All parameters as float32 numpy arrays, in a fixed order, from ``seed`` alone."""
    rng = np.random.RandomState(seed)
    p = OrderedDict()
    if cfg.kind == "convgru":
        p.update(encoder_params(cfg, rng))
        p.update(convgru_params(cfg, rng))
    else:
        p.update(fcgru_params(cfg, rng))
    p.update(fusion_params(cfg, rng))
    d = fused_dim(cfg)
    if cfg.fc_head_dim:
        p["head_W"] = initlib.dense_weight(rng, d, cfg.fc_head_dim, cfg.init)
        p["head_b"] = initlib.zeros((cfg.fc_head_dim,))
        d = cfg.fc_head_dim
    p["sim_v"] = initlib.weight(rng, (d,), d, 1, cfg.init)
    # Eq. 5's constant c is one of the parameters Theta of Section 4.5, so under "uniform1"
    # (Section 5.2: every parameter from U[-1, 1]) it is drawn too, last, so that the draws
    # above do not change; under "glorot" it starts at 0.
    if cfg.init == "uniform1":
        p["sim_c"] = initlib.weight(rng, (), 1, 1, cfg.init)
    else:
        p["sim_c"] = np.zeros((), dtype="float32")
    return p


class SiameseRCN:
    """The network of Fig. 2 with its parameters as Theano shared variables."""

    def __init__(self, model_cfg, seed=0):
        self.cfg = model_cfg
        self.seed = int(seed)
        if model_cfg.kind == "convgru":
            check_level_sizes(model_cfg)
        self.params = OrderedDict(
            (k, theano.shared(v, name=k)) for k, v in build_param_arrays(model_cfg, seed).items())
        self.pre_head_dim = fused_dim(model_cfg)
        self.repr_dim = model_cfg.fc_head_dim or self.pre_head_dim

    # ------------------------------------------------------------------ parameters
    def get_params(self):
        return OrderedDict((k, p.get_value()) for k, p in self.params.items())

    def set_params(self, d):
        missing = [k for k in self.params if k not in d]
        if missing:
            raise UserError("model parameters: missing %s; the checkpoint was written for another "
                            "model configuration" % ", ".join(missing[:5]))
        for k, p in self.params.items():
            v = np.asarray(d[k], dtype="float32")
            if v.shape != p.get_value(borrow=True).shape:
                raise UserError("model parameter %s: shape %s, expected %s; the checkpoint was "
                                "written for another model configuration"
                                % (k, v.shape, p.get_value(borrow=True).shape))
            p.set_value(v)

    def num_params(self):
        return int(sum(p.get_value(borrow=True).size for p in self.params.values()))

    # ------------------------------------------------------------------ graphs
    def input_variable(self, name):
        return T.tensor5(name) if self.cfg.kind == "convgru" else T.tensor3(name)

    def frames_graph(self, x, naive=False, record=None, frame_mask=None):
        """Frame-level outputs (T, B, D) (the x_t of Table 3) for a symbolic input ``x``.

        ``record``: see :func:`rcnreid.nn.convgru.run_convgru` (fused ConvGRU only); ``frame_mask``:
        the per-frame dropout mask of :func:`rcnreid.nn.pooling.frame_outputs`."""
        P = self.params
        if self.cfg.kind == "fcgru":
            hidden = run_fcgru(P, x, self.cfg)
        else:
            t_len, batch = x.shape[0], x.shape[1]
            maps = encode(P, fold_time(x), self.cfg)
            levels = [unfold_time(m, t_len, batch) for m in maps]
            hidden = run_convgru(P, levels, self.cfg, naive=naive, record=record)
        return frame_outputs(P, hidden, self.cfg, mask=frame_mask)

    def represent_graph(self, x, mask=None, naive=False, record=None, frame_mask=None):
        """h-bar (B, repr_dim) (Eq. 4 / Table 3 pooling); ``mask`` (B, D) is the dropout mask on
        h-bar, ``frame_mask`` (T, B, ...) the one on the frames' hidden maps (per channel or per
        unit, see :func:`rcnreid.nn.pooling.frame_outputs`)."""
        h = temporal_pool(self.frames_graph(x, naive=naive, record=record,
                                            frame_mask=frame_mask),
                          self.cfg.temporal_pooling)
        if mask is not None:
            h = h * mask
        if self.cfg.fc_head_dim:
            h = T.tanh(T.dot(h, self.params["head_W"]) + self.params["head_b"])
        return h

    def check_input(self, x, name="x"):
        """float32 array of the right rank and frame size, or UserError."""
        x = np.asarray(x)
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        if self.cfg.kind == "convgru":
            want = (self.cfg.input_channels,) + tuple(self.cfg.input_hw)
            if x.ndim != 5 or tuple(x.shape[2:]) != want:
                raise UserError("model input %s: shape %s, expected (T, B) + %s (time-major "
                                "frames at the model's input_hw)" % (name, x.shape, want))
        else:
            if x.ndim != 3 or x.shape[2] != self.cfg.fc_input_dim:
                raise UserError("model input %s: shape %s, expected (T, B, %d)"
                                % (name, x.shape, self.cfg.fc_input_dim))
        if x.shape[0] < 1:
            raise UserError("model input %s: a sequence needs at least one frame" % name)
        return x

    def build_train(self, optim_cfg=None, naive=False, seed=None, bptt="manual"):
        """Compile the Siamese training step; see :class:`Trainer`."""
        return Trainer(self, optim_cfg or OptimConfig(), naive=naive,
                       seed=self.seed + 1 if seed is None else seed, bptt=bptt)

    def build_represent(self, naive=False):
        """A function x (T, B, ...) -> float32 (B, repr_dim), without dropout."""
        x = self.input_variable("x")
        fn = theano.function([x], self.represent_graph(x, naive=naive), name="represent")
        return _Compiled(self, fn)

    def build_frame_features(self, naive=False):
        """A function x (T, B, ...) -> float32 (T, B, D): frame-level outputs for Table 3."""
        x = self.input_variable("x")
        fn = theano.function([x], self.frames_graph(x, naive=naive), name="frame_features")
        return _Compiled(self, fn)

    def similarity(self, ha, hb, logits=False):
        """Eq. 5 for every pair: numpy (Na, D), (Nb, D) -> (Na, Nb)."""
        return pairwise_similarity(ha, hb, self.params["sim_v"].get_value(),
                                 self.params["sim_c"].get_value(), logits=logits)


class _Compiled:
    """A compiled per-sequence function with input checks and optional batching."""

    def __init__(self, model, fn):
        self.model = model
        self.fn = fn

    def __call__(self, x, batch_size=None):
        x = self.model.check_input(x)
        if not batch_size or x.shape[1] <= batch_size:
            return self.fn(x)
        parts = [self.fn(np.ascontiguousarray(x[:, i:i + batch_size]))
                 for i in range(0, x.shape[1], batch_size)]
        return np.concatenate(parts, axis=-2)


class Trainer:
    """One compiled Siamese training step (Eq. 5, 6; RMSProp; clipping; dropout).

    Where the dropout masks go is the model's ``dropout_masks`` (Section 5.2's "dropout ratio of
    0.7 on the hidden-unit activations"; keep probability p = ``optim_cfg.keep_prob``):

    - ``"independent"``: a mask per sequence on h-bar, scaled by 1/p. In Eq. 5's
      v . (h-bar_a o h-bar_b) a term then survives with probability p^2 (0.09 at a ratio of 0.7),
      scaled by 1/p^2 (about 11), so the logit's expectation is kept but its noise is large.
    - ``"shared"``: one mask per pair, the same on h-bar_a and h-bar_b, scaled by 1/sqrt(p) on
      each, so a term survives with probability p, scaled by 1/p (expectation kept).
    - ``"frames"``: a mask per frame, sequence and level on the hidden maps' channels before
      spatial and temporal pooling, scaled by 1/p.
    - ``"units"``: one Bernoulli(p) per hidden unit h^l_t(k, i, j) (channel k at position (i, j)
      of level l), per frame and sequence, scaled by 1/p, before the spatial averaging: dropout
      "on the hidden-unit activations" as Section 5.2 writes (the literal readings).

    Dropout masks are drawn in numpy from a ``RandomState(seed)`` and passed into the graph, so
    :meth:`get_state` / :meth:`set_state` (RMSProp accumulators + that RNG's state) resume a run
    bit for bit.

    ``bptt``: how the gradient goes through the fused ConvGRU recurrence: ``"manual"`` (default,
    the hand-written backward pass of :mod:`rcnreid.nn.convgru_bptt`, no recomputation) or
    ``"theano"`` (Theano's own gradient of the scan). Both give the same gradient; the naive graph
    and the FC-GRU always use Theano's.
    """

    BPTT = ("manual", "theano")

    def __init__(self, model, optim_cfg, naive=False, seed=1, bptt="manual"):
        if bptt not in self.BPTT:
            raise UserError("bptt=%r: use one of %s" % (bptt, ", ".join(self.BPTT)))
        self.model = model
        self.cfg = optim_cfg
        self.rng = np.random.RandomState(seed)
        self.steps = 0
        xa, xb = model.input_variable("xa"), model.input_variable("xb")
        y = T.vector("y")
        frames = model.cfg.dropout_masks in ("frames", "units")
        mask = T.tensor3("mask") if frames else T.matrix("mask")
        x = T.concatenate([xa, xb], axis=1)
        manual = bptt == "manual" and not naive and model.cfg.kind == "convgru"
        self.bptt = "manual" if manual else "theano"
        record = {} if manual else None
        if frames:
            h = model.represent_graph(x, frame_mask=mask, naive=naive, record=record)
        else:
            h = model.represent_graph(x, mask=mask, naive=naive, record=record)
        nb = xa.shape[1]
        logit = similarity_logit(h[:nb], h[nb:], model.params["sim_v"], model.params["sim_c"])
        loss = bce_loss(logit, y, optim_cfg.loss_reduction)
        acc = T.mean(T.eq(T.gt(logit, np.float32(0)), T.gt(y, np.float32(0.5))))
        params = list(model.params.values())
        if manual:
            grads = fused_gradients(loss, params, record, model.cfg)
        else:
            grads = T.grad(loss, params)
        grads = clip_gradients(grads, optim_cfg.clip)
        updates, self.accumulators = rmsprop_updates(params, grads, optim_cfg)
        self.fn = theano.function([xa, xb, y, mask], [loss, T.cast(acc, "float32")],
                                  updates=updates, name="train_step")

    def dropout_mask(self, n, t_len=1):
        """The mask for ``n`` sequences (both branches of n // 2 pairs, branch a first) of
        ``t_len`` frames: :func:`draw_dropout_mask` from the trainer's RNG."""
        return draw_dropout_mask(self.rng, self.model.cfg, self.cfg.keep_prob, n, t_len)

    def step(self, xa, xb, y):
        """One update on a batch of pairs; y float32 (B,), 1 = same person."""
        xa = self.model.check_input(xa, "xa")
        xb = self.model.check_input(xb, "xb")
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        if xa.shape[0] != xb.shape[0] or xa.shape[1] != xb.shape[1] or y.shape[0] != xa.shape[1]:
            raise UserError("training batch: xa %s, xb %s and y %s must share T and B"
                            % (xa.shape, xb.shape, y.shape))
        mask = self.dropout_mask(2 * xa.shape[1], xa.shape[0])
        loss, acc = self.fn(xa, xb, y, mask)
        self.steps += 1
        return dict(loss=float(loss), accuracy=float(acc))

    def get_state(self):
        """Flat dict of numpy arrays: RMSProp accumulators, dropout RNG state, step count."""
        d = OrderedDict(("rms/" + k, a.get_value()) for k, a in self.accumulators.items())
        name, keys, pos, has_gauss, cached = self.rng.get_state()
        d["dropout_rng/keys"] = np.asarray(keys, dtype=np.uint32)
        d["dropout_rng/pos"] = np.asarray(pos, dtype=np.int64)
        d["dropout_rng/has_gauss"] = np.asarray(has_gauss, dtype=np.int64)
        d["dropout_rng/cached_gaussian"] = np.asarray(cached, dtype=np.float64)
        d["steps"] = np.asarray(self.steps, dtype=np.int64)
        return d

    def set_state(self, d):
        for k, a in self.accumulators.items():
            if "rms/" + k not in d:
                raise UserError("optimiser state: missing rms/%s; the checkpoint was written for "
                                "another model configuration" % k)
            a.set_value(np.asarray(d["rms/" + k], dtype="float32"))
        self.rng.set_state(("MT19937", np.asarray(d["dropout_rng/keys"], dtype=np.uint32),
                            int(d["dropout_rng/pos"]), int(d["dropout_rng/has_gauss"]),
                            float(d["dropout_rng/cached_gaussian"])))
        self.steps = int(d.get("steps", 0))


def draw_dropout_mask(rng, cfg, keep, n, t_len=1):
    """float32 dropout mask for ``n`` sequences (branch a's n // 2, then branch b's) of ``t_len``
    frames, placed as ``cfg.dropout_masks`` says (see :class:`Trainer`); ``keep`` = p."""
    how = cfg.dropout_masks
    if how == "frames":
        shape = (t_len, n, sum(cfg.hidden_channels))
    elif how == "units":
        shape = (t_len, n, sum(int(np.prod(s)) for s in hidden_unit_shapes(cfg)))
    else:
        shape = (n // 2 if how == "shared" else n, fused_dim(cfg))
    if keep >= 1.0:
        m = np.ones(shape, dtype=np.float32)
    else:
        scale = np.sqrt(keep) if how == "shared" else keep
        m = ((rng.uniform(size=shape) < keep) / scale).astype(np.float32)
    if how == "shared":
        m = np.concatenate([m, m], axis=0)
    return m
