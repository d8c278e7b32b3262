"""rcnreid: Deep Recurrent Convolutional Networks for video-based person re-identification.

Importing this package does not import Theano. Every module that builds Theano graphs imports
:mod:`rcnreid.backend.theano_env` first, which configures Theano (float32, BLAS, scan) before its
first import; see that module for the workarounds in force. Importing it sets ``OPENBLAS_CORETYPE``
on AVX-512 CPUs when unset (:func:`rcnreid.backend.threads.set_openblas_coretype`).
"""
__version__ = "0.1.0"

# Before numpy or Theano loads an OpenBLAS: its kernels for this CPU (rcnreid.backend.threads).
from rcnreid.backend import threads as _threads  # noqa: E402

_threads.set_openblas_coretype()
