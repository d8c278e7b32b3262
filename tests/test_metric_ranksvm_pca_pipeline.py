"""PCA, RankSVM and the Table 5 pipeline (rcnreid.metric)."""
import numpy as np
import pytest
from scipy.optimize import check_grad

from rcnreid.errors import UserError
from rcnreid.metric import PCA, RankSVM, evaluate_metric
from rcnreid.metric.ranksvm import primal_objective, ranking_constraints


def _people(rng, n_people, d=10, informative=2, noise=1.0, signal=3.0):
    """Two samples per person; people differ only in the first ``informative`` dimensions,
    nuisance variation is large in the others."""
    centres = np.zeros((n_people, d))
    centres[:, :informative] = rng.randn(n_people, informative) * signal
    X = np.repeat(centres, 2, axis=0)
    X[:, :informative] += rng.randn(2 * n_people, informative) * 0.2
    X[:, informative:] += rng.randn(2 * n_people, d - informative) * noise * 3
    return X, np.repeat(np.arange(n_people), 2)


def _rank1(D):
    return np.mean(D.argmin(1) == np.arange(len(D)))


def test_pca_matches_covariance_eigenvectors_and_caps_dimension():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 4) @ np.diag([5.0, 2.0, 1.0, 0.1])
    pca = PCA(n_components=2).fit(X)
    C = np.cov(X, rowvar=False)
    w, V = np.linalg.eigh(C)
    top = V[:, ::-1][:, :2]
    np.testing.assert_allclose(np.abs(pca.components_ @ top), np.eye(2), atol=1e-8)
    np.testing.assert_allclose(pca.explained_variance_, w[::-1][:2], rtol=1e-8)
    Z = pca.transform(X)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(np.var(Z, axis=0, ddof=1), w[::-1][:2], rtol=1e-8)
    assert PCA(n_components=128).fit(X[:10]).n_components_ == 4


def test_ranksvm_gradient_and_constraints():
    rng = np.random.RandomState(1)
    Z = rng.randn(30, 5)
    w0 = rng.randn(5) * 0.3
    assert check_grad(lambda w: primal_objective(w, Z, 0.7)[0],
                      lambda w: primal_objective(w, Z, 0.7)[1], w0) < 1e-5
    y = np.array([0, 0, 1, 1, 2, 2, 3])
    c = ranking_constraints(y, n_negatives=2, rng=rng)
    assert len(c) == 3 * 2 * 2
    assert np.all(y[c[:, 0]] == y[c[:, 1]]) and np.all(y[c[:, 0]] != y[c[:, 2]])
    assert np.all(c[:, 0] != c[:, 1])
    cams = np.array([1, 2, 1, 2, 1, 2, 1])
    c = ranking_constraints(y, n_negatives=None, rng=rng, cameras=cams)
    assert np.all(cams[c[:, 0]] != cams[c[:, 1]]) and np.all(cams[c[:, 0]] != cams[c[:, 2]])


@pytest.mark.outcome
def test_ranksvm_learns_to_ignore_nuisance_dimensions():
    """Float64 throughout: a CPU's rounding moves the result by ~1e-12. Issue 25: holds for 8 of 8
    data draws (seed offsets 0-7), so the margin is not one draw's edge."""
    rng = np.random.RandomState(2)
    X, y = _people(rng, 60)
    svm = RankSVM(C=1.0, n_negatives=10, seed=0).fit(X, y)
    # matches must score higher: the informative |differences| get negative weights, larger in
    # magnitude than the nuisance ones
    assert np.all(svm.coef_[:2] < 0)
    assert np.abs(svm.coef_[:2]).min() > 3 * np.abs(svm.coef_[2:]).max()
    Xt, _ = _people(rng, 40)
    P, G = Xt[0::2], Xt[1::2]
    D = svm.pairwise_distance(P, G)
    np.testing.assert_allclose(D, -svm.score(P, G))
    eu = np.linalg.norm(P[:, None] - G[None], axis=2)
    assert _rank1(D) > _rank1(eu) + 0.3


@pytest.mark.outcome
@pytest.mark.parametrize("method", ["euclidean", "LFDA", "kissme", "ranksvm"])
def test_pipeline_beats_chance_and_fits_pca_on_training_people_only(method):
    """Float64 throughout, so a CPU's rounding moves the distances by ~1e-12, far less than the
    margins. Measured over 8 data draws (issue 25): rank-1 of LFDA 0.53-0.87, KISSME 0.53-0.87,
    RankSVM 0.23-0.60, against Euclidean 0.17-0.33; the gain over Euclidean is +0.30..+0.70 for
    LFDA and KISSME, asserted > 0.2, but only +0.00..+0.36 for RankSVM (+0.27 on the asserted
    draw), asserted > 0.1: five probes of margin."""
    rng = np.random.RandomState(3)
    X, y = _people(rng, 80, d=30, informative=4, noise=0.67)
    train = y < 50
    test = ~train
    P, G = X[test][0::2], X[test][1::2]
    D = evaluate_metric(X[train], y[train], P, G, method, pca_dim=12)
    assert D.shape == (30, 30)
    if method == "euclidean":
        pca = PCA(12).fit(X[train])
        ref = np.linalg.norm(pca.transform(P)[:, None] - pca.transform(G)[None], axis=2)
        np.testing.assert_allclose(D, ref, rtol=1e-8, atol=1e-8)
    else:
        # beats chance, and improves on plain Euclidean distances in the same PCA space
        De = evaluate_metric(X[train], y[train], P, G, "euclidean", pca_dim=12)
        assert _rank1(D) > 5.0 / 30
        assert _rank1(D) > _rank1(De) + (0.1 if method == "ranksvm" else 0.2)


def test_pipeline_uses_only_training_data_for_pca(monkeypatch):
    import rcnreid.metric.pipeline as pipeline
    seen = []
    real = pipeline.PCA.fit

    def spy(self, X, y=None):
        seen.append(np.array(X))
        return real(self, X, y)
    monkeypatch.setattr(pipeline.PCA, "fit", spy)
    rng = np.random.RandomState(4)
    X, y = _people(rng, 20)
    pipeline.evaluate_metric(X[:20], y[:20], X[20::2], X[21::2], "kissme", pca_dim=5)
    assert len(seen) == 1 and np.array_equal(seen[0], X[:20])


def test_pipeline_user_errors():
    X = np.random.RandomState(5).randn(8, 4)
    y = np.repeat(np.arange(4), 2)
    with pytest.raises(UserError):
        evaluate_metric(X, y, X, X, "nope")
    with pytest.raises(UserError):
        evaluate_metric(X, y, X[:, :3], X, "lfda")
    with pytest.raises(UserError):
        evaluate_metric(X, y, X, X, "kissme", bogus=1)


def test_ranksvm_solution_is_the_primal_optimum():
    """At the returned w the gradient of 1/2||w||^2 + C sum max(0, 1 - w.z)^2 (written here from
    the constraints, not with the module's objective) vanishes."""
    rng = np.random.RandomState(6)
    X, y = _people(rng, 15, d=6)
    svm = RankSVM(C=0.5, n_negatives=4, seed=1).fit(X, y)
    c = ranking_constraints(y, 4, np.random.RandomState(1))
    assert svm.n_constraints_ == len(c)
    Z = np.abs(X[c[:, 0]] - X[c[:, 1]]) - np.abs(X[c[:, 0]] - X[c[:, 2]])
    w = svm.coef_
    slack = np.maximum(0.0, 1.0 - Z @ w)
    grad = w - 2 * 0.5 * (slack[:, None] * Z).sum(0)
    assert np.abs(grad).max() < 1e-4 * max(1.0, np.abs(w).max())
    assert np.any(slack > 0)            # the problem is not trivially separable


def test_estimators_follow_scikit_learn_conventions():
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from rcnreid.metric import KISSME, LFDA
    rng = np.random.RandomState(7)
    X, y = _people(rng, 20, d=8)
    for est in (PCA(n_components=3), LFDA(n_components=2, k=3, beta=0.05),
                KISSME(beta=0.02, n_negatives=50, seed=3), RankSVM(C=0.3, n_negatives=3)):
        params = est.get_params()
        assert params and all(getattr(est, k) is v for k, v in params.items())
        copy = clone(est)
        assert copy.get_params() == params and copy is not est
        assert est.fit(X, y) is est                              # fit returns self
        learnt = [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]
        assert learnt and not any(k in vars(copy) for k in learnt)     # clone is unfitted
        assert est.pairwise_distance(X[:3], X[3:7]).shape == (3, 4)
        first = sorted(params)[0]
        assert est.set_params(**{first: params[first]}) is est
        with pytest.raises(ValueError):
            est.set_params(no_such_option=1)
    # PCA -> LFDA as a scikit-learn Pipeline equals the two steps by hand
    pipe = make_pipeline(PCA(n_components=5), LFDA(n_components=2)).fit(X, y)
    pca = PCA(n_components=5).fit(X)
    ref = LFDA(n_components=2).fit(pca.transform(X), y).transform(pca.transform(X))
    np.testing.assert_allclose(pipe.transform(X), ref, rtol=1e-10, atol=1e-10)
