"""The one epoch loop (rcnreid.engine.epoch_loop) behind both trainers: the log row is written
before the checkpoint (a stop between the two resumes without losing or repeating a row), and a
NaN/inf loss or parameter stops the run with the last good checkpoint kept, in rcnreid.engine.train
and in rcnreid.vgg.finetune alike."""
import numpy as np
import pytest

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.engine import trainlog
from rcnreid.engine.epoch_loop import RunFiles, TrainingDiverged, mean_over_batches, run_epochs
from rcnreid.engine.trainlog import read_log
from rcnreid.errors import UserError

pytest.importorskip("h5py")


class Stop(Exception):
    """Stands for the process being killed at a given write."""


def _interrupt_at(monkeypatch, module, name, epoch):
    """Make ``module.name(path, obj)`` raise Stop when it writes epoch ``epoch``."""
    real = getattr(module, name)

    def fake(path, obj):
        e = obj["epoch"] if isinstance(obj, dict) else obj.epoch
        if e == epoch:
            raise Stop(name)
        return real(path, obj)
    monkeypatch.setattr(module, name, fake)


def _fake_run(tmp_path, losses, params_after=None, epochs=3):
    """run_epochs with hooks that need no Theano: two mini-batches an epoch."""
    files = RunFiles(str(tmp_path), str(tmp_path / "log.jsonl"),
                     str(tmp_path / ckptlib.LAST_NAME))
    it = iter(losses)

    def begin_epoch(epoch):
        return [3, 1], {"pairs": 4}

    def step(size):
        return next(it), 0.5, size

    def snapshot(epoch, finished):
        p = {"w": np.full((2,), float(epoch), np.float32)}
        if params_after is not None and epoch >= params_after:
            p["w"][0] = np.inf
        return ckptlib.Checkpoint(params=p, optim_state={}, rng_states={}, epoch=epoch,
                                  finished=finished, config={}, attrs={})
    return files, lambda: run_epochs(0, epochs, epochs, begin_epoch, step, snapshot, files,
                                     log=None)


def test_loop_writes_weighted_means_and_the_row_before_the_checkpoint(tmp_path, monkeypatch):
    events = []
    real_row, real_save = trainlog.append_row, ckptlib.save_checkpoint
    monkeypatch.setattr(trainlog, "append_row",
                        lambda p, r: (events.append(("row", r["epoch"])), real_row(p, r)))
    monkeypatch.setattr(ckptlib, "save_checkpoint",
                        lambda p, c: (events.append(("ckpt", c.epoch)), real_save(p, c)))
    files, run = _fake_run(tmp_path, [1.0, 4.0, 2.0, 2.0, 0.0, 4.0])
    assert run() == 3
    assert events == [("row", 1), ("ckpt", 1), ("row", 2), ("ckpt", 2), ("row", 3), ("ckpt", 3)]
    rows = read_log(files.log_path)
    assert [r["loss"] for r in rows] == [1.75, 2.0, 1.0]        # (3*a + 1*b) / 4
    assert all(r["pairs"] == 4 and r["accuracy"] == 0.5 for r in rows)
    ck = ckptlib.load_checkpoint(files.last_path)
    assert ck.epoch == 3 and ck.finished
    assert mean_over_batches([2.0], [5]) == 2.0


def test_loop_stops_on_a_nan_loss_or_a_broken_parameter(tmp_path):
    files, run = _fake_run(tmp_path / "a", [1.0, 1.0, 1.0, float("nan")])
    (tmp_path / "a").mkdir()
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, mini-batch 2"):
        run()
    assert ckptlib.load_checkpoint(files.last_path).epoch == 1
    files, run = _fake_run(tmp_path / "b", [1.0] * 6, params_after=2)
    (tmp_path / "b").mkdir()
    with pytest.raises(TrainingDiverged, match=r"parameter w became NaN or infinite at epoch 2"):
        run()
    assert ckptlib.load_checkpoint(files.last_path).epoch == 1
    assert [r["epoch"] for r in read_log(files.log_path)] == [1]


# ---------------------------------------------------------------- the two real trainers

@pytest.fixture(scope="module")
def synth(synth10):
    return synth10


@pytest.fixture(scope="module")
def vgg(tmp_path_factory):
    from data_prep.viper import convert_viper
    from tests.test_vgg_viper import make_viper_tree
    from tests.test_vgg_weights import TINY, tf_layout_arrays, write_keras1_h5
    d = tmp_path_factory.mktemp("vgg")
    weights = str(d / "tiny_vgg16.h5")
    write_keras1_h5(weights, tf_layout_arrays(TINY, seed=7))
    viper = str(d / "viper.h5")
    convert_viper(make_viper_tree(str(d / "VIPeR"), persons=6, seed=1), viper, log=None)
    return viper, weights, TINY


def _run_train(synth):
    from rcnreid.configs.registry import get_config
    from rcnreid.engine.train import train
    cfg = get_config("tiny")
    assert cfg.train.epochs == 3
    return lambda out, **kw: train(synth, 0, cfg, str(out), seed=2, log=None, **kw)


def _run_finetune(vgg):
    from rcnreid.vgg.finetune import FinetuneConfig, finetune
    viper, weights, tiny = vgg
    cfg = FinetuneConfig(epochs=3, batch_size=6, learning_rate=1e-4, lr_drop_epochs=(2,),
                         crop_frac=0.9, checkpoint_every_s=0.0)
    return lambda out, **kw: finetune(viper, weights, str(out), cfg, seed=0, log=None,
                                      vgg_cfg=tiny, **kw)


def _log_name(which):
    from rcnreid.vgg.finetune import LOG_NAME
    return trainlog.LOG_NAME if which == "train" else LOG_NAME


def _final_params(which, out):
    return ckptlib.load_checkpoint(str(out / ckptlib.FINAL_NAME)).params


@pytest.mark.parametrize("which", ["train", "finetune"])
def test_a_stop_between_log_row_and_checkpoint_resumes_cleanly(which, synth, vgg, tmp_path,
                                                               monkeypatch):
    run = _run_train(synth) if which == "train" else _run_finetune(vgg)
    run(tmp_path / "full")
    ref = _final_params(which, tmp_path / "full")
    for n, (module, name) in enumerate([(trainlog, "append_row"),
                                        (ckptlib, "save_checkpoint")]):
        out = tmp_path / ("stopped%d" % n)
        with monkeypatch.context() as m:
            _interrupt_at(m, module, name, 2)
            with pytest.raises(Stop):
                run(out)
        assert ckptlib.load_checkpoint(str(out / ckptlib.LAST_NAME)).epoch == 1
        run(out, resume=True)
        rows = read_log(str(out / _log_name(which)))
        assert [r["epoch"] for r in rows] == [1, 2, 3], (which, name)
        got = _final_params(which, out)
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_finetune_resumes_a_mid_epoch_signal_stop_to_the_uninterrupted_end(vgg, tmp_path,
                                                                          monkeypatch):
    """A stop signal after mini-batch 1 of epoch 2 (rcnreid.engine.interrupt's test hook) of the
    VGG-16 fine-tuning: TrainingInterrupted, a mid-epoch checkpoint, and a resume that ends with
    the uninterrupted run's parameters, bit for bit."""
    from rcnreid.engine import interrupt
    run = _run_finetune(vgg)
    run(tmp_path / "full")
    monkeypatch.setenv(interrupt.TEST_HOOK_ENV, "3")      # 12 images / 6: 2 mini-batches
    with pytest.raises(interrupt.TrainingInterrupted, match="mini-batch 1/2 of epoch 2"):
        run(tmp_path / "cut")
    monkeypatch.delenv(interrupt.TEST_HOOK_ENV)
    assert ckptlib.load_checkpoint(str(tmp_path / "cut" / ckptlib.LAST_NAME)).position
    run(tmp_path / "cut", resume=True)
    a, b = _final_params("finetune", tmp_path / "cut"), _final_params("finetune", tmp_path / "full")
    for k in b:
        assert np.array_equal(a[k], b[k]), k


def test_finetune_stops_on_broken_parameters_like_the_main_trainer(vgg, tmp_path, monkeypatch):
    import rcnreid.vgg.finetune as ft
    run = _run_finetune(vgg)
    real_step = ft.ClassifierTrainer.step
    calls = []

    def poisoned(self, x, y, lr):
        r = real_step(self, x, y, lr)
        calls.append(1)
        if len(calls) == 4:                       # the last step of epoch 2 (12 images / 6)
            name = self.names[0]
            p = self.net.params[name]
            p.set_value(np.full_like(p.get_value(), np.inf))
        return r
    monkeypatch.setattr(ft.ClassifierTrainer, "step", poisoned)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as err:
        run(out)
    msg = str(err.value)
    assert "epoch 2" in msg and "NaN or infinite" in msg and ckptlib.LAST_NAME in msg
    ck = ckptlib.load_checkpoint(str(out / ckptlib.LAST_NAME))
    assert ck.epoch == 1 and all(np.all(np.isfinite(v)) for v in ck.params.values())
    assert [r["epoch"] for r in read_log(str(out / _log_name("finetune")))] == [1]
    assert set(ck.optim_state) >= {"momentum/" + n for n in ck.params}


def test_momentum_updates_match_numpy():
    from rcnreid.nn.optim import momentum_updates
    from rcnreid.backend.theano_env import T, theano
    rng = np.random.RandomState(0)
    w0, b0 = rng.randn(3, 2).astype(np.float32), rng.randn(2).astype(np.float32)
    W, b = theano.shared(w0.copy(), name="W"), theano.shared(b0.copy(), name="b")
    gW, gb = rng.randn(3, 2).astype(np.float32), rng.randn(2).astype(np.float32)
    lr = T.scalar("lr")
    upd, vel = momentum_updates([W, b], [T.constant(gW), T.constant(gb)], lr, 0.9,
                                lr_mults={"b": 10.0}, weight_decays={"W": 0.1})
    assert [v.name for v in vel.values()] == ["momentum/W", "momentum/b"]
    f = theano.function([lr], [], updates=list(upd.items()))
    vw, vb, pw, pb = np.zeros_like(w0), np.zeros_like(b0), w0.copy(), b0.copy()
    for _ in range(3):
        f(np.float32(0.01))
        vw = 0.9 * vw - 0.01 * (gW + 0.1 * pw)
        vb = 0.9 * vb - 0.1 * gb
        pw, pb = pw + vw, pb + vb
    np.testing.assert_allclose(W.get_value(), pw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.get_value(), pb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vel["W"].get_value(), vw, rtol=1e-5, atol=1e-6)


def test_finetune_hands_its_checkpoint_interval_and_prefetch_to_the_loop(vgg, tmp_path,
                                                                         monkeypatch):
    from rcnreid.engine import epoch_loop
    from rcnreid.vgg.finetune import FinetuneConfig, finetune
    viper, weights, tiny = vgg
    seen = []

    class Seen(Exception):
        pass

    def fake(*a, **kw):
        seen.append(kw)
        raise Seen()
    monkeypatch.setattr(epoch_loop, "run_epochs", fake)
    for every, pre in ((7.5, False), (0.0, True)):
        cfg = FinetuneConfig(epochs=1, batch_size=6, checkpoint_every_s=every, prefetch=pre)
        with pytest.raises(Seen):
            finetune(viper, weights, str(tmp_path / str(every)), cfg, seed=0, log=None,
                     vgg_cfg=tiny)
        assert (seen[-1]["checkpoint_every_s"], seen[-1]["prefetch"]) == (every, pre)
    with pytest.raises(UserError, match="checkpoint_every_s"):
        FinetuneConfig(checkpoint_every_s=-1)
