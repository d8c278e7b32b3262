"""Gait Energy Image (Han & Bhanu, PAMI 2006), as used by GEI+RSVM (Martin-Felez & Xiang, 2012).

The GEI is the mean binary silhouette over a gait cycle. The datasets ship no silhouettes and
we use no downloaded segmentation model, so silhouettes come from a per-frame background colour
model learnt on the box's left and right borders (a pedestrian box is centred on the person,
its side strips are mostly background; method ``"border"``):

1. the border-strip pixels are clustered into ``bg_clusters`` colours (k-means, OpenCV);
2. a pixel's foreground score is its distance to the nearest background colour;
3. pixels scoring above ``border_factor`` x the ``border_quantile`` of the border pixels' own
   scores are foreground (``threshold="otsu"``: Otsu's threshold on the score map instead); the
   mask is cleaned by a morphological opening and closing, keeping the connected components of
   at least ``min_component`` x the largest one's area.

``method="motion"`` is the alternative: the absolute difference to the sequence's temporal
median frame (a static-camera assumption), Otsu-thresholded. Silhouettes are aligned before
averaging (GEI convention): the silhouette's rows are cropped to its bounding box, centred on its
horizontal centroid with a width of ``aspect`` x height, and resized to ``gei_hw``.

The gait cycle is the first full walking cycle from the FEP landmarks
(:func:`rcnreid.baselines.fep.walking_cycles`), or the whole sequence when it has none.
"""
import dataclasses

import numpy as np

from rcnreid.baselines.fep import FEPConfig, landmarks, walking_cycles
from rcnreid.baselines.fragments import resize_frames
from rcnreid.errors import UserError


@dataclasses.dataclass
class GEIConfig:
    """GEI options (documented choices: the datasets give no silhouettes)."""
    method: str = "border"        # "border" (border colour model) or "motion" (temporal median)
    border_frac: float = 0.12     # width of each side strip used as background, of the box width
    bg_clusters: int = 4          # k-means colours of the background model
    gei_hw: tuple = (64, 44)      # GEI size (H, W)
    aspect: float = 0.6875        # aligned silhouette width / height (44 / 64)
    cycles: str = "first"         # "first" full cycle or "all" frames of all full cycles
    threshold: str = "border"     # "border": quantile of the border pixels' own scores; "otsu"
    border_quantile: float = 0.95 # ... that quantile, times border_factor, is the threshold
    border_factor: float = 1.5
    min_component: float = 0.05   # keep components with at least this share of the largest
    fep: FEPConfig = dataclasses.field(default_factory=FEPConfig)


def _otsu(score):
    import cv2
    s = score - score.min()
    s = (255.0 * s / max(s.max(), 1e-9)).astype(np.uint8)
    _, m = cv2.threshold(s, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return m


def _clean(mask, min_component=0.05):
    import cv2
    k = np.ones((3, 3), np.uint8)
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, k)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, k)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return m.astype(bool)
    area = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.flatnonzero(area >= min_component * area.max())
    return np.isin(lab, keep)


def border_silhouette(frame, cfg):
    """bool (H, W) silhouette of one RGB frame from the border colour model."""
    import cv2
    f = np.asarray(frame, np.float32)
    H, W = f.shape[:2]
    b = max(1, int(round(W * cfg.border_frac)))
    border = np.concatenate([f[:, :b].reshape(-1, 3), f[:, W - b:].reshape(-1, 3)])
    k = min(int(cfg.bg_clusters), len(border))
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(border, k, None, crit, 1, cv2.KMEANS_PP_CENTERS)
    d = np.sqrt(((f.reshape(-1, 1, 3) - centres[None]) ** 2).sum(-1)).min(axis=1).reshape(H, W)
    if cfg.threshold == "otsu":
        m = _otsu(d)
    elif cfg.threshold == "border":
        bd = np.concatenate([d[:, :b].ravel(), d[:, W - b:].ravel()])
        m = d > max(cfg.border_factor * np.quantile(bd, cfg.border_quantile), 1e-6)
    else:
        raise UserError("GEIConfig.threshold=%r: use border or otsu" % (cfg.threshold,))
    return _clean(m, cfg.min_component)


def silhouettes(frames, cfg=None):
    """bool (L, H, W) silhouettes of uint8 frames (L, H, W, 3) at their own size."""
    cfg = cfg or GEIConfig()
    frames = np.asarray(frames)
    if cfg.method == "border":
        return np.stack([border_silhouette(f, cfg) for f in frames])
    if cfg.method == "motion":
        med = np.median(frames.astype(np.float32), axis=0)
        d = np.sqrt(((frames.astype(np.float32) - med) ** 2).sum(-1))
        return np.stack([_clean(_otsu(x), cfg.min_component) for x in d])
    raise UserError("GEIConfig.method=%r: unknown; use border or motion" % (cfg.method,))


def align_silhouette(mask, cfg):
    """float32 ``gei_hw`` silhouette cropped to its rows, centred on its centroid column."""
    import cv2
    h, w = cfg.gei_hw
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return np.zeros((h, w), np.float32)
    y0, y1 = ys.min(), ys.max() + 1
    width = max(1, int(round((y1 - y0) * cfg.aspect)))
    cx = int(round(xs.mean()))
    pad = np.zeros((y1 - y0, width), np.float32)
    x0 = cx - width // 2
    src0, src1 = max(x0, 0), min(x0 + width, mask.shape[1])
    pad[:, src0 - x0:src1 - x0] = mask[y0:y1, src0:src1]
    return cv2.resize(pad, (w, h), interpolation=cv2.INTER_AREA)


def gait_energy_image(frames, cfg=None):
    """float32 (gei_hw[0] * gei_hw[1],): the GEI of a sequence (mean aligned silhouette)."""
    cfg = cfg or GEIConfig()
    small = resize_frames(frames, cfg.fep.frame_hw)
    idx, _ = landmarks(small, cfg.fep)
    spans = walking_cycles(len(small), idx)
    if cfg.cycles == "first":
        spans = spans[:1]
    elif cfg.cycles != "all":
        raise UserError("GEIConfig.cycles=%r: use first or all" % (cfg.cycles,))
    sel = np.unique(np.concatenate([np.arange(a, b + 1) for a, b in spans]))
    sil = silhouettes(small[sel], cfg)
    return np.mean([align_silhouette(m, cfg) for m in sil], axis=0).reshape(-1).astype(np.float32)
