"""The one place that decides "may I write here", and writes so that nothing a user owns is lost.

Every writer of rcnreid and ``data_prep`` goes through this module:

- :func:`check_out_path` before any work: the output is not a folder, its folder can be written,
  it is not one of the command's own inputs (same file, also through links; never overridable),
  and an existing file there is recognisably the kind of file the command writes (``kind``; a
  ``force`` overrides this one rule);
- :func:`atomic_path` / :func:`atomic_h5` / :func:`write_json` while writing: a temporary file
  beside the output, renamed onto it only when complete (and verified, when asked), so a failed
  or killed writer keeps the previous output. Any ``OSError`` while writing (no space left, quota,
  file too large, I/O error) becomes one :class:`~rcnreid.errors.UserError` line naming the path
  and the space needed when known; the temporary file is removed first. Temporary files left by
  a killed writer of the same output (their names carry the writer's pid and host) are removed by
  the next writer of that output.

Locks on run folders and outputs for the life of a process are :mod:`rcnreid.store.locks`.
"""
import contextlib
import json
import os
import re
import shutil
import socket
import tempfile

from rcnreid.errors import UserError

#: Kept free beside the space a writer says it needs (file-system metadata, HDF5 overhead).
SPACE_MARGIN = 1 << 20
#: HDF5 outputs up to this size (their ``need``) are built in memory and written with plain
#: writes, whose failure is an ordinary error; larger ones are written by HDF5 itself.
IN_MEMORY_MAX = 1 << 30


def host_tag():
    """This machine's name reduced to letters, digits and '-' (used in temporary and lock names)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname() or "host")


def pid_alive(pid):
    """True when process ``pid`` exists on this machine."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_prefix(base, pid=None):
    return ".%s.tmp%d_%s_" % (base, os.getpid() if pid is None else pid, host_tag())


def remove_stale_temps(path):
    """Remove temporary files of ``path`` left by writers that died on this machine (and those of
    older rcnreid versions, whose names carry no pid); returns the removed paths."""
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    lead = ".%s." % base
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(lead):
            continue
        rest = name[len(lead):]
        m = re.match(r"tmp(\d+)_", rest)
        if m:
            pid = int(m.group(1))
            stale = name.startswith(_temp_prefix(base, pid)) and not pid_alive(pid)
        else:   # the earlier naming: '.' + base + '.' + 8 random characters + suffix
            stale = re.fullmatch(r"[a-z0-9_]{8}(\.[A-Za-z0-9]+)?", rest) is not None
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
                removed.append(os.path.join(folder, name))
    return removed


def free_bytes(folder):
    """Free space (bytes) for unprivileged writers in ``folder``, or None when unknown."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _human(n):
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return ("%d %s" % (n, unit)) if unit == "bytes" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def os_reason(exc):
    """A short reason for an OS-level error ``exc``: the system's text for its errno (also when
    HDF5 only mentions it inside a long message), else the message's first line."""
    code = getattr(exc, "errno", None)
    if not isinstance(code, int) or code <= 0:
        m = re.search(r"errno = (\d+)", str(exc))
        code = int(m.group(1)) if m else None
    if code:
        return os.strerror(code)
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def write_error(path, exc, need=None):
    """The one-line UserError for an OSError ``exc`` met while writing ``path``."""
    what = os_reason(exc)
    space = ""
    if need:
        space = "; it needs about %s" % _human(need)
        free = free_bytes(os.path.dirname(os.path.abspath(path)))
        if free is not None:
            space += ", %s are free there" % _human(free)
    return UserError("%s: cannot write (%s)%s; free some space or choose another output path "
                     "(any previous file there is unchanged)" % (path, what, space))


def check_space(path, need):
    """UserError before writing when the folder of ``path`` has less than ``need`` bytes free."""
    if not need:
        return
    free = free_bytes(os.path.dirname(os.path.abspath(path)))
    if free is not None and free < need + SPACE_MARGIN:
        raise write_error(path, OSError(28, "no space left on device"), need + SPACE_MARGIN)


@contextlib.contextmanager
def atomic_path(path, suffix=None, need=None, verify=None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file lives in the same folder (so the rename is atomic on POSIX) and is removed
    when the block raises. ``need``: bytes the output will take, checked against the free space
    first. ``verify(tmp)``: called on the finished temporary file before the rename (raise to keep
    the previous output). Usage::

        with atomic_path("out.h5") as tmp:
            with h5py.File(tmp, "w") as f:
                ...
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise UserError("%s: is a folder; give a file name for this output" % path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc)
    remove_stale_temps(path)
    check_space(path, need)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(base), suffix=(suffix or ".tmp"),
                                   dir=folder)
    except OSError as exc:
        raise write_error(path, exc, need)
    os.close(fd)
    try:
        yield tmp
        if verify is not None:
            verify(tmp)
        # mkstemp creates the file private (0600); give the result the permissions a plain
        # open() would have (0666 less the umask) before it takes the final name.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc, need) from None
        raise


@contextlib.contextmanager
def atomic_h5(path, need=None, verify=None):
    """Yield an HDF5 file open for writing under a temporary name; see :func:`atomic_path`.

    HDF5 does not survive a failed write of its own metadata (a full disk: pages of "Exception
    ignored", then a segmentation fault at the next flush). So a file whose size ``need`` is known
    and at most :data:`IN_MEMORY_MAX` is built in memory and written out with plain writes, whose
    failure is an ordinary error; a larger one (a dataset being converted) is written by HDF5
    after the free-space check, and a failure HDF5 reports is turned into the same one line.
    Either way the file is closed before the temporary is removed or renamed.
    """
    import h5py
    in_memory = need is not None and need <= IN_MEMORY_MAX
    with atomic_path(path, suffix=".h5", need=need, verify=verify) as tmp:
        if in_memory:
            f = h5py.File(tmp, "w", driver="core", backing_store=False)
        else:
            f = h5py.File(tmp, "w")
        try:
            yield f
            if in_memory:
                f.flush()
                image = f.id.get_file_image()
        except BaseException:
            _abandon(f)
            raise
        try:
            f.close()
        except (OSError, RuntimeError, ValueError) as exc:
            _abandon(f)
            raise OSError(5, os_reason(exc)) from None
        if in_memory:
            with open(tmp, "wb") as out:
                out.write(image)
                out.flush()
                os.fsync(out.fileno())


def _abandon(f):
    """Close an h5py file whose writes failed. HDF5 keeps the unwritten metadata and tries to
    flush it again at every later close and at exit (pages of "Exception ignored", then a
    segmentation fault); pointing its file descriptor at /dev/null first lets that flush succeed
    harmlessly. The temporary file itself is removed by :func:`atomic_path`."""
    with contextlib.suppress(Exception):
        fd = f.id.get_vfd_handle()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, fd)
        os.close(null)
    with contextlib.suppress(Exception):
        f.close()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text):
    """Atomically write a text file."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def write_json(path, obj):
    """Atomically write ``obj`` as indented JSON."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path):
    """The JSON in ``path``, or None when it is missing or unreadable (a file to recompute)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------------------------
# may I write here?

def _h5_has(path, attrs=(), keys=()):
    try:
        import h5py
        with h5py.File(path, "r") as f:
            return all(a in f.attrs for a in attrs) and all(k in f for k in keys)
    except Exception:     # not HDF5, unreadable, damaged: not recognisably ours
        return False


def _is_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return isinstance(json.load(f), (dict, list))
    except Exception:
        return False


def _starts_with(path, magics):
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return any(head.startswith(m) for m in magics)


#: The kinds of file rcnreid writes: name -> (description, recogniser of an existing file).
KINDS = {
    "dataset": ("an rcnreid dataset file (rcnreid prepare)",
                lambda p: _h5_has(p, attrs=("schema_version",), keys=("frames", "sequences"))),
    "checkpoint": ("an rcnreid checkpoint", lambda p: _h5_has(p, attrs=("format",),
                                                               keys=("params",))),
    "features": ("a features file of rcnreid extract",
                 lambda p: _h5_has(p, attrs=("level",), keys=("person", "camera"))),
    "json": ("a JSON file", _is_json),
    "npz": ("a .npz file", lambda p: _starts_with(p, (b"PK\x03\x04", b"PK\x05\x06"))),
    "png": ("a PNG image", lambda p: _starts_with(p, (b"\x89PNG",))),
    "pdf": ("a PDF document", lambda p: _starts_with(p, (b"%PDF",))),
    "html": ("an HTML page", lambda p: _starts_with(p, (b"<!DOCTYP", b"<!doctyp", b"<html"))),
}


def same_file(a, b):
    """True when paths ``a`` and ``b`` name one file (also through symbolic or hard links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_out_path(out_path, option="--out", example="dataset.h5", inputs=(), kind=None,
                   force=False):
    """UserError naming ``out_path`` when it cannot be the output file. Called before any work.

    Refused: an existing folder; a folder that cannot be created or written; one of ``inputs``
    (paths the command reads; ``None`` entries are ignored) -- always, ``force`` or not; an
    existing file that is not recognisably of ``kind`` (a key of :data:`KINDS`), unless
    ``force``.
    """
    out_path = os.fspath(out_path)
    if os.path.isdir(out_path):
        raise UserError("%s %s: is a folder; give the path of the file to write, e.g. %s"
                        % (option, out_path, os.path.join(out_path, example)))
    folder = os.path.dirname(os.path.abspath(out_path))
    probe = folder
    while not os.path.isdir(probe):                # the first existing ancestor
        parent = os.path.dirname(probe)
        if parent == probe or os.path.exists(probe):
            raise UserError("%s %s: %s is not a folder; choose another output path"
                            % (option, out_path, probe))
        probe = parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError("%s %s: cannot write into %s (permission denied); choose another output "
                        "path" % (option, out_path, probe))
    for src in inputs:
        if src is not None and os.path.exists(out_path) and same_file(out_path, src):
            raise UserError("%s %s: is also an input of this command (%s); writing it would "
                            "destroy that input, choose another output path"
                            % (option, out_path, src))
    if kind is not None and not force and os.path.lexists(out_path):
        what, is_kind = KINDS[kind]
        if not os.path.isfile(out_path) or not is_kind(out_path):
            raise UserError("%s %s: exists and is not %s; it is kept: move it away, choose "
                            "another output path, or pass --force to replace it"
                            % (option, out_path, what))
