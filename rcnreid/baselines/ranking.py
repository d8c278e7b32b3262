"""The RankSVM of Prosser et al. (BMVC 2010; :mod:`rcnreid.metric.ranksvm`, the one solver)
trained between two cameras, for GEI+RSVM and DVR's inner problem.

Written here as a *distance* ``d_w(a, b) = w . |a - b|`` (lower = more alike), each constraint
says that a positive pair is closer than a negative pair by a margin; with ``p_i`` / ``n_j`` the
absolute differences of positive / negative pairs the primal is

    min_w  lam/2 ||w||^2 + 1/|C| sum_{(i, j) in C} max(0, 1 - w . (n_j - p_i))^2,

:func:`rcnreid.metric.ranksvm.solve_primal` with ``Z = n_j - p_i``, ``C = 1/|C|`` and
``reg = lam``. Constraints are explicit index pairs so that DVR can re-select its positive
fragment pairs between solves.
"""
import dataclasses

import numpy as np

from rcnreid.metric.ranksvm import solve_primal, weighted_abs_difference


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
    d = pos.shape[1]
    w0 = np.full(d, 1.0 / d) if w0 is None else w0
    return solve_primal(D, C=1.0 / max(len(D), 1), reg=cfg.lam, w0=w0,
                        nonnegative=cfg.nonnegative, max_iter=cfg.max_iter).x


#: The RankSVM distance ``w . |a - b|`` of every pair (:mod:`rcnreid.metric.ranksvm`).
weighted_l1 = weighted_abs_difference


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
