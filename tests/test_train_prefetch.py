"""The host off the critical path (issue 28.3): the next mini-batch prepared in a background thread
gives the same draws, losses, parameters and log as without (rcnreid.engine.prefetch), also across
a mid-epoch stop; the checkpoint interval (train.checkpoint_every_s) writes checkpoints when due
and always at the end; a checkpoint killed at any moment of its write leaves a loadable one.

Cost: the loop tests need no Theano (~1 s); two ``tiny`` trainings in this process (~10 s on a
warm Theano cache); the kill test runs a child writing checkpoints (~5 s)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.engine import epoch_loop, interrupt
from rcnreid.engine.epoch_loop import RunFiles, run_epochs
from rcnreid.engine.prefetch import prefetched
from rcnreid.engine.trainlog import read_log

pytest.importorskip("h5py")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rows(path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_log(path)]


def _fake(tmp_path, prefetch, every=0.0, clock=None, epochs=3, batches=4):
    """run_epochs with prepare (draws from the data RNG, in the background thread under
    prefetch) and step (a running function of every draw; also draws nothing itself)."""
    os.makedirs(str(tmp_path), exist_ok=True)
    files = RunFiles(str(tmp_path), str(tmp_path / "log.jsonl"),
                     str(tmp_path / ckptlib.LAST_NAME))
    rng = np.random.RandomState(3)
    w = {"w": np.zeros(4)}
    threads = set()

    def begin_epoch(epoch):
        return list(rng.permutation(2 * batches).reshape(batches, 2)), {}

    def prepare(batch):
        import threading
        threads.add(threading.current_thread().name)
        return np.concatenate([batch, rng.rand(2)])

    def step(x):
        time.sleep(0.01)        # the next mini-batch's draws are done before this step ends
        if clock is not None:
            clock[0] += 1.0
        w["w"] = 0.5 * w["w"] + x
        return float(w["w"].sum()), float(x[-1]), 2

    def snapshot(epoch, finished):
        return ckptlib.Checkpoint(params={"w": w["w"].copy()}, rng_states={"data": rng.get_state()},
                                  epoch=epoch, finished=finished)

    def run(ck=None):
        if ck is not None:
            w["w"] = ck.params["w"].copy()
            rng.set_state(ck.rng_states["data"])
        return run_epochs(ck.epoch if ck else 0, epochs, epochs, begin_epoch, step, snapshot,
                          files, log=None, data_rng=rng, position=ck.position if ck else None,
                          checkpoint_every_s=every, prepare=prepare, prefetch=prefetch)
    return files, run, threads


def test_prefetch_gives_the_same_run_and_the_same_mid_epoch_resume(tmp_path, monkeypatch):
    off_files, off, off_threads = _fake(tmp_path / "off", False)
    on_files, on, on_threads = _fake(tmp_path / "on", True)
    off(), on()
    assert any("prefetch" in t for t in on_threads)            # really in the background
    assert not any("prefetch" in t for t in off_threads)
    a, b = ckptlib.load_checkpoint(off_files.last_path), ckptlib.load_checkpoint(on_files.last_path)
    assert np.array_equal(a.params["w"], b.params["w"]) and _rows(off_files.log_path) == \
        _rows(on_files.log_path)
    assert np.array_equal(a.rng_states["data"][1], b.rng_states["data"][1])
    # a stop after mini-batch 6 while mini-batch 7 is being prepared: the position's RNG state
    # is the one before mini-batch 7's draws, and the resumed run ends as the others
    cut_files, cut, _ = _fake(tmp_path / "cut", True)
    monkeypatch.setenv(interrupt.TEST_HOOK_ENV, "6")
    with pytest.raises(interrupt.TrainingInterrupted):
        cut()
    monkeypatch.delenv(interrupt.TEST_HOOK_ENV)
    ck = ckptlib.load_checkpoint(cut_files.last_path)
    assert ck.position["batch"] == 2
    cut(ck)
    c = ckptlib.load_checkpoint(cut_files.last_path)
    assert np.array_equal(a.params["w"], c.params["w"]) and _rows(off_files.log_path) == \
        _rows(cut_files.log_path)


def test_prefetched_yields_in_order_and_raises_where_the_item_fails():
    assert list(prefetched(range(5), lambda i: i * i)) == [0, 1, 4, 9, 16]

    def bad(i):
        if i == 2:
            raise ValueError("item 2")
        return i
    got = []
    with pytest.raises(ValueError, match="item 2"):
        for x in prefetched(range(4), bad):
            got.append(x)
    assert got == [0, 1]


def test_checkpoint_interval_writes_when_due_and_always_at_the_end(tmp_path, monkeypatch):
    """A fake clock: 1 s per mini-batch, 4 mini-batches an epoch, interval 6 s: the first
    epoch's end (none written yet), then mid-epoch positions when 6 s have passed, and the end."""
    clock = [0.0]
    monkeypatch.setattr(epoch_loop.time, "time", lambda: clock[0])
    saves = []
    real = ckptlib.save_checkpoint
    monkeypatch.setattr(ckptlib, "save_checkpoint",
                        lambda p, c: (saves.append((c.epoch, c.position and c.position["batch"])),
                                      real(p, c)))
    files, run, _ = _fake(tmp_path / "a", True, every=6.0, clock=clock)
    assert run() == 3
    # clock after batch k is k; saves at the end of epoch 1 (t=4), mid-epoch 3 batch 2 (t=10),
    # end of epoch 3 (t=12, the end)
    assert saves == [(1, None), (2, 2), (3, None)]
    assert [r["epoch"] for r in read_log(files.log_path)] == [1, 2, 3]
    ref_files, ref, _ = _fake(tmp_path / "ref", False)
    ref()
    assert np.array_equal(ckptlib.load_checkpoint(files.last_path).params["w"],
                          ckptlib.load_checkpoint(ref_files.last_path).params["w"])
    saves.clear()
    clock[0] = 0.0
    files, run, _ = _fake(tmp_path / "b", False, every=0.0, clock=clock)
    run()
    assert saves == [(1, None), (2, None), (3, None)]            # 0: every epoch


def test_training_with_and_without_prefetch_is_bit_identical(synth10, tmp_path):
    from rcnreid.configs.registry import get_config
    from rcnreid.engine.train import train
    data = synth10
    on = get_config("tiny")
    off = get_config("tiny", overrides=["train.prefetch=false"])
    assert on.train.prefetch and not off.train.prefetch
    a = ckptlib.load_checkpoint(train(data, 0, on, str(tmp_path / "on"), seed=1, log=None))
    b = ckptlib.load_checkpoint(train(data, 0, off, str(tmp_path / "off"), seed=1, log=None))
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k
    for k in a.optim_state:
        assert np.array_equal(a.optim_state[k], b.optim_state[k]), k
    assert _rows(str(tmp_path / "on" / "train_log.jsonl")) == \
        _rows(str(tmp_path / "off" / "train_log.jsonl"))
    # a run may be resumed under another prefetch or interval setting (they change no result)
    from rcnreid.engine.resume import check_resumable
    check_resumable(a, get_config("tiny", overrides=["train.prefetch=false",
                                                     "train.checkpoint_every_s=60"]), 1, 0, "x")


CHILD = r"""
import sys
import numpy as np
from rcnreid.engine import checkpoint as c
path = sys.argv[1]
rng = np.random.RandomState(0)
big = {"w%d" % i: rng.rand(256, 1024).astype(np.float32) for i in range(8)}   # 8 MiB
e = int(sys.argv[2])          # this child's checkpoints: epochs 1000 k + 1, ...
print("ready", flush=True)
while True:
    e += 1
    c.save_checkpoint(path, c.Checkpoint(params=dict(big, e=np.asarray(e)), epoch=e))
"""


def test_a_checkpoint_killed_at_any_moment_of_its_write_leaves_a_loadable_one(tmp_path):
    path = str(tmp_path / ckptlib.LAST_NAME)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rng = np.random.RandomState(0)
    seen = set()
    for k in range(8):
        child = subprocess.Popen([sys.executable, "-c", CHILD, path, str(1000 * k)],
                                 stdout=subprocess.PIPE,
                                 env=env, cwd=ROOT, text=True)
        assert child.stdout.readline().strip() == "ready"
        if k == 0:                                   # at least one checkpoint written
            while not os.path.isfile(path):
                time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.8))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        ck = ckptlib.load_checkpoint(path)           # never damaged, never missing
        seen.add(int(ck.epoch))
        prev = str(tmp_path / ckptlib.PREV_NAME)
        if os.path.isfile(prev):
            ckptlib.load_checkpoint(prev)
    assert len(seen) >= 2, seen                      # later children wrote checkpoints too
