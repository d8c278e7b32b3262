"""What a GPU device needs, found without Theano: pygpu, libgpuarray, the CUDA libraries, cuDNN.

libgpuarray (under pygpu) opens ``libcuda.so``, ``libnvrtc.so`` and ``libcublas.so`` by those
unversioned names when a CUDA context starts, and Theano's cuDNN ops link ``-lcudnn``. Driver
packages and NVIDIA's pip wheels often ship only versioned names (``libcuda.so.1``,
``libcublas.so.12``), so a machine with a working driver can still fail to start pygpu:
:func:`probe` names the missing piece and the fix (``rcnreid info``, ``rcnreid gpu-check``).

cuDNN is optional: without it Theano computes convolutions with ``GpuCorrMM`` (cuBLAS).
Theano-PyMC 1.1.2 supports cuDNN 5 to 7 itself and cuDNN 8 and 9 with rcnreid's repair
(:data:`rcnreid.backend.theano_fixes.CUDNN_REPAIRED_MAJORS`); any other cuDNN that Theano would use
is reported as a problem, with the way round it (``dnn__enabled=False``).

>>> p = probe("cpu")
>>> p["problem"] is None
True
>>> cudnn_major(8907), cudnn_major(90500), cudnn_major(7605)
(8, 9, 7)
"""
import ctypes
import glob
import os
import sys

from rcnreid.backend.theano_fixes import CUDNN_REPAIRED_MAJORS, disabled

#: Unversioned names libgpuarray's CUDA backend loads, with what they are and where they come from.
CUDA_LIBRARIES = (
    ("libcuda.so", "the NVIDIA driver library",
     "the NVIDIA driver (check with `nvidia-smi`; Debian/Ubuntu: libcuda1 or "
     "libnvidia-compute-<version>)"),
    ("libnvrtc.so", "NVRTC, CUDA's run-time compiler",
     "the CUDA toolkit's NVRTC (cuda-nvrtc-<version>, or pip's nvidia-cuda-nvrtc-cu12)"),
    ("libcublas.so", "cuBLAS", "the CUDA toolkit's cuBLAS (libcublas-<version>, or pip's "
     "nvidia-cublas-cu12)"),
)

#: Names tried, in order, for the cuDNN library (the first is the one Theano links, -lcudnn).
CUDNN_NAMES = ("libcudnn.so", "libcudnn.so.9", "libcudnn.so.8", "libcudnn.so.7")

#: cuDNN majors Theano-PyMC 1.1.2 supports without rcnreid's repair.
CUDNN_THEANO_MAJORS = (5, 6, 7)

#: The cuDNN repair of rcnreid.backend.theano_fixes; it covers the majors CUDNN_REPAIRED_MAJORS.
CUDNN_FIX = "cudnn8_removed_algo_queries"

_SEARCH_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/cuda/lib64",
                "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/wsl/lib",
                "/usr/local/nvidia/lib64", "/usr/lib/x86_64-linux-gnu/nvidia/current")


def search_dirs():
    """Folders where a versioned copy of a CUDA library is looked for (for the 'link it' fix):
    the usual system and toolkit folders, ``LD_LIBRARY_PATH``, a conda environment's lib and
    the lib folders of NVIDIA's pip wheels (``site-packages/nvidia/*/lib``)."""
    dirs = list(_SEARCH_DIRS) + glob.glob("/usr/local/cuda-*/lib64")
    dirs += [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
    for prefix in {sys.prefix, os.environ.get("CONDA_PREFIX", "")}:
        if prefix:
            dirs.append(os.path.join(prefix, "lib"))
    for p in sys.path:
        dirs += sorted(glob.glob(os.path.join(p, "nvidia", "*", "lib")))
    return dirs


def _open(name):
    """A handle of library ``name`` opened as libgpuarray opens it (dlopen), or None."""
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _loadable(name):
    return _open(name) is not None


def _versioned_copy(name):
    """A versioned file of library ``name`` in :func:`search_dirs` (for the 'link it' advice)."""
    for d in search_dirs():
        hits = sorted(glob.glob(os.path.join(d, name + ".*")))
        if hits:
            return hits[0]
    return None


#: The versioned names that the libgpuarray built by scripts/build_gpuarray.py also tries when
#: the unversioned development name does not load (its edit of dyn_load.c).
BUILT_LIBGPUARRAY_SUFFIXES = (".1", ".12", ".11.2", ".11")


def built_libgpuarray():
    """True when the libgpuarray next to this Python is the one scripts/build_gpuarray.py
    built (a venv made by `make venv`, or a bundle), not a distribution's."""
    return bool(glob.glob(os.path.join(sys.exec_prefix, "lib", "libgpuarray.so*")))


def library_problem(name, what, source):
    """None when ``name`` loads, else one sentence with the fix."""
    if _loadable(name):
        return None
    if built_libgpuarray() and any(_loadable(name + s) for s in BUILT_LIBGPUARRAY_SUFFIXES):
        return None
    found = _versioned_copy(name)
    if found:
        return ("%s (%s) is not found under the name %s that libgpuarray loads, but %s exists: "
                "link it, e.g. `ln -s %s %s/%s` (or into a folder on LD_LIBRARY_PATH)"
                % (name, what, name, found, found, os.path.dirname(found), name))
    return "%s (%s) is not found: install %s and put its folder on LD_LIBRARY_PATH" % (
        name, what, source)


def cudnn_major(version):
    """The major of a cudnnGetVersion() number: 7605 -> 7, 8907 -> 8, 90500 -> 9."""
    return version // 10000 if version >= 10000 else version // 1000


def cudnn_version():
    """cuDNN's version as cudnnGetVersion() reports it (e.g. 90100), or None when no libcudnn
    loads; ``(version, name that loaded)`` is :func:`cudnn_library`."""
    return cudnn_library()[0]


def cudnn_library():
    """(version or None, the name in :data:`CUDNN_NAMES` that loaded or None)."""
    for name in CUDNN_NAMES:
        lib = _open(name)
        if lib is None:
            continue
        lib.cudnnGetVersion.restype = ctypes.c_size_t
        return int(lib.cudnnGetVersion()), name
    return None, None


def _dnn_setting():
    """Theano's dnn__enabled as the user set it in THEANO_FLAGS ('auto' when not set)."""
    for item in os.environ.get("THEANO_FLAGS", "").split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            if key.strip().replace(".", "__") == "dnn__enabled":
                return value.strip()
    return "auto"


def cudnn_problem(version, name, dnn_enabled="auto", disabled=()):
    """(fact, problem or None) about cuDNN for a CUDA device.

    ``version``/``name`` from :func:`cudnn_library`; ``dnn_enabled`` is Theano's flag
    ("auto": cuDNN when Theano can use it, else GpuCorrMM; "True": cuDNN or fail; "False");
    ``disabled`` the fixes switched off (RCNREID_DISABLE_FIXES). A cuDNN that Theano would
    use and cannot compile for is a problem; one it silently passes over is a fact."""
    covered = "cuDNN %d-%d (Theano-PyMC 1.1.2) and %d-%d (rcnreid's repair)" % (
        CUDNN_THEANO_MAJORS[0], CUDNN_THEANO_MAJORS[-1], CUDNN_REPAIRED_MAJORS[0],
        CUDNN_REPAIRED_MAJORS[-1])
    required = dnn_enabled == "True"
    off = "set THEANO_FLAGS=dnn__enabled=False to use GpuCorrMM"
    if dnn_enabled == "False":
        return ("%s (not used: dnn__enabled=False, convolutions use GpuCorrMM)"
                % (version or "not found")), None
    if version is None:
        return "not found (convolutions use GpuCorrMM)", None if not required else (
            "THEANO_FLAGS asks for dnn__enabled=True, but libcudnn is not found (tried %s): "
            "install cuDNN 9 (Debian/Ubuntu: libcudnn9-dev-cuda-12) or drop dnn__enabled"
            % ", ".join(CUDNN_NAMES))
    major = cudnn_major(version)
    fact = "%d (cuDNN %d, %s)" % (version, major, name)
    if major < CUDNN_THEANO_MAJORS[0]:
        return fact + ": too old, convolutions use GpuCorrMM", None if not required else (
            "cuDNN %d is too old for Theano-PyMC 1.1.2, which supports %s: install cuDNN 9, "
            "or %s" % (major, covered, off))
    if major > CUDNN_REPAIRED_MAJORS[-1]:
        return fact, ("cuDNN %d is newer than rcnreid's repair covers (%s; Theano would use it "
                      "and its convolutions may not compile): install cuDNN 9, or %s"
                      % (major, covered, off))
    if major in CUDNN_REPAIRED_MAJORS and CUDNN_FIX in disabled:
        return fact, ("cuDNN %d needs rcnreid's repair %s, which RCNREID_DISABLE_FIXES switches "
                      "off: remove it from RCNREID_DISABLE_FIXES, or %s" % (major, CUDNN_FIX, off))
    if name != CUDNN_NAMES[0]:
        note = fact + ": found as %s only, Theano links libcudnn.so and uses GpuCorrMM" % name
        return note, None if not required else (
            "cuDNN %d is found as %s only, but Theano links -lcudnn, i.e. libcudnn.so: install "
            "the development package (libcudnn%d-dev-cuda-12) or link libcudnn.so to it, or %s"
            % (major, name, major, off))
    if major in CUDNN_REPAIRED_MAJORS:
        fact += ", with rcnreid's repair %s" % CUDNN_FIX
    return fact, None


def pygpu_facts():
    """(version or None, where it was imported from or the import error)."""
    try:
        import pygpu
    except Exception as exc:  # ImportError, or a numpy ABI error from a foreign build
        return None, "%s: %s" % (type(exc).__name__, exc)
    return pygpu.__version__, os.path.dirname(pygpu.__file__)


def probe(device, start=True):
    """{'facts': [(key, value)], 'problem': None or one sentence} for ``device``
    ("cpu", "cudaN", "openclP:D"); ``start=False`` stops before starting the device."""
    facts = []
    if not device or device == "cpu" or not device.startswith(("cuda", "opencl")):
        return {"facts": [("device", device or "cpu")], "problem": None}
    version, where = pygpu_facts()
    facts.append(("pygpu", "%s (%s)" % (version, where) if version else "missing"))
    if version is None:
        return {"facts": facts, "problem":
                "pygpu, which Theano's GPU backend needs, does not import (%s); `make venv` "
                "builds it into the venv (needs cmake and a C compiler; docs/INSTALL.md)" % where}
    if device.startswith("cuda"):
        for name, what, source in CUDA_LIBRARIES:
            problem = library_problem(name, what, source)
            facts.append((name, "missing" if problem else "found"))
            if problem:
                return {"facts": facts, "problem": problem}
        fact, problem = cudnn_problem(*cudnn_library(), dnn_enabled=_dnn_setting(),
                                      disabled=disabled())
        facts.append(("cuDNN", fact))
        if problem:
            return {"facts": facts, "problem": problem}
    if not start:
        return {"facts": facts, "problem": None}
    try:
        import pygpu
        ctx = pygpu.init(device)
        facts.append(("device name", ctx.devname))
    except Exception as exc:
        return {"facts": facts, "problem": "pygpu cannot start %s (%s: %s)"
                % (device, type(exc).__name__, " ".join(str(exc).split()))}
    return {"facts": facts, "problem": None}
