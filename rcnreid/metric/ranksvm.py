"""RankSVM on absolute differences (Prosser, Zheng, Gong and Xiang, BMVC 2010), solved in the
primal.

A pair (a, b) is scored by s_w(a, b) = w . |a - b| (higher = more likely the same person). For
every true match (i, j) and wrong match (i, k) sharing the anchor i the constraint is

    w . (|x_i - x_j| - |x_i - x_k|) >= 1 - xi_ijk,

and the primal with the squared hinge (Chapelle 2007; smooth, solved with L-BFGS) is

    min_w  1/2 ||w||^2 + C sum_{ijk} max(0, 1 - w . z_ijk)^2,   z_ijk = |x_i - x_j| - |x_i - x_k|.

Each true match is used with both of its sequences as anchor, against ``n_negatives`` wrong
matches sampled (with ``seed``) per anchor. Ranking a gallery uses the distance -s_w.
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


def primal_objective(w, Z, C):
    """Objective and gradient of 1/2 ||w||^2 + C sum max(0, 1 - Z w)^2."""
    m = np.maximum(0.0, 1.0 - Z @ w)
    f = 0.5 * w @ w + C * (m @ m)
    g = w - 2.0 * C * (Z.T @ m)
    return f, g


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
        res = minimize(primal_objective, np.zeros(X.shape[1]), args=(Z, float(self.C)),
                       jac=True, method="L-BFGS-B",
                       options=dict(maxiter=int(self.max_iter), gtol=self.tol))
        self.coef_ = res.x
        self.n_constraints_ = len(c)
        self.objective_ = float(res.fun)
        return self

    def score(self, A, B):
        """(Na, d), (Nb, d) -> (Na, Nb) w . |a - b| (higher = more alike)."""
        if not hasattr(self, "coef_"):
            raise UserError("RankSVM: call fit() before score()")
        A = as_matrix(A, "RankSVM A")
        B = as_matrix(B, "RankSVM B")
        out = np.empty((len(A), len(B)))
        for i in range(len(A)):
            out[i] = np.abs(B - A[i]) @ self.coef_
        return out

    def pairwise_distance(self, A, B):
        """-score(A, B): lower = more alike, for ranking a gallery."""
        return -self.score(A, B)
