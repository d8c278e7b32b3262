"""KISSME: "keep it simple and straightforward" metric learning (Koestinger et al., CVPR 2012),
Table 5's "+KISSME".

With d_ij = x_i - x_j over similar pairs S (same person) and dissimilar pairs D (different
people), and no mean subtraction,

    Sigma_S = 1/|S| sum_S d_ij d_ij^T,     Sigma_D = 1/|D| sum_D d_ij d_ij^T,
    M = Sigma_S^{-1} - Sigma_D^{-1},        projected onto the PSD cone by clipping eigenvalues,
    distance(x, y) = (x - y)^T M (x - y).

Both covariances are shrunk as Sigma <- (1 - beta) Sigma + beta tr(Sigma)/d I before inversion
(``beta``, default 0.01): with fewer similar pairs than dimensions (PRID 2011 after PCA to 128)
Sigma_S is singular. ``beta=0`` inverts with the pseudo-inverse instead.
"""
import numpy as np
from sklearn.base import BaseEstimator

from rcnreid.errors import UserError
from rcnreid.metric.distances import (as_matrix, check_labels, different_person_pairs,
                                      mahalanobis, same_person_pairs)


def pair_outer_mean(X, pairs, chunk=4096):
    """1/|P| sum over index pairs (i, j) of (x_i - x_j)(x_i - x_j)^T."""
    d = X.shape[1]
    S = np.zeros((d, d))
    for s in range(0, len(pairs), chunk):
        p = pairs[s:s + chunk]
        D = X[p[:, 0]] - X[p[:, 1]]
        S += D.T @ D
    return S / max(len(pairs), 1)


def shrink(S, beta):
    """(1 - beta) S + beta tr(S)/d I."""
    d = S.shape[0]
    return (1.0 - beta) * S + beta * np.trace(S) / d * np.eye(d)


def psd_clip(M):
    """Nearest PSD matrix in Frobenius norm: symmetrise, set negative eigenvalues to 0."""
    M = 0.5 * (M + M.T)
    w, V = np.linalg.eigh(M)
    return (V * np.maximum(w, 0.0)) @ V.T


def select_pairs(y, cameras=None, n_negatives=None, rng=None):
    """Similar and dissimilar index pairs. ``cameras``: keep only cross-camera pairs.
    ``n_negatives``: sample that many dissimilar pairs (all when None)."""
    pos = same_person_pairs(y)
    neg = different_person_pairs(y)
    if cameras is not None:
        cameras = np.asarray(cameras).ravel()
        if len(cameras) != len(y):
            raise UserError("cameras: %d camera ids for %d samples; pass one per sample"
                            % (len(cameras), len(y)))
        pos = pos[cameras[pos[:, 0]] != cameras[pos[:, 1]]]
        neg = neg[cameras[neg[:, 0]] != cameras[neg[:, 1]]]
    if n_negatives is not None and int(n_negatives) < len(neg):
        rng = rng if rng is not None else np.random.RandomState(0)
        neg = neg[np.sort(rng.choice(len(neg), int(n_negatives), replace=False))]
    if len(pos) == 0 or len(neg) == 0:
        raise UserError("KISSME: %d similar and %d dissimilar pairs; the training set needs both "
                        "(two or more samples for some person, two or more people)"
                        % (len(pos), len(neg)))
    return pos, neg


class KISSME(BaseEstimator):
    """KISSME estimator: ``fit(X, y, cameras=None)``, ``pairwise_distance(A, B)`` (Mahalanobis
    with M), ``transform(X)`` (X L^T with L^T L = M, so Euclidean there equals the Mahalanobis
    distance).

    beta: covariance shrinkage (see module docstring). n_negatives: number of dissimilar pairs
    sampled with ``seed`` (None: all). project_psd: clip M's negative eigenvalues (paper: yes).
    """

    def __init__(self, beta=0.01, n_negatives=None, project_psd=True, seed=0):
        self.beta = beta
        self.n_negatives = n_negatives
        self.project_psd = project_psd
        self.seed = seed

    def fit(self, X, y, cameras=None):
        X = as_matrix(X, "KISSME.fit X")
        y = check_labels(X, y)
        if not 0.0 <= float(self.beta) <= 1.0:
            raise UserError("KISSME beta: %r must lie in [0, 1]" % (self.beta,))
        pos, neg = select_pairs(y, cameras, self.n_negatives, np.random.RandomState(self.seed))
        self.n_similar_, self.n_dissimilar_ = len(pos), len(neg)
        return self.fit_covariances(pair_outer_mean(X, pos), pair_outer_mean(X, neg))

    def fit_covariances(self, sigma_s, sigma_d):
        """Set M from the two pair covariances (d, d); returns ``self``."""
        self.sigma_s_ = np.asarray(sigma_s, dtype=np.float64)
        self.sigma_d_ = np.asarray(sigma_d, dtype=np.float64)
        beta = float(self.beta)
        if beta > 0:
            inv_s = np.linalg.inv(shrink(self.sigma_s_, beta))
            inv_d = np.linalg.inv(shrink(self.sigma_d_, beta))
        else:
            inv_s = np.linalg.pinv(self.sigma_s_, hermitian=True)
            inv_d = np.linalg.pinv(self.sigma_d_, hermitian=True)
        M = inv_s - inv_d
        self.M_raw_ = 0.5 * (M + M.T)
        self.M_ = psd_clip(M) if self.project_psd else self.M_raw_
        w, V = np.linalg.eigh(self.M_)
        self.L_ = (V * np.sqrt(np.maximum(w, 0.0))).T                 # L^T L = M (PSD part)
        return self

    def _check(self):
        if not hasattr(self, "M_"):
            raise UserError("KISSME: call fit() before computing distances")

    def transform(self, X):
        """(N, d) -> (N, d) X L^T (Euclidean distances there = Mahalanobis with the PSD M)."""
        self._check()
        return as_matrix(X, "KISSME.transform X") @ self.L_.T

    def pairwise_distance(self, A, B):
        """(Na, d), (Nb, d) -> (Na, Nb) (a - b)^T M (a - b)."""
        self._check()
        return mahalanobis(as_matrix(A, "KISSME A"), as_matrix(B, "KISSME B"), self.M_)
