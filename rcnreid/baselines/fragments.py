"""Frame preparation and walking-cycle fragments shared by the hand-crafted representations.

The representations of Tables 4 and 5 work on the frames at a working size (the 128 x 64 of the
original datasets by default, the stored 176 x 66 frames are resized back) and on *fragments*:
runs of consecutive frames centred on the walking-cycle landmarks of the Flow Energy Profile
(:mod:`rcnreid.baselines.fep`). A fragment is ``2 * half + 1`` frames (21 in Wang et al., ECCV
2014); at the ends of a sequence the frame indices are clamped (the first / last frame repeats),
documented in docs/REPRODUCTION.md §5.
"""
import numpy as np

from rcnreid.errors import UserError


def resize_frames(frames, hw):
    """uint8 (L, H, W, C) -> uint8 (L, h, w, C) with area interpolation (no-op at the same size)."""
    import cv2
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise UserError("frames: expected (L, H, W, 3), got shape %s" % (frames.shape,))
    h, w = int(hw[0]), int(hw[1])
    if frames.shape[1:3] == (h, w):
        return frames
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])


def to_gray(frames):
    """uint8 (L, H, W, 3) RGB -> float32 (L, H, W) luminance in [0, 1] (ITU-R 601 weights)."""
    f = np.asarray(frames, dtype=np.float32) / 255.0
    return f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114


def fragment_indices(length, centres, half):
    """(n, 2*half+1) int frame indices of the fragments centred on ``centres`` (clamped at ends)."""
    centres = np.asarray(centres, dtype=np.int64).reshape(-1, 1)
    offs = np.arange(-int(half), int(half) + 1)[None, :]
    return np.clip(centres + offs, 0, int(length) - 1)


def segment_bounds(start, stop, n):
    """``n + 1`` integer boundaries splitting frames [start, stop] into ``n`` contiguous segments.

    Each segment ``k`` is frames ``b[k] .. b[k+1]-1`` except the last, which includes ``stop``;
    every segment has at least one frame (frames are repeated when the span is shorter than n).
    """
    b = np.round(np.linspace(start, stop + 1, n + 1)).astype(np.int64)
    for k in range(1, n + 1):
        b[k] = max(b[k], b[k - 1] + 1)
    return b
