"""Flow Energy Profile landmarks and HOG3D on synthetic inputs with known answers."""
import numpy as np
import pytest

from rcnreid.baselines import fep, hog3d
from tests.test_baselines_synthwalker import walker


@pytest.mark.parametrize("period", [10.0, 14.0, 16.0])
def test_fep_landmarks_repeat_with_gait_period(period):
    frames = walker(length=48, period=period, seed=int(period))
    cfg = fep.FEPConfig(frame_hw=(96, 48))
    idx, kinds = fep.landmarks(frames, cfg)
    assert len(idx) >= 8
    # maxima and minima alternate
    assert np.all(kinds[1:] != kinds[:-1])
    # a full gait cycle is four landmarks later (two steps: max, min, max, min)
    cycle = idx[4:] - idx[:-4]
    assert abs(np.median(cycle) - period) <= 1.0
    # walking cycles built from five landmarks span one period
    spans = fep.walking_cycles(len(frames), idx)
    assert spans and all(abs((b - a) - period) <= 1.5 for a, b in spans)


def test_fep_energy_is_lower_body_motion():
    frames = walker(length=20, period=12.0)
    cfg = fep.FEPConfig(frame_hw=(96, 48))
    moving = fep.flow_energy_profile(frames, cfg)
    static = fep.flow_energy_profile(np.repeat(frames[:1], 20, axis=0), cfg)
    assert moving.shape == (20,) and static.shape == (20,)
    assert moving.mean() > 20 * max(static.mean(), 1e-3)


def test_find_landmarks_on_a_sine_and_wiggles():
    t = np.arange(60)
    e = np.sin(2 * np.pi * t / 12.0)
    idx, kinds = fep.find_landmarks(e)
    expect_max = np.flatnonzero((np.roll(e, 1) < e) & (np.roll(e, -1) <= e))
    expect_max = expect_max[(expect_max > 0) & (expect_max < 59)]
    assert np.array_equal(idx[kinds > 0], expect_max)
    # a one-frame wiggle on a falling flank is not a step: the landmarks stay those of the sine
    e2 = e.copy()
    e2[18] = e2[17] + 0.05            # frames 15..21 fall: 17 becomes a tiny min, 18 a tiny max
    raw_idx, _ = fep.find_landmarks(e2, min_separation=1)
    assert len(raw_idx) == len(idx) + 2
    idx2, kinds2 = fep.find_landmarks(e2, min_separation=2)
    assert np.array_equal(idx2, idx) and np.array_equal(kinds2, kinds)


def test_polyhedron_axes_are_regular():
    for name, n, k in (("icosahedron", 20, 3), ("dodecahedron", 12, 5)):
        P = hog3d.polyhedron_axes(name)
        assert P.shape == (n, 3)
        assert np.allclose(np.linalg.norm(P, axis=1), 1)
        G = P @ P.T
        t = hog3d.face_threshold(P)
        # every face has the same number of nearest neighbours (k faces around it)
        assert np.all((np.abs(G - t) < 1e-9).sum(axis=1) == k)
        assert np.allclose(P.sum(axis=0), 0)     # symmetric: opposite faces come in pairs
        assert hog3d.polyhedron_axes(name, full_orientation=False).shape == (n // 2, 3)


def test_quantise_face_centre_votes_once_with_magnitude():
    P = hog3d.polyhedron_axes("icosahedron")
    q = hog3d.quantise(3.0 * P[7], P)
    assert np.argmax(q) == 7 and np.isclose(q[7], 3.0)
    assert np.count_nonzero(q > 1e-9) == 1
    rng = np.random.RandomState(0)
    g = rng.randn(50, 3)
    q = hog3d.quantise(g, P)
    assert np.all(q >= 0)
    assert np.allclose(np.linalg.norm(q, axis=1), np.linalg.norm(g, axis=1))
    assert np.all(np.argmax(q, axis=1) == np.argmax(g @ P.T, axis=1))


def moving_edge(velocity, T=12, H=40, W=32, slope=1.5):
    """Grey volume: bright left half, dark right, edge moving ``velocity`` px/frame in x."""
    t, y, x = np.mgrid[0:T, 0:H, 0:W].astype(np.float64)
    x0 = W / 2.0 + velocity * (t - T / 2.0)
    return 1.0 / (1.0 + np.exp((x - x0) / slope))


@pytest.mark.parametrize("velocity", [1.0, -1.0, 0.5])
def test_hog3d_moving_edge_fills_expected_bin(velocity):
    cfg = hog3d.HOG3DConfig(cells=(1, 1, 1), subblocks=(1, 1, 1))
    vol = moving_edge(velocity)
    d = hog3d.hog3d_volume(vol, cfg)
    assert d.shape == (cfg.dim,) == (20,)
    P = hog3d.polyhedron_axes("icosahedron")
    # I(x, t) = f(x - v t): dI/dx = f' < 0 and dI/dt = -v f' -> direction (-1, 0, v)
    g = np.array([-1.0, 0.0, velocity])
    expected = int(np.argmax(P @ (g / np.linalg.norm(g))))
    assert int(np.argmax(d)) == expected
    # the opposite motion puts its mass elsewhere
    other = hog3d.hog3d_volume(moving_edge(-velocity), cfg)
    assert int(np.argmax(other)) != expected


def test_hog3d_cells_localise_the_edge_and_length():
    cfg = hog3d.HOG3DConfig()
    assert cfg.dim == 2 * 5 * 2 * 20
    vol = moving_edge(0.0, T=10, H=50, W=40, slope=0.8)
    # a static vertical edge at x = 20: gradient (-1, 0, 0) everywhere
    d = hog3d.hog3d_volume(vol, cfg).reshape(2, 5, 2, 20)     # (t, y, x, bins)
    assert np.allclose(np.linalg.norm(d, axis=-1), 1, atol=1e-5)   # each cell L2-normalised
    P = hog3d.polyhedron_axes("icosahedron")
    top_bins = set(np.flatnonzero(P @ np.array([-1.0, 0.0, 0.0]) > 0.5))
    assert set(np.argmax(d, axis=-1).ravel()) <= top_bins
    # half orientation and the dodecahedron change the length as documented
    assert hog3d.HOG3DConfig(full_orientation=False).dim == 2 * 5 * 2 * 10
    assert hog3d.HOG3DConfig(polyhedron="dodecahedron").dim == 2 * 5 * 2 * 12


def test_hog3d_fragments_of_a_walker():
    frames = walker(length=30, period=12.0)
    cfg = hog3d.HOG3DConfig(fep=fep.FEPConfig(frame_hw=(64, 32), half=4))
    f = hog3d.hog3d_fragments(frames, cfg)
    idx, _ = fep.landmarks(frames, cfg.fep)
    assert f.shape == (max(len(idx), 1), cfg.dim)
    assert np.all(np.isfinite(f))
