"""Metric learning for Table 5: PCA, LFDA, KISSME, RankSVM and the PCA + learner pipeline
:func:`rcnreid.metric.pipeline.evaluate_metric`.

The four estimators follow scikit-learn's conventions: they derive from
:class:`sklearn.base.BaseEstimator` (constructor arguments stored unchanged, ``get_params`` /
``set_params``, ``sklearn.base.clone``), ``fit(X, y)`` returns the estimator, learnt attributes end
in ``_``, and they expose ``transform(X)`` (PCA, LFDA, KISSME) and/or
``pairwise_distance(A, B)`` (all four; RankSVM also ``score(A, B)``, higher = more alike), so
PCA and LFDA/KISSME chain in a :class:`sklearn.pipeline.Pipeline`."""
from rcnreid.metric.kissme import KISSME
from rcnreid.metric.lfda import LFDA
from rcnreid.metric.pca import PCA
from rcnreid.metric.pipeline import evaluate_metric, make_learner
from rcnreid.metric.ranksvm import RankSVM

__all__ = ["PCA", "LFDA", "KISSME", "RankSVM", "evaluate_metric", "make_learner"]
