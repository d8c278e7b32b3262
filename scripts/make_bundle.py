"""`make bundle`: one relocatable archive of rcnreid, its venv and the Python it runs on.

For a GPU node without internet (common on clusters), or a GPU test machine without package
access: unpack it anywhere and run ``<dir>/bin/rcnreid gpu-check``. Run with the venv's Python::

    .venv/bin/python scripts/make_bundle.py [--out dist/rcnreid-bundle-py3.12-x86_64.tar.xz]

What goes in (one top folder, ``rcnreid-bundle/``):

- ``python/``: the base Python installation the venv was made from (sys.base_prefix: its
  executable, libpython, the standard library without its tests, IDLE, Tk and ensurepip, and the
  headers Theano compiles against);
- ``python/lib/pythonX.Y/site-packages``: the venv's packages (without pip, their test suites and
  bytecode caches), and rcnreid installed there as a regular (not editable) package;
- ``python/lib/libgpuarray.so*`` and ``python/include/gpuarray``: the libgpuarray the bootstrap
  built (pygpu finds it by its relative run path, Theano by sys.exec_prefix);
- ``bin/rcnreid`` and ``bin/python``: launchers that find everything relative to themselves.

What the target machine must still have: a C compiler (Theano compiles its ops; `gcc`), the GPU
driver (CUDA: libcuda, NVRTC, cuBLAS; or an OpenCL driver), optionally OpenBLAS/oneDNN for the
CPU path. Same CPU architecture and a glibc at least as new as the build machine's.

Every failure is one line on stderr starting with ``[bundle]``, exit status 1.
"""
import argparse
import glob
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYVER = "%d.%d" % sys.version_info[:2]

#: Parts of the standard library a headless run never needs.
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
               "__pycache__", "site-packages", "turtle.py"}
#: Folder names dropped from installed packages (test suites, bytecode caches).
PKG_SKIP = {"__pycache__", "tests", "testing"}
#: Installed distributions not needed to run (pip; the editable rcnreid: replaced by a
#: regular install) or to test (pytest and its plugins, Cython: it built pygpu).
DIST_SKIP = ("pip", "__editable__",
             "rcnreid.egg-link", "easy-install.pth", "rcnreid", "pytest", "_pytest", "py.py",
             "xdist", "execnet", "pluggy", "iniconfig", "pygments", "cython", "pyximport")
#: Left out unless --full: what only the CPU-side steps import (data preparation's optical flow
#: and the hand-crafted baselines: OpenCV; figures and the report: matplotlib and its
#: dependencies). Together about half of the venv; without them the archive stays under 64 MiB.
LEAVE_OUT = ("cv2", "opencv_python", "matplotlib", "mpl_toolkits", "fonttools", "contourpy",
             "kiwisolver", "cycler", "pyparsing", "python_dateutil", "dateutil", "pylab.py")

LAUNCHER = """#!/bin/sh
# rcnreid bundle launcher: everything is found relative to this file.
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
export LD_LIBRARY_PATH="$here/python/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset PYTHONHOME PYTHONPATH
exec "$here/python/bin/python%(ver)s" -s %(args)s"$@"
"""

README = """rcnreid bundle (Python %(ver)s, %(arch)s; built %(when)s from commit %(commit)s)

Unpack anywhere, then:
    rcnreid-bundle/bin/rcnreid gpu-check --device cuda      (or opencl0:0)
    rcnreid-bundle/bin/rcnreid info
    rcnreid-bundle/bin/python                               (this Python, with the packages)

Needs on this machine: gcc (Theano compiles its ops), the GPU driver (CUDA: libcuda, NVRTC and
cuBLAS; or an OpenCL driver). See docs/INSTALL.md in the rcnreid repository.
"""


class Failure(Exception):
    pass


def _skip_stdlib(folder, names):
    return [n for n in names if n in STDLIB_SKIP or n.endswith((".pyc", ".a"))
            or n.startswith("config-%s" % PYVER)]


def _skip_pkg(folder, names):
    return [n for n in names if n in PKG_SKIP or n.endswith(".pyc")]


def copy_python(dest):
    base = sys.base_prefix
    if not os.path.isdir(os.path.join(base, "lib", "python%s" % PYVER)):
        raise Failure("cannot find the standard library of %s under %s" % (PYVER, base))
    os.makedirs(os.path.join(dest, "bin"))
    exe = os.path.realpath(os.path.join(base, "bin", "python%s" % PYVER))
    if not os.path.exists(exe):
        raise Failure("%s not found (a Python without bin/python%s?)" % (exe, PYVER))
    shutil.copy2(exe, os.path.join(dest, "bin", "python%s" % PYVER))
    lib = os.path.join(dest, "lib")
    shutil.copytree(os.path.join(base, "lib", "python%s" % PYVER),
                    os.path.join(lib, "python%s" % PYVER), ignore=_skip_stdlib, symlinks=True)
    # the config folder holds Makefile/Setup files sysconfig reads; keep it, minus libpythonX.a
    for config in glob.glob(os.path.join(base, "lib", "python%s" % PYVER, "config-%s*" % PYVER)):
        shutil.copytree(config, os.path.join(lib, "python%s" % PYVER, os.path.basename(config)),
                        ignore=lambda d, names: [n for n in names if n.endswith(".a")])
    for so in glob.glob(os.path.join(base, "lib", "libpython%s*.so*" % PYVER)):
        shutil.copy2(so, lib, follow_symlinks=False)
    shutil.copytree(os.path.join(base, "include"), os.path.join(dest, "include"), symlinks=True)
    return os.path.join(lib, "python%s" % PYVER, "site-packages")


def copy_venv(site_dest, dest, full=False):
    site = sysconfig.get_paths()["purelib"]
    os.makedirs(site_dest)
    skip = DIST_SKIP + (() if full else LEAVE_OUT)
    for name in sorted(os.listdir(site)):
        if name.lower().startswith(skip):
            continue
        src = os.path.join(site, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(site_dest, name), ignore=_skip_pkg, symlinks=True)
        else:
            shutil.copy2(src, site_dest)
    libs = glob.glob(os.path.join(sys.prefix, "lib", "libgpuarray*.so*"))
    if not libs:
        raise Failure("%s has no libgpuarray: run `make venv` first (it builds pygpu)" % sys.prefix)
    for so in libs:
        shutil.copy2(so, os.path.join(dest, "lib"), follow_symlinks=False)
    shutil.copytree(os.path.join(sys.prefix, "include", "gpuarray"),
                    os.path.join(dest, "include", "gpuarray"))


def strip(python_dir):
    """Debug symbols off the Python executable and libpython (pyenv builds keep them)."""
    tool = shutil.which("strip")
    if not tool:
        return
    for f in glob.glob(os.path.join(python_dir, "bin", "python*")) + \
            glob.glob(os.path.join(python_dir, "lib", "libpython*.so*")):
        if os.path.isfile(f) and not os.path.islink(f):
            subprocess.run([tool, "--strip-debug", f], capture_output=True)


def install_rcnreid(python_dir, log):
    """pip-install this checkout (not editable) into the bundle's Python, with the venv's pip."""
    env = dict(os.environ, PYTHONNOUSERSITE="1",
               LD_LIBRARY_PATH=os.path.join(python_dir, "lib"))
    env.pop("PYTHONPATH", None)
    target = os.path.join(python_dir, "lib", "python%s" % PYVER, "site-packages")
    build = tempfile.mkdtemp(prefix="rcnreid-bundle-src-")
    try:
        src = os.path.join(build, "src")
        top_skip = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "data", "results",
                                          "runs", "demo-output", ".pytest_cache", ".whl", ".gl")
        any_skip = shutil.ignore_patterns("*.egg-info", "__pycache__", "*.pyc")

        def ignore(folder, names):
            # the top-level skips only at the top: rcnreid/data is a package
            skip = set(any_skip(folder, names))
            if os.path.abspath(folder) == ROOT:
                skip |= set(top_skip(folder, names))
            return skip

        shutil.copytree(ROOT, src, ignore=ignore)
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "--no-deps", "--no-build-isolation", "--no-compile", "--target", target, src]
        r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=build)
        if r.returncode != 0:
            raise Failure("pip could not install rcnreid into the bundle (see %s)" % log.name)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    shutil.rmtree(os.path.join(target, "bin"), ignore_errors=True)   # console scripts: absolute


def smoke(top):
    r = subprocess.run([os.path.join(top, "bin", "python"), "-c",
                        "import rcnreid.backend.theano_env, pygpu, numpy; print(numpy.__version__)"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
        raise Failure("the bundle's Python does not import rcnreid, pygpu and theano: %s" % last)


def pack(top, out):
    """tar + xz (the external xz on all cores when there is one: several times faster)."""
    xz = shutil.which("xz")
    if xz:
        with open(out, "wb") as f:
            tar = subprocess.Popen(["tar", "-C", os.path.dirname(top), "-cf", "-",
                                    os.path.basename(top)], stdout=subprocess.PIPE)
            comp = subprocess.run([xz, "-T0", "-6", "-c"], stdin=tar.stdout, stdout=f)
            tar.stdout.close()
            if tar.wait() != 0 or comp.returncode != 0:
                raise Failure("tar | xz failed writing %s" % out)
        return
    with tarfile.open(out, "w:xz", preset=6) as t:
        t.add(top, arcname=os.path.basename(top))


def commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main():
    arch = platform.machine()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(
        ROOT, "dist", "rcnreid-bundle-py%s-%s.tar.xz" % (PYVER, arch)))
    ap.add_argument("--full", action="store_true",
                    help="keep OpenCV and matplotlib (data preparation, baselines, figures)")
    args = ap.parse_args()
    if sys.prefix == sys.base_prefix:
        print("[bundle] run this with the venv's Python (make bundle)", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="rcnreid-bundle-")
    try:
        top = os.path.join(work, "rcnreid-bundle")
        python_dir = os.path.join(top, "python")
        site_dest = copy_python(python_dir)
        copy_venv(site_dest, python_dir, args.full)
        strip(python_dir)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(os.path.abspath(args.out) + ".log", "w") as log:
            install_rcnreid(python_dir, log)
        os.makedirs(os.path.join(top, "bin"))
        for name, argv in (("rcnreid", "-m rcnreid "), ("python", "")):
            path = os.path.join(top, "bin", name)
            with open(path, "w") as f:
                f.write(LAUNCHER % {"ver": PYVER, "args": argv})
            os.chmod(path, 0o755)
        import time
        with open(os.path.join(top, "README.txt"), "w") as f:
            f.write(README % {"ver": PYVER, "arch": arch, "commit": commit(),
                              "when": time.strftime("%Y-%m-%d")})
        smoke(top)
        # pygpu's modules have invalid escapes that Python 3.12+ warns about when compiling them:
        # compile them here, quietly, so the first run on the node does not print that
        subprocess.run([os.path.join(top, "bin", "python"), "-W", "ignore", "-m", "compileall",
                        "-q", os.path.join(site_dest, "pygpu")], capture_output=True)
        tmp_out = args.out + ".part"
        pack(top, tmp_out)
        os.replace(tmp_out, args.out)
    except (Failure, OSError) as exc:
        print("[bundle] %s" % exc, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = os.path.getsize(args.out)
    print("[bundle] %s (%.1f MiB); unpack anywhere and run rcnreid-bundle/bin/rcnreid gpu-check"
          % (args.out, size / 2 ** 20))
    return 0


if __name__ == "__main__":
    sys.exit(main())
