"""Table 5's metric-learning rows: PCA fitted on the training people, then a learner, then a
probe x gallery distance matrix (Section 5.5)."""
import numpy as np

from rcnreid.errors import UserError
from rcnreid.metric.distances import as_matrix, euclidean
from rcnreid.metric.kissme import KISSME
from rcnreid.metric.lfda import LFDA
from rcnreid.metric.pca import PCA
from rcnreid.metric.ranksvm import RankSVM

METHODS = ("euclidean", "lfda", "kissme", "ranksvm")
LEARNERS = {"lfda": LFDA, "kissme": KISSME, "ranksvm": RankSVM}


def make_learner(method, **opts):
    """A fresh learner for ``method`` ("lfda", "kissme", "ranksvm"; case-insensitive)."""
    key = str(method).lower()
    if key not in LEARNERS:
        raise UserError("metric method: %r is not one of %s" % (method, ", ".join(METHODS)))
    try:
        return LEARNERS[key](**opts)
    except TypeError as e:
        raise UserError("metric method %s: bad option (%s)" % (key, e)) from None


def evaluate_metric(train_X, train_y, probe_X, gallery_X, method="kissme", pca_dim=128,
                    train_cameras=None, **opts):
    """(n_probe, n_gallery) float64 distances after PCA(pca_dim) and the learner ``method``.

    train_X (N, D), train_y (N,) person ids of the training people only; PCA is fitted on
    train_X alone (``pca_dim=None`` or 0 skips it). ``method``: "euclidean" (distances in the PCA
    space), "lfda", "kissme" or "ranksvm" (case-insensitive); ``opts`` go to the learner's
    constructor. ``train_cameras`` (N,) optional camera ids: KISSME and RankSVM then use only
    cross-camera pairs.
    """
    key = str(method).lower()
    if key not in METHODS:
        raise UserError("metric method: %r is not one of %s" % (method, ", ".join(METHODS)))
    train_X = as_matrix(train_X, "train_X")
    probe_X = as_matrix(probe_X, "probe_X")
    gallery_X = as_matrix(gallery_X, "gallery_X")
    for name, Z in (("probe_X", probe_X), ("gallery_X", gallery_X)):
        if Z.shape[1] != train_X.shape[1]:
            raise UserError("%s: %d features but train_X has %d; extract both with the same "
                            "representation" % (name, Z.shape[1], train_X.shape[1]))
    if pca_dim:
        pca = PCA(n_components=int(pca_dim)).fit(train_X)
        train_X, probe_X, gallery_X = (pca.transform(Z) for Z in (train_X, probe_X, gallery_X))
    if key == "euclidean":
        if opts:
            raise UserError("metric method euclidean: takes no options (got %s)"
                            % ", ".join(sorted(opts)))
        return euclidean(probe_X, gallery_X)
    learner = make_learner(key, **opts)
    if key in ("kissme", "ranksvm") and train_cameras is not None:
        learner.fit(train_X, np.asarray(train_y), cameras=train_cameras)
    else:
        learner.fit(train_X, np.asarray(train_y))
    return learner.pairwise_distance(probe_X, gallery_X)
