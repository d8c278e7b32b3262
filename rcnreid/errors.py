"""Errors meant for the person at the keyboard.

A :class:`UserError` carries one line that names the file or option at fault and the fix. The
command line prints it as ``rcnreid: error: <message>`` and exits with status 2, with no traceback
(:func:`exit_status`, the one place of that rule).
"""


class UserError(Exception):
    """Bad input, a missing file, an unknown option: something the user can fix."""


class GPUBackendError(UserError):
    """A GPU device was requested but Theano's CUDA backend (pygpu) is not usable."""


def exit_status(prog, call, interrupted="interrupted"):
    """Run ``call()`` the way every command line of the project does, returning its exit status:
    its own (``None`` is 0); a :class:`UserError` is one line ``<prog>: error: <message>`` on
    stderr and status 2, with no traceback; Ctrl-C is ``<prog>: <interrupted>`` and status 130.
    The one place of this rule: ``rcnreid`` (:func:`rcnreid.cli.main`), the demo and the scripts
    of ``experiments/`` call it."""
    import sys
    try:
        return int(call() or 0)
    except UserError as exc:
        print("%s: error: %s" % (prog, exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("%s: %s" % (prog, interrupted), file=sys.stderr)
        return 130
