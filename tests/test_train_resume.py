"""Training on the tiny configuration: seeded runs repeat, an interrupted-and-resumed run equals
an uninterrupted one parameter for parameter, a NaN loss stops with the last good checkpoint."""
import json
import os

import numpy as np
import pytest

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.configs.registry import RunConfig, get_config
from rcnreid.errors import UserError
from rcnreid.engine.trainlog import read_log

pytest.importorskip("h5py")


@pytest.fixture(scope="module")
def data(synth10):
    return synth10


def _params(path):
    return ckptlib.load_checkpoint(path).params


def test_seeded_runs_repeat_and_resume_equals_uninterrupted(data, tmp_path):
    from rcnreid.engine.train import train
    cfg = get_config("tiny")
    assert cfg.train.epochs == 3
    full = train(data, 0, cfg, str(tmp_path / "full"), seed=4, log=None)
    again = train(data, 0, cfg, str(tmp_path / "again"), seed=4, log=None)
    part = train(data, 0, cfg, str(tmp_path / "part"), seed=4, log=None, max_epochs=1)
    assert os.path.basename(part) == ckptlib.LAST_NAME
    assert ckptlib.load_checkpoint(part).epoch == 1
    assert not ckptlib.load_checkpoint(part).finished
    with pytest.raises(UserError):            # the folder holds a run: needs --resume
        train(data, 0, cfg, str(tmp_path / "part"), seed=4, log=None)
    with pytest.raises(UserError):            # another seed cannot resume it
        train(data, 0, cfg, str(tmp_path / "part"), seed=5, resume=True, log=None)
    resumed = train(data, 0, cfg, str(tmp_path / "part"), seed=4, resume=True, log=None)
    other = train(data, 0, cfg, str(tmp_path / "other"), seed=5, log=None)

    a, b, c, d = _params(full), _params(again), _params(resumed), _params(other)
    assert not os.path.exists(part) and resumed.endswith(ckptlib.FINAL_NAME)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
        assert np.array_equal(a[k], c[k]), k
    assert any(not np.array_equal(a[k], d[k]) for k in a)
    sa, sc = ckptlib.load_checkpoint(full), ckptlib.load_checkpoint(resumed)
    for k in sa.optim_state:
        assert np.array_equal(sa.optim_state[k], sc.optim_state[k]), k
    assert sa.finished and sa.epoch == 3
    rows = read_log(str(tmp_path / "part" / "train_log.jsonl"))
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert np.isfinite(r["loss"]) and 0.0 <= r["accuracy"] <= 1.0 and r["seconds"] >= 0
    with open(str(tmp_path / "full" / "config.json")) as f:
        assert RunConfig.from_dict(json.load(f)) == cfg
    # a finished run resumes to itself at once
    assert train(data, 0, cfg, str(tmp_path / "full"), seed=4, resume=True, log=None) == full
    assert not (tmp_path / "full" / "training.png").exists()    # training draws nothing


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(data, tmp_path):
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.data.inputs import ImageInputs
    from rcnreid.engine.train import TrainingDiverged, train
    cfg = get_config("tiny")

    class PoisonAfter(ImageInputs):
        """Frames turn to NaN from the second epoch on."""
        calls = 0
        per_epoch = None

        def train_batch(self, rows, T, rng):
            x = super().train_batch(rows, T, rng)
            PoisonAfter.calls += 1
            if PoisonAfter.calls > PoisonAfter.per_epoch:
                x[:] = np.nan
            return x

    ds = ReIDDataset(data)
    pairs = 2 * len(ds.split(0)[0])                     # balanced: one S and one D per person
    PoisonAfter.per_epoch = 2 * -(-pairs // cfg.train.batch_pairs)   # xa and xb per batch
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as err:
        train(data, 0, cfg, str(out), seed=0, log=None,
              inputs=PoisonAfter(ds, cfg.model.input_hw, cfg.train.crop_hw))
    msg = str(err.value)
    assert "nan" in msg and "epoch 2" in msg and ckptlib.LAST_NAME in msg
    ck = ckptlib.load_checkpoint(str(out / ckptlib.LAST_NAME))
    assert ck.epoch == 1 and not ck.finished
    assert all(np.all(np.isfinite(v)) for v in ck.params.values())
    assert not (out / ckptlib.FINAL_NAME).exists()


def test_train_command_stops_resumes_and_reports_user_errors(data, tmp_path, capsys):
    from rcnreid.cli import main
    out = str(tmp_path / "cli")
    args = ["train", "--data", data, "--config", "tiny", "--out", out, "--seed", "1"]
    assert main(args + ["--stop-after", "2"]) == 0
    assert ckptlib.load_checkpoint(os.path.join(out, ckptlib.LAST_NAME)).epoch == 2
    assert main(args) == 2                                   # needs --resume
    assert "--resume" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    text = capsys.readouterr().out
    assert "resuming" in text and "epoch 3/3" in text and "epoch 1/3" not in text
    ck = ckptlib.load_checkpoint(os.path.join(out, ckptlib.FINAL_NAME))
    assert ck.finished and ck.epoch == 3 and ck.attrs["seed"] == 1
    assert os.path.isfile(os.path.join(out, "training.png"))   # the command draws the curves
    assert main(["train", "--data", data, "--config", "nonexistent", "--out", out]) == 2
    assert "unknown configuration" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "no.h5"), "--config", "tiny",
                 "--out", str(tmp_path / "x")]) == 2


def test_broken_parameters_with_a_finite_loss_stop_before_the_checkpoint(data, tmp_path,
                                                                         monkeypatch):
    """The last update of an epoch can make a parameter NaN while its loss was finite: the run
    stops without overwriting the last good checkpoint."""
    import rcnreid.engine.train as trainmod
    cfg = get_config("tiny")
    real = trainmod.compiled_model
    steps = []

    def poisoned(cfg_, seed):
        model, trainer = real(cfg_, seed)

        class Trainer:
            def __getattr__(self, name):
                return getattr(trainer, name)

            def step(self, xa, xb, y):
                r = trainer.step(xa, xb, y)
                steps.append(1)
                if len(steps) == per_epoch * 2:            # the last step of epoch 2
                    p = model.get_params()
                    name = sorted(p)[0]
                    p[name] = np.full_like(p[name], np.inf)
                    model.set_params(p)
                return r
        return model, Trainer()

    from rcnreid.data.reader import ReIDDataset
    pairs = 2 * len(ReIDDataset(data).split(0)[0])
    per_epoch = -(-pairs // cfg.train.batch_pairs)
    monkeypatch.setattr(trainmod, "compiled_model", poisoned)
    out = tmp_path / "run"
    with pytest.raises(trainmod.TrainingDiverged) as err:
        trainmod.train(data, 0, cfg, str(out), seed=0, log=None)
    msg = str(err.value)
    assert "epoch 2" in msg and "NaN or infinite" in msg and ckptlib.LAST_NAME in msg
    ck = ckptlib.load_checkpoint(str(out / ckptlib.LAST_NAME))
    assert ck.epoch == 1 and all(np.all(np.isfinite(v)) for v in ck.params.values())
    assert [r["epoch"] for r in read_log(str(out / "train_log.jsonl"))] == [1]
    # resuming after the failure restores the good state (the cached graph is reset)
    monkeypatch.setattr(trainmod, "compiled_model", real)
    final = trainmod.train(data, 0, cfg, str(out), seed=0, resume=True, log=None)
    ref = trainmod.train(data, 0, cfg, str(tmp_path / "ref"), seed=0, log=None)
    a, b = ckptlib.load_checkpoint(final).params, ckptlib.load_checkpoint(ref).params
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_accepts_a_checkpoint_written_before_new_config_fields(tmp_path):
    """A field added later (at its default, the old behaviour) does not block --resume; a real
    difference still does, naming it."""
    import pytest as _pytest
    from rcnreid.engine.checkpoint import Checkpoint
    from rcnreid.configs.registry import get_config
    from rcnreid.errors import UserError
    from rcnreid.engine.resume import check_resumable
    cfg = get_config("tiny")
    old = cfg.to_dict()
    del old["train"]["aug_pairing"]          # written before the option existed
    del old["model"]["dropout_masks"]
    ckpt = Checkpoint(params={}, config=old, attrs={"seed": 0, "trial": 0})
    check_resumable(ckpt, cfg, 0, 0, str(tmp_path / "checkpoint-last.h5"))
    old["train"]["epochs"] = cfg.train.epochs + 1
    with _pytest.raises(UserError, match="train.epochs"):
        check_resumable(ckpt, cfg, 0, 0, str(tmp_path / "checkpoint-last.h5"))
