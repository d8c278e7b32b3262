"""Threads (issue 18): rcnreid.backend.theano_env sets OpenMP and OpenBLAS thread counts before
Theano loads them, only where the user set nothing, and turns Theano's OpenMP on; the OpenMP paths
compute the same numbers as the serial ones (CorrMM's image loop and its per-thread weight-gradient
buffers, Elemwise's split loop) -- no timing is asserted."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rcnreid.backend.theano_env import theano, T
from rcnreid.backend.threads import usable_cores

PROBE = ("import json, os; import rcnreid.backend.theano_env as e; "
         "from rcnreid.backend import threads; "
         "print(json.dumps({'openmp': bool(e.theano.config.openmp), "
         "'omp_env': os.environ.get('OMP_NUM_THREADS'), "
         "'blas_env': os.environ.get('OPENBLAS_NUM_THREADS'), "
         "'added': e.STATE['env_added'], 'omp': threads.openmp_threads(), "
         "'blas': threads.blas_threads()}))")


def _probe(**env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "THEANO_FLAGS")}
    env.update(env_changes)
    r = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_defaults_when_the_user_sets_nothing():
    d = _probe()
    n = str(usable_cores())
    assert d["openmp"] is True
    assert d["omp_env"] == n and d["blas_env"] == n
    assert d["added"] == {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}
    assert d["omp"] == usable_cores()
    assert d["blas"] in (None, usable_cores())   # None: no OpenBLAS on this machine


def test_the_users_thread_settings_win():
    d = _probe(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    assert d["added"] == {} and (d["omp_env"], d["blas_env"]) == ("1", "1")
    assert d["openmp"] is False          # one OpenMP thread: Theano's OpenMP stays off
    assert d["omp"] == 1 and d["blas"] in (None, 1)
    d = _probe(THEANO_FLAGS="openmp=False")
    assert d["openmp"] is False and d["omp_env"] == str(usable_cores())
    d = _probe(OPENBLAS_NUM_THREADS="1")
    assert d["openmp"] is True and d["added"] == {"OMP_NUM_THREADS": str(usable_cores())}
    assert d["blas"] in (None, 1)


CORE_PROBE = ("import json, os, sys; {pre}from rcnreid.backend import threads; "
              "print(json.dumps({{'core': threads.blas_core(), 'added': threads.ADDED, "
              "'env': os.environ.get('OPENBLAS_CORETYPE')}}))")


def _machine_blas_vars():
    """OpenBLAS settings this machine's environment carries (issue 25); never changed here."""
    from rcnreid.backend.threads import machine_blas_settings
    return machine_blas_settings()


def _core_probe(pre="", **env_changes):
    """Import rcnreid in a child with this environment plus ``env_changes``."""
    from rcnreid.backend.threads import ADDED
    env = {k: v for k, v in os.environ.items() if ADDED.get(k) != v}   # as the machine set it
    env.update(env_changes)
    code = CORE_PROBE.format(pre=pre)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_openblas_coretype_default_follows_the_cpu_flags():
    from rcnreid.backend.threads import AVX512, openblas_coretype_default
    assert openblas_coretype_default(set(AVX512) | {"avx2", "fma"}) == "SkylakeX"
    assert openblas_coretype_default({"avx2", "fma", "avx512f"}) is None
    assert openblas_coretype_default(set()) is None


def test_a_machines_openblas_settings_are_left_alone():
    """Where the environment sets OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE (done on machines whose
    OpenBLAS computes wrong results or crashes otherwise), importing rcnreid keeps both as they
    are and adds nothing; checked with the machine's own values, or with stand-in values where
    the machine sets none."""
    from rcnreid.backend.threads import MACHINE_BLAS_VARS
    given = _machine_blas_vars()
    if not given:
        given = {"OPENBLAS_CORETYPE": "Haswell"}
    probe = ("import json, os; from rcnreid.backend import threads; print(json.dumps({'added': "
             "threads.ADDED, 'env': {v: os.environ.get(v) for v in %r}}))" % (MACHINE_BLAS_VARS,))
    r = subprocess.run([sys.executable, "-c", probe], env=dict(os.environ, **given),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert "OPENBLAS_CORETYPE" not in d["added"] and "OPENBLAS_L2_SIZE" not in d["added"]
    for var, value in given.items():
        assert d["env"][var] == value, (var, d)


def test_openblas_runs_its_avx512_kernels_on_an_avx512_cpu():
    """Importing rcnreid sets OPENBLAS_CORETYPE=SkylakeX on an AVX-512 CPU (where Debian's
    OpenBLAS 0.3.21 falls back to its SSE3 'Prescott' kernels for models it does not know, as on
    the project's Sapphire Rapids machines); a user's choice wins. Not run where the machine's
    environment sets OpenBLAS's kernels itself: that choice is never overridden, not even here."""
    from rcnreid.backend.threads import openblas_coretype_default
    if _machine_blas_vars():
        pytest.skip("this machine's environment sets OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE")
    d = _core_probe()
    if d["core"] is None:
        pytest.skip("no OpenBLAS on this machine")
    if openblas_coretype_default() is None:
        assert d["added"] == {} and d["env"] is None
        return
    assert d["core"] == "SkylakeX" and d["added"] == {"OPENBLAS_CORETYPE": "SkylakeX"}
    d = _core_probe(OPENBLAS_CORETYPE="Haswell")
    assert d["core"] == "Haswell" and d["added"] == {} and d["env"] == "Haswell"


@pytest.mark.parametrize("batch", [1, 3, 5])
def test_corrmm_openmp_matches_the_serial_op(batch):
    """Forward, weight gradient (per-thread buffers summed after the loop) and input gradient of
    CorrMM(openmp=True) against CorrMM(openmp=False) and, for the forward, numpy."""
    from theano.tensor.nnet.corr import CorrMM, CorrMM_gradInputs, CorrMM_gradWeights
    rng = np.random.RandomState(batch)
    xs, ws = (batch, 3, 7, 6), (4, 3, 3, 3)
    x = rng.randn(*xs).astype("float32")
    w = rng.randn(*ws).astype("float32")
    X, W = T.tensor4(), T.tensor4()
    outs = {}
    for omp in (False, True):
        y = CorrMM(border_mode="half", openmp=omp)(X, W)
        gw = CorrMM_gradWeights(border_mode="half", openmp=omp)(X, y, ws[-2:])
        gi = CorrMM_gradInputs(border_mode="half", openmp=omp)(W, y, xs[-2:])
        f = theano.function([X, W], [y, gw, gi])
        assert any(getattr(n.op, "openmp", None) is omp for n in f.maker.fgraph.toposort())
        outs[omp] = f(x, w)
    for a, b in zip(outs[False], outs[True]):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros((batch, 4, 7, 6))
    for i in range(3):
        for j in range(3):
            ref += np.einsum("bchw,oc->bohw", xp[:, :, i:i + 7, j:j + 6], w[:, :, i, j])
    np.testing.assert_allclose(outs[True][0], ref, rtol=1e-4, atol=1e-4)


def test_elemwise_openmp_matches_numpy_above_the_split_size():
    """A fused elementwise graph large enough for Elemwise's OpenMP loop (and one below it)."""
    n_big = int(theano.config.openmp_elemwise_minsize) + 1001
    a, b = T.vector(), T.vector()
    with theano.config.change_flags(openmp=True):
        f = theano.function([a, b], T.nnet.sigmoid(a) * T.tanh(b) + a * (1 - T.nnet.sigmoid(b)))
    assert all(getattr(n.op, "openmp", True) for n in f.maker.fgraph.toposort())
    rng = np.random.RandomState(0)
    for n in (n_big, 1000):
        av, bv = rng.randn(n).astype("float32"), rng.randn(n).astype("float32")
        sig = lambda v: 1 / (1 + np.exp(-v.astype(float)))  # noqa: E731
        np.testing.assert_allclose(f(av, bv), sig(av) * np.tanh(bv) + av * (1 - sig(bv)),
                                   rtol=1e-5, atol=1e-6)
