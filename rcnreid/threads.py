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


def describe():
    return {"openmp_threads": openmp_threads(), "blas_threads": blas_threads()}
