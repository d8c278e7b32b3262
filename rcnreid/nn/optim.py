"""Training settings of Section 5.2: RMSProp, elementwise gradient clipping, dropout; and every
update rule of the package (RMSProp for the RCN, SGD with momentum for the VGG-16 fine-tuning).

Section 5.2 gives RMSProp [Tieleman & Hinton], mini-batches of 10 pairs, gradients clipped to
[-5, 5] and "a dropout ratio of 0.7 on the hidden-unit activations"; it gives no learning rate.
Defaults and their reasons are in docs/REPRODUCTION.md §1.
"""
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from rcnreid.errors import UserError
from rcnreid.backend.theano_env import T, theano


@dataclass(frozen=True)
class OptimConfig:
    learning_rate: float = 1e-3     # not in the paper
    rho: float = 0.9                # RMSProp decay of the squared-gradient average
    eps: float = 1e-6
    clip: float = 5.0               # every gradient element clipped to [-clip, clip]; 0 = off
    dropout: float = 0.7            # "dropout ratio" of Section 5.2
    dropout_is_keep: bool = False   # False: 0.7 is the probability of dropping a unit (Caffe's
                                    # dropout_ratio); True: the probability of keeping it
    loss_reduction: str = "mean"    # Eq. 6 is a sum; "mean" makes the step size batch-independent

    def __post_init__(self):
        if not 0.0 <= self.dropout < 1.0 or (self.dropout_is_keep and self.dropout == 0.0):
            raise UserError("optim option dropout: %r must be in [0, 1) (a keep probability in "
                            "(0, 1) with dropout_is_keep)" % (self.dropout,))
        if self.learning_rate <= 0:
            raise UserError("optim option learning_rate: must be > 0")
        if self.loss_reduction not in ("mean", "sum"):
            raise UserError("optim option loss_reduction: 'mean' or 'sum'")

    @property
    def keep_prob(self):
        """Probability that a unit is kept during training."""
        if self.dropout_is_keep:
            return float(self.dropout)
        return 1.0 - float(self.dropout)


def clip_gradients(grads, clip):
    """Elementwise clipping to [-clip, clip] (Section 5.2); clip <= 0 leaves them unchanged."""
    if not clip or clip <= 0:
        return list(grads)
    c = np.float32(clip)
    return [T.clip(g, -c, c) for g in grads]


def rmsprop_updates(params, grads, cfg):
    """RMSProp: a <- rho a + (1 - rho) g^2;  p <- p - lr g / (sqrt(a) + eps).

    Returns (updates, accumulators) with one float32 shared accumulator per parameter, named
    ``rms/<param name>``.
    """
    lr, rho, eps = np.float32(cfg.learning_rate), np.float32(cfg.rho), np.float32(cfg.eps)
    one = np.float32(1)
    updates = OrderedDict()
    accs = OrderedDict()
    for p, g in zip(params, grads):
        acc = theano.shared(np.zeros(p.get_value(borrow=True).shape, dtype="float32"),
                            name="rms/" + p.name)
        a_new = rho * acc + (one - rho) * T.sqr(g)
        updates[acc] = a_new
        updates[p] = p - lr * g / (T.sqrt(a_new) + eps)
        accs[p.name] = acc
    return updates, accs


def momentum_updates(params, grads, learning_rate, momentum, lr_mults=None, weight_decays=None):
    """SGD with momentum (the VGG-16 fine-tuning of Section 5.3, :mod:`rcnreid.vgg.finetune`)::

        g' = g + wd_p p;   v <- mu v - (lr lr_p) g';   p <- p + v

    ``learning_rate``: a number or a Theano scalar (a rate that changes between epochs);
    ``lr_mults`` / ``weight_decays``: per parameter name, a learning-rate multiplier lr_p
    (default 1) and a weight decay wd_p (default 0). Returns (updates, velocities) with one
    float32 shared velocity per parameter, named ``momentum/<param name>``.
    """
    lr_mults, weight_decays = lr_mults or {}, weight_decays or {}
    mu = np.float32(momentum)
    updates = OrderedDict()
    velocities = OrderedDict()
    for p, g in zip(params, grads):
        v = theano.shared(np.zeros(p.get_value(borrow=True).shape, dtype="float32"),
                          name="momentum/" + p.name)
        wd = weight_decays.get(p.name, 0)
        if wd:
            g = g + np.float32(wd) * p
        v_new = mu * v - (learning_rate * np.float32(lr_mults.get(p.name, 1.0))) * g
        updates[v] = v_new
        updates[p] = p + v_new
        velocities[p.name] = v
    return updates, velocities
