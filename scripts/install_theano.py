"""Install Theano-PyMC 1.1.2 into the running Python (a venv), repairing its sdist where needed.

Called by scripts/bootstrap.sh before rcnreid itself is installed. Theano-PyMC 1.1.2 exists on
PyPI only as a source distribution whose ``versioneer.py`` uses ``configparser.SafeConfigParser``
and ``readfp``, both removed in Python 3.12: ``pip install Theano-PyMC==1.1.2`` fails there
before anything is built. So this script fetches the sdist itself (pinned URL and SHA-256; or
the local file or URL named by ``THEANO_PYMC_SDIST``, for machines without internet:
scripts/source_archive.py, shared with build_gpuarray.py), unpacks it in a
temporary folder, makes those two textual repairs in the build script (nothing in the ``theano``
package is changed: its run-time repairs are rcnreid/backend/theano_fixes.py's) and installs the
repaired tree with pip, without build isolation (the venv's setuptools < 70 provides distutils
on 3.12+) and without dependencies (rcnreid's setup.py pins numpy and scipy per Python).

Every failure is one line on stderr starting with ``[bootstrap]``, exit status 1.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from source_archive import Failure, extract, obtain, report  # noqa: E402

VERSION = "1.1.2"
SDIST = "Theano-PyMC-%s.tar.gz" % VERSION
URL = ("https://files.pythonhosted.org/packages/01/26/"
       "ee0f0a4c2d18d6a7058c71e3cfed21b31a209979e7d8191dbc990c542a61/" + SDIST)
SHA256 = "5da6c2242ea72a991c8446d7fe7d35189ea346ef7d024c890397011114bf10fc"

#: (old, new) text replacements in versioneer.py; each ``old`` occurs exactly once in 1.1.2.
VERSIONEER_EDITS = [
    ("parser = configparser.SafeConfigParser()", "parser = configparser.ConfigParser()"),
    ("parser.readfp(f)", "parser.read_file(f)"),
]


def installed_version():
    try:
        from importlib.metadata import version
        return version("Theano-PyMC")
    except Exception:
        return None


def fetch(dest):
    """The sdist's path (THEANO_PYMC_SDIST or the download into dest), its SHA-256 checked."""
    path = obtain("THEANO_PYMC_SDIST", URL, SDIST, dest, "the Theano-PyMC %s sdist" % VERSION)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != SHA256:
        raise Failure("%s has SHA-256 %s, expected %s (not the Theano-PyMC %s release)"
                      % (path, digest, SHA256, VERSION))
    return path


def unpack(archive, dest):
    root = extract(archive, dest)
    if not os.path.isfile(os.path.join(root, "setup.py")):
        raise Failure("%s does not hold %s/setup.py" % (archive, os.path.basename(root)))
    return root


def repair(root):
    path = os.path.join(root, "versioneer.py")
    with open(path) as f:
        text = f.read()
    for old, new in VERSIONEER_EDITS:
        if text.count(old) != 1:
            raise Failure("versioneer.py of the sdist is not the expected one (%r)" % old)
        text = text.replace(old, new)
    with open(path, "w") as f:
        f.write(text)


def main():
    if installed_version() == VERSION:
        print("[bootstrap] Theano-PyMC %s is installed" % VERSION)
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="rcnreid-theano-") as tmp:
            root = unpack(fetch(tmp), tmp)
            repair(root)
            cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                   "--no-build-isolation", "--no-deps", root]
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                last = [line for line in (run.stderr + run.stdout).splitlines() if line.strip()]
                raise Failure("pip could not install the repaired Theano-PyMC sdist: %s"
                              % (last[-1] if last else "exit %d" % run.returncode))
    except Failure as exc:
        return report(exc)
    if installed_version() != VERSION:
        print("[bootstrap] Theano-PyMC %s did not install" % VERSION, file=sys.stderr)
        return 1
    print("[bootstrap] Theano-PyMC %s installed from its repaired sdist" % VERSION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
