"""How an experiment process turns a stop request (SIGTERM from SLURM's time limit or
pre-emption, SIGINT, SIGUSR1) into exit status :data:`INTERRUPTED_EXIT` (75, ``EX_TEMPFAIL``:
"try again"), which the SLURM batch script (``experiments/cluster/job.sh``) turns into a requeue.

The training itself stops cleanly: :mod:`rcnreid.engine.interrupt` lets it finish its mini-batch,
write a checkpoint and raise ``TrainingInterrupted``; running the same unit again resumes it
bit-exactly. This module only installs that handler in experiment processes
(:func:`interrupt_guard`), recognises the exception (:func:`is_interrupted`), and forwards a
signal from a table process to its worker processes (:func:`forward_to`, ``JOBS=N``).
"""
import contextlib
import os
import signal

#: Exit status of a unit stopped by a signal after writing a checkpoint: run it again to resume.
from rcnreid.engine.interrupt import INTERRUPTED_EXIT, STOP_SIGNALS  # noqa: F401 - re-exported


def _engine():
    from rcnreid.engine import interrupt
    return interrupt


def is_interrupted(exc):
    """True when ``exc`` is a training stopped by a signal (checkpoint written), also after
    it crossed a process boundary (pickled by ``concurrent.futures``)."""
    return isinstance(exc, _engine().TrainingInterrupted)


@contextlib.contextmanager
def interrupt_guard():
    """Install the training's stop-signal handler for the block (the process's main thread):
    a training inside it stops at its next mini-batch boundary, checkpoints and raises
    ``TrainingInterrupted``; yields the flag (``requested``) the handler sets."""
    with _engine().stop_signals() as flag:
        yield flag


@contextlib.contextmanager
def forward_to(pids_of):
    """For the block, a stop signal received by this process is sent on to the processes
    ``pids_of()`` names (the table's worker processes), each of which stops its training; the
    block then sees their ``TrainingInterrupted`` through their results.

    SIGINT is recorded, not forwarded: Ctrl-C in a terminal already reaches the workers (one
    process group), and a second SIGINT would make them stop without a checkpoint.
    """
    got = []

    def handler(signum, frame):
        got.append(signum)
        if signum == signal.SIGINT:
            return
        for pid in list(pids_of()):
            with contextlib.suppress(OSError):
                os.kill(pid, signum)

    old = {}
    for s in STOP_SIGNALS:
        with contextlib.suppress(ValueError):          # not the main thread: leave as is
            old[s] = signal.signal(s, handler)
    try:
        yield got
    finally:
        for s, h in old.items():
            signal.signal(s, h)
