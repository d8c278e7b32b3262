"""Test-session settings shared by every test module.

pytest-xdist workers (``make test`` runs ``TEST_JOBS`` of them) share the machine's cores: each
worker gets ``cores // workers`` OpenMP and BLAS threads (at least one), set here before any test
module imports :mod:`rcnreid.theano_env`, which otherwise gives every process every core
(issue 18). A variable the user set is left alone.
"""
import os

from rcnreid.threads import usable_cores

_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
if _workers > 1:
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if not os.environ.get(_var, "").strip():
            os.environ[_var] = str(max(1, usable_cores() // _workers))
