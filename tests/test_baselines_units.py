"""Unit tests of the baselines' building blocks against direct numpy computations."""
import numpy as np
import pytest

from rcnreid.baselines import dvr, fv2d, gei, ranking, stfv3d
from rcnreid.baselines.fep import FEPConfig, walking_cycles
from rcnreid.baselines.fragments import fragment_indices, segment_bounds
from tests.test_baselines_synthwalker import walker


def test_fragment_indices_and_segments():
    idx = fragment_indices(10, [0, 5, 9], 2)
    assert idx.tolist() == [[0, 0, 0, 1, 2], [3, 4, 5, 6, 7], [7, 8, 9, 9, 9]]
    b = segment_bounds(3, 14, 4)
    assert b[0] == 3 and b[-1] == 15 and np.all(np.diff(b) == 3)
    assert np.all(np.diff(segment_bounds(0, 1, 4)) >= 1)


def test_walking_cycles_span_five_landmarks():
    assert walking_cycles(40, [2, 6, 10, 14, 18, 22, 26]) == [(2, 18), (10, 26)]
    assert walking_cycles(12, [3, 7]) == [(0, 11)]


def test_min_over_bags_equals_brute_force():
    rng = np.random.RandomState(0)
    bags_a = [rng.randn(rng.randint(1, 4), 3) for _ in range(4)]
    bags_b = [rng.randn(rng.randint(1, 4), 3) for _ in range(5)]
    got = stfv3d.cycle_set_distance(bags_a, bags_b)
    want = np.array([[min(np.linalg.norm(x - y) for x in a for y in b) for b in bags_b]
                     for a in bags_a])
    assert np.allclose(got, want, atol=1e-6)


@pytest.mark.outcome
def test_ranksvm_learns_the_informative_dimension():
    """Float64 throughout: a CPU's rounding moves the result by ~1e-12. Issue 25: holds for 8 of 8
    data draws (seed offsets 0-7), so the margin is not one draw's edge."""
    rng = np.random.RandomState(1)
    n, d = 30, 6
    ids = np.arange(n)
    base = rng.randn(n, d)
    # dimensions 0 and 1 identify people; the other dimensions are camera noise
    Xa = base + np.c_[0.02 * rng.randn(n, 2), 3 * rng.randn(n, d - 2)]
    Xb = base + np.c_[0.02 * rng.randn(n, 2), 3 * rng.randn(n, d - 2)]
    svm = ranking.PairRankSVM(ranking.RankSVMConfig(lam=1e-3), seed=0).fit(Xa, ids, Xb, ids)
    assert set(np.argsort(svm.w_)[-2:]) == {0, 1} and np.all(svm.w_ >= 0)
    dist = svm.pairwise_distance(Xa, Xb)
    r1_learnt = np.mean(np.argmin(dist, axis=1) == ids)
    r1_plain = np.mean(np.argmin(np.abs(Xa[:, None] - Xb[None]).sum(-1), axis=1) == ids)
    assert r1_learnt > 0.8 and r1_learnt > r1_plain + 0.3
    # the objective's gradient matches finite differences
    P, N = rng.rand(5, 3), rng.rand(7, 3)
    cons = np.array([(i, j) for i in range(5) for j in range(7)])
    D = N[cons[:, 1]] - P[cons[:, 0]]
    f = lambda w: 0.05 * w @ w + np.mean(np.maximum(0, 1 - D @ w) ** 2)   # noqa: E731
    w = ranking.solve_ranksvm(P, N, cons, ranking.RankSVMConfig(lam=0.1, nonnegative=False))
    eps = 1e-5
    grad = np.array([(f(w + eps * e) - f(w - eps * e)) / (2 * eps) for e in np.eye(3)])
    assert np.allclose(grad, 0, atol=1e-4)      # the solver reached the unconstrained optimum


def test_dvr_selects_the_matching_fragment_pair():
    rng = np.random.RandomState(2)
    n, d = 12, 8
    ids = rng.randn(n, 2)
    bags_a, bags_b, truth = [], [], []
    for k in range(n):
        # one informative fragment per bag (its first two dims carry the identity); the others
        # are noise fragments
        a = rng.randn(4, d) * 2
        b = rng.randn(3, d) * 2
        ia, ib = rng.randint(4), rng.randint(3)
        a[ia, :2] = ids[k] + 0.02 * rng.randn(2)
        a[ia, 2:] = 0
        b[ib, :2] = ids[k] + 0.02 * rng.randn(2)
        b[ib, 2:] = 0
        bags_a.append(a)
        bags_b.append(b)
        truth.append((ia, ib))
    model = dvr.DVR(dvr.DVRConfig(n_iter=5, negatives_per_person=30), seed=0).fit(bags_a, bags_b)
    last = model.selection_history_[-1]
    assert np.mean([tuple(map(int, s)) == t for s, t in zip(last, truth)]) >= 0.9
    dist = model.pairwise_distance(bags_a, bags_b)
    assert np.mean(np.argmin(dist, axis=1) == np.arange(n)) >= 0.9
    brute = np.array([[min(model.w_ @ np.abs(x - y) for x in a for y in b) for b in bags_b]
                      for a in bags_a])
    assert np.allclose(dist, brute)


def test_fv2d_pixel_descriptors_match_direct_formula():
    rng = np.random.RandomState(3)
    img = rng.rand(8, 6, 3).astype(np.float32)
    cfg = fv2d.FV2DConfig(blocks=(2, 1), pixel_step=1)
    d = fv2d.frame_descriptors(img, cfg)
    assert len(d) == 3 and len(d[0]) == 2
    c = 1
    ch = img[..., c].astype(np.float64)
    ix = np.zeros_like(ch)
    ix[:, 1:-1] = (ch[:, 2:] - ch[:, :-2]) / 2
    ix[:, 0], ix[:, -1] = ch[:, 1] - ch[:, 0], ch[:, -1] - ch[:, -2]
    iy = np.zeros_like(ch)
    iy[1:-1] = (ch[2:] - ch[:-2]) / 2
    iy[0], iy[-1] = ch[1] - ch[0], ch[-1] - ch[-2]
    y, x = 5, 4                                   # a pixel of the second block (rows 4..7)
    row = d[c][1][(y - 4) * 6 + x]
    assert np.allclose(row[:3], [x / 5.0, (y - 4) / 3.0, ch[y, x]], atol=1e-6)
    assert np.allclose(row[3:5], [ix[y, x], iy[y, x]], atol=1e-6)
    ixx = (ix[y, x + 1] - ix[y, x - 1]) / 2
    iyy = (iy[y + 1, x] - iy[y - 1, x]) / 2
    assert np.allclose(row[5:7], [ixx, iyy], atol=1e-6)


def test_gei_of_a_walker_is_the_figure():
    frames = walker(length=24, period=12.0, hw=(96, 48))
    cfg = gei.GEIConfig(gei_hw=(48, 24), fep=FEPConfig(frame_hw=(96, 48)))
    sil = gei.silhouettes(frames[:4], cfg)
    # the torso block of the walker is foreground, the corners are background
    assert sil[:, 20:44, 18:30].mean() > 0.9
    assert sil[:, :8, :6].mean() < 0.05 and sil[:, :8, -6:].mean() < 0.05
    g = gei.gait_energy_image(frames, cfg)
    assert g.shape == (48 * 24,) and 0 <= g.min() and g.max() <= 1
    # legs swing: their mean silhouette is fuzzy (values strictly between 0 and 1) below the hip
    G = g.reshape(48, 24)
    assert ((G[30:] > 0.1) & (G[30:] < 0.9)).mean() > 0.05
    assert G[8:20].max() > 0.95


def test_stfv3d_units_and_cycles():
    frames = walker(length=40, period=12.0, hw=(64, 32))
    cfg = stfv3d.STFV3DConfig(frame_hw=(64, 32), n_components=2, pca_dim=4, pixel_step=4,
                              fit_samples=2000, fep=FEPConfig(frame_hw=(64, 32), half=4))
    x = stfv3d.unit_descriptors(np.random.RandomState(0).rand(6, 64, 32, 3), 1, 4,
                                stfv3d.BODY_PARTS[0], 2)
    assert x.shape[1] == 15 and x[:, :3].min() == 0 and x[:, :3].max() == 1
    m = stfv3d.STFV3D(cfg).fit([frames, walker(length=40, period=10.0, hw=(64, 32), seed=3)])
    cyc = m.transform_cycles(frames)
    assert cyc.shape[1] == m.dim == 6 * 4 * 2 * 4 * 2
    assert cyc.shape[0] >= 1 and np.all(np.isfinite(cyc))


def test_stfv3d_cycles_segments_units_and_defaults():
    """Defaults are Liu et al.'s (4 segments, 6 body parts, HSV, a 32-component GMM per unit);
    segments are cut at the landmarks of each five-landmark cycle; one PCA + GMM per
    (segment, part) unit; sequences compare by their best cycle pair."""
    d = stfv3d.STFV3DConfig()
    assert (d.n_segments, len(d.parts), d.n_components, d.colour) == (4, 6, 32, "hsv")
    lm = [2, 6, 10, 14, 18, 22, 26]
    segs = stfv3d.cycle_segments(40, lm, d)
    assert [s.tolist() for s in segs] == [[2, 6, 10, 14, 19], [10, 14, 18, 22, 27]]
    fallback = stfv3d.cycle_segments(12, [5], d)
    assert len(fallback) == 1 and fallback[0][0] == 0 and fallback[0][-1] == 12
    cfg = stfv3d.STFV3DConfig(frame_hw=(64, 32), n_components=2, pca_dim=3, pixel_step=4,
                              fit_samples=500, fep=FEPConfig(frame_hw=(64, 32), half=4))
    seqs = [walker(length=36, period=12.0, hw=(64, 32), seed=s) for s in (0, 1)]
    m = stfv3d.STFV3D(cfg).fit(seqs)
    assert len(m.pcas_) == len(m.encoders_) == 4 * 6
    assert all(p.n_components_ == 3 for p in m.pcas_)
    assert all(e.n_components == 2 and e.n_features == 3 for e in m.encoders_)
    # the unit descriptors are HSV: (x, y, t) then (I, Ix, Iy, It) of H, S, V
    units = m._units(seqs[0])
    from rcnreid.baselines.local_features import colour_channels
    from rcnreid.baselines.fragments import resize_frames
    hsv = colour_channels(resize_frames(seqs[0], cfg.frame_hw), "hsv")
    b = stfv3d.cycle_segments(36, stfv3d.landmarks(seqs[0], cfg.fep)[0], cfg)[0]
    head = stfv3d.unit_descriptors(hsv, int(b[0]), int(b[1]), cfg.parts[0], cfg.pixel_step)
    np.testing.assert_array_equal(units[0][0], head)
    assert np.isclose(head[:, 3].max(), hsv[b[0]:b[1], :10, 8:24, 0][:, ::4, ::4].max())
    # a pair's distance is the smallest over its cycle pairs
    ca, cb = m.transform_cycles(seqs[0]), m.transform_cycles(seqs[1])
    brute = min(np.linalg.norm(x - y) for x in ca for y in cb)
    assert np.isclose(stfv3d.cycle_set_distance([ca], [cb])[0, 0], brute, rtol=1e-5)
    np.testing.assert_allclose(m.transform(seqs[0]), ca.mean(0), rtol=1e-6)
