"""The repairs for newer Pythons and numpys (issue 27), each shown necessary where it applies.

Python 3.12 comes with numpy 1.26 (no numpy.distutils, no np.int/np.complex), 3.13 with numpy 2
(no np.cast & co., a new C API). Each test runs a small Theano program in a fresh process and
compile cache with the repair and without it (RCNREID_DISABLE_FIXES), and checks that it works
with it and fails, in the expected way, without. On a Python/numpy where the repair is not
needed (this project's default 3.11 venv) the test skips: `make test-platforms` runs this file in
venvs of Python 3.10, 3.12 and 3.13 (docs/INSTALL.md).
"""
import os
import subprocess
import sys

import pytest

from rcnreid.backend import theano_fixes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fix(name):
    return next(f for f in theano_fixes.FIXES if f.name == name)


def _needed(name):
    f = _fix(name)
    return pytest.mark.skipif(not f.when(), reason="%s is not needed on Python %d.%d with numpy "
                              "%s" % (name, sys.version_info[0], sys.version_info[1],
                                      theano_fixes.numpy.__version__))


def _python(code, tmp_path, disable=None):
    env = dict(os.environ)
    env.pop("THEANORC", None)
    env["THEANO_FLAGS"] = "base_compiledir=%s" % tmp_path
    # Two OpenMP threads, whatever the test worker has (pytest-xdist workers on 2 cores get 1,
    # and with 1 thread rcnreid turns OpenMP off, which C_CODE checks is on: the probe that a
    # header including Python.h once broke silently).
    env["OMP_NUM_THREADS"] = "2"
    env.pop("RCNREID_DISABLE_FIXES", None)
    if disable:
        env["RCNREID_DISABLE_FIXES"] = disable
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=900, cwd=ROOT)


def _with_and_without(name, code, tmp_path, failure):
    good = _python(code, tmp_path / "with")
    assert good.returncode == 0 and "ok" in good.stdout, good.stderr[-3000:]
    bad = _python(code, tmp_path / "without", disable=name)
    assert bad.returncode != 0, bad.stdout[-1000:]
    assert failure in bad.stderr, bad.stderr[-3000:]


IMPORT_CODE = "from rcnreid.backend.theano_env import theano; print('ok')"


@_needed("numpy_distutils_removed")
def test_theano_imports_without_numpy_distutils(tmp_path):
    # np.int is needed at import too: with only this repair disabled, the distutils import fails
    _with_and_without("numpy_distutils_removed", IMPORT_CODE, tmp_path,
                      "No module named 'numpy.distutils'")


ALIASES_CODE = """
from rcnreid.backend.theano_env import theano, T
import theano.tensor.random.basic
assert T.get_scalar_constant_value(T.constant(3.0)) == 3.0
print("ok")
"""


@_needed("numpy_removed_aliases")
def test_theano_imports_and_folds_scalar_constants_without_numpy_aliases(tmp_path):
    # numpy 1.24-1.26: np.bool fails first (import theano); numpy 2 has np.bool again, and
    # np.int fails (theano.tensor.random)
    missing = "int" if theano_fixes.numpy_at_least(2) else "bool"
    _with_and_without("numpy_removed_aliases", ALIASES_CODE, tmp_path,
                      "has no attribute '%s'" % missing)


@_needed("numpy_removed_aliases")
def test_scalar_constants_are_scalars_again():
    """np.complex: without it get_scalar_constant_value calls every constant non-scalar (the
    AttributeError is swallowed), silently losing shape inference and constant folding."""
    from rcnreid.backend.theano_env import T
    assert numpy_complex_is_builtin()
    assert T.get_scalar_constant_value(T.constant(3.0)) == 3.0
    assert T.get_scalar_constant_value(T.as_tensor_variable(2) * 4) == 8


def numpy_complex_is_builtin():
    return theano_fixes.numpy.complex is complex


NUMPY2_CODE = """
import warnings
import numpy as np
from rcnreid.backend.theano_env import theano, T
x = T.fvector()
g = theano.grad(T.sum(T.arcsin(x * 0.5) + T.arccosh(x + 2) + T.exp2(x)), x)
f = theano.function([x], [T.prod(x), g])
v = np.array([0.1, 0.4, 0.7], "float32")
p, gv = f(v)
want = 0.5 / np.sqrt(1 - (v * 0.5) ** 2) + 1 / np.sqrt((v + 2) ** 2 - 1) + np.exp2(v) * np.log(2)
assert np.allclose(p, np.prod(v)) and np.allclose(gv, want, rtol=1e-5), (p, gv, want)
print("ok")
"""


@_needed("numpy2_removed_names")
def test_gradients_run_without_numpy2_removed_names(tmp_path):
    _with_and_without("numpy2_removed_names", NUMPY2_CODE, tmp_path, "np.cast` was removed")


C_CODE = """
import numpy as np
from rcnreid.backend.theano_env import theano, T
from rcnreid.backend.theano_env import describe
x = T.fmatrix()
f = theano.function([x], T.exp(x).dimshuffle(1, 0) * 2)
v = np.arange(6, dtype="float32").reshape(2, 3)
assert np.allclose(f(v), (np.exp(v) * 2).T)
assert describe()["openmp"], "OpenMP was turned off"
from theano.link.c import lazylinker_c   # the C virtual machine compiled
print("ok")
"""


@_needed("numpy2_c_api")
def test_c_code_compiles_against_numpy2(tmp_path):
    _with_and_without("numpy2_c_api", C_CODE, tmp_path, "elsize")


def test_fixes_for_other_platforms_say_so():
    """On this Python every fix is either applied or says why it is not needed here."""
    from rcnreid.backend import theano_env  # noqa: F401  (imports Theano: the fixes' stages run)
    for f in theano_fixes.FIXES:
        if f.when is not None:
            status = theano_fixes.STATUS.get(f.name, "")
            assert status == "applied" if f.when() else status.startswith("not needed here"), \
                (f.name, status)
