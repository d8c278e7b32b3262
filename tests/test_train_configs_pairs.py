"""Run configurations, training pairs and checkpoints (no Theano graph needed)."""
import json
from collections import Counter

import numpy as np
import pytest

from rcnreid import checkpoint as ckptlib
from rcnreid.configs import CONFIG_NAMES, ROWS, RunConfig, get_config, load_config
from rcnreid.errors import UserError
from rcnreid.pairs import PairSampler, batches


def test_paper_config_holds_the_papers_values():
    cfg = get_config("paper")
    assert cfg == get_config("deep_rcn", profile="paper")
    assert cfg.train.seq_len == 20 and cfg.train.batch_pairs == 10      # Section 5.2
    assert cfg.train.optim.clip == 5.0 and cfg.train.optim.dropout == 0.7
    assert cfg.model.input_hw == (160, 60) and cfg.model.hidden_channels == (128, 256, 256)
    assert cfg.model.input_kernel == 5 and cfg.model.hidden_kernel == 5


def test_rows_keep_their_defining_change_at_every_profile():
    for prof in ("paper", "cpu", "quick", "test"):
        assert get_config("deep_rcn_9x9_1x1", prof).model.input_kernel == 9
        assert get_config("deep_rcn_9x9_1x1", prof).model.hidden_kernel == 1
        assert get_config("rcn_ind", prof).model.stacked is False
        assert get_config("pool_max", prof).model.temporal_pooling == "max"
        assert get_config("pool_fisher", prof).model.temporal_pooling == "fisher"
        assert get_config("fc_gru", prof).model.kind == "fcgru"
    assert get_config("quick_rcn_ind") == get_config("rcn_ind", "quick")
    assert get_config("tiny") == get_config("deep_rcn", "test")
    for name in CONFIG_NAMES:
        assert isinstance(get_config(name), RunConfig)
    assert set(ROWS) <= set(CONFIG_NAMES)
    with pytest.raises(UserError):
        get_config("nope")
    with pytest.raises(UserError):
        get_config("deep_rcn", profile="huge")


def test_config_round_trips_through_json(tmp_path):
    cfg = get_config("rcn_ind", "quick")
    text = cfg.to_json()
    assert RunConfig.from_json(text) == cfg
    p = tmp_path / "config.json"
    p.write_text(text)
    assert load_config(str(p)) == cfg
    bad = json.loads(text)
    bad["train"]["nonsense"] = 1
    with pytest.raises(UserError):
        RunConfig.from_dict(bad)


def _toy_table():
    # persons 0..5 in cameras 1 and 2; person 6 only in camera 1
    person = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6])
    camera = np.array([1, 2] * 6 + [1])
    return person, camera


def test_pairs_are_balanced_labelled_right_and_seeded():
    person, camera = _toy_table()
    train = [0, 1, 2, 3, 6]
    s = PairSampler(person, camera, train)
    assert s.pos_persons == [0, 1, 2, 3]           # 6 has no camera-2 sequence
    pairs = s.epoch_pairs(np.random.RandomState(0))
    assert len(pairs) == 8
    assert Counter(pairs[:, 2].tolist()) == {1: 4, 0: 4}
    for a, b, y in pairs:
        assert person[a] in train and person[b] in train
        assert camera[a] == 1 and camera[b] == 2
        assert (person[a] == person[b]) == bool(y)
    again = s.epoch_pairs(np.random.RandomState(0))
    assert np.array_equal(pairs, again)
    many = [tuple(map(tuple, s.epoch_pairs(np.random.RandomState(k)))) for k in range(5)]
    assert len(set(many)) > 1                       # a different epoch, different pairs
    assert [len(b) for b in batches(pairs, 3)] == [3, 3, 2]


def test_pairs_any_camera_and_more_dissimilar():
    person, camera = _toy_table()
    s = PairSampler(person, camera, [0, 1, 2, 3, 4, 5], dissimilar_per_similar=3,
                    pair_mode="any_camera")
    pairs = s.epoch_pairs(np.random.RandomState(1))
    assert Counter(pairs[:, 2].tolist()) == {1: 6, 0: 18}
    neg = pairs[pairs[:, 2] == 0]
    assert np.all(person[neg[:, 0]] != person[neg[:, 1]])
    with pytest.raises(UserError):
        PairSampler(person, camera, [0])


def test_checkpoint_round_trip_is_exact_and_atomic(tmp_path):
    rng = np.random.RandomState(5)
    rng.uniform(size=7)
    state = rng.get_state()
    ck = ckptlib.Checkpoint(
        params={"b": np.arange(3, dtype=np.float32), "a/W": np.ones((2, 2), np.float32)},
        optim_state={"rms/a/W": np.full((2, 2), 0.5, np.float32), "steps": np.int64(4)},
        rng_states={"data": state}, epoch=3, finished=False,
        config=get_config("tiny").to_dict(), attrs={"seed": 2, "trial": 1})
    path = str(tmp_path / "ck.h5")
    ckptlib.save_checkpoint(path, ck)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.h5"]   # no temp file left
    back = ckptlib.load_checkpoint(path)
    assert list(back.params) == ["b", "a/W"]
    assert np.array_equal(back.params["a/W"], ck.params["a/W"])
    assert np.array_equal(back.optim_state["rms/a/W"], ck.optim_state["rms/a/W"])
    assert int(back.optim_state["steps"]) == 4
    r2 = np.random.RandomState(0)
    r2.set_state(back.rng_states["data"])
    assert np.array_equal(r2.uniform(size=5), rng.uniform(size=5))
    assert back.epoch == 3 and not back.finished and back.attrs == {"seed": 2, "trial": 1}
    assert back.run_config() == get_config("tiny")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(UserError):
        ckptlib.load_checkpoint(str(tmp_path / "junk.h5"))
    with pytest.raises(UserError):
        ckptlib.load_checkpoint(str(tmp_path / "missing.h5"))
    with pytest.raises(UserError):
        ckptlib.final_checkpoint(str(tmp_path))
