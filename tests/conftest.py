"""Test-session settings shared by every test module.

pytest-xdist workers (``make test`` runs ``TEST_JOBS`` of them) share the machine's cores: each
worker gets ``cores // workers`` OpenMP and BLAS threads (at least one), set here before any test
module imports :mod:`rcnreid.backend.theano_env`, which otherwise gives every process every core
(issue 18). A variable the user set is left alone.
"""
import os

import pytest

from rcnreid.backend.threads import usable_cores

_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
if _workers > 1:
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if not os.environ.get(_var, "").strip():
            os.environ[_var] = str(max(1, usable_cores() // _workers))


#: Test files that take minutes (the durations report of `make test`), started first so that the
#: two workers end together: `--dist loadfile` hands out files in collection order, and a long
#: file collected late once kept one worker busy for minutes after the other had finished.
HEAVY_FIRST = ("test_gpu_check_opencl.py", "test_train_learns.py", "test_experiments_scripts.py",
               "test_gpu_opencl.py", "test_slurm_cluster.py", "test_bench_json.py",
               "test_model_bptt.py", "test_model_readings.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.fspath)), len(rank)))


@pytest.fixture(autouse=True)
def _no_stop_handler_left_behind():
    """A test that leaves a training stop-signal handler active (rcnreid.engine.interrupt) would
    make every later training in the same worker see its flag: fail that test, and clear it."""
    yield
    from rcnreid.engine import interrupt
    left = list(interrupt._active)
    if left:
        del interrupt._active[:]
        pytest.fail("a stop_signals() block was left active (%d); later trainings in this "
                    "process would stop at once" % len(left))


@pytest.fixture(scope="session")
def synth10(tmp_path_factory):
    """The trainers' small data set: a seeded synthetic iLIDS-VID-layout HDF5 file of 10 people
    (``tiny`` trains on split 0's 5 training people). One file per pytest worker, read-only."""
    from rcnreid.data.synthetic import make_synthetic_h5
    path = str(tmp_path_factory.mktemp("synth10") / "synth.h5")
    make_synthetic_h5(path, layout="ilidsvid", persons=10, seed=0)
    return path
