"""Issue 30 without a SLURM: the plan of units and their dependencies, the sizing of a task, the
submitter's sbatch lines (--dry-run), and the batch script's signal handling (bash + a child
that checkpoints on SIGTERM and exits 75). A few seconds; nothing compiles."""
import os
import signal
import subprocess
import sys
import time

import pytest

from experiments.cluster import plan as planlib
from experiments.cluster import sizing
from experiments.options import Options

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB_SH = os.path.join(ROOT, "experiments", "cluster", "job.sh")


def _opts(tmp_path, **kw):
    kw.setdefault("data", "synthetic")
    kw.setdefault("profile", "test")
    kw.setdefault("trials", (0, 1))
    return Options(results=str(tmp_path / "res"), **kw)


def test_plan_lists_each_unit_once_with_its_dependencies_first(tmp_path):
    units = planlib.plan(["table3", "table5", "table2", "table4"], _opts(tmp_path))
    names = [u.name for u in units]
    assert len(names) == len(set(names))
    pos = {(u.dataset, u.trial, u.key): i for i, u in enumerate(units)}
    for u in units:
        for d in u.deps:
            assert pos[(u.dataset, u.trial, d)] < pos[(u.dataset, u.trial, u.key)], u.name
    by = {u.key: u for u in units if u.dataset == "prid2011" and u.trial == 1}
    assert by["deep_metric/LFDA"].deps == ("rcn/deep_rcn",)
    assert by["pool/fisher/euclidean"].deps == ("rcn/pool_average",)
    # the default reading: the average-pooling row is the Deep RCN itself and trains nothing
    avg = by["rcn/pool_average"]
    assert avg.kind == "eval" and avg.deps == ("rcn/deep_rcn",)
    assert by["rcn/pool_max"].kind == "train" and by["rcn/pool_max"].steps > 0
    assert by["baseline/HOG3D"].kind == "eval" and not by["baseline/HOG3D"].uses_network
    assert "vgg/fc_gru" not in by            # no VGG-16 weights: it would only fail
    assert {u.dataset for u in units} == {"ilidsvid", "prid2011"}
    assert {u.trial for u in units} == {0, 1}


def test_steps_come_from_the_unit_graph(tmp_path):
    """Paper profile: 150 training people on iLIDS-VID -> 300 pairs -> 30 steps x 500 epochs
    (docs/SPEED.md's arithmetic); PRID 2011 100 people -> 20 x 500."""
    o = _opts(tmp_path, data="real", profile="paper", trials=(0,))
    steps = {(u.dataset, u.key): u.steps for u in planlib.plan(["table2"], o)}
    assert steps[("ilidsvid", "rcn/deep_rcn")] == 15000
    assert steps[("prid2011", "rcn/deep_rcn")] == 10000


def test_sizing_from_the_unit_and_the_users_device():
    train = planlib.PlannedUnit("rcn/deep_rcn", "ilidsvid", 0, "train", (), "deep_rcn", 15000,
                                True)
    evalu = planlib.PlannedUnit("baseline/HOG3D", "ilidsvid", 0, "eval")
    r = sizing.size(train, data_bytes=2 ** 30, theano_flags="floatX=float32,device=cuda0")
    assert r.gpus == 1 and r.mem_mb == sizing.BASE_MEM_MB + 2048
    assert sizing.size(train, data_bytes=2 ** 30, mem_mb=1000).mem_mb == 1000
    # 15000 steps x 1.2 s x 1.5 + 15 min = 465 min
    assert r.minutes == 465 and "--time=0-07:45:00" in r.sbatch_args()
    assert "--gres=gpu:1" in r.sbatch_args()
    assert sizing.size(train, theano_flags="device=cpu").gpus == 0
    assert sizing.size(train, theano_flags="").gpus == 0
    assert sizing.size(evalu, theano_flags="device=cuda").gpus == 0
    assert sizing.size(train, max_minutes=60, step_seconds=10).minutes == 60
    assert sizing.size(train, gpus=2, theano_flags="device=cpu").gpus == 2


@pytest.mark.parametrize("text,minutes", [("30", 30), ("1:30", 2), ("24:00:00", 1440),
                                          ("1-00:00:00", 1440), ("2-3", 3060)])
def test_slurm_times(text, minutes):
    assert sizing.parse_minutes(text) == minutes
    assert sizing.parse_minutes(sizing.slurm_time(minutes)) == minutes


def _submit(tmp_path, *args, env=None):
    return subprocess.run([sys.executable, "-m", "experiments.cluster.submit"] + list(args)
                          + ["--results", str(tmp_path / "res")], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=120)


def test_dry_run_gives_each_unit_its_command_resources_and_dependencies(tmp_path):
    env = dict(os.environ, THEANO_FLAGS="device=cuda")
    out = _submit(tmp_path, "table5", "--data", "synthetic", "--profile", "test", "--trials",
                  "1", "--dataset", "prid2011", "--dry-run", "--then-collect",
                  "--set", "train.epochs=4", env=env)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("sbatch ")]
    deep = [ln for ln in lines if "--unit rcn/deep_rcn " in ln]
    metric = [ln for ln in lines if "--unit deep_metric/LFDA " in ln]
    base = [ln for ln in lines if "--unit baseline/HOG3D+DVR " in ln]
    assert len(deep) == len(metric) == len(base) == 1
    # the network's job first; the metric learning waits for it, the baseline for nothing
    assert lines.index(deep[0]) < lines.index(metric[0])
    deep_id = "DRY%d" % (lines.index(deep[0]) + 1)          # dry-run ids count the sbatch lines
    assert "--dependency=afterok:%s" % deep_id in metric[0].split()
    assert "--dependency" not in base[0]
    assert "--gres=gpu:1" in deep[0] and "--gres" not in base[0]
    for ln in (deep[0], metric[0]):
        assert "--requeue" in ln and "--signal=B:TERM@300" in ln
        assert "--set train.epochs=4" in ln and "--trial 0" in ln
    assert "experiments.collect" in lines[-1] and "--dependency=afterany:" in lines[-1]
    assert "0 already finished" in out.stdout


def test_finished_units_are_not_submitted(tmp_path):
    from experiments.cache import cache_path
    from rcnreid.store.atomic import write_json
    o = _opts(tmp_path, trials=(0,), datasets=("prid2011",))
    write_json(cache_path(o, "prid2011", 0, "rcn/deep_rcn"), {"cmc": [100.0] * 20})
    out = _submit(tmp_path, "table2", "--data", "synthetic", "--profile", "test", "--trials",
                  "1", "--dataset", "prid2011", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "--unit rcn/deep_rcn " not in out.stdout and "--unit rcn/rcn_ind " in out.stdout
    assert "1 already finished" in out.stdout


@pytest.mark.parametrize("args,word", [(["table2", "--max-time", "soon"], "--max-time soon")])
def test_bad_submit_options_are_one_line(tmp_path, args, word):
    out = _submit(tmp_path, *args, "--dry-run")
    assert out.returncode == 2
    assert word in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


CHILD = r"""
import signal, sys, time
def stop(signum, frame):
    print("child: checkpoint written on", signal.Signals(signum).name, flush=True)
    sys.exit(75)
signal.signal(signal.SIGTERM, stop)
open(sys.argv[1], "w").close()
time.sleep(60)
"""


def _job_sh(tmp_path, env_extra, send=signal.SIGTERM):
    """Run job.sh with a child that exits 75 on SIGTERM; signal the *shell* (as SLURM does with
    --signal=B:TERM or on a cgroup cluster) once the child runs; return (status, output)."""
    ready = tmp_path / "ready"
    env = dict(os.environ, **env_extra)
    p = subprocess.Popen(["bash", JOB_SH, sys.executable, "-c", CHILD, str(ready)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    t_end = time.time() + 30
    while not ready.exists() and time.time() < t_end:
        time.sleep(0.05)
    assert ready.exists()
    p.send_signal(send)
    out, _ = p.communicate(timeout=60)
    return p.returncode, out


def test_job_script_passes_sigterm_to_the_training_and_keeps_status_75(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    status, out = _job_sh(tmp_path, {})
    assert "child: checkpoint written on SIGTERM" in out
    if "SLURM_JOB_ID" not in env:
        assert status == 75 and "exit status 75" in out


def test_job_script_requeues_on_75(tmp_path):
    """With a job id, status 75 becomes ``scontrol requeue <id>`` (a stand-in scontrol records
    its arguments and, like SLURM, ends the job's shell a moment later: job.sh runs it under
    ``timeout``, so the shell is its grandparent)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "scontrol-args"
    fake = bindir / "scontrol"
    fake.write_text("#!/bin/bash\necho \"$@\" > %s\n"
                    "shell=$(awk '{print $4}' /proc/$PPID/stat)\n"
                    "(sleep 1; kill -TERM $shell) >/dev/null 2>&1 &\n" % record)
    fake.chmod(0o755)
    status, out = _job_sh(tmp_path, {"SLURM_JOB_ID": "4242",
                                     "PATH": "%s:%s" % (bindir, os.environ["PATH"])})
    assert record.read_text().split() == ["requeue", "4242"]
    assert "child: checkpoint written on SIGTERM" in out


def test_job_script_keeps_other_statuses(tmp_path):
    out = subprocess.run(["bash", JOB_SH, "bash", "-c", "exit 3"], capture_output=True,
                         text=True, timeout=30, env=dict(os.environ, SLURM_JOB_ID="1",
                                                         PATH="/nonexistent:" + os.environ["PATH"]))
    assert out.returncode == 3


# ------------------------------------------------------------------ JOBS=N: the parent forwards

def pool_rows(options, rows, units, dataset, trial):
    """A worker's (dataset, trial) task for the test below: waits, as a training would, until
    its stop flag is up (the worker's handler; the parent forwards SIGTERM), then stops."""
    import pathlib
    from rcnreid.engine.interrupt import TrainingInterrupted, current
    pathlib.Path(options.results, "ready-%s-%d" % (dataset, trial)).touch()
    t_end = time.time() + 60
    while not current().requested:
        if time.time() > t_end:
            return {"waited": "no signal came"}
        time.sleep(0.05)
    raise TrainingInterrupted("%s received in the worker of %s trial %d"
                              % (current().signame, dataset, trial))


def test_pool_forwards_sigterm_to_its_workers_and_stops_with_their_interrupt(tmp_path):
    """JOBS=2: SIGTERM to the table process reaches both workers (each stops as a training
    would, TrainingInterrupted), no further task starts, and the parent raises it (exit 75).
    About 10 s: two spawned workers import the package."""
    import threading
    from experiments.pool import run_in_processes
    from rcnreid.engine.interrupt import TrainingInterrupted
    res = tmp_path / "res"
    res.mkdir()
    opts = _opts(tmp_path, jobs=2, trials=(0, 1, 2))
    tasks = [("prid2011", 0), ("prid2011", 1), ("prid2011", 2)]
    main_pid = os.getpid()

    def signal_when_ready():
        t_end = time.time() + 120
        while len(list(res.glob("ready-*"))) < 2 and time.time() < t_end:
            time.sleep(0.05)
        os.kill(main_pid, signal.SIGTERM)
    threading.Thread(target=signal_when_ready, daemon=True).start()
    old = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted, match="SIGTERM received"):
        run_in_processes("table2", tasks, opts, [], {}, pool_rows, log=lambda *a: None)
    assert signal.getsignal(signal.SIGTERM) is old            # the parent's handler is undone
    assert len(list(res.glob("ready-*"))) == 2                 # the third task never ran


# ------------------------------------------------------------------ experiments.unit

def _unit(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "experiments.unit"] + list(args)
                          + ["--results", str(tmp_path / "res")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, THEANO_FLAGS="device=cpu"))


@pytest.mark.parametrize("args,word", [
    (["--unit", "rcn/deep_rcn", "--trial", "0", "--data", "real", "--prid",
      "/nonexistent/p.h5", "--dataset", "prid2011"], "/nonexistent/p.h5")])
def test_unit_command_bad_input_is_one_line(tmp_path, args, word):
    out = _unit(tmp_path, "--profile", "test", *args)
    assert out.returncode == 2, out.stderr
    assert word in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_unit_command_skips_a_finished_unit(tmp_path):
    """A cached unit is never recomputed: exit 0 at once, the cache file untouched (no data file
    is even built)."""
    from experiments.cache import cache_path
    from rcnreid.store.atomic import write_json
    o = _opts(tmp_path, trials=(0,))
    path = cache_path(o, "prid2011", 0, "rcn/deep_rcn")
    write_json(path, {"cmc": [50.0] * 20, "seconds": 1.0})
    before = os.stat(path).st_mtime_ns
    out = _unit(tmp_path, "--unit", "rcn/deep_rcn", "--dataset", "prid2011", "--trial", "0",
                "--data", "synthetic", "--profile", "test")
    assert out.returncode == 0, out.stderr
    assert "already finished" in out.stdout
    assert os.stat(path).st_mtime_ns == before
    assert not (tmp_path / "res" / "data").exists()
