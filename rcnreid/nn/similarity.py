"""Eq. 5 (similarity) and Eq. 6 (binary cross-entropy), in Theano and in numpy.

    s(Xa, Xb) = sigmoid(v^T (h_a o h_b) + c)                                    (Eq. 5)
    L = -[sum_{S} log s + sum_{D} log(1 - s)]                                   (Eq. 6)

The loss is computed from the logit u = v^T (h_a o h_b) + c with log s = -softplus(-u) and
log(1 - s) = -softplus(u), which is exact and does not overflow in float32.
"""
import numpy as np

from rcnreid.backend.theano_env import T


def similarity_logit(ha, hb, v, c):
    """(B, D), (B, D) -> (B,) logits u of Eq. 5."""
    return T.dot(ha * hb, v) + c


def bce_loss(logit, y, reduction="mean"):
    """Eq. 6 from logits; y = 1 for pairs in S, 0 for pairs in D. "mean" divides by the pairs."""
    per_pair = y * T.nnet.softplus(-logit) + (np.float32(1) - y) * T.nnet.softplus(logit)
    return per_pair.mean() if reduction == "mean" else per_pair.sum()


def pairwise_similarity(ha, hb, v, c, logits=False):
    """numpy: (Na, D), (Nb, D) -> (Na, Nb) s(a, b) for every pair, Eq. 5 factorised as
    (ha o v) hb^T + c. ``logits=True`` returns u (same ranking, no saturation)."""
    ha = np.asarray(ha, dtype=np.float64)
    hb = np.asarray(hb, dtype=np.float64)
    u = (ha * np.asarray(v, dtype=np.float64)) @ hb.T + float(c)
    if logits:
        return u
    return 1.0 / (1.0 + np.exp(-u))
