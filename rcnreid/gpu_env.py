"""What a GPU device needs, found without Theano: pygpu, libgpuarray, the CUDA libraries.

libgpuarray (under pygpu) opens ``libcuda.so``, ``libnvrtc.so`` and ``libcublas.so`` by those
unversioned names when a CUDA context starts, and Theano's cuDNN ops link ``libcudnn``. Driver
packages often ship only versioned names (``libcuda.so.1``), so a machine with a working driver
can still fail to start pygpu: :func:`probe` names the missing piece and the fix.

>>> p = probe("cpu")
>>> p["problem"] is None
True
"""
import ctypes
import ctypes.util
import glob
import os

#: Unversioned names libgpuarray's CUDA backend loads, with what they are and where they come from.
CUDA_LIBRARIES = (
    ("libcuda.so", "the NVIDIA driver library", "the driver package (e.g. libnvidia-compute)"),
    ("libnvrtc.so", "NVRTC, CUDA's run-time compiler", "the CUDA toolkit (cuda-nvrtc)"),
    ("libcublas.so", "cuBLAS", "the CUDA toolkit (libcublas)"),
)

_SEARCH_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/cuda/lib64",
                "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/wsl/lib",
                "/usr/local/nvidia/lib64", "/usr/lib/x86_64-linux-gnu/nvidia/current")


def _loadable(name):
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def _versioned_copy(name):
    """A versioned file of library ``name`` somewhere usual (for the 'link it' advice)."""
    dirs = list(_SEARCH_DIRS) + os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)
    for d in dirs:
        if d:
            hits = sorted(glob.glob(os.path.join(d, name + ".*")))
            if hits:
                return hits[0]
    return None


def library_problem(name, what, source):
    """None when ``name`` loads, else one sentence with the fix."""
    if _loadable(name):
        return None
    found = _versioned_copy(name)
    if found:
        return ("%s (%s) is not found under the name %s that libgpuarray loads, but %s exists: "
                "link it, e.g. `ln -s %s %s/%s` (or a folder on LD_LIBRARY_PATH)"
                % (name, what, name, found, found, os.path.dirname(found), name))
    return "%s (%s) is not found: install %s and put its folder on LD_LIBRARY_PATH" % (
        name, what, source)


def cudnn_version():
    """cuDNN's version as an int (e.g. 90100), or None when libcudnn does not load."""
    for name in ("libcudnn.so", "libcudnn.so.9", "libcudnn.so.8"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.cudnnGetVersion.restype = ctypes.c_size_t
        return int(lib.cudnnGetVersion())
    return None


def pygpu_facts():
    """(version or None, where it was imported from or the import error)."""
    try:
        import pygpu
    except Exception as exc:  # ImportError, or a numpy ABI error from a foreign build
        return None, "%s: %s" % (type(exc).__name__, exc)
    return pygpu.__version__, os.path.dirname(pygpu.__file__)


def probe(device):
    """{'facts': [(key, value)], 'problem': None or one sentence} for ``device``
    ("cpu", "cudaN", "openclP:D")."""
    facts = []
    if not device or device == "cpu" or not device.startswith(("cuda", "opencl")):
        return {"facts": [("device", device or "cpu")], "problem": None}
    version, where = pygpu_facts()
    facts.append(("pygpu", "%s (%s)" % (version, where) if version else "missing"))
    if version is None:
        return {"facts": facts, "problem":
                "pygpu, which Theano's GPU backend needs, does not import (%s); install it: "
                "conda-forge's pygpu, or Debian/Ubuntu's python3-pygpu (README.rst, 'GPU')" % where}
    if device.startswith("cuda"):
        for name, what, source in CUDA_LIBRARIES:
            problem = library_problem(name, what, source)
            facts.append((name, "missing" if problem else "found"))
            if problem:
                return {"facts": facts, "problem": problem}
        v = cudnn_version()
        facts.append(("cuDNN", str(v) if v else "not found (Theano uses GpuCorrMM)"))
    try:
        import pygpu
        ctx = pygpu.init(device)
        facts.append(("device name", ctx.devname))
    except Exception as exc:
        return {"facts": facts, "problem": "pygpu cannot start %s (%s: %s)"
                % (device, type(exc).__name__, " ".join(str(exc).split()))}
    return {"facts": facts, "problem": None}
