"""Learned behaviour: with a fixed seed, the ``quick`` configuration trained on a small synthetic
set ranks its test people clearly better than chance (rank-1, rank-5 and mAP)."""
import numpy as np
import pytest

from rcnreid.configs.registry import get_config


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from data_prep.synth import make_synthetic_h5
    path = str(tmp_path_factory.mktemp("learn") / "synth40.h5")
    make_synthetic_h5(path, layout="ilidsvid", persons=40, seed=0)
    return path


def test_quick_config_beats_chance_on_unseen_people(data, tmp_path):
    from experiments.trials import run_trial
    cfg = get_config("quick")
    logs = []
    res = run_trial(data, 0, "quick", "quick", str(tmp_path / "run"), seed=0, log=logs.append)
    G = res["num_gallery"]
    assert G == 20 and res["num_probes"] == 20
    chance_rank1 = 1.0 / G
    chance_rank5 = 5.0 / G
    chance_map = np.mean(1.0 / np.arange(1, G + 1))       # expected AP of a random ranking
    assert res["cmc"][0] >= 3 * chance_rank1, res["cmc"][:5]
    assert res["cmc"][4] >= chance_rank5 + 0.25, res["cmc"][:5]
    assert res["map"] >= chance_map + 0.1, res["map"]
    # training reduced the loss, and one progress line per epoch was printed
    epoch_lines = [m for m in logs if m.startswith("epoch ")]
    assert len(epoch_lines) == cfg.train.epochs
    from rcnreid.engine.trainlog import read_log
    rows = read_log(str(tmp_path / "run" / "train_log.jsonl"))
    first = np.mean([r["loss"] for r in rows[:5]])
    last = np.mean([r["loss"] for r in rows[-5:]])
    assert last < first - 0.05, (first, last)
    # a second call reuses the finished model and the stored result
    again = run_trial(data, 0, "quick", "quick", str(tmp_path / "run"), seed=0, log=None)
    assert again["cmc"] == res["cmc"] and again["checkpoint"] == res["checkpoint"]
