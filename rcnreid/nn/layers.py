"""Small Theano building blocks shared by the encoder and the ConvGRU (all float32).

Convolutions are cross-correlations (``filter_flip=False``) so that kernels read the same way in
the numpy reference implementations of the tests. On the CPU they are computed by oneDNN when
its library is available (:mod:`rcnreid.backend.onednn_conv`, ``RCNREID_CPU_CONV``; registered by
the backend's start-up, :mod:`rcnreid.backend.theano_env`), else by Theano's CorrMM.
"""
import numpy as np

from rcnreid.backend.theano_env import T, theano  # noqa: F401  (theano re-exported for callers)
from theano.tensor.signal.pool import pool_2d


def conv(x, w, padding="same"):
    """2-D convolution of ``x`` (N, C, H, W) with ``w`` (O, C, k, k), stride 1.

    ``padding="same"`` zero-pads k // 2 on each side (odd k) so the spatial size is kept (Eq. 2);
    ``"valid"`` does not pad.
    """
    mode = "half" if padding == "same" else "valid"
    return T.nnet.conv2d(x, w, border_mode=mode, filter_flip=False)


def maxpool2(x, ceil=True, hw=None):
    """2x2 max-pooling with stride 2 over the last two axes of ``x`` (N, C, H, W).

    ``ceil`` keeps a partial last window. When the static size ``hw`` = (H, W) is given and both
    are even, the pooling is written as two elementwise maxima of adjacent rows, then of adjacent
    columns (same numbers, and the same gradient: every input equal to its window's maximum gets
    it). On the CPU this is ~7x faster forward than Theano's reduction over a 6-d reshape and
    ~2x faster forward + backward than ``Pool``/``MaxPoolGrad`` (docs/SPEED.md).
    """
    if hw is not None and hw[0] % 2 == 0 and hw[1] % 2 == 0:
        n, c = x.shape[0], x.shape[1]
        rows = x.reshape((n, c, hw[0] // 2, 2, hw[1]), ndim=5)
        rows = T.maximum(rows[:, :, :, 0, :], rows[:, :, :, 1, :])
        cols = rows.reshape((n, c, hw[0] // 2, hw[1] // 2, 2), ndim=5)
        return T.maximum(cols[:, :, :, :, 0], cols[:, :, :, :, 1])
    return pool_2d(x, ws=(2, 2), stride=(2, 2), ignore_border=not ceil, mode="max")


def pooled_size(n, ceil=True):
    """Size after :func:`maxpool2`."""
    return (n + 1) // 2 if ceil else n // 2


def conv_size(n, k, padding="same"):
    """Size after :func:`conv`."""
    return n if padding == "same" else n - k + 1


def fold_time(x):
    """(T, B, ...) -> (T*B, ...), so that one batched op covers every time step."""
    return x.reshape((x.shape[0] * x.shape[1],) + tuple(x.shape[i] for i in range(2, x.ndim)),
                     ndim=x.ndim - 1)


def unfold_time(x, t, b):
    """(T*B, ...) -> (T, B, ...)."""
    return x.reshape((t, b) + tuple(x.shape[i] for i in range(1, x.ndim)), ndim=x.ndim + 1)


def f32(value):
    """A float32 constant (keeps float64 out of the graph)."""
    return np.float32(value)
