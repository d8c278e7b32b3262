"""RankSVM on absolute differences (Prosser, Zheng, Gong and Xiang, BMVC 2010), solved in the
primal.

A pair (a, b) is scored by s_w(a, b) = w . |a - b| (higher = more likely the same person). For
every true match (i, j) and wrong match (i, k) sharing the anchor i the constraint is

    w . (|x_i - x_j| - |x_i - x_k|) >= 1 - xi_ijk,

and the primal with the squared hinge (Chapelle 2007; smooth, solved with L-BFGS) is

    min_w  1/2 ||w||^2 + C sum_{ijk} max(0, 1 - w . z_ijk)^2,   z_ijk = |x_i - x_j| - |x_i - x_k|.

Each true match is used with both of its sequences as anchor, against ``n_negatives`` wrong
matches sampled (with ``seed``) per anchor. Ranking a gallery uses the distance -s_w.

This is the project's one RankSVM: :func:`solve_primal` (the objective above, with a weight on
the regulariser and optionally w >= 0) and :func:`weighted_abs_difference` (w . |a - b| for all
pairs) also serve the cross-camera RankSVM of GEI+RSVM and DVR (:mod:`rcnreid.baselines.ranking`,
which builds its constraints from explicit positive / negative pairs).
"""
import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator

from rcnreid.errors import UserError
from rcnreid.metric.distances import as_matrix, check_labels, same_person_pairs


def ranking_constraints(y, n_negatives=10, rng=None, cameras=None):
    """(C, 3) int triplets (anchor i, match j, non-match k) with y_i = y_j != y_k.

    ``cameras``: matches and non-matches come from the other camera than the anchor.
    """
    y = np.asarray(y)
    rng = rng if rng is not None else np.random.RandomState(0)
    pos = same_person_pairs(y)
    if cameras is not None:
        cameras = np.asarray(cameras).ravel()
        pos = pos[cameras[pos[:, 0]] != cameras[pos[:, 1]]]
    out = []
    for a, b in np.concatenate([pos, pos[:, ::-1]]):
        cand = y != y[a]
        if cameras is not None:
            cand &= cameras != cameras[a]
        cand = np.flatnonzero(cand)
        if len(cand) == 0:
            continue
        if n_negatives is not None and int(n_negatives) < len(cand):
            cand = rng.choice(cand, int(n_negatives), replace=False)
        out.extend((a, b, k) for k in cand)
    if not out:
        raise UserError("RankSVM: no (match, non-match) constraints in the training set; it needs "
                        "two or more samples for some person and two or more people")
    return np.asarray(out, dtype=np.int64)


def primal_objective(w, Z, C, reg=1.0):
    """Objective and gradient of reg/2 ||w||^2 + C sum max(0, 1 - Z w)^2."""
    m = np.maximum(0.0, 1.0 - Z @ w)
    f = 0.5 * reg * (w @ w) + C * (m @ m)
    g = reg * w - 2.0 * C * (Z.T @ m)
    return f, g


def solve_primal(Z, C=1.0, reg=1.0, w0=None, nonnegative=False, max_iter=500, tol=None):
    """``w`` minimising :func:`primal_objective` over constraint rows ``Z`` (C, d) (want
    ``w . z >= 1``), by L-BFGS-B from ``w0`` (default zeros); ``nonnegative``: w >= 0, which
    keeps ``w . |a - b|`` a weighted L1 distance."""
    Z = np.asarray(Z, np.float64)
    d = Z.shape[1]
    w0 = np.zeros(d) if w0 is None else np.asarray(w0, np.float64)
    options = {"maxiter": int(max_iter)}
    if tol is not None:
        options["gtol"] = tol
    return minimize(primal_objective, w0, args=(Z, float(C), float(reg)), jac=True,
                    method="L-BFGS-B", bounds=[(0.0, None)] * d if nonnegative else None,
                    options=options)


def weighted_abs_difference(w, A, B):
    """(len(A), len(B)) matrix of ``w . |a - b|``, a block of rows at a time."""
    A = np.asarray(A, np.float64)
    B = np.asarray(B, np.float64)
    w = np.asarray(w, np.float64)
    out = np.empty((len(A), len(B)))
    step = max(1, int(2e7 // max(B.size, 1)))      # ~160 MB of differences at a time
    for i in range(0, len(A), step):
        out[i:i + step] = np.abs(A[i:i + step, None, :] - B[None, :, :]) @ w
    return out


class RankSVM(BaseEstimator):
    """Primal RankSVM estimator: ``fit(X, y, cameras=None)``, ``score(A, B)`` (Na, Nb) and
    ``pairwise_distance(A, B) = -score(A, B)``.

    C: hinge weight. n_negatives: wrong matches sampled per anchor (None: all). max_iter: L-BFGS
    iterations. seed: constraint sampling.
    """

    def __init__(self, C=1.0, n_negatives=10, max_iter=500, tol=1e-8, seed=0):
        self.C = C
        self.n_negatives = n_negatives
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed

    def fit(self, X, y, cameras=None):
        X = as_matrix(X, "RankSVM.fit X")
        y = check_labels(X, y)
        if float(self.C) <= 0:
            raise UserError("RankSVM C: %r must be > 0" % (self.C,))
        c = ranking_constraints(y, self.n_negatives, np.random.RandomState(self.seed), cameras)
        Z = np.abs(X[c[:, 0]] - X[c[:, 1]]) - np.abs(X[c[:, 0]] - X[c[:, 2]])
        res = solve_primal(Z, C=self.C, max_iter=self.max_iter, tol=self.tol)
        self.coef_ = res.x
        self.n_constraints_ = len(c)
        self.objective_ = float(res.fun)
        return self

    def score(self, A, B):
        """(Na, d), (Nb, d) -> (Na, Nb) w . |a - b| (higher = more alike)."""
        if not hasattr(self, "coef_"):
            raise UserError("RankSVM: call fit() before score()")
        return weighted_abs_difference(self.coef_, as_matrix(A, "RankSVM A"),
                                       as_matrix(B, "RankSVM B"))

    def pairwise_distance(self, A, B):
        """-score(A, B): lower = more alike, for ranking a gallery."""
        return -self.score(A, B)
