"""Distance matrices and pair bookkeeping shared by the metric learners."""
import numpy as np

from rcnreid.errors import UserError


def as_matrix(X, name="X"):
    """``X`` as a finite float64 (N, D) array; a UserError names ``name`` otherwise."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise UserError("%s: expected an (n_samples, n_features) array, got shape %s; reshape "
                        "the features" % (name, X.shape))
    if not np.all(np.isfinite(X)):
        raise UserError("%s: features contain NaN or inf; clean the input features" % name)
    return X


def squared_euclidean(A, B):
    """(Na, D), (Nb, D) -> (Na, Nb) squared Euclidean distances (clipped at 0)."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(d, 0.0)


def euclidean(A, B):
    """(Na, D), (Nb, D) -> (Na, Nb) Euclidean distances."""
    return np.sqrt(squared_euclidean(A, B))


def mahalanobis(A, B, M):
    """(Na, D), (Nb, D), (D, D) PSD -> (Na, Nb) (a - b)^T M (a - b)."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    AM = A @ M
    BM = B @ M
    d = (AM * A).sum(1)[:, None] + (BM * B).sum(1)[None, :] - AM @ B.T - A @ M.T @ B.T
    return np.maximum(d, 0.0)


def check_labels(X, y, min_classes=2, need_pairs=True):
    """Validate person ids ``y`` for ``X``; returns y as an int array."""
    y = np.asarray(y).ravel()
    if len(y) != len(X):
        raise UserError("y: %d person ids for %d samples; pass one id per row of X"
                        % (len(y), len(X)))
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < min_classes:
        raise UserError("y: %d distinct person ids; metric learning needs at least %d people"
                        % (len(classes), min_classes))
    if need_pairs and counts.max() < 2:
        raise UserError("y: every person has a single sample; metric learning needs at least one "
                        "person with two or more samples (e.g. both cameras)")
    return y


def same_person_pairs(y):
    """(P, 2) index pairs i < j with y[i] == y[j]."""
    y = np.asarray(y)
    i, j = np.triu_indices(len(y), k=1)
    keep = y[i] == y[j]
    return np.stack([i[keep], j[keep]], axis=1)


def different_person_pairs(y):
    """(Q, 2) index pairs i < j with y[i] != y[j]."""
    y = np.asarray(y)
    i, j = np.triu_indices(len(y), k=1)
    keep = y[i] != y[j]
    return np.stack([i[keep], j[keep]], axis=1)
