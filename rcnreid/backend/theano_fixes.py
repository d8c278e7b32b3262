"""Repairs of Theano-PyMC 1.1.2 bugs, applied by :mod:`rcnreid.backend.theano_env` and nowhere else.

Each repair is one small :class:`Fix`, named after the bug it repairs and guarded by the
Theano-PyMC version it was written for: on any other version it is not applied (and
``rcnreid info`` says so), because the code it repairs may have changed. Nothing inside
site-packages is edited and nothing of Theano is vendored: a fix rebinds one name (a method, a
module-level helper) on the loaded module, or wraps one function.

Stages:

- ``pre_import``: before ``import theano`` (the flags and module table Theano reads at import);
- ``post_import``: after ``import theano``, before any graph is built; these repair code paths
  that only the GPU backend reaches, so applying them on the CPU changes nothing;
- ``gpu_init``: completes the GPU initialisation that Theano's own import left half done.

``RCNREID_DISABLE_FIXES=name1,name2`` (a debugging aid; the tests use it to show that each fix
is needed) leaves the named fixes out. :data:`STATUS` records what happened to each, for
``rcnreid info``.

Some repairs concern only newer Pythons and numpys (issue 27: Python 3.12 comes with numpy 1.26,
3.13 with numpy 2): their ``when`` says where they are needed, and elsewhere they are recorded
as "not needed here" without being applied.

>>> sorted(f.name for f in FIXES if f.stage == "pre_import")  # doctest: +NORMALIZE_WHITESPACE
['numpy2_c_api', 'numpy2_removed_names', 'numpy_distutils_removed', 'numpy_removed_aliases',
 'scan_perform_ext_py311']
"""
import contextvars
import functools
import inspect
import os
import re
import sys
import textwrap
from dataclasses import dataclass
from typing import Callable

import numpy

#: The Theano-PyMC release every fix below was written against and tested with.
FIXED_VERSION = "1.1.2"


@dataclass(frozen=True)
class Fix:
    name: str
    bug: str            # one line: what is broken in Theano-PyMC 1.1.2
    stage: str          # "pre_import", "post_import" or "gpu_init"
    apply: Callable     # apply(theano_or_None) -> True when it changed something
    gpu: bool = False   # repairs a path only the GPU backend takes
    when: Callable = None   # when() -> False where the bug cannot occur (another Python/numpy)


FIXES = []

#: name -> "applied" | "not needed" | "not needed here (...)" | "disabled (RCNREID_DISABLE_FIXES)"
#: | "skipped: ..."
STATUS = {}


def _fix(name, bug, stage, gpu=False, when=None):
    def register(fn):
        FIXES.append(Fix(name, bug, stage, fn, gpu, when))
        return fn
    return register


def theano_version():
    """Theano's version without importing it (the pre-import fixes need it)."""
    if "theano" in sys.modules and hasattr(sys.modules["theano"], "__version__"):
        return sys.modules["theano"].__version__
    try:
        from importlib.metadata import version
        return version("Theano-PyMC")
    except Exception:
        pass
    # No installed metadata (a copied or vendored package): read versioneer's _version.py
    # as text, since importing even theano._version would import theano first.
    try:
        import importlib.util
        spec = importlib.util.find_spec("theano")
        for folder in (spec.submodule_search_locations or []) if spec else []:
            path = os.path.join(folder, "_version.py")
            if os.path.exists(path):
                with open(path) as f:
                    found = re.search(r'"version":\s*"([^"]+)"', f.read())
                if found:
                    return found.group(1)
    except Exception:
        pass
    return None


def disabled():
    return {n.strip() for n in os.environ.get("RCNREID_DISABLE_FIXES", "").split(",") if n.strip()}


def apply_stage(stage, theano=None):
    """Apply every fix of ``stage`` that fits this Theano version; record it in :data:`STATUS`."""
    version = theano_version()
    off = disabled()
    for f in FIXES:
        if f.stage != stage:
            continue
        if f.when is not None and not f.when():
            STATUS[f.name] = "not needed here (Python %d.%d, numpy %s)" % (
                sys.version_info[0], sys.version_info[1], numpy.__version__)
            continue
        if f.name in off:
            STATUS[f.name] = "disabled (RCNREID_DISABLE_FIXES)"
            continue
        if version != FIXED_VERSION:
            STATUS[f.name] = "skipped: written for Theano-PyMC %s, found %s" % (FIXED_VERSION,
                                                                                 version)
            continue
        STATUS[f.name] = "applied" if f.apply(theano) else "not needed"


# --------------------------------------------------------------------------------------------
# pre_import


@_fix("scan_perform_ext_py311",
      "theano.scan's Cython extension does not compile on Python >= 3.11 and the failed build "
      "aborts the first scan", "pre_import", when=lambda: sys.version_info >= (3, 11))
def _scan_perform_ext_py311(_):
    # A None in sys.modules makes Theano's `from . import scan_perform_ext` raise ImportError,
    # upon which it runs scan's outer loop in Python; each inner step is still compiled C.
    if "theano.scan.scan_perform_ext" not in sys.modules:
        sys.modules["theano.scan.scan_perform_ext"] = None
        return True
    return False


# --------------------------------------------------------------------------------------------
# pre_import: what numpy 1.24+, numpy 2 and Python 3.12 removed (issue 27)


def numpy_at_least(major, minor=0):
    found = tuple(int(p) for p in re.findall(r"\d+", numpy.__version__)[:2])
    return found >= (major, minor)


def _no_numpy_distutils():
    import importlib.util
    try:
        return importlib.util.find_spec("numpy.distutils") is None
    except Exception:
        return True


class _NumpyDistutilsStub:
    """What Theano reads of numpy.distutils: the numpy include folder. No __config__ and no
    system_info, so Theano's BLAS probing takes its 'not found' branch (rcnreid sets
    blas__ldflags itself, rcnreid.theano_env)."""


@_fix("numpy_distutils_removed",
      "theano.link.c.cmodule imports numpy.distutils (for the numpy include folder), which numpy "
      "has no longer on Python >= 3.12: import theano fails", "pre_import",
      when=_no_numpy_distutils)
def _numpy_distutils_removed(_):
    import types
    if "numpy.distutils" in sys.modules:
        return False
    pkg = types.ModuleType("numpy.distutils", "rcnreid stand-in for the removed numpy.distutils")
    pkg.__path__ = []                     # a package: `import numpy.distutils.x` fails cleanly
    misc = types.ModuleType("numpy.distutils.misc_util")
    misc.get_numpy_include_dirs = lambda: [numpy.get_include()]
    pkg.misc_util = misc
    pkg._rcnreid_stub = True
    sys.modules["numpy.distutils"] = pkg
    sys.modules["numpy.distutils.misc_util"] = misc
    numpy.distutils = pkg
    return True


#: numpy 1.24 removed these aliases of the builtins; Theano 1.1.2 uses them as such (np.bool as
#: getattr(np, "bool"), the constructor of its bool Cast op; numpy 2 has np.bool again).
NUMPY_ALIASES = {"bool": bool, "int": int, "complex": complex}


@_fix("numpy_removed_aliases",
      "Theano uses np.bool and np.int (at import: theano.scalar, theano.tensor.random) and "
      "np.complex (scalar constants: get_scalar_constant_value swallows the AttributeError and "
      "calls every constant non-scalar), aliases numpy 1.24 removed", "pre_import",
      when=lambda: numpy_at_least(1, 24))
def _numpy_removed_aliases(_):
    import warnings
    changed = False
    for name, value in NUMPY_ALIASES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # numpy 1.26 warns about np.bool's future
            missing = not hasattr(numpy, name)
        if missing:
            setattr(numpy, name, value)
            changed = True
    return changed


class _Cast:
    """numpy 1.x's np.cast: np.cast[dtype](x) is np.asarray(x).astype(dtype)."""

    def __getitem__(self, dtype):
        dtype = numpy.dtype(dtype)
        return lambda x: numpy.asarray(x).astype(dtype)


def _numpy2_names():
    from numpy import exceptions
    return {
        "cast": _Cast(),
        "product": numpy.prod,
        "sctype2char": lambda sctype: numpy.dtype(sctype).char,
        "ComplexWarning": exceptions.ComplexWarning,
        "AxisError": exceptions.AxisError,
    }


@_fix("numpy2_removed_names",
      "Theano calls np.cast (gradients of sqrt-like ops), np.product, np.sctype2char (Elemwise C "
      "code) and catches np.ComplexWarning and np.AxisError, all removed in numpy 2",
      "pre_import", when=lambda: numpy_at_least(2))
def _numpy2_removed_names(_):
    changed = False
    for name, value in _numpy2_names().items():
        if not hasattr(numpy, name):
            setattr(numpy, name, value)
            changed = True
    return changed


#: Compiler flags for Theano's C code under numpy 2: the numpy-2 layout of PyArray_Descr (Theano
#: reads descr->elsize, hidden unless compiled for numpy >= 2) and the Python 2 integer names
#: numpy's npy_3kcompat.h used to define (lazylinker_c.c, Theano's type checks). Macros on the
#: command line, no header file: a header that includes Python.h would also be prepended to
#: Theano's OpenMP probe, which then fails to compile and silently turns OpenMP off.
NUMPY2_CXXFLAGS = ("-DNPY_TARGET_VERSION=NPY_2_0_API_VERSION -DNPY_PY3K=1 -DPyInt_Check=PyLong_Check "
                   "-DPyInt_AsLong=PyLong_AsLong -DPyInt_AS_LONG=PyLong_AS_LONG "
                   "-DPyInt_FromLong=PyLong_FromLong")


@_fix("numpy2_c_api",
      "Theano's C code reads PyArray_DESCR(x)->elsize and uses PyInt_* names, which numpy 2's "
      "headers no longer provide by default: nothing compiles (lazylinker, every C op)",
      "pre_import", when=lambda: numpy_at_least(2))
def _numpy2_c_api(_):
    # Added to gcc__cxxflags through THEANO_FLAGS, after what the user set (THEANO_FLAGS or
    # .theanorc), which Theano reads at import.
    env = sys.modules.get("rcnreid.theano_env")
    user = dict(getattr(env, "STATE", {}).get("user_flags", {}))
    pieces = [p for p in os.environ.get("THEANO_FLAGS", "").split(",") if p.strip()]
    keep = [p for p in pieces
            if p.split("=", 1)[0].strip().replace(".", "__") != "gcc__cxxflags"]
    current = user.get("gcc__cxxflags", "")
    if NUMPY2_CXXFLAGS in current:
        return False
    keep.append("gcc__cxxflags=%s" % " ".join(x for x in (current, NUMPY2_CXXFLAGS) if x))
    os.environ["THEANO_FLAGS"] = ",".join(keep)
    return True


# --------------------------------------------------------------------------------------------
# gpu_init: theano.gpuarray.use() fails half-way through


class _GpuInitLog:
    """Holds the records Theano logs while its GPU backend initialises at import."""

    def __init__(self):
        self.records = []

    def filter(self, record):
        if record.getMessage().startswith("Could not initialize pygpu"):
            self.records.append(record)
            return False        # reported by rcnreid as one line, or repaired (below)
        return True

    def error(self):
        for r in self.records:
            if r.exc_info:
                return r.exc_info[1]
        return None


GPU_INIT_LOG = _GpuInitLog()


def watch_gpu_init():
    """Called before ``import theano`` when a GPU device is requested."""
    import logging
    logging.getLogger("theano.gpuarray").addFilter(GPU_INIT_LOG)


def _is_optdb_rebound(exc):
    return isinstance(exc, AttributeError) and "theano.gpuarray.optdb" in str(exc) \
        and "add_tags" in str(exc)


@_fix("gpuarray_use_optdb",
      "theano.gpuarray.use() calls optdb.add_tags on the submodule theano.gpuarray.optdb, which "
      "rebinds the name theano.compile.optdb: GPU init fails and Theano silently stays on the CPU",
      "gpu_init", gpu=True)
def _gpuarray_use_optdb(theano):
    import theano.compile
    import theano.gpuarray as ga
    from theano.compile import optdb

    # Later calls of use() (init_gpu_device, contexts) see the optimiser database, not the module.
    if ga.use.__globals__.get("optdb") is not optdb:
        ga.use = functools.update_wrapper(
            type(ga.use)(ga.use.__code__, dict(ga.use.__globals__, optdb=optdb), "use",
                         ga.use.__defaults__), ga.use)
    exc = GPU_INIT_LOG.error()
    if exc is None or not _is_optdb_rebound(exc):
        return False
    # Theano's import got through init_dev (the context exists) and failed on the next line:
    # finish what use() would have done.
    optdb.add_tags("gpuarray_opt", "fast_run", "fast_compile")
    optdb.add_tags("gpua_scanOp_make_inplace", "fast_run")
    theano.compile.shared_constructor(ga.gpuarray_shared_constructor)
    GPU_INIT_LOG.records.clear()
    return True


# --------------------------------------------------------------------------------------------
# post_import: the GPU optimisers after Theano-PyMC's `fgraph` refactor

#: The FunctionGraph being optimised, for the GPU makers that Theano calls without it.
_FGRAPH = contextvars.ContextVar("rcnreid_fgraph", default=None)


@functools.lru_cache(maxsize=None)
def _takes_fgraph(fn):
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] == "fgraph"


class _WithFgraph:
    """A GraphToGPU local optimiser called in the old four-argument form, given its fgraph."""

    def __init__(self, lopt, fgraph):
        self.lopt, self.fgraph = lopt, fgraph

    def transform(self, op, context_name, inputs, outputs):
        fn = getattr(self.lopt, "fn", None)
        if fn is not None and not _takes_fgraph(fn):
            return self.lopt.transform(op, context_name, inputs, outputs)
        return self.lopt.transform(self.fgraph, op, context_name, inputs, outputs)

    def __getattr__(self, name):
        return getattr(self.lopt, name)

    def __str__(self):
        return str(self.lopt)


@_fix("gpu_graph_opt_fgraph",
      "GraphToGPU.apply calls its local optimisers without the fgraph argument they now take "
      "(TypeError: missing 'outputs'), so no op is moved to the GPU", "post_import", gpu=True)
def _gpu_graph_opt_fgraph(theano):
    from theano.gpuarray.opt import GraphToGPU
    if getattr(GraphToGPU.apply, "_rcnreid_fixed", False):
        return False
    apply = GraphToGPU.apply

    @functools.wraps(apply)
    def fixed(self, fgraph, *args, **kwargs):
        saved = self.local_optimizers_all, self.local_optimizers_map
        self.local_optimizers_all = [_WithFgraph(o, fgraph) for o in saved[0]]
        self.local_optimizers_map = {k: [_WithFgraph(o, fgraph) for o in v]
                                     for k, v in saved[1].items()}
        try:
            return apply(self, fgraph, *args, **kwargs)
        finally:
            self.local_optimizers_all, self.local_optimizers_map = saved

    fixed._rcnreid_fixed = True
    GraphToGPU.apply = fixed
    return True


def _gpu_local_optimizers():
    """Every FromFunctionLocalOptimizer that Theano's GPU modules define or register."""
    from theano.graph.opt import FromFunctionLocalOptimizer
    from theano.gpuarray import optdb as gpu_optdb
    found = {}
    for name, mod in list(sys.modules.items()):
        if mod is not None and name.startswith("theano.gpuarray"):
            for value in list(vars(mod).values()):
                if isinstance(value, FromFunctionLocalOptimizer):
                    found[id(value)] = value
    for obj in vars(gpu_optdb).values():
        for entries in getattr(obj, "__db__", {}).values():
            for value in entries:
                if isinstance(value, FromFunctionLocalOptimizer):
                    found[id(value)] = value
    return list(found.values())


def _old_call(maker):
    """maker(fgraph, op, context_name, inputs, outputs), callable as maker(op, ...) again."""
    if getattr(maker, "_rcnreid_fixed", False) or not _takes_fgraph(maker):
        return maker

    def adapted(*args):
        if len(args) == 4:
            return maker(_FGRAPH.get(), *args)
        return maker(*args)

    functools.update_wrapper(adapted, maker)
    adapted._rcnreid_fixed = True
    return adapted


def _keeps_fgraph(fn):
    """fn(fgraph, node) that makes its fgraph known to the makers it calls the old way."""
    if getattr(fn, "_rcnreid_fixed", False):
        return fn

    def with_fgraph(fgraph, *args, **kwargs):
        token = _FGRAPH.set(fgraph)
        try:
            return fn(fgraph, *args, **kwargs)
        finally:
            _FGRAPH.reset(token)

    functools.update_wrapper(with_fgraph, fn)
    with_fgraph._rcnreid_fixed = True
    return with_fgraph


#: Module-level helpers that Theano's GPU code still calls in the pre-refactor form.
_OLD_CALLS = {"theano.gpuarray.dnn_opt": ("local_abstractconv_cudnn_graph",
                                          "local_abstractconv3d_cudnn_graph")}


@_fix("gpu_local_opt_fgraph",
      "op_lifter and the cuDNN optimisers call the GPU makers without the fgraph argument the "
      "makers now take, so no elementwise, join or convolution op moves to the GPU", "post_import", gpu=True)
def _gpu_local_opt_fgraph(theano):
    import theano.gpuarray.dnn_opt  # noqa: F401  (defines the cuDNN optimisers)
    from theano.gpuarray.opt_util import op_lifter
    lifter_code = op_lifter([theano.tensor.Join])(lambda *a: None).fn.__code__
    changed = False
    for lopt in _gpu_local_optimizers():
        fn = lopt.fn
        if getattr(fn, "_rcnreid_fixed", False):
            continue
        if getattr(fn, "__code__", None) is lifter_code:
            cell = fn.__closure__[fn.__code__.co_freevars.index("maker")]
            cell.cell_contents = _old_call(cell.cell_contents)
        if _takes_fgraph(fn):
            lopt.fn = _keeps_fgraph(fn)
            changed = True
    for modname, names in _OLD_CALLS.items():
        mod = sys.modules[modname]
        for name in names:
            setattr(mod, name, _old_call(getattr(mod, name)))
    return changed


def _rebind(module, name, wrap):
    """Replace the module-level name ``module.name`` by ``wrap(original)``, once."""
    original = getattr(module, name)
    if getattr(original, "_rcnreid_fixed", False):
        return False
    fixed = wrap(original)
    fixed._rcnreid_fixed = True
    setattr(module, name, fixed)
    return True


@_fix("gpu_applys_between_len",
      "GraphToGPU takes len() of theano.graph.basic.applys_between, now a generator, whenever an "
      "op is moved", "post_import", gpu=True)
def _gpu_applys_between_len(theano):
    import theano.gpuarray.opt as gpu_opt
    return _rebind(gpu_opt, "applys_between",
                   lambda original: lambda *a, **k: list(original(*a, **k)))


@_fix("fusion_gpu_test_value",
      "elementwise fusion calls .flatten() on a shared variable's value, a pygpu GpuArray on "
      "the GPU, which has no flatten: the optimisation aborts", "post_import", gpu=True)
def _fusion_gpu_test_value(theano):
    import theano.tensor.opt as tensor_opt

    def host_values(original):
        def get_test_value(v):
            value = original(v)
            return numpy.asarray(value) if type(value).__module__.startswith("pygpu") else value
        return get_test_value

    return _rebind(tensor_opt, "get_test_value", host_values)


@_fix("hidec_hooks_defaults",
      "HideC hides its CPU parent's C code by raising MethodNotDefined from every C hook "
      "(compile args, headers, support code, ...), which the C linker no longer catches: every "
      "GPU op built on HideC (GpuElemwise, GpuJoin, GpuAlloc, ...) fails to compile and falls "
      "back to a Python implementation that does not exist", "post_import", gpu=True)
def _hidec_hooks_defaults(theano):
    from theano.link.c.interface import CLinkerOp, HideC
    if getattr(HideC, "_rcnreid_fixed", False):
        return False
    hider = HideC.__dict__["c_code"]
    for name, value in list(vars(HideC).items()):
        if value is hider and not name.startswith("_"):
            # Hide the parent's hook by the interface's own default ("contributes nothing";
            # for c_code: "no C implementation").
            setattr(HideC, name, inspect.getattr_static(CLinkerOp, name))
    HideC._rcnreid_fixed = True
    return True


def _replace_in_source(owner, attr, edits):
    """Recompile ``owner.attr`` (a plain function or method) with textual ``edits`` applied.

    ``edits`` is [(old, new, count)]: each ``old`` must occur exactly ``count`` times in the
    function's source, or nothing is changed and a RuntimeError names the mismatch (the version
    guard should have caught it). The function is compiled in its own module's globals, under
    its own file name (tracebacks still point at Theano's file, with rcnreid named in it).
    """
    current = inspect.getattr_static(owner, attr)
    # Several fixes may edit one function: always start from Theano's own and apply them all.
    func = getattr(current, "_rcnreid_original", current)
    done = list(getattr(current, "_rcnreid_edits", []))
    edits = [e for e in edits if e not in done]
    if not edits:
        return False
    edits = done + edits
    if func.__closure__:
        raise RuntimeError("cannot patch %s.%s: it is a closure" % (owner.__name__, attr))
    source = textwrap.dedent(inspect.getsource(func))
    for old, new, count in edits:
        found = source.count(old)
        if found != count:
            raise RuntimeError("cannot patch %s.%s: %r occurs %d times, expected %d"
                               % (owner.__name__, attr, old, found, count))
        source = source.replace(old, new)
    filename = "%s (patched by rcnreid.backend.theano_fixes)" % inspect.getsourcefile(func)
    namespace = {}
    code = compile("\n" * (func.__code__.co_firstlineno - 1) + source, filename, "exec")
    exec(code, func.__globals__, namespace)
    fixed = namespace[func.__name__]
    fixed.__defaults__, fixed.__kwdefaults__ = func.__defaults__, func.__kwdefaults__
    fixed.__qualname__ = func.__qualname__
    fixed._rcnreid_original, fixed._rcnreid_edits = func, edits
    setattr(owner, attr, fixed)
    return True


@_fix("scan_buffer_rotation_overlap",
      "scan's buffer rotation copies out[pdx:] onto out[:S-pdx] when pdx >= S // 2, which "
      "overlaps for odd S (pdx = S // 2): OpenCL refuses the copy, on CUDA an overlapping "
      "device copy is undefined behaviour", "post_import", gpu=True)
def _scan_buffer_rotation_overlap(theano):
    from theano.scan.op import Scan
    return _replace_in_source(Scan, "perform", [
        ("if pdx >= store_steps[idx] // 2:", "if 2 * pdx >= store_steps[idx]:", 1),
    ])


def gpu_buffer_id(var):
    """What names a pygpu array's device memory, on either backend: ``.gpudata`` (the device
    pointer, offset included) on CUDA, where ``.base_data`` raises; ``(base_data, offset)``
    (the cl_mem handle and the offset into it) on OpenCL, where ``.gpudata`` raises."""
    if var.context.kind == b"opencl":
        return (var.base_data, var.offset)
    return var.gpudata


@_fix("scan_gpudata_identity",
      "scan's Python loop identifies GPU buffers by .gpudata, which pygpu defines for CUDA "
      "arrays only: every scan fails on OpenCL", "post_import", gpu=True)
def _scan_gpudata_identity(theano):
    from theano.scan.op import Scan
    scan_op = sys.modules[Scan.__module__]     # (theano.scan is also the scan function)
    # Neither attribute works on both backends (a first version used (base_data, offset)
    # everywhere and broke every scan on CUDA, seen on an H200): ask the array's context.
    scan_op._rcnreid_gpu_buffer_id = gpu_buffer_id
    return _replace_in_source(Scan, "perform", [
        ("= var.gpudata\n", "= _rcnreid_gpu_buffer_id(var)\n", 2),
        ("new_var.gpudata == old_data", "_rcnreid_gpu_buffer_id(new_var) == old_data", 3),
    ])


def _on_opencl(node):
    """True when a node reads or writes an array of an OpenCL context."""
    from theano.gpuarray.type import GpuArrayType, get_context
    for v in list(node.inputs) + list(node.outputs):
        if isinstance(v.type, GpuArrayType) and \
                get_context(v.type.context_name).kind == b"opencl":
            return True
    return False


@_fix("scan_cython_gpudata_opencl",
      "scan's Cython loop (theano/scan/scan_perform.pyx, used before Python 3.11) identifies GPU "
      "buffers by .gpudata too: every scan fails on OpenCL ('This is for CUDA arrays.')",
      "post_import", gpu=True, when=lambda: sys.version_info < (3, 11))
def _scan_cython_gpudata_opencl(theano):
    # The Cython loop is compiled and cannot be edited: a scan on an OpenCL context runs the
    # Python loop instead (repaired by scan_gpudata_identity), as every scan does from Python
    # 3.11 on (scan_perform_ext_py311). CPU and CUDA scans keep the Cython loop.
    from theano.scan.op import Scan
    original = Scan.make_thunk
    if getattr(original, "_rcnreid_python_loop_on_opencl", False):
        return False

    @functools.wraps(original)
    def make_thunk(self, node, storage_map, compute_map, no_recycling, impl=None):
        if impl is None and _on_opencl(node):
            impl = "py"
        return original(self, node, storage_map, compute_map, no_recycling, impl=impl)

    make_thunk._rcnreid_python_loop_on_opencl = True
    Scan.make_thunk = make_thunk
    return True


def _bump_cache_version(cls, tag):
    """Compiled modules made from the unrepaired C code must not be reused from the cache. An
    op without a version (``()``: Theano never caches it) stays without one."""
    original = cls.c_code_cache_version
    if getattr(original, "_rcnreid_tag", None) == tag:
        return

    def c_code_cache_version(self):
        version = tuple(original(self))
        return version + (tag,) if version else version

    c_code_cache_version._rcnreid_tag = tag
    cls.c_code_cache_version = c_code_cache_version


@_fix("maximum_minimum_nan",
      "the C code of maximum/minimum writes NaN as nan(\"\"), which is not OpenCL C (the GPU "
      "kernel does not build; pocl crashes)", "post_import", gpu=True)
def _maximum_minimum_nan(theano):
    from theano.scalar.basic import ScalarMaximum, ScalarMinimum
    changed = False
    for cls in (ScalarMaximum, ScalarMinimum):
        # Reached only when neither comparison holds, i.e. when x or y is NaN: then x + y is
        # NaN too, in every C dialect (C, CUDA, OpenCL).
        if _replace_in_source(cls, "c_code", [('nan("")', "({x}) + ({y})", 1)]):
            _bump_cache_version(cls, 91)
            changed = True
    return changed


@_fix("gpu_elemwise_free_null",
      "when a GPU elementwise kernel does not build (GpuElemwise_new returns NULL), the op's "
      "cleanup calls GpuElemwise_free(NULL): a segfault instead of the build error", "post_import",
      gpu=True)
def _gpu_elemwise_free_null(theano):
    from theano.gpuarray.elemwise import GpuElemwise
    if getattr(GpuElemwise.c_cleanup_code_struct, "_rcnreid_fixed", False):
        return False
    original = GpuElemwise.c_cleanup_code_struct
    if "GpuElemwise_free(ge);" not in original(None, None, "x"):
        raise RuntimeError("GpuElemwise.c_cleanup_code_struct is not the one this fix repairs")

    def c_cleanup_code_struct(self, node, name):
        return "\nif (ge != NULL) { GpuElemwise_free(ge); ge = NULL; }\n"

    def c_support_code_struct(self, node, name):      # NULL until the init code sets it
        return "\nGpuElemwise *ge = NULL;\n"

    c_cleanup_code_struct._rcnreid_fixed = True
    GpuElemwise.c_cleanup_code_struct = c_cleanup_code_struct
    GpuElemwise.c_support_code_struct = c_support_code_struct
    _bump_cache_version(GpuElemwise, 93)
    return True


@_fix("elemwise_openmp_pragma",
      "with openmp=True, Elemwise's C generator emits the unformatted text "
      "'if(n>={int(config.openmp_elemwise_minsize)})' (an f-string without its f): the C code "
      "does not compile", "post_import")
def _elemwise_openmp_pragma(theano):
    from theano.tensor.elemwise import Elemwise
    return _replace_in_source(Elemwise, "_c_all", [
        ('contig += """#pragma omp parallel for if(n>={int(config.openmp_elemwise_minsize)})',
         'contig += f"""#pragma omp parallel for if(n>={int(config.openmp_elemwise_minsize)})', 1),
    ])


@_fix("profile_atexit_merge",
      "with profile=True and more than one profiled function, the summary printed at exit "
      "calls getattr(ps, attr.items()) (for getattr(ps, attr).items()): the 'Sum of all' "
      "profile is lost to an AttributeError", "post_import")
def _profile_atexit_merge(theano):
    import atexit
    from theano.compile import profiling
    original = profiling._atexit_print_fn
    if not _replace_in_source(profiling, "_atexit_print_fn", [
            ("getattr(ps, attr.items())", "getattr(ps, attr).items()", 1)]):
        return False
    if profiling._atexit_registered:          # registered already: swap the registration
        atexit.unregister(original)
        atexit.register(profiling._atexit_print_fn)
    return True


@_fix("opencl_blas_beta0_output",
      "a dot product lifted to the GPU writes into an uninitialised buffer (GpuAllocEmpty) "
      "with beta = 0; cuBLAS then ignores the buffer, but libgpuarray's OpenCL BLAS (clBLAS) "
      "computes beta * y and turns leftover NaN in recycled device memory into NaN results, "
      "now and then", "gpu_init", gpu=True)
def _opencl_blas_beta0_output(theano):
    # Theano ships the cure registered but switched off: the 'local_gpua_alloc_empty_to_zeros'
    # optimisation (a zero-filled GpuAlloc for every GpuAllocEmpty, at position 49.3, after the
    # move to the GPU). Tag it into FAST_RUN and FAST_COMPILE for OpenCL devices only; the
    # memsets are small beside the products they protect. Applied before any graph is built.
    devices = (theano.config.device, theano.config.init_gpu_device)
    if not any(str(d).startswith("opencl") for d in devices):
        return False
    import theano.gpuarray.opt  # noqa: F401  (registers the optimisation)
    from theano.compile import optdb
    name = "local_gpua_alloc_empty_to_zeros"
    entry = next(iter(optdb.__db__[name]))
    missing = [t for t in ("fast_run", "fast_compile") if entry not in optdb.__db__[t]]
    if missing:
        optdb.add_tags(name, *missing)
    return bool(missing)


#: The folder of rcnreid_cudnn_compat.h (shipped with the package, setup.py package_data).
CUDA_HEADER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda")
CUDNN_COMPAT_HEADER = "rcnreid_cudnn_compat.h"

#: cuDNN major versions the compatibility header was written for and compile-checked against
#: (tests/test_cuda_headers.py); Theano-PyMC 1.1.2 itself covers 5 to 7.
CUDNN_REPAIRED_MAJORS = (8, 9)


@_fix("cudnn8_removed_algo_queries",
      "the cuDNN convolutions (forward and both gradients) call cudnnGetConvolution{Forward,"
      "BackwardData,BackwardFilter}Algorithm, which cuDNN 8.0 removed: with cuDNN 8 or 9 they "
      "do not compile", "post_import", gpu=True)
def _cudnn8_removed_algo_queries(theano):
    # Every cuDNN op (DnnBase) includes rcnreid_cudnn_compat.h after cudnn.h: with cuDNN >= 8
    # it defines the removed calls on top of the surviving *_v7 heuristic queries (fastest
    # algorithm whose workspace fits, the old preference semantics); with cuDNN < 8, nothing.
    from theano.gpuarray.dnn import DnnBase
    if getattr(DnnBase.c_headers, "_rcnreid_fixed", False):
        return False
    headers, header_dirs = DnnBase.c_headers, DnnBase.c_header_dirs

    @functools.wraps(headers)
    def c_headers(self, **kwargs):
        found = list(headers(self, **kwargs))
        at = found.index("cudnn.h") + 1 if "cudnn.h" in found else len(found)
        return found[:at] + [CUDNN_COMPAT_HEADER] + found[at:]

    @functools.wraps(header_dirs)
    def c_header_dirs(self, **kwargs):
        return [CUDA_HEADER_DIR] + list(header_dirs(self, **kwargs))

    c_headers._rcnreid_fixed = c_header_dirs._rcnreid_fixed = True
    DnnBase.c_headers, DnnBase.c_header_dirs = c_headers, c_header_dirs
    _bump_cache_version(DnnBase, 92)
    return True


def describe():
    """[{name, stage, bug, status}] for ``rcnreid info``."""
    return [{"name": f.name, "stage": f.stage, "bug": f.bug,
             "status": STATUS.get(f.name, "not reached")} for f in FIXES]
