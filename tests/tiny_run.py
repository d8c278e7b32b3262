"""One tiny trained run shared by the picture tests (tests/test_visrank.py,
tests/test_report_html.py), so that a test session trains it once.

Under pytest-xdist the workers of a session share it through a folder beside their own temporary
folders, built under a file lock by whichever worker gets there first; a plain pytest run builds
it in its own temporary folder.
"""
import fcntl
import os

NAME = "rcnreid-tiny-run"


def tiny_run(tmp_path_factory):
    """``(data path, final checkpoint, run folder)`` of a finished ``deep_rcn`` run (profile
    ``test``) on trial 0 of an 8-person synthetic iLIDS-VID file, evaluated by ``run_trial``
    (so the run folder holds ``eval-trial0.json`` and ``scores-trial0.npz``)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent                      # the session's folder, shared by its workers
    root = os.path.join(str(base), NAME)
    os.makedirs(root, exist_ok=True)
    data = os.path.join(root, "synth.h5")
    run = os.path.join(root, "run")
    with open(os.path.join(root, ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            if not os.path.isfile(os.path.join(run, "eval-trial0.json")):
                from data_prep.synth import make_synthetic_h5
                from experiments.trials import run_trial
                if not os.path.isfile(data):
                    make_synthetic_h5(data, layout="ilidsvid", persons=8, seed=2)
                run_trial(data, 0, "deep_rcn", profile="test", out_dir=run, seed=0, log=None)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return data, os.path.join(run, "checkpoint-final.h5"), run
