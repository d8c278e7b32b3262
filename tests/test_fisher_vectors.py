"""Fisher vectors (rcnreid.nn.fisher) against a direct loop over the formulas of Perronnin et al.
2010."""
import numpy as np
import pytest

from rcnreid.errors import UserError
from rcnreid.nn.fisher import FisherVectorEncoder


def _two_blobs(seed=0, n=200, d=3):
    rng = np.random.RandomState(seed)
    a = rng.randn(n, d) * 0.5 + 2.0
    b = rng.randn(n, d) * 1.5 - 2.0
    return np.concatenate([a, b])


def _direct_fisher_vector(x, w, mu, var):
    """Loop-by-loop Fisher vector: posteriors from the Gaussian densities, the two gradient blocks,
    signed square root, L2."""
    T, D = x.shape
    K = len(w)
    gamma = np.zeros((T, K))
    for t in range(T):
        for k in range(K):
            dens = w[k]
            for d in range(D):
                dens *= np.exp(-0.5 * (x[t, d] - mu[k, d]) ** 2 / var[k, d]) \
                    / np.sqrt(2 * np.pi * var[k, d])
            gamma[t, k] = dens
        gamma[t] /= gamma[t].sum()
    g_mu = np.zeros((K, D))
    g_sig = np.zeros((K, D))
    for k in range(K):
        for d in range(D):
            sd = np.sqrt(var[k, d])
            for t in range(T):
                u = (x[t, d] - mu[k, d]) / sd
                g_mu[k, d] += gamma[t, k] * u
                g_sig[k, d] += gamma[t, k] * (u * u - 1)
            g_mu[k, d] /= T * np.sqrt(w[k])
            g_sig[k, d] /= T * np.sqrt(2 * w[k])
    v = np.concatenate([g_mu.ravel(), g_sig.ravel()])
    raw = v.copy()
    v = np.sign(v) * np.sqrt(np.abs(v))
    return raw, v / np.linalg.norm(v)


def test_dimension_and_direct_computation():
    X = _two_blobs()
    fv = FisherVectorEncoder(n_components=2, seed=0).fit(X)
    assert fv.dim == 2 * 3 * 2
    x = np.random.RandomState(1).randn(7, 3) * 2
    v = fv.encode(x)
    assert v.shape == (12,) and v.dtype == np.float32
    raw, ref = _direct_fisher_vector(x, fv.gmm_.weights_, fv.gmm_.means_, fv.gmm_.covariances_)
    np.testing.assert_allclose(fv.raw_gradients(x), raw, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(v, ref, rtol=1e-5, atol=1e-6)


def test_power_and_l2_normalisation_are_applied():
    X = _two_blobs(seed=3)
    fv = FisherVectorEncoder(n_components=3, seed=0).fit(X)
    x = X[:15]
    raw = fv.raw_gradients(x)
    v = fv.encode(x).astype(np.float64)
    assert np.isclose(np.linalg.norm(v), 1.0, atol=1e-5)
    # signed square root: v**2 carries the sign of raw and is proportional to |raw|
    np.testing.assert_array_equal(np.sign(v), np.sign(raw).astype(np.float32))
    np.testing.assert_allclose(v * np.abs(v), raw / np.abs(raw).sum(), rtol=1e-4, atol=1e-7)
    plain = FisherVectorEncoder(n_components=3, seed=0, power_normalize=False,
                                l2_normalize=False).fit(X)
    np.testing.assert_allclose(plain.encode(x), raw, rtol=1e-5, atol=1e-7)


def test_encode_many_matches_encode_and_separates_sources():
    X = _two_blobs(seed=4)
    fv = FisherVectorEncoder(n_components=2, seed=0).fit(X)
    sets = [X[:20], X[200:230], X[20:40]]
    M = fv.encode_many(sets)
    assert M.shape == (3, fv.dim)
    for i, s in enumerate(sets):
        np.testing.assert_allclose(M[i], fv.encode(s), rtol=1e-6)
    # two sets from the same blob are closer than sets from different blobs
    assert M[0] @ M[2] > M[0] @ M[1]


def test_seeded_fit_is_repeatable_and_errors_are_user_errors():
    X = _two_blobs(seed=5)
    a = FisherVectorEncoder(2, seed=7).fit(X).encode(X[:9])
    b = FisherVectorEncoder(2, seed=7).fit(X).encode(X[:9])
    np.testing.assert_array_equal(a, b)
    with pytest.raises(UserError):
        FisherVectorEncoder(2).encode(X[:3])
    with pytest.raises(UserError):
        FisherVectorEncoder(5).fit(X[:3])
    fv = FisherVectorEncoder(2).fit(X)
    with pytest.raises(UserError):
        fv.encode(np.zeros((4, 5)))
    np.testing.assert_array_equal(fv.encode(np.zeros((0, 3))), np.zeros(fv.dim))
