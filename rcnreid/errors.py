"""Errors meant for the person at the keyboard.

A :class:`UserError` carries one line that names the file or option at fault and the fix. The
command line prints it as ``rcnreid: error: <message>`` and exits with status 2, with no traceback.
"""


class UserError(Exception):
    """Bad input, a missing file, an unknown option: something the user can fix."""


class GPUBackendError(UserError):
    """A GPU device was requested but Theano's CUDA backend (pygpu) is not usable."""
