"""Full disks, killed writers and two processes on one output (rcnreid.store.atomic,
rcnreid.store.locks).

A full disk is simulated for real, in a child process, with RLIMIT_FSIZE (writes past the limit
fail with EFBIG inside HDF5's own C code, exactly where ENOSPC would), since a test may not mount
a small tmpfs. Locks are held by child processes, which are also killed with SIGKILL.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    from collections import OrderedDict
    import numpy as np
    from rcnreid.engine import checkpoint as ckptlib
    from rcnreid.store.atomic import atomic_h5, write_json
    from rcnreid.data.synthetic import SynthConfig, make_synthetic_h5
    from rcnreid.errors import UserError
    what, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ck = ckptlib.Checkpoint(params=OrderedDict(w=np.arange(limit // 2, dtype=np.float32)),
                            rng_states={"data": np.random.RandomState(0).get_state()}, epoch=7)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        if what == "checkpoint":
            ckptlib.save_checkpoint(path, ck)
        elif what == "json":
            write_json(path, {"x": "a" * (2 * limit)})
        elif what == "features":
            with atomic_h5(path, need=8 * limit) as f:
                f.create_dataset("x", data=np.ones(limit, dtype=np.float64))
        elif what == "hdf5-direct":
            with atomic_h5(path) as f:
                f.create_dataset("x", data=np.ones(limit, dtype=np.float64))
        elif what == "dataset":
            make_synthetic_h5(path, persons=4, config=SynthConfig(min_len=3, max_len=5))
        elif what == "synth-tree":
            from rcnreid.data.synthetic import write_synthetic_tree
            write_synthetic_tree(path, persons=2, config=SynthConfig(min_len=3, max_len=5))
    except UserError as exc:
        print("rcnreid: error: %s" % exc, file=sys.stderr)
        sys.exit(2)
    print("no error")
""")


def _run(args, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c"] + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, **kw)


def _previous(path, what):
    if what == "checkpoint":
        ck = ckptlib.Checkpoint(params={"w": np.zeros(3, np.float32)}, epoch=6)
        ckptlib.save_checkpoint(path, ck)
    elif what not in ("dataset", "synth-tree"):
        with open(path, "w") as f:
            f.write("{\"previous\": true}\n")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return f.read()
    return None


@pytest.mark.parametrize("what", ["checkpoint", "json", "features", "hdf5-direct", "dataset",
                                  "synth-tree"])
def test_a_full_disk_is_one_line_keeps_the_previous_output_and_leaves_no_temp(tmp_path, what):
    out = str(tmp_path / {"json": "out.json", "synth-tree": "raw"}.get(what, "out.h5"))
    before = _previous(out, what)
    r = _run([FULL_DISK, what, out, "5000" if what == "synth-tree" else "20000"])
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])      # not 139 (segfault)
    err = r.stderr.strip()
    assert err.count("\n") == 0 and "Exception ignored" not in err, err
    assert out in err and "cannot write" in err and "File too large" in err, err
    assert sorted(os.listdir(tmp_path)) == ([os.path.basename(out)] if before else [])
    if before is not None:
        with open(out, "rb") as f:
            assert f.read() == before
    if what == "checkpoint":
        assert ckptlib.load_checkpoint(out).epoch == 6


def test_too_little_free_space_is_refused_before_writing_and_names_the_need(tmp_path,
                                                                              monkeypatch):
    from rcnreid.store import atomic
    monkeypatch.setattr(atomic, "free_bytes", lambda folder: 1000)
    ck = ckptlib.Checkpoint(params={"w": np.zeros(100000, np.float32)})
    with pytest.raises(UserError, match=r"needs about .*1000 bytes are free") as info:
        ckptlib.save_checkpoint(str(tmp_path / "c.h5"), ck)
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_temporary_files_of_killed_writers_are_removed_by_the_next_writer(tmp_path):
    from rcnreid.store.atomic import host_tag
    out = tmp_path / ckptlib.LAST_NAME
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [".%s.tmp%d_%s_abcd1234.h5" % (out.name, dead.pid, host_tag()),
             ".%s.k2j4h5g6.h5" % out.name]                      # the earlier naming
    alive = ".%s.tmp%d_%s_zzzz9999.h5" % (out.name, os.getpid(), host_tag())
    other_host = ".%s.tmp%d_%s_yyyy8888.h5" % (out.name, dead.pid, "elsewhere")
    for n in stale + [alive, other_host, "unrelated.h5"]:
        (tmp_path / n).write_bytes(b"x" * 100)
    ckptlib.save_checkpoint(str(out), ckptlib.Checkpoint(params={"w": np.zeros(2, np.float32)}))
    assert sorted(os.listdir(tmp_path)) == sorted([out.name, alive, other_host, "unrelated.h5"])


HOLDER = textwrap.dedent("""
    import sys, time
    from rcnreid.store.locks import hold
    with hold(sys.argv[1], folder=sys.argv[2] == "folder"):
        print("held", flush=True)
        time.sleep(float(sys.argv[3]))
""")


def _holder(target, kind, seconds):
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(target), kind, str(seconds)],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_process_stops_at_once_naming_the_holder_or_waits(tmp_path):
    from rcnreid.store.atomic import host_tag
    from rcnreid.store.locks import LockHeld, hold
    run = tmp_path / "run"
    p = _holder(run, "folder", 3)
    try:
        with pytest.raises(LockHeld) as info:
            with hold(run, "run folder", folder=True):
                pass
        msg = str(info.value)
        assert "pid %d" % p.pid in msg and host_tag() in msg and "--wait" in msg
        said = []
        t0 = time.time()
        with hold(run, "run folder", folder=True, wait=True, log=said.append):
            waited = time.time() - t0
        assert p.wait(timeout=30) == 0              # the holder ran its course, unkilled
        assert said and "pid %d" % p.pid in said[0] and waited > 1.0
    finally:
        p.kill()
        p.wait()
    assert os.listdir(run) == []                    # the lock file goes with its holder


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    from rcnreid.store.locks import hold, lock_file, read_holder
    out = tmp_path / "data.h5"
    p = _holder(out, "file", 60)
    assert read_holder(lock_file(out))["pid"] == p.pid
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert os.path.exists(lock_file(out))           # left behind by kill -9 ...
    with hold(out, "dataset output"):               # ... and taken over at once
        assert read_holder(lock_file(out))["pid"] == os.getpid()


def test_locks_are_reentrant_within_a_process(tmp_path):
    from rcnreid.store.locks import hold
    with hold(tmp_path, folder=True):
        with hold(tmp_path, folder=True):
            pass
        assert os.path.exists(tmp_path / ".rcnreid.lock")     # still held by the outer block
    assert not os.path.exists(tmp_path / ".rcnreid.lock")


def test_train_into_a_folder_another_process_holds_is_refused_at_once(tmp_path, capsys):
    from rcnreid.cli import main
    from rcnreid.data.synthetic import SynthConfig, make_synthetic_h5
    data = str(tmp_path / "d.h5")
    make_synthetic_h5(data, persons=4, config=SynthConfig(min_len=3, max_len=5))
    run = tmp_path / "run"
    run.mkdir()
    p = _holder(run, "folder", 60)
    try:
        rc = main(["train", "--data", data, "--config", "tiny", "--out", str(run)])
    finally:
        p.kill()
        p.wait()
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "in use by pid %d" % p.pid in err, err
    assert os.listdir(run) == [".rcnreid.lock"]     # nothing written (the holder was killed)
