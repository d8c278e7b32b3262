"""Walking-cycle landmarks from the Flow Energy Profile (FEP; Wang et al., ECCV 2014, Sec. 3.1).

The FEP of a sequence is, for each pair of consecutive frames, the energy of the dense optical
flow in the lower part of the bounding box (where the legs are):

    E(t) = sum_{(x, y) in lower half} || (v_x(x, y, t), v_y(x, y, t)) ||_2

smoothed with a Gaussian over time. Its local maxima and minima are the landmarks of the walking
cycle (they alternate, one pair per step); fragments of ``2 * half + 1`` frames are cut around
them (:func:`landmark_fragments`) and a full gait cycle spans five consecutive landmarks, i.e. two
steps, which STFV3D cuts into four segments (:func:`walking_cycles`).

The flow is OpenCV's Farneback flow (``cv2.calcOpticalFlowFarneback``) between grey frames at the
working size.
"""
import dataclasses

import numpy as np
from scipy.ndimage import gaussian_filter1d

from rcnreid.baselines.fragments import resize_frames, to_gray


@dataclasses.dataclass
class FEPConfig:
    """Flow Energy Profile and landmark options (defaults: Wang et al., ECCV 2014)."""
    frame_hw: tuple = (128, 64)     # working size (H, W): the datasets' original 128 x 64
    lower_fraction: float = 0.5     # the bottom part of the box whose flow energy is summed
    smooth_sigma: float = 1.0       # Gaussian smoothing of E(t) over time (frames); 0 = off
    min_separation: int = 2         # a max/min pair closer than this (frames) is a wiggle: dropped
    half: int = 10                  # fragment = 2*half+1 frames around a landmark (21 frames)
    edge_margin: int = 2            # extrema within this many frames of either end are ignored
    flow_levels: int = 3            # Farneback pyramid levels
    flow_winsize: int = 9           # Farneback averaging window (pixels at the working size)


def dense_flow(gray, cfg=None):
    """float32 (L-1, H, W, 2) Farneback flow between consecutive grey frames (L, H, W) in [0, 1]."""
    import cv2
    cfg = cfg or FEPConfig()
    g8 = np.clip(np.asarray(gray) * 255.0, 0, 255).astype(np.uint8)
    out = np.zeros((max(len(g8) - 1, 0),) + g8.shape[1:] + (2,), dtype=np.float32)
    for t in range(len(g8) - 1):
        out[t] = cv2.calcOpticalFlowFarneback(g8[t], g8[t + 1], None, 0.5, int(cfg.flow_levels),
                                              int(cfg.flow_winsize), 3, 5, 1.1, 0)
    return out


def flow_energy_profile(frames, cfg=None):
    """float64 (L,) FEP of uint8 frames (L, H, W, 3): lower-box flow energy, smoothed.

    Flow t -> t+1 is assigned to frame t; the last frame repeats the last value so that E has one
    value per frame. A single frame gives E = [0].
    """
    cfg = cfg or FEPConfig()
    gray = to_gray(resize_frames(frames, cfg.frame_hw))
    if len(gray) < 2:
        return np.zeros(len(gray))
    flow = dense_flow(gray, cfg)
    H = flow.shape[1]
    top = int(round(H * (1.0 - cfg.lower_fraction)))
    mag = np.sqrt((flow[:, top:] ** 2).sum(axis=-1))
    e = mag.reshape(len(mag), -1).sum(axis=1).astype(np.float64)
    e = np.concatenate([e, e[-1:]])
    if cfg.smooth_sigma > 0:
        e = gaussian_filter1d(e, cfg.smooth_sigma, mode="nearest")
    return e


def find_landmarks(energy, min_separation=2):
    """Local maxima and minima of a 1-D profile: (indices int array, kinds +1 max / -1 min).

    Interior points only (the ends of a sequence are not landmarks); plateaus count once at their
    centre. Extrema of one kind closer than ``min_separation`` frames keep the most extreme one,
    and the result alternates max / min (between two maxima only the lowest minimum is kept).
    """
    e = np.asarray(energy, dtype=np.float64)
    n = len(e)
    if n < 3:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    d = np.sign(np.diff(e))
    # fill flat steps with the previous slope direction so plateaus are handled once
    for i in range(1, len(d)):
        if d[i] == 0:
            d[i] = d[i - 1]
    cand = []
    for i in range(1, len(d)):
        if d[i - 1] > 0 and d[i] < 0:
            cand.append([i, 1])
        elif d[i - 1] < 0 and d[i] > 0:
            cand.append([i, -1])
    # remove max/min pairs closer than min_separation (small wiggles), closest first; removing a
    # pair of neighbours keeps the sequence alternating
    while len(cand) >= 2:
        gaps = [cand[k + 1][0] - cand[k][0] for k in range(len(cand) - 1)]
        k = int(np.argmin(gaps))
        if gaps[k] >= min_separation:
            break
        if len(cand) == 2:
            del cand[1]
            break
        del cand[k:k + 2]
        # neighbours across the removed pair have the same kind now: keep the more extreme
        if 0 < k < len(cand) and cand[k - 1][1] == cand[k][1]:
            a, b = cand[k - 1], cand[k]
            keep_b = e[b[0]] > e[a[0]] if a[1] > 0 else e[b[0]] < e[a[0]]
            del cand[k - 1 if keep_b else k]
    merged = [tuple(c) for c in cand]
    if not merged:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    idx, kinds = zip(*merged)
    return np.asarray(idx, np.int64), np.asarray(kinds, np.int64)


def landmarks(frames, cfg=None):
    """(indices, kinds) of the walking-cycle landmarks of a sequence (Wang et al., Sec. 3.1)."""
    cfg = cfg or FEPConfig()
    e = flow_energy_profile(frames, cfg)
    idx, kinds = find_landmarks(e, cfg.min_separation)
    keep = (idx >= cfg.edge_margin) & (idx <= len(e) - 1 - cfg.edge_margin)
    return idx[keep], kinds[keep]


def fragment_centres(length, landmark_idx, half, keep_partial=True):
    """Centres of the fragments of a sequence of ``length`` frames.

    Landmarks whose fragment would cross the ends are dropped when ``keep_partial`` is False; when
    no landmark is left, the sequence's middle frame is the only centre (a fallback for short or
    static sequences, documented in docs/REPRODUCTION.md §5).
    """
    c = np.asarray(landmark_idx, dtype=np.int64)
    if not keep_partial:
        c = c[(c - half >= 0) & (c + half <= length - 1)]
    if c.size == 0:
        c = np.asarray([(length - 1) // 2], dtype=np.int64)
    return c


def walking_cycles(length, landmark_idx, n_landmarks=5):
    """List of (start, stop) frame spans of the full gait cycles: ``n_landmarks`` consecutive
    landmarks (five = max/min/max/min/max, two steps), with a stride of two landmarks so that
    consecutive cycles start on the same kind of landmark. Fallback when the sequence has too few
    landmarks: the whole sequence is one cycle."""
    c = np.asarray(landmark_idx, dtype=np.int64)
    spans = [(int(c[i]), int(c[i + n_landmarks - 1]))
             for i in range(0, len(c) - n_landmarks + 1, 2)]
    if not spans:
        spans = [(0, int(length) - 1)]
    return spans
