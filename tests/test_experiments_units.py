"""The row computations of experiments/units.py, with the other areas' code replaced by fakes.

Checks the glue itself against independent numpy: Table 3's max pooling, Table 5's metric rows,
the baseline adapter, the run_trial call, and that missing code becomes a "not run" reason.
"""
import sys
import types

import numpy as np
import pytest

from experiments import runner, units
from experiments.runner import Options, RowNotRun


class FakeDataset:
    """4 persons x 2 cameras; trial 0: persons 0,1 train, 2,3 test."""
    person = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    camera = np.array([1, 2, 1, 2, 1, 2, 1, 2])

    def __init__(self, path):
        self.path = path

    def split(self, trial):
        return np.array([0, 1]), np.array([2, 3])


def make_ctx(tmp_path, unit_table):
    opts = Options(data="synthetic", profile="test", trials=(0,), results=str(tmp_path))
    return runner.Context(options=opts, dataset="ilidsvid", data_path="fake.h5", trial=0,
                          units=unit_table, log=lambda *a: None)


@pytest.fixture
def fake_reader(monkeypatch):
    mod = types.ModuleType("rcnreid.data.reader")
    mod.ReIDDataset = FakeDataset
    monkeypatch.setitem(sys.modules, "rcnreid.data.reader", mod)


def test_max_pooling_row_matches_numpy(tmp_path, monkeypatch, fake_reader):
    rng = np.random.RandomState(0)
    frames = [rng.randn(rng.randint(2, 6), 5) for _ in range(8)]
    monkeypatch.setattr(units, "sequence_features", lambda ctx, cfg, level: frames)
    ctx = make_ctx(tmp_path, units.UNITS)
    out = units.UNITS["pool/max/euclidean"](ctx)

    def norm(a):
        return a / np.linalg.norm(a, axis=-1, keepdims=True)
    probe = np.stack([norm(norm(frames[i]).max(0)) for i in (4, 6)])
    gallery = np.stack([norm(norm(frames[i]).max(0)) for i in (5, 7)])
    d = np.array([[np.linalg.norm(p - g) for g in gallery] for p in probe])
    expect = [np.mean([d[i, i] <= d[i].min() for i in range(2)]), 1.0]
    np.testing.assert_allclose(out["cmc"], expect)


def test_deep_metric_row_passes_train_persons_and_scores_the_distance(tmp_path, monkeypatch,
                                                                      fake_reader):
    H = np.arange(8 * 3, dtype=float).reshape(8, 3)
    seen = {}

    def evaluate_metric(train_X, train_y, probe_X, gallery_X, method, pca_dim=128):
        seen.update(train_y=list(train_y), method=method, pca_dim=pca_dim,
                    probe=probe_X.copy(), gallery=gallery_X.copy())
        return np.array([[5.0, 1.0], [0.0, 2.0]])    # probe 2 -> wrong first, probe 3 -> wrong

    mod = types.ModuleType("rcnreid.metric.pipeline")
    mod.evaluate_metric = evaluate_metric
    monkeypatch.setitem(sys.modules, "rcnreid.metric.pipeline", mod)
    monkeypatch.setattr(units, "sequence_features", lambda ctx, cfg, level: H)
    out = units.UNITS["deep_metric/KISSME"](make_ctx(tmp_path, units.UNITS))
    assert seen["train_y"] == [0, 0, 1, 1] and seen["method"] == "KISSME"
    assert seen["pca_dim"] == runner.PROFILES["test"].pca_dim
    np.testing.assert_array_equal(seen["probe"], H[[4, 6]])
    np.testing.assert_array_equal(seen["gallery"], H[[5, 7]])
    np.testing.assert_allclose(out["cmc"], [0.0, 1.0])


def test_baseline_adapter_and_missing_code(tmp_path, monkeypatch):
    calls = []

    def hog3d(data_path, trial, seed):
        calls.append((data_path, trial))
        return np.array([[0.1, 0.9, 0.5], [0.2, 0.1, 0.3], [0.3, 0.8, 0.7]]), np.array([7, 8, 9])

    mod = types.ModuleType("rcnreid.baselines.registry")
    mod.REGISTRY = {"HOG3D": hog3d}
    monkeypatch.setitem(sys.modules, "rcnreid.baselines.registry", mod)
    ctx = make_ctx(tmp_path, units.UNITS)
    out = units.UNITS["baseline/HOG3D"](ctx)
    assert calls == [("fake.h5", 0)]
    np.testing.assert_allclose(out["cmc"], [2 / 3, 1.0, 1.0])   # probe 9 ranks its match 2nd
    with pytest.raises(RowNotRun, match="no row 'FV2D'"):
        units.UNITS["baseline/FV2D"](ctx)


def test_rcn_row_calls_run_trial_once_per_architecture_folder(tmp_path, monkeypatch):
    calls = []

    def run_trial(data_path, trial, config_name, profile, out_dir, seed):
        calls.append((config_name, profile, out_dir, seed))
        return {"cmc": [0.25, 0.5, 1.0], "map": 0.4}

    mod = types.ModuleType("rcnreid.train")
    mod.run_trial = run_trial
    monkeypatch.setitem(sys.modules, "rcnreid.train", mod)
    ctx = make_ctx(tmp_path, units.UNITS)
    first = ctx.unit("rcn/deep_rcn")
    again = ctx.unit("rcn/deep_rcn")
    assert len(calls) == 1 and calls[0][0] == "deep_rcn" and calls[0][1] == "test"
    assert first["cmc"][:3] == [25.0, 50.0, 100.0] and again == first
    assert first["map"] == 0.4
    ctx.unit("rcn/rcn_ind")
    assert calls[1][2] != calls[0][2]          # one run folder per architecture


def test_vgg_row_without_weights_is_not_run(tmp_path):
    ctx = make_ctx(tmp_path, units.UNITS)
    with pytest.raises(RowNotRun, match="VGG16_WEIGHTS"):
        units.vgg_unit(ctx)


def test_need_names_the_missing_code():
    with pytest.raises(RowNotRun, match="code missing: rcnreid.nonexistent_module_xyz"):
        units.need("rcnreid.nonexistent_module_xyz", "f")


def test_max_pooling_with_learned_similarity_and_fisher_refusal(tmp_path, monkeypatch,
                                                                fake_reader):
    rng = np.random.RandomState(1)
    frames = [rng.randn(3, 4) for _ in range(8)]
    W = rng.randn(4, 4)

    class FakeModel:
        def similarity(self, ha, hb):
            return ha @ W @ hb.T

    mod = types.ModuleType("rcnreid.checkpoint")
    mod.load_model = lambda path: FakeModel()
    monkeypatch.setitem(sys.modules, "rcnreid.checkpoint", mod)
    monkeypatch.setattr(units, "sequence_features", lambda ctx, cfg, level: frames)
    monkeypatch.setattr(units, "trained_checkpoint", lambda ctx, cfg="deep_rcn": "ck.npz")
    ctx = make_ctx(tmp_path, units.UNITS)
    out = units.UNITS["pool/max/similarity"](ctx)
    hp = np.stack([frames[i].max(0) for i in (4, 6)])
    hg = np.stack([frames[i].max(0) for i in (5, 7)])
    s = hp @ W @ hg.T
    rank1 = np.mean([s[i, i] >= s[i].max() for i in range(2)])
    np.testing.assert_allclose(out["cmc"], [rank1, 1.0])
    with pytest.raises(RowNotRun, match="euclidean"):
        units.UNITS["pool/fisher/similarity"](ctx)


def test_row_unit_key_keeps_option_variants_apart():
    row = runner.Row("Max pooling", "pool/max/{pool_distance}")
    assert row.unit_key(Options()) == "pool/max/euclidean"
    assert row.unit_key(Options(pool_distance="similarity")) == "pool/max/similarity"
    assert set(runner.Row("x", "pool/max/{pool_distance}").unit_key(Options(pool_distance=d))
               for d in ("euclidean", "similarity")) <= set(units.UNITS)
