"""Local Fisher discriminant analysis (Sugiyama, JMLR 2007), as used for re-identification by
Pedagadi et al. (CVPR 2013) and in Table 5 ("+LFDA").

Definitions (n samples x_i with person ids y_i, n_c samples of person c):

* local scaling: sigma_i = distance from x_i to its k-th nearest neighbour *within its class*;
* affinity: A_ij = exp(-||x_i - x_j||^2 / (sigma_i sigma_j)) for y_i = y_j (0 otherwise);
* weights:  W^w_ij = A_ij / n_c                    if y_i = y_j = c, else 0
            W^b_ij = A_ij (1/n - 1/n_c)            if y_i = y_j = c, else 1/n;
* scatters: S^w = 1/2 sum_ij W^w_ij (x_i - x_j)(x_i - x_j)^T,
            S^b = 1/2 sum_ij W^b_ij (x_i - x_j)(x_i - x_j)^T
  (computed as X^T (diag(W 1) - W) X, the same sums);
* regulariser: S^w <- (1 - beta) S^w + beta tr(S^w)/d I;
* generalised eigenproblem S^b phi = lambda S^w phi, the r largest lambda;
* the "weighted" embedding T = [sqrt(lambda_1) phi_1 | ... ] with unit-norm phi (Sugiyama's code).

S^b is a sum of *positive* weights times outer products and therefore PSD; it is not obtained by
adding S^w to anything (see docs/REPRODUCTION.md §4).
"""
import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator

from rcnreid.errors import UserError
from rcnreid.metric.distances import as_matrix, check_labels, euclidean, squared_euclidean

AFFINITIES = ("local", "uniform")
EMBEDDINGS = ("weighted", "orthonormalized", "plain")


def local_affinity(X, y, k=7):
    """(n, n) affinity: local-scaling heat kernel within each class, 0 across classes.

    ``k`` is capped at n_c - 1 per class (with two sequences per person the only neighbour is the
    other sequence, so A_ij = exp(-1) for every same-person pair). A singleton class has no pairs.
    """
    n = len(X)
    A = np.zeros((n, n))
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < 2:
            continue
        d2 = squared_euclidean(X[idx], X[idx])
        kk = min(int(k), len(idx) - 1)
        sigma = np.sqrt(np.sort(d2, axis=1)[:, kk])             # column 0 is the point itself
        sigma = np.maximum(sigma, 1e-12)
        A[np.ix_(idx, idx)] = np.exp(-d2 / np.outer(sigma, sigma))
    return A


def lfda_weights(A, y):
    """Within- and between-class weight matrices W^w, W^b (n, n) from the affinity A."""
    y = np.asarray(y)
    n = len(y)
    same = y[:, None] == y[None, :]
    _, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    n_c = counts[inv].astype(np.float64)                        # n_{y_i} for each row i
    Ww = np.where(same, A / n_c[:, None], 0.0)
    Wb = np.where(same, A * (1.0 / n - 1.0 / n_c[:, None]), 1.0 / n)
    return Ww, Wb


def pairwise_scatter(X, W):
    """1/2 sum_ij W_ij (x_i - x_j)(x_i - x_j)^T for a symmetric W, as X^T (diag(W 1) - W) X."""
    W = 0.5 * (W + W.T)
    L = np.diag(W.sum(axis=1)) - W
    S = X.T @ L @ X
    return 0.5 * (S + S.T)


def lfda_scatters(X, y, k=7, affinity="local"):
    """(S^w, S^b) of LFDA before regularisation. ``affinity="uniform"`` (A = 1 within classes)
    gives the classical Fisher scatters."""
    if affinity not in AFFINITIES:
        raise UserError("LFDA affinity: %r is not one of %s" % (affinity, ", ".join(AFFINITIES)))
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if affinity == "local":
        A = local_affinity(X, y, k)
    else:
        A = (y[:, None] == y[None, :]).astype(np.float64)
    Ww, Wb = lfda_weights(A, y)
    return pairwise_scatter(X, Ww), pairwise_scatter(X, Wb)


def regularize(S, beta):
    """(1 - beta) S + beta tr(S)/d I."""
    d = S.shape[0]
    return (1.0 - beta) * S + beta * np.trace(S) / d * np.eye(d)


class LFDA(BaseEstimator):
    """LFDA estimator: ``fit(X, y)``, ``transform(X)``, ``pairwise_distance(A, B)`` (Euclidean in
    the embedding).

    n_components: embedding size r (None: all d dimensions). k: neighbour for the local scaling
    (Sugiyama's default 7). beta: the S^w regulariser (needed when S^w is singular, e.g. two
    sequences per person in 128 dimensions on PRID 2011). embedding: "weighted" (default),
    "orthonormalized" or "plain". affinity: "local" (LFDA) or "uniform" (classical FDA).
    """

    def __init__(self, n_components=None, k=7, beta=0.01, embedding="weighted",
                 affinity="local"):
        self.n_components = n_components
        self.k = k
        self.beta = beta
        self.embedding = embedding
        self.affinity = affinity

    def fit(self, X, y):
        X = as_matrix(X, "LFDA.fit X")
        y = check_labels(X, y)
        if self.embedding not in EMBEDDINGS:
            raise UserError("LFDA embedding: %r is not one of %s"
                            % (self.embedding, ", ".join(EMBEDDINGS)))
        if not 0.0 <= float(self.beta) <= 1.0:
            raise UserError("LFDA beta: %r must lie in [0, 1]" % (self.beta,))
        if int(self.k) < 1:
            raise UserError("LFDA k: %r must be >= 1" % (self.k,))
        d = X.shape[1]
        r = d if self.n_components is None else min(int(self.n_components), d)
        if r < 1:
            raise UserError("LFDA n_components: must be >= 1 (got %r)" % (self.n_components,))
        Sw, Sb = lfda_scatters(X, y, self.k, self.affinity)
        self.scatter_within_, self.scatter_between_ = Sw, Sb
        Sw = regularize(Sw, float(self.beta))
        # A singular S^w (beta = 0 with fewer pairs than dimensions) gets the smallest ridge that
        # makes the generalised eigenproblem well posed; recorded in ridge_.
        self.ridge_ = 0.0
        scale = max(np.trace(Sw) / d, 1e-12)
        for _ in range(40):
            try:
                evals, evecs = scipy.linalg.eigh(Sb, Sw + self.ridge_ * np.eye(d))
                break
            except np.linalg.LinAlgError:
                self.ridge_ = 1e-9 * scale if self.ridge_ == 0 else self.ridge_ * 10
        else:
            raise UserError("LFDA: the within-class scatter cannot be regularised; use beta > 0")
        order = np.argsort(evals)[::-1][:r]
        evals = np.maximum(evals[order], 0.0)
        evecs = evecs[:, order]
        if self.embedding == "weighted":
            T = evecs / np.linalg.norm(evecs, axis=0, keepdims=True) * np.sqrt(evals)[None, :]
        elif self.embedding == "orthonormalized":
            T, _ = np.linalg.qr(evecs)
        else:
            T = evecs
        # Fix signs (largest-magnitude entry of each column positive) for repeatable fits.
        sgn = np.sign(T[np.abs(T).argmax(axis=0), np.arange(T.shape[1])])
        sgn[sgn == 0] = 1.0
        self.components_ = (T * sgn[None, :]).T                      # (r, d)
        self.eigenvalues_ = evals
        self.eigenvectors_ = evecs * sgn[None, :]
        return self

    def transform(self, X):
        """(N, d) -> (N, r) embedding X T."""
        if not hasattr(self, "components_"):
            raise UserError("LFDA: call fit() before transform()")
        X = as_matrix(X, "LFDA.transform X")
        return X @ self.components_.T

    def fit_transform(self, X, y):
        return self.fit(X, y).transform(X)

    def pairwise_distance(self, A, B):
        """(Na, d), (Nb, d) -> (Na, Nb) Euclidean distances in the embedding."""
        return euclidean(self.transform(A), self.transform(B))
