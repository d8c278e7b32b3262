"""PCA fitted on the training people only (Section 5.5: "PCA is first applied to reduce the
dimension of our original representation ... 128")."""
import numpy as np

from sklearn.base import BaseEstimator

from rcnreid.errors import UserError
from rcnreid.metric.distances import as_matrix, euclidean


class PCA(BaseEstimator):
    """Principal component analysis by SVD of the centred training matrix.

    ``n_components`` is capped at ``min(n_samples, n_features)`` (the number of directions the
    training set can span; the actual count is ``n_components_`` after fitting). ``whiten``
    divides each component by its standard deviation (off by default; the paper does not whiten).
    Component signs are fixed (largest-magnitude loading positive) so fits are repeatable.
    """

    def __init__(self, n_components=128, whiten=False):
        self.n_components = n_components
        self.whiten = whiten

    def fit(self, X, y=None):
        X = as_matrix(X, "PCA.fit X")
        if len(X) < 2:
            raise UserError("PCA.fit: %d samples; PCA needs at least 2 training samples" % len(X))
        if self.n_components is not None and int(self.n_components) < 1:
            raise UserError("PCA: n_components must be >= 1 (got %r)" % (self.n_components,))
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        k = min(Xc.shape) if self.n_components is None else min(int(self.n_components),
                                                                  *Xc.shape)
        V = Vt[:k]
        flip = np.sign(V[np.arange(k), np.abs(V).argmax(axis=1)])
        flip[flip == 0] = 1.0
        self.components_ = V * flip[:, None]                  # (k, D), orthonormal rows
        self.explained_variance_ = s[:k] ** 2 / (len(X) - 1)
        self.n_components_ = k
        return self

    def transform(self, X):
        """(N, D) -> (N, n_components_) projections of the centred data."""
        if not hasattr(self, "components_"):
            raise UserError("PCA: call fit() before transform()")
        X = as_matrix(X, "PCA.transform X")
        if X.shape[1] != self.mean_.shape[0]:
            raise UserError("PCA.transform: %d features, fitted on %d" % (X.shape[1],
                                                                          self.mean_.shape[0]))
        Z = (X - self.mean_) @ self.components_.T
        if self.whiten:
            Z = Z / np.sqrt(np.maximum(self.explained_variance_, 1e-12))
        return Z

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def pairwise_distance(self, A, B):
        """Euclidean distances in the PCA space."""
        return euclidean(self.transform(A), self.transform(B))
