"""Dense per-pixel local descriptors shared by FV2D and STFV3D, and descriptor sampling."""
import numpy as np

from rcnreid.errors import UserError


def colour_channels(frames, space):
    """float32 (..., H, W, 3) channels in [0, 1] of uint8 RGB frames, in ``space`` rgb | hsv."""
    import cv2
    frames = np.asarray(frames)
    if space == "rgb":
        return frames.astype(np.float32) / 255.0
    if space == "hsv":
        flat = frames.reshape((-1,) + frames.shape[-3:])
        # OpenCV's 8-bit HSV: H in 0..179, S, V in 0..255
        hsv = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2HSV) for f in flat]).astype(np.float32)
        hsv /= np.array([180.0, 255.0, 255.0], np.float32)
        return hsv.reshape(frames.shape)
    raise UserError("colour space %r: unknown; use rgb or hsv" % (space,))


def spatial_derivatives(channel):
    """(Ix, Iy, Ixx, Iyy) of a (..., H, W) array by central differences (np.gradient)."""
    iy, ix = np.gradient(channel, axis=(-2, -1))
    ixx = np.gradient(ix, axis=-1)
    iyy = np.gradient(iy, axis=-2)
    return ix, iy, ixx, iyy


def subsample_rows(X, n, rng):
    """At most ``n`` rows of X, drawn without replacement with ``rng``."""
    X = np.asarray(X)
    if len(X) <= n:
        return X
    return X[rng.choice(len(X), int(n), replace=False)]


def block_bounds(size, n):
    """(n, 2) [start, stop) of ``n`` non-overlapping blocks covering ``size``."""
    e = np.round(np.linspace(0, size, n + 1)).astype(np.int64)
    return np.stack([e[:-1], np.maximum(e[1:], e[:-1] + 1)], axis=1)
