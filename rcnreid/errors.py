"""Errors meant for the person at the keyboard.

A :class:`UserError` carries one line that names the file or option at fault and the fix. The
command line prints it as ``rcnreid: error: <message>`` and exits with status 2, with no traceback
(:func:`exit_status`, the one place of that rule); a subclass may set another exit status
(a training stopped by a signal: 75, :mod:`rcnreid.engine.interrupt`).
"""


class UserError(Exception):
    """Bad input, a missing file, an unknown option: something the user can fix.

    ``exit_code``: the command line's exit status for it (2; a subclass may choose another, e.g.
    :class:`rcnreid.engine.interrupt.TrainingInterrupted`, 75); ``label``: the word between the
    program's name and the message (``"error"``; None: none)."""
    exit_code = 2
    label = "error"


class GPUBackendError(UserError):
    """A GPU device was requested but Theano's CUDA backend (pygpu) is not usable."""


def exit_status(prog, call, interrupted="interrupted"):
    """Run ``call()`` the way every command line of the project does, returning its exit status:
    its own (``None`` is 0); a :class:`UserError` is one line ``<prog>: error: <message>`` on
    stderr and status 2 (a subclass's ``label`` and ``exit_code``: a training stopped by a signal
    is ``<prog>: <message>`` and status 75), with no traceback; Ctrl-C is ``<prog>: <interrupted>`` and status 130.
    The one place of this rule: ``rcnreid`` (:func:`rcnreid.cli.main`), the demo and the scripts
    of ``experiments/`` call it."""
    import sys
    try:
        return int(call() or 0)
    except UserError as exc:
        label = "%s: " % exc.label if exc.label else ""
        print("%s: %s%s" % (prog, label, exc), file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("%s: %s" % (prog, interrupted), file=sys.stderr)
        return 130
