"""A primal RankSVM on absolute-difference vectors, for GEI+RSVM and DVR's inner problem.

Prosser et al. (BMVC 2010) rank a true match above wrong ones with a linear function of the
absolute difference ``|x_a - x_b|``. Written here as a *distance* ``d_w(a, b) = w . |a - b|``
(lower = more alike), each constraint says that a positive pair is closer than a negative pair by
a margin; the primal with squared hinge (Chapelle, 2007) is smooth and solved with L-BFGS:

    min_w  lam/2 ||w||^2 + 1/|C| sum_{(i, j) in C} max(0, 1 - w . (n_j - p_i))^2

where ``p_i`` / ``n_j`` are absolute differences of positive / negative pairs. Constraints are
explicit index pairs so that DVR can re-select its positive fragment pairs between solves.
"""
import dataclasses

import numpy as np
from scipy.optimize import minimize


@dataclasses.dataclass
class RankSVMConfig:
    """Primal RankSVM options."""
    lam: float = 1e-3             # L2 regulariser
    max_iter: int = 300           # L-BFGS iterations
    negatives_per_positive: int = 20   # wrong matches sampled for every true match
    nonnegative: bool = True      # constrain w >= 0 (keeps d_w a weighted L1 distance)


def solve_ranksvm(pos, neg, constraints, cfg=None, w0=None):
    """Weights ``w`` (d,) of the primal RankSVM.

    pos (P, d), neg (N, d): absolute differences; constraints (C, 2) int: (positive row, negative
    row) pairs whose positive must be closer than the negative by a margin of 1.
    """
    cfg = cfg or RankSVMConfig()
    pos = np.asarray(pos, np.float64)
    neg = np.asarray(neg, np.float64)
    c = np.asarray(constraints, np.int64).reshape(-1, 2)
    D = neg[c[:, 1]] - pos[c[:, 0]]          # (C, d): want w . D >= 1
    n = max(len(D), 1)

    def f(w):
        m = np.maximum(0.0, 1.0 - D @ w)
        val = 0.5 * cfg.lam * w @ w + (m ** 2).sum() / n
        grad = cfg.lam * w - 2.0 * (D.T @ m) / n
        return val, grad

    d = pos.shape[1]
    w0 = np.full(d, 1.0 / d) if w0 is None else np.asarray(w0, np.float64)
    bounds = [(0.0, None)] * d if cfg.nonnegative else None
    res = minimize(f, w0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": int(cfg.max_iter)})
    return res.x


def weighted_l1(w, A, B):
    """(len(A), len(B)) matrix of ``w . |a - b|`` (the RankSVM distance)."""
    A = np.asarray(A, np.float64)
    B = np.asarray(B, np.float64)
    w = np.asarray(w, np.float64)
    out = np.empty((len(A), len(B)))
    step = max(1, int(2e7 // max(B.size, 1)))      # ~160 MB of differences at a time
    for i in range(0, len(A), step):
        out[i:i + step] = np.abs(A[i:i + step, None, :] - B[None, :, :]) @ w
    return out


def cross_camera_constraints(persons_a, persons_b, rng, negatives_per_positive):
    """Rows (ia, ib) of positive pairs (same person) and sampled negative pairs, and the
    constraint index pairs tying each positive to its negatives (same first element)."""
    persons_a = np.asarray(persons_a)
    persons_b = np.asarray(persons_b)
    pos, neg, cons = [], [], []
    for ia, p in enumerate(persons_a):
        match = np.flatnonzero(persons_b == p)
        wrong = np.flatnonzero(persons_b != p)
        if match.size == 0 or wrong.size == 0:
            continue
        k = min(int(negatives_per_positive), wrong.size)
        chosen = rng.choice(wrong, k, replace=False)
        for ib in match:
            pos.append((ia, ib))
            first = len(neg)
            for jb in chosen:
                neg.append((ia, jb))
            cons += [(len(pos) - 1, first + q) for q in range(k)]
    return (np.asarray(pos, np.int64).reshape(-1, 2), np.asarray(neg, np.int64).reshape(-1, 2),
            np.asarray(cons, np.int64).reshape(-1, 2))


class PairRankSVM:
    """RankSVM between two cameras' descriptors: ``fit(Xa, ya, Xb, yb)``, ``pairwise_distance``."""

    def __init__(self, cfg=None, seed=0):
        self.cfg = cfg or RankSVMConfig()
        self.seed = seed
        self.w_ = None

    def fit(self, Xa, ya, Xb, yb):
        rng = np.random.RandomState(self.seed)
        Xa, Xb = np.asarray(Xa, np.float64), np.asarray(Xb, np.float64)
        pos, neg, cons = cross_camera_constraints(ya, yb, rng, self.cfg.negatives_per_positive)
        P = np.abs(Xa[pos[:, 0]] - Xb[pos[:, 1]])
        N = np.abs(Xa[neg[:, 0]] - Xb[neg[:, 1]])
        self.w_ = solve_ranksvm(P, N, cons, self.cfg)
        return self

    def pairwise_distance(self, A, B):
        return weighted_l1(self.w_, A, B)
