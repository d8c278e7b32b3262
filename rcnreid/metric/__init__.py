"""Metric learning for Table 5: PCA, LFDA, KISSME, RankSVM (scikit-learn conventions) and the
PCA + learner pipeline :func:`rcnreid.metric.pipeline.evaluate_metric`."""
from rcnreid.metric.kissme import KISSME
from rcnreid.metric.lfda import LFDA
from rcnreid.metric.pca import PCA
from rcnreid.metric.pipeline import evaluate_metric, make_learner
from rcnreid.metric.ranksvm import RankSVM

__all__ = ["PCA", "LFDA", "KISSME", "RankSVM", "evaluate_metric", "make_learner"]
