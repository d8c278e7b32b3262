"""The row computations of experiments/units.py, with the library functions they call replaced
by fakes (units import the library directly; the fakes replace those names in ``units``).

Checks the glue itself against independent numpy: Table 3's max pooling, Table 5's metric rows,
the baseline adapter, the run_trial calls (with the run's profile, reading and overrides), and
which network each Table 3 row trains.
"""
import numpy as np
import pytest

from experiments import runner, units
from experiments.runner import Options, RowNotRun
from rcnreid.configs.registry import PROFILES


class FakeDataset:
    """4 persons x 2 cameras; trial 0: persons 0,1 train, 2,3 test."""
    person = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    camera = np.array([1, 2, 1, 2, 1, 2, 1, 2])

    def __init__(self, path, preload=None):
        self.path = path

    def split(self, trial):
        return np.array([0, 1]), np.array([2, 3])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def make_ctx(tmp_path, unit_table, **options):
    opts = Options(data="synthetic", profile="test", trials=(0,), results=str(tmp_path),
                   **options)
    return runner.Context(options=opts, dataset="ilidsvid", data_path="fake.h5", trial=0,
                          units=unit_table, log=lambda *a: None)


@pytest.fixture
def fake_reader(monkeypatch):
    monkeypatch.setattr(units, "ReIDDataset", FakeDataset)


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

    monkeypatch.setattr(units, "evaluate_metric", evaluate_metric)
    monkeypatch.setattr(units, "sequence_features", lambda ctx, cfg, level: H)
    out = units.UNITS["deep_metric/KISSME"](make_ctx(tmp_path, units.UNITS))
    assert seen["train_y"] == [0, 0, 1, 1] and seen["method"] == "KISSME"
    assert seen["pca_dim"] == PROFILES["test"].pca_dim
    np.testing.assert_array_equal(seen["probe"], H[[4, 6]])
    np.testing.assert_array_equal(seen["gallery"], H[[5, 7]])
    np.testing.assert_allclose(out["cmc"], [0.0, 1.0])


def test_baseline_adapter_and_missing_code(tmp_path, monkeypatch):
    calls = []

    def hog3d(data_path, trial, seed, profile, log):
        calls.append((data_path, trial, profile))
        ids = np.array([7, 8, 9])
        return np.array([[0.1, 0.9, 0.5], [0.2, 0.1, 0.3], [0.3, 0.8, 0.7]]), ids, ids

    monkeypatch.setattr(units, "BASELINES", {"HOG3D": hog3d})
    ctx = make_ctx(tmp_path, units.UNITS)
    out = units.UNITS["baseline/HOG3D"](ctx)
    assert calls == [("fake.h5", 0, "test")]
    np.testing.assert_allclose(out["cmc"], [2 / 3, 1.0, 1.0])   # probe 9 ranks its match 2nd
    with pytest.raises(RowNotRun, match="no row 'FV2D'"):
        units.UNITS["baseline/FV2D"](ctx)


def fake_run_trial(monkeypatch, calls):
    def run_trial(data_path, trial, config_name, profile, out_dir, seed, log, reading,
                  overrides):
        calls.append((config_name, profile, out_dir, seed, reading, overrides))
        return {"cmc": [0.25, 0.5, 1.0], "map": 0.4}
    monkeypatch.setattr(units, "run_trial", run_trial)
    monkeypatch.setattr(units, "final_checkpoint", lambda out_dir: out_dir + "/final.h5")


def test_rcn_row_calls_run_trial_once_per_architecture_folder(tmp_path, monkeypatch):
    calls = []
    fake_run_trial(monkeypatch, calls)
    ctx = make_ctx(tmp_path, units.UNITS)
    first = ctx.unit("rcn/deep_rcn")
    again = ctx.unit("rcn/deep_rcn")
    assert len(calls) == 1 and calls[0][0] == "deep_rcn" and calls[0][1] == "test"
    assert calls[0][4:] == ("default", ())
    assert first["cmc"][:3] == [25.0, 50.0, 100.0] and again == first
    assert first["map"] == 0.4
    ctx.unit("rcn/rcn_ind")
    assert calls[1][2] != calls[0][2]          # one run folder per architecture


def test_vgg_row_without_weights_is_not_run(tmp_path):
    ctx = make_ctx(tmp_path, units.UNITS)
    with pytest.raises(RowNotRun, match="VGG16_WEIGHTS"):
        units.vgg_unit(ctx)


def test_table3_max_row_trains_with_max_pooling_and_average_row_is_the_deep_rcn(
        tmp_path, monkeypatch):
    """Table 3's Max pooling row is a network trained with temporal_pooling="max" (Section
    5.4.2), scored like the Average row; in the default reading the Average row is Table 2's Deep
    RCN (one training), in the literal one a network of its own that keeps average pooling."""
    import experiments.table3 as table3
    calls = []
    fake_run_trial(monkeypatch, calls)
    ctx = make_ctx(tmp_path, units.UNITS)
    units_of = {r.name: r.unit_key(ctx.options) for r in table3.ROWS}
    assert units_of["Max pooling"] == "rcn/pool_max"
    res = ctx.unit(units_of["Max pooling"])
    assert [c[0] for c in calls] == ["pool_max"] and res["temporal_pooling"] == "max"
    assert units.row_config(ctx, "pool_max").model.temporal_pooling == "max"
    avg = ctx.unit(units_of["Average pooling"])
    assert [c[0] for c in calls] == ["pool_max", "deep_rcn"]      # no second average network
    assert avg["temporal_pooling"] == "average" and avg["cmc"] == ctx.unit("rcn/deep_rcn")["cmc"]
    assert "re-pooled" in [r.name for r in table3.ROWS][-1]
    assert units_of[[r.name for r in table3.ROWS][-1]].startswith("pool/max/")
    # READING=literal: Deep RCN takes Eq. 4's last step, the Average row keeps averaging
    calls.clear()
    lit = make_ctx(tmp_path, units.UNITS, reading="literal", overrides=("train.epochs=1",))
    assert lit.unit("rcn/pool_average")["temporal_pooling"] == "average"
    assert lit.unit("rcn/pool_max")["temporal_pooling"] == "max"
    assert lit.unit("rcn/deep_rcn")["temporal_pooling"] == "last"
    assert [c[0] for c in calls] == ["pool_average", "pool_max", "deep_rcn"]
    assert all(c[4:] == ("literal", ("train.epochs=1",)) for c in calls)
    assert len({c[2] for c in calls}) == 3


def test_max_pooling_with_learned_similarity_and_fisher_refusal(tmp_path, monkeypatch,
                                                                fake_reader):
    rng = np.random.RandomState(1)
    frames = [rng.randn(3, 4) for _ in range(8)]
    W = rng.randn(4, 4)

    class FakeModel:
        def similarity(self, ha, hb):
            return ha @ W @ hb.T

    monkeypatch.setattr(units, "load_model", lambda path: FakeModel())
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


def test_table3_rows_and_the_networks_they_train():
    """Table 3 (Section 5.4.2): its rows, in order, and which of them trains a network. Max
    pooling trains its own (temporal_pooling="max"); Average pooling is the average-trained
    network (Table 2's Deep RCN in the default reading); the Fisher row and the labelled extra
    row re-pool that network's frame outputs and train nothing of their own."""
    import experiments.table3 as table3
    opts = make_ctx("unused", units.UNITS).options
    assert [(r.name, r.unit_key(opts)) for r in table3.ROWS] == [
        ("Max pooling", "rcn/pool_max"),
        ("Average pooling", "rcn/pool_average"),
        ("Fisher vector pooling", "pool/fisher/euclidean"),
        ("Max pooling (re-pooled average net)", "pool/max/euclidean")]
    trains = [r.unit_key(opts).startswith("rcn/") for r in table3.ROWS]
    assert trains == [True, True, False, False]
    assert units.AVERAGE_ROW == "pool_average"


def test_fisher_row_l2_frames_fisher_vector_l2_euclidean(tmp_path, monkeypatch, fake_reader):
    """Table 3's Fisher row (docs/REPRODUCTION.md §3, §7): each frame output L2-normalised, a
    Fisher vector (GMM of Profile.fisher_components fitted on the training persons' frames only),
    L2-normalised, probes ranked by Euclidean distance to the gallery."""
    from rcnreid.nn.fisher import FisherVectorEncoder
    rng = np.random.RandomState(3)
    frames = [rng.randn(6, 3) + (i // 2) for i in range(8)]
    seen = []
    monkeypatch.setattr(units, "sequence_features",
                        lambda ctx, cfg, level: seen.append((cfg, level)) or frames)
    ctx = make_ctx(tmp_path, units.UNITS)
    out = units.UNITS["pool/fisher/euclidean"](ctx)
    assert seen == [("pool_average", "frame")]

    def norm(a):
        return a / np.linalg.norm(a, axis=-1, keepdims=True)
    train = np.concatenate([norm(frames[i]) for i in (0, 1, 2, 3)])
    fv = FisherVectorEncoder(n_components=PROFILES["test"].fisher_components, seed=ctx.seed)
    fv.fit(train)
    probe = norm(np.stack([fv.encode(norm(frames[i])) for i in (4, 6)]))
    gallery = norm(np.stack([fv.encode(norm(frames[i])) for i in (5, 7)]))
    d = np.array([[np.linalg.norm(p - g) for g in gallery] for p in probe])
    expect = [np.mean([d[i, i] < np.delete(d[i], i).min() for i in range(2)]), 1.0]
    np.testing.assert_allclose(out["cmc"], expect)
