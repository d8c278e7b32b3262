"""experiments.unit_graph: the static list of units agrees with what the runner really computes.

The runner runs the real unit functions of ``experiments.units`` (so their ``ctx.unit`` calls, the
dependencies, are the real ones) on a tiny synthetic dataset; only the expensive leaves are
replaced by cheap fakes: training + evaluation (``run_trial``), feature extraction (a random
features file), the hand-crafted baselines. Cost: about 15 s of CPU (no Theano compilation).
"""
import os
import re
import shutil

import h5py
import numpy as np
import pytest

from experiments import unit_graph
from experiments import units as units_mod
from experiments.options import Options
from experiments.runner import run_table



@pytest.fixture(scope="module")
def synthetic_file(tmp_path_factory):
    """The test profile's synthetic iLIDS-VID file (8 persons), built once for the module."""
    opts = Options(data="synthetic", profile="test", datasets=("ilidsvid",),
                   results=str(tmp_path_factory.mktemp("synth")))
    from experiments.datasets import ensure_synthetic
    return ensure_synthetic(opts, "ilidsvid", log=lambda *a: None)


def _fake_leaves(monkeypatch):
    """Cheap stand-ins for the leaves of the real units; returns the list of trained rows."""
    trained = []

    def run_trial(data_path, trial, row, profile, out_dir, seed, log, reading, overrides):
        trained.append(row)
        os.makedirs(out_dir, exist_ok=True)
        return {"cmc": list(np.linspace(0.2, 1.0, 8)), "map": 0.5}

    def extract_features(data_path, ckpt, path, level="sequence", log=None):
        from rcnreid.data.reader import ReIDDataset
        with ReIDDataset(data_path, preload=False) as ds:
            n = ds.num_sequences
        rng = np.random.RandomState(0)
        with h5py.File(path, "w") as f:
            if level == "sequence":
                f["features"] = rng.randn(n, 6)
            else:
                lens = 3 + np.arange(n) % 4
                f["frame_features"] = rng.randn(int(lens.sum()), 6)
                f["frame_offsets"] = np.concatenate([[0], np.cumsum(lens)])

    class FakeModel:
        def similarity(self, a, b):
            return -((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)

    def baseline(data_path, trial, seed, profile, log):
        from rcnreid.data.reader import ReIDDataset
        with ReIDDataset(data_path, preload=False) as ds:
            _, test = ds.split(trial)
        rng = np.random.RandomState(trial)
        return rng.rand(len(test), len(test)), np.asarray(test), np.asarray(test)

    monkeypatch.setattr(units_mod, "run_trial", run_trial)
    monkeypatch.setattr(units_mod, "final_checkpoint",
                        lambda out_dir: os.path.join(out_dir, "final.ckpt"))
    monkeypatch.setattr(units_mod, "extract_features", extract_features)
    monkeypatch.setattr(units_mod, "load_model", lambda path: FakeModel())
    monkeypatch.setattr(units_mod, "BASELINES", {n: baseline for n in units_mod.BASELINES})
    return trained


def _computed(log_lines):
    """``[(dataset, trial, key)]`` in the order the runner finished them."""
    out = []
    for line in log_lines:
        m = re.match(r"\[(\w+) trial (\d+)\] (\S+) done in", line)
        if m:
            out.append((m.group(1), int(m.group(2)), m.group(3)))
    return out


@pytest.mark.parametrize("table,reading,pool_distance", [
    ("table3", "default", "euclidean"),
    ("table3", "literal", "similarity"),
    ("table5", "default", "euclidean"),
    ("table2", "default", "euclidean"),
])
def test_the_runner_computes_exactly_the_graphs_units_in_dependency_order(
        tmp_path, monkeypatch, synthetic_file, table, reading, pool_distance):
    trained = _fake_leaves(monkeypatch)
    opts = Options(data="synthetic", profile="test", trials=(0, 1), datasets=("ilidsvid",),
                   results=str(tmp_path), reading=reading, pool_distance=pool_distance)
    from experiments.datasets import synthetic_path
    os.makedirs(os.path.dirname(synthetic_path(opts, "ilidsvid")))
    shutil.copy(synthetic_file, synthetic_path(opts, "ilidsvid"))
    planned = unit_graph.table_units(table, opts)
    assert not any(unit_graph.is_finished(opts, u) for u in planned)
    lines = []
    rows = unit_graph.table_rows(table)
    report = run_table(table, rows, opts, units=units_mod.UNITS, log=lines.append)
    for row in report["rows"]:          # every row ran, or is a unit the graph says cannot
        assert row["ours"]["ilidsvid"]["status"] == "ok" or row["unit"] in {
            u.key for u in planned if u.not_run}, row["ours"]["ilidsvid"]["reason"]

    done = _computed(lines)
    runnable = [(u.dataset, u.trial, u.key) for u in planned if not u.not_run]
    assert sorted(done) == sorted(runnable), "\n".join(map(str, lines))
    assert len(done) == len(set(done))                      # each unit computed once
    position = {d: i for i, d in enumerate(done)}
    for u in planned:
        for dep in u.depends:
            assert position[(u.dataset, u.trial, dep)] < position[(u.dataset, u.trial, u.key)]
    # the graph's "train" units are exactly the trainings the runner started
    trains = sorted(u.key.split("/", 1)[1] for u in planned
                    if u.kind == "train" and not u.not_run)
    assert sorted(trained) == trains
    # finished units are recognised from the cache; the ones that cannot run are not
    for u in planned:
        assert unit_graph.is_finished(opts, u) == (not u.not_run)


def test_pool_average_is_deep_rcn_in_the_default_reading_and_trains_in_the_literal():
    opts = Options(trials=(0,), datasets=("ilidsvid",))
    by_key = {u.key: u for u in unit_graph.table_units("table3", opts)}
    assert by_key["rcn/pool_average"].kind == "eval"
    assert by_key["rcn/pool_average"].same_as == "rcn/deep_rcn"
    assert by_key["rcn/pool_max"].kind == "train"           # Table 3 trains the max network
    lit = {u.key: u for u in unit_graph.table_units(
        "table3", Options(trials=(0,), datasets=("ilidsvid",), reading="literal"))}
    assert lit["rcn/pool_average"].kind == "train"
    assert "rcn/deep_rcn" not in lit
    assert lit["pool/max/euclidean"].depends == ("rcn/pool_average",)


def test_steps_follow_the_pair_and_batch_arithmetic():
    """iLIDS-VID 150 training people -> 300 pairs -> 30 mini-batches x 500 epochs; PRID 2011
    100 -> 20 x 500 (89 people of the 178 protocol: 178 pairs -> 18); compared with an
    independent count from the registry's batch size and epochs."""
    from rcnreid.configs.registry import get_config
    opts = Options(trials=(0, 3), ilidsvid="/nonexistent/i.h5", prid="/nonexistent/p.h5")
    us = unit_graph.table_units("table4", opts)
    steps = {(u.dataset, u.key): u.steps for u in us if u.trial == 3}
    assert steps[("ilidsvid", "rcn/deep_rcn")] == 15000
    assert steps[("prid2011", "rcn/deep_rcn")] == 10000
    assert steps[("ilidsvid", "baseline/HOG3D")] == 0
    p178 = unit_graph.table_units("table4", opts, prid_protocol="178")
    cfg = get_config("deep_rcn", "paper")
    expect = cfg.train.epochs * -(-89 * 2 // cfg.train.batch_pairs)
    assert [u.steps for u in p178 if u.dataset == "prid2011" and u.kind == "train"] == [expect] * 2
    cpu = unit_graph.table_units("table4", Options(profile="cpu", trials=(0,),
                                                   datasets=("ilidsvid",)))
    assert [u.steps for u in cpu if u.kind == "train"] == [100 * 30]


def test_steps_are_read_from_the_data_file_when_there(synthetic_file):
    opts = Options(profile="test", trials=(0,), datasets=("ilidsvid",), ilidsvid=synthetic_file)
    people, source = unit_graph.train_people(opts, "ilidsvid", 0)
    assert (people, source) == (4, synthetic_file)       # 8 persons, 50/50
    u = [u for u in unit_graph.table_units("table4", opts) if u.kind == "train"][0]
    assert u.steps == 3 * -(-8 // 4)        # test profile: 3 epochs, 4 pairs per mini-batch


def test_paper_graph_counts_each_shared_unit_once_and_names_its_rows():
    opts = Options(trials=(0,), datasets=("ilidsvid",))
    us = unit_graph.paper_units(opts)
    ids = [u.id for u in us]
    assert len(ids) == len(set(ids))
    deep = [u for u in us if u.key == "rcn/deep_rcn"][0]
    assert ("table2", "Deep RCN (5 x 5, 5 x 5)") in deep.rows
    assert ("table4", "Deep RCN") in deep.rows
    trains = sorted(u.key for u in us if u.kind == "train")
    assert trains == ["rcn/deep_rcn", "rcn/deep_rcn_9x9_1x1", "rcn/pool_max", "rcn/rcn_ind",
                      "vgg/fc_gru"]
    assert [u.not_run for u in us if u.key == "vgg/fc_gru"][0]      # no VGG16 weights given


def test_unknown_row_is_one_clear_error():
    from rcnreid.errors import UserError
    with pytest.raises(UserError, match="not a row of table2"):
        unit_graph.table_units("table2", Options(rows=("Nope",)))
    with pytest.raises(UserError, match="unknown"):
        unit_graph.table_rows("table9")
