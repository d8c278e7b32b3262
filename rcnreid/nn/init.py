"""Parameter initialisation (Section 5.2) as float32 numpy arrays from an explicit RandomState.

- ``"uniform1"``: U[-1, 1] for every weight, as Section 5.2 writes.
- ``"glorot"`` (default): U[-a, a] with a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).
  With U[-1, 1] a 5x5 convolution over 32 channels gives pre-activations with a standard
  deviation of about sqrt(800 / 3) ~ 16, so every sigmoid/tanh of Eq. 2 saturates and the
  gradients vanish; see docs/REPRODUCTION.md §1.

Biases start at zero under both schemes (the paper has no biases; ``gru_bias`` adds them).
"""
import numpy as np

from rcnreid.errors import UserError


def uniform_limit(scheme, fan_in, fan_out):
    """Half-width a of the U[-a, a] distribution for one weight tensor."""
    if scheme == "uniform1":
        return 1.0
    if scheme == "glorot":
        return float(np.sqrt(6.0 / float(fan_in + fan_out)))
    raise UserError("model option init: %r is not one of glorot, uniform1" % (scheme,))


def weight(rng, shape, fan_in, fan_out, scheme):
    """A float32 array of ``shape`` drawn from the scheme's uniform distribution."""
    a = uniform_limit(scheme, fan_in, fan_out)
    return rng.uniform(-a, a, size=shape).astype("float32")


def conv_weight(rng, c_out, c_in, k, scheme):
    """Kernel (c_out, c_in, k, k); fans count the receptive field."""
    return weight(rng, (c_out, c_in, k, k), c_in * k * k, c_out * k * k, scheme)


def dense_weight(rng, n_in, n_out, scheme):
    """Matrix (n_in, n_out) used as ``x.dot(W)``."""
    return weight(rng, (n_in, n_out), n_in, n_out, scheme)


def zeros(shape):
    return np.zeros(shape, dtype="float32")
