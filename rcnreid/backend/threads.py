"""How many threads the CPU code uses: OpenMP (Theano's C ops) and the BLAS library.

>>> d = describe()
>>> d["openmp_threads"] >= 1
True
"""
import ctypes
import os


def _openblas():
    for name in ("libopenblas.so", "libopenblas.so.0"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def blas_threads():
    """Threads OpenBLAS uses (None when OpenBLAS is not loaded here)."""
    lib = _openblas()
    if lib is None or not hasattr(lib, "openblas_get_num_threads"):
        return None
    return int(lib.openblas_get_num_threads())


def usable_cores():
    """Cores this process may run on (its CPU affinity, else every core)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def openmp_threads():
    """Threads an OpenMP region of Theano's C code uses (OMP_NUM_THREADS, else every core)."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return usable_cores()


#: The AVX-512 subsets OpenBLAS's SkylakeX kernels use.
AVX512 = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")

#: What :func:`set_openblas_coretype` added to the environment ({} when nothing).
ADDED = {}


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU's feature flags (Linux), or an empty set."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def openblas_coretype_default(flags=None):
    """``SkylakeX`` for a CPU with AVX-512, else None.

    OpenBLAS picks its kernels from the CPU model at load. The builds this project runs on,
    Debian 12's 0.3.21 (Theano's BLAS) and numpy 1.23.5's bundled 0.3.20, do not know newer
    AVX-512 models (Sapphire Rapids on the build machines) and fall back to their Prescott (SSE3)
    kernels: a 1024^3 sgemm ran at 24-65 GFLOP/s on two cores instead of 214-290 with the
    SkylakeX kernels (docs/SPEED.md), and Theano's CorrMM convolutions, one sgemm per image,
    2.5x slower. The SkylakeX kernels need only AVX-512 F/CD/BW/DQ/VL, which every AVX-512 CPU
    that OpenBLAS's own detection maps elsewhere (Cooper Lake, Sapphire Rapids, Zen 4) has too.
    """
    flags = cpu_flags() if flags is None else flags
    return "SkylakeX" if all(f in flags for f in AVX512) else None


#: OpenBLAS settings some machines' environments carry because their OpenBLAS computes wrong
#: results or crashes without them; rcnreid and its tools never change them.
MACHINE_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def machine_blas_settings(env=None):
    """``{variable: value}`` of :data:`MACHINE_BLAS_VARS` that ``env`` (default: this process's
    environment) sets other than by rcnreid's own default (:data:`ADDED`)."""
    env = os.environ if env is None else env
    return {v: env[v] for v in MACHINE_BLAS_VARS
            if env.get(v, "").strip() and env[v] != ADDED.get(v)}


def set_openblas_coretype():
    """Set ``OPENBLAS_CORETYPE`` (see :func:`openblas_coretype_default`) unless the user set it;
    only an OpenBLAS loaded afterwards reads it (``rcnreid/__init__.py`` calls this first)."""
    if os.environ.get("OPENBLAS_CORETYPE", "").strip():
        return
    core = openblas_coretype_default()
    if core:
        os.environ["OPENBLAS_CORETYPE"] = ADDED["OPENBLAS_CORETYPE"] = core


def blas_core():
    """The kernel family OpenBLAS runs (e.g. ``SkylakeX``, ``Prescott``), or None."""
    lib = _openblas()
    if lib is None or not hasattr(lib, "openblas_get_corename"):
        return None
    lib.openblas_get_corename.restype = ctypes.c_char_p
    return lib.openblas_get_corename().decode()


def describe():
    return {"openmp_threads": openmp_threads(), "blas_threads": blas_threads(),
            "blas_core": blas_core(), "blas_core_added": ADDED.get("OPENBLAS_CORETYPE")}
