"""The one place where rcnreid configures Theano-PyMC 1.1.2 before it is first imported.

Every rcnreid module that builds Theano graphs starts with::

    from rcnreid.theano_env import theano, T   # never a bare ``import theano``

Each workaround below says why it exists. Flags the user gives in ``THEANO_FLAGS`` or in
``.theanorc`` (``THEANORC``) always win over these defaults: we only add a key the user did not set.
:func:`describe` reports what is in force (``rcnreid info``).
"""
import configparser
import ctypes.util
import glob
import os
import sys
import warnings

from rcnreid.errors import GPUBackendError

#: Defaults we add to THEANO_FLAGS unless the user set the key.
#: - floatX=float32: the model is float32 end to end (GPU-clean), and Theano's conv gradients
#:   need it (with float64 the abstract conv gradient ops are not all implemented on the CPU).
#: - openmp=False: in Theano-PyMC 1.1.2 openmp=True breaks the compilation of Elemwise ops.
_DEFAULTS = {
    "floatX": "float32",
    "openmp": "False",
}

#: What we decided, for :func:`describe`.
STATE = {
    "defaults_added": {},
    "user_flags": {},
    "blas_source": None,
    "scan_workaround": False,
    "warnings": [],
}


def _normalise_key(key):
    return key.strip().replace(".", "__")


def _user_theano_flags():
    """Keys the user set in THEANO_FLAGS and in the .theanorc files Theano reads."""
    found = {}
    rc_env = os.environ.get("THEANORC")
    rc_files = rc_env.split(os.pathsep) if rc_env else [os.path.expanduser("~/.theanorc"),
                                                       os.path.expanduser("~/.theanorc.txt")]
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep 'floatX' as written
    try:
        parser.read([os.path.expanduser(f) for f in rc_files])
    except configparser.Error as exc:  # Theano will complain itself; we only must not crash
        STATE["warnings"].append("could not parse .theanorc: %s" % exc)
    for section in parser.sections():
        for option, value in parser.items(section):
            key = option if section == "global" else "%s__%s" % (section, option)
            found[_normalise_key(key)] = value
    for item in os.environ.get("THEANO_FLAGS", "").split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            found[_normalise_key(k)] = v.strip()
    return found


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
    except ImportError:
        raise GPUBackendError(
            "THEANO_FLAGS asks for device=%s, but Theano's CUDA backend needs pygpu, which is not "
            "installed and is not on PyPI: install it with `conda install -c conda-forge pygpu` "
            "(see README.rst, 'GPU workstation'), or unset device to run on the CPU" % device)


def _configure():
    user = _user_theano_flags()
    STATE["user_flags"] = dict(user)
    added = {}
    for key, value in _DEFAULTS.items():
        if key not in user:
            added[key] = value
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
    STATE["defaults_added"] = added

    device = _requested_device(user)
    if device is not None:
        _check_gpu_backend(device)

    if added:
        pieces = [p for p in os.environ.get("THEANO_FLAGS", "").split(",") if p.strip()]
        pieces += ["%s=%s" % kv for kv in added.items()]
        os.environ["THEANO_FLAGS"] = ",".join(pieces)

    # Theano-PyMC's Cython scan extension (scan_perform_ext) does not compile on Python >= 3.11,
    # and the failed build aborts the first theano.scan. A None in sys.modules makes its
    # `from . import scan_perform_ext` raise ImportError, upon which Theano runs scan's outer loop
    # in Python; each inner step is still one compiled C function.
    if sys.version_info >= (3, 11) and "theano.scan.scan_perform_ext" not in sys.modules:
        sys.modules["theano.scan.scan_perform_ext"] = None
        STATE["scan_workaround"] = True


if "theano" in sys.modules:
    # Too late to set flags; say so once and carry on with whatever the user configured.
    STATE["warnings"].append("theano was imported before rcnreid.theano_env; rcnreid's defaults "
                             "(floatX=float32, BLAS, scan workaround) may not be in force")
    warnings.warn(STATE["warnings"][-1], RuntimeWarning, stacklevel=2)
else:
    _configure()

import theano  # noqa: E402
import theano.tensor as T  # noqa: E402,F401  (re-exported: `from rcnreid.theano_env import theano, T`)

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


def cuda_available():
    """True when Theano's CUDA backend is initialised on a GPU (device=cuda and pygpu present)."""
    try:
        import theano.gpuarray as ga
        return bool(getattr(ga, "pygpu_activated", False))
    except Exception:
        return False


def describe():
    """What is in force, as a plain dict (the keys ``rcnreid info --json`` prints)."""
    import numpy
    import scipy
    return {
        "python": sys.version.split()[0],
        "theano": theano.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "device": theano.config.device,
        "floatX": theano.config.floatX,
        "blas_ldflags": theano.config.blas__ldflags,
        "blas_source": STATE["blas_source"],
        "scan_impl": scan_impl(),
        "compiledir": theano.config.compiledir,
        "cuda_available": cuda_available(),
        "openmp": bool(theano.config.openmp),
        "defaults_added": dict(STATE["defaults_added"]),
        "warnings": list(STATE["warnings"]),
    }
