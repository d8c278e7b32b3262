"""The backend's start-up: the one module that rcnreid's graph-building code imports Theano from::

    from rcnreid.backend.theano_env import theano, T   # never a bare ``import theano``

Importing it, once per process and in this order:

1. configures Theano-PyMC before its first import, imports it and applies the repairs of
   :mod:`rcnreid.backend.theano_fixes` (:mod:`rcnreid.backend.theano_config`; a GPU asked for in
   ``THEANO_FLAGS`` is started and checked there);
2. registers the CPU convolutions through oneDNN ahead of Theano's CorrMM
   (:func:`rcnreid.backend.onednn_conv.register`; ``RCNREID_CPU_CONV`` chooses at compile time).

These are the only import side effects of the package besides the OpenBLAS kernel choice of
``rcnreid/__init__.py``. :func:`describe` reports what is in force (``rcnreid info``).
"""
from rcnreid.backend import onednn_conv
from rcnreid.backend.theano_config import STATE, T, describe, theano  # noqa: F401  (re-exported)

onednn_conv.register()
