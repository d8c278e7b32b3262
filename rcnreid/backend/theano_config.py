"""The one place where rcnreid configures Theano-PyMC 1.1.2 before it is first imported, the
first step of the backend's start-up (:mod:`rcnreid.backend.theano_env`, which every rcnreid
module that builds Theano graphs imports: ``from rcnreid.backend.theano_env import theano, T``,
never a bare ``import theano``).

On ``device=cuda*`` it also sets the cuDNN convolution algorithms and, where they or several
jobs on one GPU need it, the memory pool (:mod:`rcnreid.backend.gpu_conv`, issue 28).

Each workaround below says why it exists. Flags the user gives in ``THEANO_FLAGS`` or in
``.theanorc`` (``THEANORC``) always win over these defaults: we only add a key the user did not set.
:func:`describe` reports what is in force (``rcnreid info``).
"""
import ctypes.util
import glob
import os
import sys
import warnings

import numpy

from rcnreid.backend import gpu_conv, theano_fixes
from rcnreid.backend.theano_flags import user_theano_flags
from rcnreid.backend.threads import usable_cores
from rcnreid.errors import GPUBackendError

#: Defaults we add to THEANO_FLAGS unless the user set the key.
#: - floatX=float32: the model is float32 end to end (GPU-clean), and Theano's conv gradients
#:   need it (with float64 the abstract conv gradient ops are not all implemented on the CPU).
#: - openmp=True: CorrMM runs its per-image loop (im2col + one sgemm per image) on every core
#:   and large Elemwise ops (>= openmp_elemwise_minsize elements) split their loop; measured
#:   faster than OpenBLAS threading each small sgemm (docs/SPEED.md, issue 18). Theano-PyMC
#:   1.1.2's Elemwise needs the repair rcnreid.backend.theano_fixes "elemwise_openmp_pragma" for it.
#:   openmp=False instead when OMP_NUM_THREADS is 1 (one thread: nothing to split).
_DEFAULTS = {
    "floatX": "float32",
    "openmp": "True",
}


def _thread_defaults(cores):
    """Environment variables set before Theano loads OpenBLAS and the OpenMP runtime (both read
    them once, when loaded), each only when the user did not set it.

    - OMP_NUM_THREADS = the usable cores: OpenMP regions (CorrMM's image loop, Elemwise) use
      every core; CorrMM sets OpenBLAS to one thread inside its region itself.
    - OPENBLAS_NUM_THREADS = the usable cores: the GEMMs outside OpenMP regions (Theano's Gemm and
      Dot ops) still use every core; the two pools never run at once (docs/SPEED.md).
    """
    return {"OMP_NUM_THREADS": str(cores), "OPENBLAS_NUM_THREADS": str(cores)}


#: What we decided, for :func:`describe`.
STATE = {
    "defaults_added": {},
    "env_added": {},
    "user_flags": {},
    "blas_source": None,
    "scan_workaround": False,
    "warnings": [],
    "gpu_conv": None,
}


def _shorten(exc, limit=200):
    text = " ".join(("%s: %s" % (type(exc).__name__, exc)).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _user_theano_flags():
    """Keys the user set in THEANO_FLAGS and in the .theanorc files Theano reads."""
    return user_theano_flags(STATE["warnings"])


def _find_openblas():
    """Return ldflags for OpenBLAS if its shared library is on this machine, else None.

    Theano's own BLAS auto-detection reads ``numpy.distutils.__config__.blas_opt_info``, which
    numpy 1.23's build does not have: the first BLAS op then crashes with an AttributeError. So we
    always set ``blas__ldflags`` ourselves.
    """
    if ctypes.util.find_library("openblas"):
        # The linker finds it on the default path (Debian's libopenblas-dev puts libopenblas.so there).
        dirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                "/usr/local/lib"]
        for d in dirs:
            if os.path.exists(os.path.join(d, "libopenblas.so")):
                return "-lopenblas"
        # Runtime library exists but no development symlink: link against it by full path.
        cands = sorted(glob.glob("/usr/lib*/**/libopenblas*.so*", recursive=True))
        if cands:
            return "-L%s -l:%s" % (os.path.dirname(cands[0]), os.path.basename(cands[0]))
    prefix_lib = os.path.join(sys.prefix, "lib")
    if os.path.exists(os.path.join(prefix_lib, "libopenblas.so")):  # a conda environment
        return "-L%s -Wl,-rpath,%s -lopenblas" % (prefix_lib, prefix_lib)
    return None


def _requested_device(flags):
    for key in ("device", "init_gpu_device"):
        value = flags.get(key, "")
        if value.startswith("cuda") or value.startswith("gpu") or value.startswith("opencl"):
            return value
    return None


def _check_gpu_backend(device):
    """Fail with one line naming the fix when a GPU is requested but pygpu is missing."""
    try:
        import pygpu  # noqa: F401
    except Exception as exc:  # ImportError, or an ABI error from a pygpu built for another numpy
        raise GPUBackendError(
            "THEANO_FLAGS asks for device=%s, but Theano's GPU backend needs pygpu, which does not "
            "import (%s) and is not on PyPI: `make venv` builds it from source into the venv "
            "(scripts/build_gpuarray.py; needs cmake and a C compiler, docs/INSTALL.md), or unset "
            "device to run on the CPU" % (device, _shorten(exc, 80)))


def _configure():
    user = _user_theano_flags()
    STATE["user_flags"] = dict(user)
    added = {}
    for key, value in _DEFAULTS.items():
        if key not in user:
            added[key] = value
    env_added = {}
    for key, value in _thread_defaults(usable_cores()).items():
        if not os.environ.get(key, "").strip():
            os.environ[key] = env_added[key] = value
    STATE["env_added"] = env_added
    if os.environ["OMP_NUM_THREADS"].strip() == "1" and "openmp" not in user:
        added["openmp"] = "False"    # one OpenMP thread: nothing to split
    if "blas__ldflags" not in user:
        ldflags = _find_openblas()
        if ldflags is None:
            # Empty ldflags makes Theano use numpy's C-API (cblas-free) fallback: slower, correct.
            ldflags = ""
            msg = ("OpenBLAS not found: Theano falls back to numpy's C API for BLAS (slow). Install "
                   "it (Debian: apt-get install libopenblas-dev) or set THEANO_FLAGS=blas__ldflags=...")
            STATE["warnings"].append(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=3)
            STATE["blas_source"] = "numpy C-API fallback"
        else:
            STATE["blas_source"] = "OpenBLAS (found by rcnreid)"
        added["blas__ldflags"] = ldflags
    else:
        STATE["blas_source"] = "user setting"
    if "base_compiledir" not in user and "compiledir" not in user:
        # One compile cache per user that survives between runs (compiling the ConvGRU graph
        # from scratch costs about a minute; a warm cache makes it seconds).
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        added["base_compiledir"] = os.path.join(cache, "rcnreid", "theano")
    device = _requested_device(user)
    # On CUDA: the cuDNN convolution algorithms (rcnreid.backend.gpu_conv: provisional default
    # "deterministic", RCNREID_GPU_CONV to choose; the user's dnn__conv__* flags win one by one)
    # and, for cuDNN's own timing or several jobs on one GPU, the memory pool's share.
    conv = gpu_conv.plan(device or "cpu", user, os.environ)
    STATE["gpu_conv"] = conv
    if conv["applied"]:
        added.update(conv["flags"])
        if conv["preallocate"] is not None:
            added["gpuarray__preallocate"] = repr(conv["preallocate"])
    STATE["defaults_added"] = added

    if added:
        pieces = [p for p in os.environ.get("THEANO_FLAGS", "").split(",") if p.strip()]
        pieces += ["%s=%s" % kv for kv in added.items()]
        os.environ["THEANO_FLAGS"] = ",".join(pieces)

    if device is not None:
        _check_gpu_backend(device)

    STATE["requested_device"] = device
    theano_fixes.apply_stage("pre_import")
    STATE["scan_workaround"] = theano_fixes.STATUS.get("scan_perform_ext_py311") == "applied"
    if device is not None:
        theano_fixes.watch_gpu_init()


_THEANO_IMPORTED_BEFORE = "theano" in sys.modules
if "theano" in sys.modules:
    # Too late to set flags; say so once and carry on with whatever the user configured.
    STATE["warnings"].append("theano was imported before rcnreid.backend.theano_env; rcnreid's "
                             "defaults (floatX=float32, BLAS, scan workaround) may not be in force")
    warnings.warn(STATE["warnings"][-1], RuntimeWarning, stacklevel=2)
else:
    _configure()

import theano  # noqa: E402
import theano.tensor as T  # noqa: E402,F401  (re-exported through rcnreid.backend.theano_env)

theano_fixes.apply_stage("post_import", theano)


def _start_gpu():
    """Finish Theano's GPU initialisation and prove that it took: never a silent CPU run."""
    device = STATE.get("requested_device")
    theano_fixes.apply_stage("gpu_init", theano)
    import theano.gpuarray as ga
    exc = theano_fixes.GPU_INIT_LOG.error()
    if exc is not None:
        from rcnreid.backend.gpu_probe import probe as probe_device
        missing = probe_device(device, start=False)["problem"]   # the missing piece, by name
        if missing:
            raise GPUBackendError("THEANO_FLAGS asks for device=%s, which cannot start: %s; or "
                                  "unset device to run on the CPU" % (device, missing))
        raise GPUBackendError(
            "THEANO_FLAGS asks for device=%s, but Theano could not start it (%s); fix that, or "
            "unset device to run on the CPU (rcnreid info shows the Theano setup)"
            % (device, _shorten(exc)))
    probe = theano.shared(numpy.zeros(1, dtype=theano.config.floatX), name="rcnreid_probe")
    STATE["gpu_active"] = bool(ga.pygpu_activated and isinstance(probe.type, ga.GpuArrayType))
    if not STATE["gpu_active"]:
        raise GPUBackendError(
            "THEANO_FLAGS asks for device=%s, but Theano's GPU backend did not activate (shared "
            "variables stay on the CPU); run `rcnreid info` for the Theano setup, or unset device"
            % device)


if STATE.get("requested_device") is not None and not _THEANO_IMPORTED_BEFORE:
    _start_gpu()

if theano.config.floatX != "float32":
    warnings.warn("floatX is %s; rcnreid's graphs are float32 (conv gradients need it)"
                  % theano.config.floatX, RuntimeWarning, stacklevel=2)


def scan_impl():
    """'c' when scan's outer loop is the compiled Cython extension, 'python' otherwise."""
    mod = sys.modules.get("theano.scan.scan_perform_ext", False)
    if mod is None:
        return "python"
    if mod is False:
        try:
            from theano.scan import scan_perform_ext  # noqa: F401
        except Exception:
            return "python"
    return "c"


def gpu_active():
    """True only when Theano's GPU optimisations are on and a shared variable lands on the
    device (checked when rcnreid.backend.theano_env was imported: a requested GPU that did not start
    stops with GPUBackendError there)."""
    return bool(STATE.get("gpu_active", False))


def cuda_available():
    """True when Theano computes on a CUDA GPU."""
    return gpu_active() and theano.config.device.startswith("cuda")


def _gpu_facts():
    facts = {"pygpu": None, "device_name": None, "cudnn": None}
    if not gpu_active():
        from rcnreid.backend.gpu_probe import pygpu_facts
        facts["pygpu"] = pygpu_facts()[0]
        return facts
    import theano.gpuarray as ga
    from theano.gpuarray.type import get_context
    import pygpu
    facts["pygpu"] = pygpu.__version__
    try:
        facts["device_name"] = get_context(None).devname
    except Exception:
        pass
    if theano.config.device.startswith("cuda"):
        try:
            facts["cudnn"] = int(ga.dnn.version()) if ga.dnn.dnn_available(None) else None
        except Exception:
            facts["cudnn"] = None
    return facts


def _gpu_conv_facts():
    """The cuDNN convolution choice in force and where it came from (``rcnreid info``)."""
    plan = STATE.get("gpu_conv") or {}
    if not plan.get("applied"):
        return {"choice": None, "source": "not applied: the device is not CUDA",
                "in_force": None, "deterministic": None, "preallocate": None}
    in_force = {k: str(getattr(theano.config, k, plan["in_force"][k]))
                for k in gpu_conv.FLAG_KEYS}
    return {"choice": gpu_conv.name_of(in_force), "asked": plan["choice"],
            "source": plan["source"], "in_force": in_force,
            "deterministic": gpu_conv.flags_deterministic(in_force),
            "preallocate": float(theano.config.gpuarray__preallocate),
            "jobs_per_gpu": plan["jobs_per_gpu"],
            "default_measured": gpu_conv.CUDA_DEFAULT_MEASURED}


def describe():
    """What is in force, as a plain dict (the keys ``rcnreid info --json`` prints)."""
    import scipy
    from rcnreid.backend import threads
    d = {
        "python": sys.version.split()[0],
        "theano": theano.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "device": theano.config.device if gpu_active() else "cpu",
        "requested_device": STATE.get("requested_device") or "cpu",
        "gpu_active": gpu_active(),
        "floatX": theano.config.floatX,
        "blas_ldflags": theano.config.blas__ldflags,
        "blas_source": STATE["blas_source"],
        "scan_impl": scan_impl(),
        "compiledir": theano.config.compiledir,
        "cuda_available": cuda_available(),
        "openmp": bool(theano.config.openmp),
        "defaults_added": dict(STATE["defaults_added"]),
        "thread_env_added": dict(STATE["env_added"]),
        "fixes": theano_fixes.describe(),
        "gpu_conv": _gpu_conv_facts(),
        "float_arithmetic": gpu_conv.float_arithmetic(STATE["user_flags"], os.environ),
        "warnings": list(STATE["warnings"]),
    }
    d.update(_gpu_facts())
    d.update(threads.describe())
    return d
