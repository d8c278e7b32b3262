"""A training stopped by a signal (rcnreid.engine.interrupt): SIGTERM/SIGINT/SIGUSR1 let the current
mini-batch finish, write a checkpoint of the exact mid-epoch position and exit 75; the same command
with --resume ends with the parameters, optimiser state and log of an uninterrupted run, bit for
bit. A SIGKILL (no warning) resumes from the last checkpoint to the same end.

Cost: the loop tests need no Theano (3 s in all); the real trainings use the ``tiny``
configuration: two in this process and two child processes (each pays Python's and Theano's
start-up and the graph's load from the compile cache: ~20 s of CPU each, measured 2026-12-02; on
the loaded shared 2-core machine, waiting for the shared cache's lock, 507 s of wall time for the
version with three children). The child-process tests (the ``train`` command stopped by SIGTERM
then killed, and SIGTERM at a real moment) run only under ``RCNREID_SLOW_TESTS=1`` (``make
test-interrupt``), for the suite's time (about 2 min on a quiet fresh clone); the suite's SLURM
test (tests/test_slurm_cluster.py) stops a real training with SIGTERM through SLURM and checks
its requeued resume bit for bit."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.engine import interrupt
from rcnreid.engine.epoch_loop import RunFiles, run_epochs
from rcnreid.engine.trainlog import read_log
from rcnreid.errors import UserError, exit_status

pytest.importorskip("h5py")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- the loop alone (no Theano)

def _fake_run(tmp_path, epochs=3, batches=4):
    """run_epochs whose hooks draw from a data RNG like the trainers (order in begin_epoch, an
    augmentation in step) and whose 'parameters' are a running function of every draw, so any
    draw repeated, skipped or reordered on resume shows in the final parameters."""
    files = RunFiles(str(tmp_path), str(tmp_path / "log.jsonl"),
                     str(tmp_path / ckptlib.LAST_NAME))
    rng = np.random.RandomState(7)
    state = {"w": np.zeros(3, np.float64)}

    def begin_epoch(epoch):
        return list(rng.permutation(batches * 2).reshape(batches, 2)), {"pairs": batches * 2}

    def step(batch):
        noise = rng.rand()
        state["w"] = state["w"] * 0.5 + np.array([batch[0], batch[1], noise])
        return float(state["w"].sum()), float(noise), len(batch)

    def snapshot(epoch, finished):
        return ckptlib.Checkpoint(params={"w": state["w"].copy()}, optim_state={},
                                  rng_states={"data": rng.get_state()}, epoch=epoch,
                                  finished=finished, config={}, attrs={})

    def run(start=0, position=None, params=None, rng_state=None):
        if params is not None:
            state["w"] = params["w"].copy()
            rng.set_state(rng_state)
        return run_epochs(start, epochs, epochs, begin_epoch, step, snapshot, files, log=None,
                          data_rng=rng, position=position)
    return files, run


def _rows(path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_log(path)]


@pytest.mark.parametrize("after", [1, 6, 8, 11])    # first batch, mid-epoch, epoch end, last-but-one
@pytest.mark.parametrize("sig", ["TERM", "INT", "USR1"])
def test_a_signal_mid_epoch_saves_the_position_and_resumes_bit_exactly(tmp_path, monkeypatch,
                                                                       after, sig):
    (tmp_path / "ref").mkdir()
    (tmp_path / "cut").mkdir()
    ref_files, ref = _fake_run(tmp_path / "ref")
    assert ref() == 3
    files, run = _fake_run(tmp_path / "cut")
    before = signal.getsignal(getattr(signal, "SIG" + sig))
    monkeypatch.setenv(interrupt.TEST_HOOK_ENV, "%d:%s" % (after, sig))
    with pytest.raises(interrupt.TrainingInterrupted) as err:
        run()
    monkeypatch.delenv(interrupt.TEST_HOOK_ENV)
    assert signal.getsignal(getattr(signal, "SIG" + sig)) == before   # handlers restored
    assert err.value.exit_code == interrupt.INTERRUPTED_EXIT == 75
    msg = str(err.value)
    assert "SIG%s received" % sig in msg and files.last_path in msg and "--resume" in msg
    ck = ckptlib.load_checkpoint(files.last_path)
    epoch, batch = divmod(after, 4)
    if batch:                                   # stopped inside an epoch: its position
        assert ck.epoch == epoch and ck.position["epoch"] == epoch + 1
        assert ck.position["batch"] == batch and ck.position["batches"] == 4
        assert len(ck.position["losses"]) == batch
        assert "mini-batch %d/4 of epoch %d" % (batch, epoch + 1) in msg
    else:                                       # at an epoch's end: an ordinary checkpoint
        assert ck.epoch == epoch and ck.position is None
        assert "at the end of epoch %d" % epoch in msg
    assert [r["epoch"] for r in read_log(files.log_path)] == list(range(1, epoch + 1))
    assert run(ck.epoch, ck.position, ck.params, ck.rng_states["data"]) == 3
    got, want = ckptlib.load_checkpoint(files.last_path), ckptlib.load_checkpoint(ref_files.last_path)
    assert np.array_equal(got.params["w"], want.params["w"])
    assert got.position is None and got.finished
    assert _rows(files.log_path) == _rows(ref_files.log_path)


def test_a_signal_in_the_last_mini_batch_of_the_run_lets_it_finish(tmp_path, monkeypatch):
    files, run = _fake_run(tmp_path)
    monkeypatch.setenv(interrupt.TEST_HOOK_ENV, "12")
    assert run() == 3
    assert ckptlib.load_checkpoint(files.last_path).finished


def test_checkpoint_formats_one_and_two_load_and_the_checksum_covers_the_position(tmp_path):
    import h5py
    p = {"w": np.arange(3, dtype=np.float32)}
    rng = np.random.RandomState(0)
    plain = ckptlib.Checkpoint(params=p, rng_states={"data": rng.get_state()}, epoch=2)
    ckptlib.save_checkpoint(str(tmp_path / "a.h5"), plain)
    with h5py.File(str(tmp_path / "a.h5"), "r") as f:
        assert int(f.attrs["format"]) == 1 and "position" not in f
    pos = {"epoch": 3, "batch": 1, "batches": 2, "seconds": 1.5,
           "losses": np.array([0.25], np.float64), "accuracies": np.array([0.5]),
           "sizes": np.array([10]), "epoch_start_rng": rng.get_state()}
    mid = ckptlib.Checkpoint(params=p, rng_states={"data": rng.get_state()}, epoch=2,
                             position=pos)
    assert ckptlib.checksum(mid) != ckptlib.checksum(plain)
    ckptlib.save_checkpoint(str(tmp_path / "b.h5"), mid)
    got = ckptlib.load_checkpoint(str(tmp_path / "b.h5"))
    assert got.position["batch"] == 1 and got.position["seconds"] == 1.5
    assert np.array_equal(got.position["epoch_start_rng"][1], rng.get_state()[1])
    with h5py.File(str(tmp_path / "b.h5"), "r+") as f:
        assert int(f.attrs["format"]) == 2
        f["position"].attrs["batch"] = 0                 # changed after writing: refused
    with pytest.raises(UserError, match="checksum mismatch"):
        ckptlib.load_checkpoint(str(tmp_path / "b.h5"))


def test_stop_signals_nests_restores_and_exit_status_is_75(capsys):
    before = signal.getsignal(signal.SIGTERM)
    with interrupt.stop_signals() as outer:
        with interrupt.stop_signals() as inner:
            assert inner is outer and interrupt.current() is outer
            os.kill(os.getpid(), signal.SIGTERM)
        assert outer.requested and outer.signame == "SIGTERM"
        os.kill(os.getpid(), signal.SIGTERM)            # a second SIGTERM: already served
        assert outer.signame == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):          # Ctrl-C after it does not wait
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) == before and interrupt.current() is None

    def stopped():
        raise interrupt.interrupted_error("SIGTERM", "run/checkpoint-last.h5", 2, 3, 5)
    assert exit_status("rcnreid", stopped) == 75
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rcnreid: SIGTERM received: stopped after mini-batch 3/5 of epoch 2; the "
                   "position is saved in run/checkpoint-last.h5; run the same command with "
                   "--resume to continue (exit status 75)"]

    def bad():
        raise UserError("x: wrong")
    assert exit_status("rcnreid", bad) == 2
    assert capsys.readouterr().err == "rcnreid: error: x: wrong\n"


# ---------------------------------------------------------------- real trainings

@pytest.fixture(scope="module")
def data(synth10):
    return synth10


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """An uninterrupted ``tiny`` run (seed 3), in this process."""
    from rcnreid.configs.registry import get_config
    from rcnreid.engine.train import train
    out = tmp_path_factory.mktemp("ref")
    train(data, 0, get_config("tiny"), str(out), seed=3, log=None)
    return out


def _batches_per_epoch(data):
    from rcnreid.configs.registry import get_config
    from rcnreid.data.reader import ReIDDataset
    pairs = 2 * len(ReIDDataset(data).split(0)[0])
    return -(-pairs // get_config("tiny").train.batch_pairs)


def _train_cmd(data, out, *extra):
    return [sys.executable, "-m", "rcnreid", "train", "--data", data, "--config", "tiny",
            "--out", str(out), "--seed", "3"] + list(extra)


def _child_env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop(interrupt.TEST_HOOK_ENV, None)
    env.update(extra)
    return env


def _assert_same_run(out, ref):
    a = ckptlib.load_checkpoint(str(out / ckptlib.FINAL_NAME))
    b = ckptlib.load_checkpoint(str(ref / ckptlib.FINAL_NAME))
    assert a.finished and a.position is None
    for k in b.params:
        assert np.array_equal(a.params[k], b.params[k]), k
    for k in b.optim_state:
        assert np.array_equal(a.optim_state[k], b.optim_state[k]), k
    for name in b.rng_states:
        assert np.array_equal(a.rng_states[name][1], b.rng_states[name][1]), name
        assert a.rng_states[name][2:] == b.rng_states[name][2:], name
    assert _rows(str(out / "train_log.jsonl")) == _rows(str(ref / "train_log.jsonl"))


@pytest.mark.skipif(not os.environ.get("RCNREID_SLOW_TESTS"),
                    reason="slow (three child trainings, ~2 min): make test-interrupt; the suite's "
                           "SLURM test stops a real training with SIGTERM and resumes it")
def test_train_command_stopped_by_sigterm_then_killed_resumes_bit_exactly(data, reference,
                                                                         tmp_path):
    """Two child processes on one run folder: SIGTERM after the first mini-batch of epoch 2
    (exit 75, a mid-epoch checkpoint); resumed, SIGKILL (no warning) after the first mini-batch
    of epoch 3 (the end-of-epoch-2 checkpoint is left); resumed again to the end in this process. Parameters,
    optimiser state, RNG states and log rows (less seconds) equal the uninterrupted run's."""
    per_epoch = _batches_per_epoch(data)
    assert per_epoch >= 2
    out = tmp_path / "run"
    r = subprocess.run(_train_cmd(data, out), cwd=ROOT, capture_output=True, text=True,
                       env=_child_env(**{interrupt.TEST_HOOK_ENV: "%d:TERM" % (per_epoch + 1)}))
    assert r.returncode == 75, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rcnreid: SIGTERM received: stopped after "
                                               "mini-batch 1/%d of epoch 2" % per_epoch), err
    assert "checkpoint written after mini-batch 1/%d" % per_epoch in r.stdout
    ck = ckptlib.load_checkpoint(str(out / ckptlib.LAST_NAME))
    assert ck.epoch == 1 and ck.position["batch"] == 1
    r = subprocess.run(_train_cmd(data, out, "--resume"), cwd=ROOT, capture_output=True,
                       text=True, env=_child_env(**{interrupt.TEST_HOOK_ENV: "%d:KILL"
                                                    % per_epoch}))
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert "from mini-batch 1/%d of epoch 2" % per_epoch in r.stdout
    ck = ckptlib.load_checkpoint(str(out / ckptlib.LAST_NAME))
    assert ck.epoch == 2 and ck.position is None
    from rcnreid.configs.registry import get_config      # the last resume in this process
    from rcnreid.engine.train import train
    lines = []
    train(data, 0, get_config("tiny"), str(out), seed=3, resume=True, log=lines.append)
    assert "resuming %s from epoch 2" % out in lines
    _assert_same_run(out, reference)


@pytest.mark.skipif(not os.environ.get("RCNREID_SLOW_TESTS"),
                    reason="slow (two more child trainings): make test-interrupt")
def test_a_sigterm_at_a_real_moment_exits_75_or_finishes_and_resumes_to_the_same_end(
        data, reference, tmp_path):
    """No hook: SIGTERM as soon as the first epoch's log row appears, whatever the child is
    doing then (a mini-batch, the log, the checkpoint write)."""
    import time
    out = tmp_path / "run"
    child = subprocess.Popen(_train_cmd(data, out), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=_child_env())
    log = out / "train_log.jsonl"
    deadline = time.time() + 300
    while child.poll() is None and time.time() < deadline and not read_log(str(log)):
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=300)
    assert child.returncode in (0, 75), err
    if child.returncode == 75:
        assert len(err.strip().splitlines()) == 1 and "SIGTERM received" in err
        r = subprocess.run(_train_cmd(data, out, "--resume"), cwd=ROOT, capture_output=True,
                           text=True, env=_child_env())
        assert r.returncode == 0, r.stderr
    _assert_same_run(out, reference)
