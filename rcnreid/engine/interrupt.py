"""Stopping a training cleanly on a signal (SIGTERM, SIGINT, SIGUSR1), so that it can be requeued.

A cluster stops a job with SIGTERM (SLURM: at the time limit or on pre-emption, then SIGKILL
after ``KillWait``, 30 s by default; ``sbatch --signal=USR1@120`` sends SIGUSR1 two minutes
early). Under :func:`stop_signals` the handler only records the signal; the epoch loop
(:func:`rcnreid.engine.epoch_loop.run_epochs`) looks at the flag after every mini-batch, writes
a checkpoint of the exact position (mid-epoch) and raises :class:`TrainingInterrupted`, whose
exit status is :data:`INTERRUPTED_EXIT` (75, ``EX_TEMPFAIL``: "try again"). Running the same
command again with ``--resume`` continues from that point, bit-exactly.

A second SIGINT (Ctrl-C twice) does not wait for the mini-batch: it raises KeyboardInterrupt
(exit 130), and the run resumes from its last checkpoint. Further SIGTERMs/SIGUSR1s are ignored:
the first one is already being served.

Handlers can only be installed in the main thread; elsewhere :func:`stop_signals` installs
nothing and its flag stays down (the caller's own handling applies).

For deterministic tests, ``RCNREID_TEST_SIGNAL_AFTER_BATCH=K[:SIG]`` makes the loop send the
process signal SIG (default TERM) after its K-th mini-batch (counted in this process); it is
read by :func:`hook_after_batch` only.

>>> INTERRUPTED_EXIT
75
>>> with stop_signals() as stop:
...     stop.requested
False
"""
import contextlib
import os
import signal
import threading

from rcnreid.errors import UserError

#: Exit status of a training stopped by a signal after writing its checkpoint (EX_TEMPFAIL).
INTERRUPTED_EXIT = 75

#: The signals that ask a training to stop at the next mini-batch boundary.
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGUSR1")
                     if hasattr(signal, n))

#: Environment variable of the test hook (module docstring).
TEST_HOOK_ENV = "RCNREID_TEST_SIGNAL_AFTER_BATCH"


class TrainingInterrupted(UserError):
    """A signal stopped the training after it wrote a checkpoint; ``--resume`` continues it.
    The command line exits with :attr:`exit_code` (:data:`INTERRUPTED_EXIT`)."""
    exit_code = INTERRUPTED_EXIT
    label = None            # printed as "<prog>: <message>", not as an error


class StopFlag:
    """What the handlers record: ``requested`` (bool) and ``signame`` (e.g. ``"SIGTERM"``)."""

    def __init__(self):
        self.requested = False
        self.signame = None

    def _handle(self, signum, frame):
        if self.requested and signum == getattr(signal, "SIGINT", None):
            raise KeyboardInterrupt
        if not self.requested:
            self.requested = True
            self.signame = signal.Signals(signum).name


#: The flag of the innermost active :func:`stop_signals` (None outside): what the loop reads.
_active = []


def current():
    """The :class:`StopFlag` of the innermost active :func:`stop_signals`, or None."""
    return _active[-1] if _active else None


@contextlib.contextmanager
def stop_signals(signals=STOP_SIGNALS):
    """Install flag-setting handlers for ``signals`` for the duration of the block; yields the
    :class:`StopFlag`. The previous handlers are restored on exit, also on an exception. Usable
    by any process that wants "finish the unit, then stop" (e.g. experiment workers). Nested
    inside another active block it installs nothing and yields the outer flag, so the outer
    caller sees a signal that stopped the inner one."""
    if _active:
        yield _active[-1]
        return
    flag = StopFlag()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for s in signals:
            previous[s] = signal.signal(s, flag._handle)
    _active.append(flag)
    try:
        yield flag
    finally:
        _active.remove(flag)
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def hook_after_batch(count):
    """Send the process the signal of ``RCNREID_TEST_SIGNAL_AFTER_BATCH=K[:SIG]`` when
    ``count`` (mini-batches done in this process) equals K; nothing when the variable is unset."""
    spec = os.environ.get(TEST_HOOK_ENV)
    if not spec:
        return
    k, _, name = spec.partition(":")
    if count == int(k):
        sig = getattr(signal, "SIG" + (name or "TERM").upper().replace("SIG", ""))
        os.kill(os.getpid(), sig)


def interrupted_error(signame, path, epoch, batch=None, batches=None):
    """The one line of a run stopped by ``signame`` after mini-batch ``batch`` of ``batches`` of
    epoch ``epoch`` (``batch`` None: at the end of epoch ``epoch``), its position saved in
    checkpoint ``path``."""
    where = ("at the end of epoch %d" % epoch if batch is None else
             "after mini-batch %d/%d of epoch %d" % (batch, batches, epoch))
    return TrainingInterrupted(
        "%s received: stopped %s; the position is saved in %s; run the same command with "
        "--resume to continue (exit status %d)" % (signame, where, path, INTERRUPTED_EXIT))
