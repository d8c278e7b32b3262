"""Advisory locks: one process at a time writes a run folder or an output file.

A lock is a small file -- ``.rcnreid.lock`` inside a run folder, ``.NAME.lock`` beside an output
file -- held with a POSIX record lock (``fcntl.lockf``) for as long as the writer runs, and holding
the holder's pid, host and start time as JSON (for the message a second process prints). The
holder removes the file when done. The kernel drops the lock when its process dies, however it
dies (kill -9 included), so a lock file left by a dead process is simply taken over.

Shared storage: on NFS, POSIX locks go through the NFS lock manager (NFSv4 built in, NFSv3 via
``lockd``); the server frees the locks of a crashed client when its lease expires. Where the file
system refuses locks altogether (``ENOLCK``), the pid file alone is used: a lock whose pid is dead
on this host is taken over, one held from another host is refused (remove the file when that
host's run is known to be gone).

Locks are re-entrant within a process (the demo's train then evaluate, tests calling the library
repeatedly): POSIX locks belong to the process, so a second hold of the same file only counts.
"""
import contextlib
import errno
import json
import os
import sys
import time

from rcnreid.store.atomic import host_tag, pid_alive
from rcnreid.errors import UserError

FOLDER_LOCK = ".rcnreid.lock"
#: Seconds between two attempts while waiting for a lock.
WAIT_POLL = 0.5

_HELD = {}   # real path of the lock file -> [fd, count]


class LockHeld(UserError):
    """Another live process holds the lock."""


def lock_file(target, folder=False):
    """The lock file of a run folder (``folder=True``) or of an output file ``target``."""
    target = os.path.abspath(os.fspath(target))
    if folder:
        return os.path.join(target, FOLDER_LOCK)
    return os.path.join(os.path.dirname(target), ".%s.lock" % os.path.basename(target))


def read_holder(path):
    """The holder record ({pid, host, started, command}) of a lock file, or {}."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def describe_holder(d):
    if not d:
        return "another process"
    return "pid %s on host %s (since %s)" % (d.get("pid", "?"), d.get("host", "?"),
                                             d.get("started", "?"))


def _try_lock(fd):
    """True when the lock was taken, False when another process holds it; None when the file
    system offers no locks."""
    import fcntl
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            return None
        raise


def _pidfile_free(path):
    d = read_holder(path)
    if not d or int(d.get("pid", -1)) == os.getpid():
        return True
    return d.get("host") == host_tag() and not pid_alive(d.get("pid", -1))


@contextlib.contextmanager
def hold(target, what="output", folder=False, wait=False, log=None, option="--out"):
    """Hold the lock of ``target`` (a run folder when ``folder``, else an output file) for the
    block. Another live holder: UserError naming its pid and host, or, with ``wait``, wait for it
    (reported once through ``log``)."""
    path = lock_file(target, folder)
    key = os.path.realpath(path)
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield path
        finally:
            _HELD[key][1] -= 1
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    told = False
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise UserError("%s %s: cannot create the lock file %s (%s); choose another %s"
                            % (option, target, path, exc.strerror or exc, what))
        try:
            got = _try_lock(fd)
            if got is None:
                got = _pidfile_free(path)
            if got and not _same_file(fd, path):   # its holder removed it meanwhile: again
                os.close(fd)
                continue
            if got:
                break
            holder = describe_holder(read_holder(path))
            if not wait:
                raise LockHeld("%s %s: this %s is in use by %s; wait for that run to end (or "
                               "pass --wait), or choose another %s"
                               % (option, target, what, holder, option))
            if not told and log:
                log("waiting for %s, which holds %s" % (holder, target))
                told = True
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        time.sleep(WAIT_POLL)
    try:
        record = {"pid": os.getpid(), "host": host_tag(),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "command": " ".join(os.path.basename(a) if i == 0 else a
                                      for i, a in enumerate(sys.argv))[:500]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
    except BaseException:
        os.close(fd)
        raise
    _HELD[key] = [fd, 1]
    try:
        yield path
    finally:
        _HELD.pop(key, None)
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked, so nobody takes a lock on a file about to go
        os.close(fd)         # closing the descriptor releases the POSIX lock


def _same_file(fd, path):
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def holds_run_folder(arg="out_dir", what="run folder"):
    """Decorator: the function holds the lock of its run folder (its argument ``arg``) while it
    runs, and takes one more keyword, ``wait`` (wait for another holder instead of stopping).
    A run folder that did not exist and is left empty (bad input found early) is removed."""
    import functools
    import inspect

    def wrap(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args, wait=False, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            folder = os.fspath(bound.arguments[arg])
            if os.path.exists(folder) and not os.path.isdir(folder):
                return fn(*args, **kwargs)     # the function's own one-line error
            log = bound.arguments.get("log") or (lambda *a: None)
            created = not os.path.exists(folder)
            try:
                with hold(folder, what, folder=True, wait=wait, log=log):
                    return fn(*args, **kwargs)
            finally:
                if created:
                    with contextlib.suppress(OSError):
                        os.rmdir(folder)       # only succeeds when nothing was written
        return inner
    return wrap
