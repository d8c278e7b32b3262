"""Write files so that an interrupted or failed run never leaves a half-written output."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file lives in the same folder (so the rename is atomic on POSIX) and is removed
    when the block raises. Usage::

        with atomic_path("out.h5") as tmp:
            with h5py.File(tmp, "w") as f:
                ...
    """
    from rcnreid.errors import UserError
    path = os.fspath(path)
    if os.path.isdir(path):
        raise UserError("%s: is a folder; give a file name for this output" % path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=(suffix or ".tmp"), dir=folder)
    os.close(fd)
    try:
        yield tmp
        # mkstemp creates the file private (0600); give the result the permissions a plain
        # open() would have (0666 less the umask) before it takes the final name.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
    import json
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
