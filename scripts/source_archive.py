"""The source archives the bootstrap builds from: a local file or a download, unpacked safely.

Shared by scripts/install_theano.py (the Theano-PyMC sdist) and scripts/build_gpuarray.py (the
libgpuarray release). Each names an environment variable that may hold a local archive or an
http(s) URL (``THEANO_PYMC_SDIST``, ``LIBGPUARRAY_SOURCE``): unset, the pinned upstream URL is
downloaded. Checking what was obtained (a file SHA-256, a tree digest) stays with each script.

Every failure is a :class:`Failure` whose message, printed by :func:`report`, is one line on
stderr starting with ``[bootstrap]``.
"""
import os
import shutil
import sys
import tarfile
import urllib.request


class Failure(Exception):
    pass


def say(msg):
    print("[bootstrap] %s" % msg, flush=True)


def report(exc):
    """Print a Failure as the bootstrap's one line on stderr; returns the exit status 1."""
    print("[bootstrap] %s" % " ".join(str(exc).split()), file=sys.stderr)
    return 1


def obtain(variable, url, filename, dest, what):
    """The path of the archive ``filename``: the local file named by the environment variable
    ``variable``, or a download (of that variable's http(s) URL, else ``url``) into ``dest``."""
    source = os.environ.get(variable, "").strip()
    if source and not source.startswith(("http://", "https://")):
        if not os.path.isfile(source):
            raise Failure("%s=%s is not a file" % (variable, source))
        return source
    url = source or url
    path = os.path.join(dest, filename)
    say("downloading %s from %s" % (what, url))
    try:
        with urllib.request.urlopen(url, timeout=120) as r, open(path, "wb") as f:
            shutil.copyfileobj(r, f)
    except Exception as exc:
        raise Failure("cannot download %s (%s); without internet, download it elsewhere and "
                      "set %s=/path/to/%s" % (url, exc, variable, filename))
    return path


def below_top(tar):
    """(top folder, [(path below it, member)]) of an open archive whose entries all sit in one
    top folder; an absolute path or one with ``..``, and a link to one, are refused."""
    out, tops = [], set()
    for m in tar.getmembers():
        parts = m.name.strip("/").split("/")
        if parts == ["pax_global_header"] or not parts[0]:
            continue
        tops.add(parts[0])
        if ".." in parts or m.name.startswith("/"):
            raise Failure("the archive holds an unsafe path %r" % m.name)
        if (m.issym() or m.islnk()) and (m.linkname.startswith("/")
                                         or ".." in m.linkname.split("/")):
            raise Failure("the archive holds a link leading out of it: %r -> %r"
                          % (m.name, m.linkname))
        out.append(("/".join(parts[1:]), m))
    if len(tops) != 1:
        raise Failure("the archive does not have one top folder (found %s)"
                      % (", ".join(sorted(tops)[:3]) or "nothing"))
    return tops.pop(), out


def extract(archive, dest):
    """Unpack an archive that :func:`below_top` accepts into ``dest`` (folders, files and
    symbolic links only; tarfile's "data" filter where this Python has it); returns the path
    of its top folder."""
    try:
        with tarfile.open(archive) as tar:
            top, members = below_top(tar)
            safe = [m for _, m in members if m.isdir() or m.isfile() or m.issym()]
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=safe, filter="data")
            else:
                tar.extractall(dest, members=safe)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise Failure("cannot unpack %s (%s)" % (archive, exc))
    return os.path.join(dest, top)
