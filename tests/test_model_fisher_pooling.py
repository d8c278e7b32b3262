"""Table 3's Fisher-vector temporal pooling (evaluation time) on frame-level outputs."""
import numpy as np
import pytest

from rcnreid.errors import UserError
from rcnreid.nn.pooling import FisherTemporalPooling


def _sequences(rng, n_ids=4, d=3):
    """Frame-level outputs of two 'cameras': per identity a mean offset shared by both views."""
    means = rng.randn(n_ids, d) * 2.0
    cam = lambda: [m + 0.3 * rng.randn(rng.randint(5, 12), d) for m in means]  # noqa: E731
    return cam(), cam()


def test_fisher_pooling_encodes_and_matches_identities():
    pytest.importorskip("rcnreid.nn.fisher")
    rng = np.random.RandomState(0)
    train_a, train_b = _sequences(rng)
    pool = FisherTemporalPooling(n_components=2, seed=0, max_frames=50).fit(train_a + train_b)
    probe, gallery = _sequences(np.random.RandomState(0))     # same identities, new frames
    fa, fb = pool.encode_many(probe), pool.encode_many(gallery)
    assert fa.shape == (4, 2 * 3 * 2) and fa.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fa, axis=1), 1.0, rtol=1e-4)
    s = pool.similarity(fa, fb)
    assert s.shape == (4, 4)
    assert (s.argmax(axis=1) == np.arange(4)).all()
    # seeded: a second fit gives the same encoding
    pool2 = FisherTemporalPooling(n_components=2, seed=0, max_frames=50).fit(train_a + train_b)
    np.testing.assert_allclose(pool2.encode_many(probe), fa, rtol=1e-6)


def test_fisher_pooling_needs_fit_first():
    with pytest.raises(UserError, match="fit"):
        FisherTemporalPooling().encode(np.zeros((3, 2)))
