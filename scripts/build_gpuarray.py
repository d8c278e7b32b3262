"""Build libgpuarray and pygpu 0.7.6 (Theano's GPU backend) from source into the running venv.

Called by scripts/bootstrap.sh with the venv's Python. pygpu is not on PyPI and distributions
ship it for one Python at most (Debian 12: 3.11, Ubuntu 22.04: 3.10, Debian 13 / Ubuntu 24.04:
none), so we build it: libgpuarray (C, CMake; it opens the CUDA or OpenCL libraries only at
run time, so no CUDA toolkit is needed to build it) installed into the venv's prefix (lib/,
include/gpuarray), then pygpu (Cython 3 from PyPI, language_level=2) into site-packages, linked
to that libgpuarray by a relative run path ($ORIGIN), so the venv's libgpuarray is the one loaded
(checked at the end) and the venv can be moved (make bundle).

The source: ``LIBGPUARRAY_SOURCE`` (a local .tar.gz: the tests here use
../shared/vendor/libgpuarray-0.7.6.tar.gz; or an http(s) URL), else the upstream release is
downloaded from GitHub (scripts/source_archive.py, shared with install_theano.py). Before
anything is unpacked or built, the archive's files are checked against :data:`TREE_SHA256`, a
digest of the unpacked tree's contents (see :func:`tree_digest`): it does not depend on the
compression, timestamps or owners, so the GitHub download and Debian's
``libgpuarray_0.7.6.orig.tar.gz`` of the same release can pass the same check.

Edits made to the verified tree before building (each must match exactly once):

- pygpu/dtypes.py: ``np.bool`` (removed in numpy 1.24) -> ``np.bool_``;
- versioneer.py: ``SafeConfigParser``/``readfp`` (removed in Python 3.12) -> ``ConfigParser``/
  ``read_file``;
- setup.py: ``cythonize(exts)`` -> ``cythonize(exts, language_level=2)`` (Cython 3's default is 3);
- src/loaders/dyn_load.c: when ``dlopen("libX.so")`` fails, also try ``libX.so.1``, ``.12``,
  ``.11.2``, ``.11``: libgpuarray asks for the unversioned development names (libOpenCL.so,
  libcuda.so, libclblast.so, libcublas.so, libnvrtc.so), which a machine with only the driver
  and run-time packages does not have.

Every failure is one line on stderr starting with ``[bootstrap]`` (the build's own output goes
to ``$VENV/gpuarray-build.log``), exit status 1.
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from source_archive import Failure, below_top, extract, obtain, report, say  # noqa: E402

VERSION = "0.7.6"
URL = "https://github.com/Theano/libgpuarray/archive/refs/tags/v%s.tar.gz" % VERSION
#: tree_digest() of the upstream v0.7.6 release (computed from the unmodified release archive).
TREE_SHA256 = "b09980283b5199f12b9f2caf9fe9af3f15c31dcc1fd5e0264788eb31959f37af"
CYTHON = "Cython>=3.0.8,<3.1"

#: pygpu/_version.py's ``git_refnames`` is filled in by `git archive` with the refs that point at
#: the release commit when the archive is made: it differs between otherwise identical archives.
_REFNAMES = re.compile(rb'^(\s*git_refnames = ).*$', re.M)

EDITS = {
    "pygpu/dtypes.py": [('register_dtype(np.bool, ["ga_bool", "bool"])',
                         'register_dtype(np.bool_, ["ga_bool", "bool"])')],
    "versioneer.py": [("configparser.SafeConfigParser()", "configparser.ConfigParser()"),
                      ("parser.readfp(f)", "parser.read_file(f)")],
    "setup.py": [("ext_modules=cythonize(exts)", "ext_modules=cythonize(exts, language_level=2)")],
    "src/loaders/dyn_load.c": [(
        "void *ga_load_library(const char *name, error *e) {\n"
        "  void *res = dlopen(name, RTLD_LAZY|RTLD_LOCAL);\n",
        "void *ga_load_library(const char *name, error *e) {\n"
        "  void *res = dlopen(name, RTLD_LAZY|RTLD_LOCAL);\n"
        "  /* rcnreid: the run-time packages have only the versioned names */\n"
        "  static const char *rcnreid_sfx[] = {\".1\", \".12\", \".11.2\", \".11\", NULL};\n"
        "  size_t rcnreid_n = strlen(name);\n"
        "  int rcnreid_i;\n"
        "  for (rcnreid_i = 0; res == NULL && rcnreid_n > 3 && rcnreid_n < 200\n"
        "       && strcmp(name + rcnreid_n - 3, \".so\") == 0 && rcnreid_sfx[rcnreid_i]; rcnreid_i++) {\n"
        "    char rcnreid_alt[256];\n"
        "    snprintf(rcnreid_alt, sizeof(rcnreid_alt), \"%s%s\", name, rcnreid_sfx[rcnreid_i]);\n"
        "    res = dlopen(rcnreid_alt, RTLD_LAZY|RTLD_LOCAL);\n"
        "  }\n"
        "  if (res == NULL) res = dlopen(name, RTLD_LAZY|RTLD_LOCAL);  /* for dlerror() */\n"),
        ("#include <string.h>\n", "#include <string.h>\n#include <stdio.h>\n")],
}

#: tool -> what provides it, for the one-line error.
TOOLS = {
    "cmake": "cmake (Debian/Ubuntu: apt-get install cmake; conda: conda install cmake)",
    "cc": "a C compiler (Debian/Ubuntu: apt-get install gcc; conda: conda install c-compiler)",
    "make": "make (Debian/Ubuntu: apt-get install make)",
}


def tree_digest(archive):
    """SHA-256 of the lines "<sha256 of the file>  <path>\\n" of every regular file in the
    unpacked tree, paths relative to the top folder, sorted bytewise (as ``find . -type f |
    LC_ALL=C sort | xargs sha256sum`` would list them); a symbolic link counts as the file
    "link:<target>". Only contents and names enter it: no timestamps, owners, modes or
    compression. pygpu/_version.py's git_refnames line is blanked first (see _REFNAMES)."""
    lines = []
    try:
        with tarfile.open(archive) as tar:
            top, members = below_top(tar)
            for rel, m in members:
                if m.isdir() or not rel:
                    continue
                if m.issym():
                    data = b"link:" + m.linkname.encode()
                elif m.isfile():
                    data = tar.extractfile(m).read()
                else:
                    raise Failure("the archive holds %r, which is neither a file nor a folder"
                                  % m.name)
                if rel == "pygpu/_version.py":
                    data = _REFNAMES.sub(rb"\1''", data)
                lines.append((rel.encode(), hashlib.sha256(data).hexdigest()))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise Failure("%s is not a readable .tar.gz (%s)" % (archive, exc))
    h = hashlib.sha256()
    for rel, digest in sorted(lines):
        h.update(b"%s  %s\n" % (digest.encode(), rel))
    return top, h.hexdigest()


def fetch(tmp):
    """The release archive's path (LIBGPUARRAY_SOURCE or the download into tmp), its tree
    digest checked against TREE_SHA256."""
    archive = obtain("LIBGPUARRAY_SOURCE", URL, "libgpuarray-%s.tar.gz" % VERSION, tmp,
                     "libgpuarray %s" % VERSION)
    digest = tree_digest(archive)[1]
    if digest != TREE_SHA256:
        raise Failure("%s is not the libgpuarray %s release: its files' digest is %s, "
                      "expected %s" % (archive, VERSION, digest, TREE_SHA256))
    return archive


def edit(root):
    for rel, edits in EDITS.items():
        path = os.path.join(root, rel)
        with open(path) as f:
            text = f.read()
        for old, new in edits:
            if text.count(old) != 1:
                raise Failure("%s is not the expected 0.7.6 file (cannot apply %r)"
                              % (rel, old.splitlines()[0]))
            text = text.replace(old, new)
        with open(path, "w") as f:
            f.write(text)


def check_tools():
    for tool, hint in TOOLS.items():
        found = shutil.which(tool) or (tool == "cc" and (shutil.which("gcc") or
                                                         shutil.which("clang")))
        if tool == "make" and not found and shutil.which("ninja"):
            continue
        if not found:
            raise Failure("cannot build libgpuarray: %s not found; install %s" % (tool, hint))


def run(cmd, log, what, **kw):
    log.write("\n$ %s\n" % " ".join(cmd))
    log.flush()
    r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, **kw)
    if r.returncode != 0:
        raise Failure("%s failed (exit %d); the last lines of %s say why"
                      % (what, r.returncode, log.name))


def loaded_libgpuarray():
    """The file of the libgpuarray that `import pygpu` loads in a fresh process of this Python."""
    code = ("import pygpu.gpuarray\n"
            "for line in open('/proc/self/maps'):\n"
            "    p = line.split()[-1]\n"
            "    if '/libgpuarray' in p and '.so' in p:\n"
            "        print(p); break\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
        raise Failure("the pygpu just built does not import: %s" % last)
    return r.stdout.strip()


def build(prefix, log_path):
    check_tools()
    with tempfile.TemporaryDirectory(prefix="rcnreid-gpuarray-") as tmp, \
            open(log_path, "w") as log:
        archive = fetch(tmp)
        say("libgpuarray %s source verified (%s); building into %s (about a minute)"
            % (VERSION, os.path.basename(archive), prefix))
        root = extract(archive, tmp)
        edit(root)
        build_dir = os.path.join(tmp, "build")
        gen = [] if shutil.which("make") else ["-G", "Ninja"]
        run(["cmake", "-S", root, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
             "-DCMAKE_INSTALL_PREFIX=%s" % prefix, "-DCMAKE_POLICY_VERSION_MINIMUM=3.5"] + gen,
            log, "cmake (configuring libgpuarray)")
        run(["cmake", "--build", build_dir, "--parallel", str(min(os.cpu_count() or 1, 8))],
            log, "compiling libgpuarray")
        run(["cmake", "--install", build_dir], log, "installing libgpuarray")
        for f in os.listdir(os.path.join(prefix, "lib")):
            if f.startswith("libgpuarray-static"):
                os.remove(os.path.join(prefix, "lib", f))      # Theano links the shared one
        run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
             CYTHON], log, "pip install %s" % CYTHON)
        env = dict(os.environ)
        # pygpu's extensions sit in lib/pythonX.Y/site-packages/pygpu: three folders up is lib/.
        env["CFLAGS"] = ("-I%s %s" % (os.path.join(prefix, "include"),
                                      env.get("CFLAGS", ""))).strip()
        env["LDFLAGS"] = ("-L%s -Wl,-rpath,$ORIGIN/../../.. %s"
                          % (os.path.join(prefix, "lib"), env.get("LDFLAGS", ""))).strip()
        run([sys.executable, "-m", "pip", "install", "-v", "--disable-pip-version-check",
             "--no-build-isolation", "--no-deps", "--no-cache-dir", root], log,
            "building pygpu", env=env)
        run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "six", "mako"], log, "pip install six mako (pygpu's dependencies)")
    loaded = loaded_libgpuarray()
    want = os.path.realpath(os.path.join(prefix, "lib"))
    if not loaded or os.path.dirname(os.path.realpath(loaded)) != want:
        raise Failure("pygpu loads %s, not the libgpuarray built into %s (LD_LIBRARY_PATH?)"
                      % (loaded or "no libgpuarray", want))
    return loaded


def have_pygpu(prefix):
    try:
        loaded = loaded_libgpuarray()
    except Failure:
        return False
    return os.path.dirname(os.path.realpath(loaded)) == os.path.realpath(os.path.join(prefix,
                                                                                       "lib"))


def main(argv):
    if argv[1:2] == ["--digest"]:          # print the tree digest of an archive (maintainers)
        try:
            print(tree_digest(argv[2])[1])
        except Failure as exc:
            return report(exc)
        return 0
    if argv[1:2] == ["--verify"]:          # check LIBGPUARRAY_SOURCE (or the download) only
        try:
            with tempfile.TemporaryDirectory(prefix="rcnreid-gpuarray-") as tmp:
                fetch(tmp)
        except Failure as exc:
            return report(exc)
        say("libgpuarray %s source verified" % VERSION)
        return 0
    prefix = sys.prefix
    if have_pygpu(prefix):
        say("pygpu %s with this venv's libgpuarray is installed" % VERSION)
        return 0
    if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
        print("[bootstrap] cannot build pygpu: Python.h not found; install your Python's "
              "development headers", file=sys.stderr)
        return 1
    log_path = os.path.join(prefix, "gpuarray-build.log")
    try:
        loaded = build(prefix, log_path)
    except Failure as exc:
        return report(exc)
    say("pygpu %s built; it loads %s" % (VERSION, loaded))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
