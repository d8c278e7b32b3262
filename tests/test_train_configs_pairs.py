"""Run configurations, training pairs and checkpoints (no Theano graph needed)."""
import json
import os
from collections import Counter

import numpy as np
import pytest

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.configs.registry import CONFIG_NAMES, ROWS, RunConfig, get_config, load_config
from rcnreid.errors import UserError
from rcnreid.data.pairs import PairSampler, batches


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
        assert get_config("pool_last", prof).model.temporal_pooling == "last"
        # the Deep RCN averages over time (Section 5.4.2, Table 3 = Table 2)
        assert get_config("deep_rcn", prof).model == get_config("pool_average", prof).model
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


def _fake_run(folder, cfg, seed=0, trial=0, epoch=1):
    """A run folder holding an unfinished checkpoint (no Theano needed)."""
    folder.mkdir()
    ck = ckptlib.Checkpoint(params={"w": np.zeros(2, np.float32)}, epoch=epoch,
                            rng_states={"data": np.random.RandomState(0).get_state()},
                            config=cfg.to_dict(), attrs={"seed": seed, "trial": trial})
    ckptlib.save_checkpoint(str(folder / ckptlib.LAST_NAME), ck)
    return str(folder)


def test_resume_with_another_configuration_names_what_differs(tmp_path):
    from rcnreid.engine.train import train
    cfg = get_config("tiny")
    run = _fake_run(tmp_path / "run", cfg, seed=2)
    longer = cfg.replace_train(epochs=5).replace_optim(learning_rate=0.5)
    with pytest.raises(UserError) as err:
        train(str(tmp_path / "unused.h5"), 0, longer, run, resume=True, seed=2, log=None)
    msg = str(err.value)
    assert "train.epochs: 3 -> 5" in msg and "train.optim.learning_rate: 0.01 -> 0.5" in msg
    assert os.path.join(run, "config.json") in msg and "\n" not in msg
    with pytest.raises(UserError, match="trial=0, not 1"):
        train(str(tmp_path / "unused.h5"), 1, cfg, run, resume=True, seed=2, log=None)
    with pytest.raises(UserError, match="--resume"):
        train(str(tmp_path / "unused.h5"), 0, cfg, run, seed=2, log=None)


def test_train_refuses_a_file_as_out_and_creates_nothing_on_bad_data(tmp_path):
    from rcnreid.engine.train import train
    afile = tmp_path / "f.txt"
    afile.write_text("x")
    with pytest.raises(UserError, match="is a file"):
        train(str(tmp_path / "d.h5"), 0, "tiny", str(afile), log=None)
    with pytest.raises(UserError, match="dataset file not found"):
        train(str(tmp_path / "d.h5"), 0, "tiny", str(tmp_path / "new"), log=None)
    assert not (tmp_path / "new").exists()
    with pytest.raises(UserError, match="seed"):
        train(str(tmp_path / "d.h5"), 0, "tiny", str(tmp_path / "new"), seed=-1, log=None)


def test_bad_config_files_are_named(tmp_path):
    p = tmp_path / "result.json"
    p.write_text(json.dumps({"cmc": [0.5], "map": 0.5}))
    with pytest.raises(UserError) as err:
        load_config(str(p))
    assert str(p) in str(err.value) and "unknown key" in str(err.value)
    q = tmp_path / "broken.json"
    q.write_text("{")
    with pytest.raises(UserError, match="broken.json"):
        load_config(str(q))
    with pytest.raises(UserError, match="not found"):
        load_config(str(tmp_path / "missing.json"))


def test_aggregate_warns_about_mixed_or_repeated_results():
    from rcnreid.evaluation.cmc import aggregate_warnings
    a = {"cmc": [0.2, 0.5], "trial": 0, "dataset": "ilidsvid", "config_name": "quick"}
    b = dict(a, trial=1)
    assert aggregate_warnings([a, b], ["a.json", "b.json"]) == []
    w = aggregate_warnings([a, dict(a)], ["a.json", "c.json"])
    assert len(w) == 1 and "trial 0 appears twice (a.json and c.json)" in w[0]
    w = aggregate_warnings([a, dict(b, dataset="prid2011", cmc=[0.1, 0.2, 0.3])])
    assert any("dataset (ilidsvid, prid2011)" in m for m in w)
    assert any("cut to rank 2" in m for m in w)
