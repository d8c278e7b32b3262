"""Dense colour histograms: the representation of Table 5's "Color+LFDA" row (Pedagadi et al.,
CVPR 2013, as used on iLIDS-VID by Wang et al., ECCV 2014).

Each frame is cut into dense overlapping patches (``patch`` pixels, ``stride`` apart; 50% overlap
by default). In every patch and every channel of RGB, HSV and YUV a ``bins``-bin histogram is
computed and divided by the patch's pixel count (so each histogram sums to 1). The frame's
descriptor concatenates them (patch-major: patch, colour space, channel, bin); a sequence's
descriptor is the mean over its frames.

Because the per-patch normalisation divides by a constant, the mean over frames of the frame
histograms equals the histograms of the frames' pooled bin counts: :func:`color_descriptor` sums
one-hot bin maps over the frames and reads every patch from an integral image, which is exact and
fast. Frames are RGB, as the dataset reader returns them. HSV uses OpenCV's full-range hue
(0-255); YUV is OpenCV's RGB->YUV (BT.601).
"""
import dataclasses

import numpy as np

from rcnreid.errors import UserError

COLOUR_SPACES = ("rgb", "hsv", "yuv")


@dataclasses.dataclass
class ColorConfig:
    """Dense colour-histogram options (defaults: our reading of Pedagadi et al.; see
    docs/REPRODUCTION.md §4)."""
    patch: tuple = (16, 16)           # (h, w) pixels of a patch
    stride: tuple = (8, 8)            # step between patches (50% overlap)
    bins: int = 16                    # histogram bins per channel
    spaces: tuple = COLOUR_SPACES     # colour spaces, 3 channels each
    frame_step: int = 1               # use every frame_step-th frame


def convert(frames, space):
    """uint8 (L, H, W, 3) RGB -> uint8 (L, H, W, 3) in ``space`` ("rgb", "hsv", "yuv")."""
    if space == "rgb":
        return frames
    import cv2
    code = {"hsv": cv2.COLOR_RGB2HSV_FULL, "yuv": cv2.COLOR_RGB2YUV}.get(space)
    if code is None:
        raise UserError("ColorConfig.spaces: unknown colour space %r; use %s"
                        % (space, ", ".join(COLOUR_SPACES)))
    return np.stack([cv2.cvtColor(np.ascontiguousarray(f), code) for f in frames])


def patch_grid(hw, patch, stride):
    """Top-left corners (rows, cols) of the patches that fit in an (H, W) frame."""
    (H, W), (ph, pw), (sh, sw) = hw, patch, stride
    if ph > H or pw > W or min(ph, pw, sh, sw) < 1:
        raise UserError("ColorConfig.patch/stride: patch %s with stride %s does not fit %dx%d "
                        "frames; use a smaller patch" % (tuple(patch), tuple(stride), H, W))
    return np.arange(0, H - ph + 1, sh), np.arange(0, W - pw + 1, sw)


def descriptor_length(frame_hw, cfg=None):
    """Length of :func:`color_descriptor` for frames of size ``frame_hw``."""
    cfg = cfg or ColorConfig()
    rows, cols = patch_grid(frame_hw, cfg.patch, cfg.stride)
    return len(rows) * len(cols) * 3 * len(cfg.spaces) * int(cfg.bins)


def _check(frames, cfg):
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise UserError("color_descriptor: expected uint8 frames (L>=1, H, W, 3), got %s %s"
                        % (frames.dtype, frames.shape))
    if not 1 <= int(cfg.bins) <= 256:
        raise UserError("ColorConfig.bins: %r must lie in 1..256" % (cfg.bins,))
    return frames[::max(1, int(cfg.frame_step))]


def color_descriptor(frames, cfg=None):
    """uint8 (L, H, W, 3) RGB frames -> float32 (descriptor_length,) mean patch histograms."""
    cfg = cfg or ColorConfig()
    frames = _check(frames, cfg)
    L, H, W, _ = frames.shape
    bins = int(cfg.bins)
    rows, cols = patch_grid((H, W), cfg.patch, cfg.stride)
    ph, pw = cfg.patch
    chans = np.concatenate([convert(frames, s) for s in cfg.spaces], axis=-1)   # (L,H,W,3S)
    q = (chans.astype(np.int64) * bins) >> 8                                    # bin index
    C = q.shape[-1]
    # pooled one-hot counts per (pixel, channel, bin) over all frames, by a single bincount
    flat = (q + np.arange(C) * bins).reshape(L, H * W, C)
    idx = np.arange(H * W)[None, :, None] * (C * bins) + flat
    counts = np.bincount(idx.ravel(), minlength=H * W * C * bins).reshape(H, W, C, bins)
    integral = np.zeros((H + 1, W + 1, C, bins))
    integral[1:, 1:] = counts.cumsum(0).cumsum(1)
    r0, c0 = rows[:, None], cols[None, :]
    hist = (integral[r0 + ph, c0 + pw] - integral[r0, c0 + pw]
            - integral[r0 + ph, c0] + integral[r0, c0])                          # (R, Cc, C, bins)
    hist /= float(L * ph * pw)
    return hist.reshape(-1).astype(np.float32)


def frame_histograms(frame, cfg=None):
    """One uint8 (H, W, 3) frame -> float32 descriptor (the sequence descriptor of one frame)."""
    return color_descriptor(np.asarray(frame)[None], cfg)


def color_descriptors(sequences, cfg=None, log=None):
    """List of uint8 sequences -> float32 (N, descriptor_length); ``log`` gets progress lines."""
    out = []
    for i, seq in enumerate(sequences):
        out.append(color_descriptor(seq, cfg))
        if log is not None and ((i + 1) % 50 == 0 or i + 1 == len(sequences)):
            log("colour histograms: %d/%d sequences" % (i + 1, len(sequences)))
    return np.stack(out) if out else np.zeros((0, 0), np.float32)
