"""STFV3D: spatio-temporal Fisher vectors of body-action units (Liu, Ma, Zhang, Huang, ICCV 2015).

1. Temporal alignment: the walking cycles of a sequence from its FEP landmarks (five consecutive
   landmarks = one full cycle, :func:`rcnreid.baselines.fep.walking_cycles`), each cut into
   ``n_segments`` = 4 temporal segments at its landmarks (equal parts when a fallback cycle has
   too few landmarks).
2. Spatial alignment: ``parts`` = 6 body-part boxes in fractions of the (tracked) box: the head,
   three upper-body parts (left arm, torso, right arm) and two legs (fixed proportions; Liu et al.
   use fixed boxes too).
3. A body-action unit is a (part, segment) volume; each pixel (every ``pixel_step``-th) gets the
   local descriptor ``(x, y, t, [I, I_x, I_y, I_t] for each HSV channel)`` (15-D, positions
   normalised to the unit), reduced by PCA to ``pca_dim`` and encoded as a Fisher vector with the
   unit's own ``n_components`` = 32 diagonal GMM (fitted on training sequences only).
4. A cycle's descriptor concatenates its units' Fisher vectors; a sequence pair's distance is the
   smallest Euclidean distance over their cycle pairs (:func:`cycle_set_distance`).
"""
import dataclasses

import numpy as np

from rcnreid.baselines.fep import FEPConfig, landmarks, walking_cycles
from rcnreid.baselines.fragments import resize_frames, segment_bounds
from rcnreid.baselines.local_features import colour_channels, subsample_rows

#: (y0, y1, x0, x1) of the six body parts, fractions of the box (head, 3 upper body, 2 legs).
BODY_PARTS = (
    (0.00, 0.16, 0.25, 0.75),    # head
    (0.16, 0.52, 0.00, 0.34),    # upper body, left (arm)
    (0.16, 0.52, 0.30, 0.70),    # upper body, torso
    (0.16, 0.52, 0.66, 1.00),    # upper body, right (arm)
    (0.50, 1.00, 0.00, 0.54),    # left leg
    (0.50, 1.00, 0.46, 1.00),    # right leg
)


@dataclasses.dataclass
class STFV3DConfig:
    """STFV3D options (defaults from Liu et al. 2015 where stated, else documented choices)."""
    frame_hw: tuple = (128, 64)
    colour: str = "hsv"
    parts: tuple = BODY_PARTS
    n_segments: int = 4               # temporal segments per walking cycle
    pca_dim: int = 12                 # PCA of the 15-D local descriptors (None: keep 15)
    n_components: int = 32            # GMM components per body-action unit
    pixel_step: int = 2               # spatial subsampling of the dense descriptors
    fit_samples: int = 20000          # descriptors per unit sampled to fit PCA and GMM
    seed: int = 0
    fep: FEPConfig = dataclasses.field(default_factory=FEPConfig)


def cycle_segments(length, landmark_idx, cfg):
    """List over walking cycles of (n_segments + 1) frame boundaries."""
    idx = np.asarray(landmark_idx, np.int64)
    out = []
    for a, b in walking_cycles(length, idx):
        inner = idx[(idx >= a) & (idx <= b)]
        if len(inner) == cfg.n_segments + 1:
            bounds = inner.copy()
            bounds[-1] += 1                 # the last segment includes its closing landmark
            out.append(bounds)
        else:
            out.append(segment_bounds(a, b, cfg.n_segments))
    return out


def unit_descriptors(ch, t0, t1, part, step):
    """(n, 15) descriptors of the pixels of one unit: channels ch (L, H, W, 3), frames t0..t1-1."""
    L, H, W, C = ch.shape
    y0, y1 = int(part[0] * H), max(int(round(part[1] * H)), int(part[0] * H) + 1)
    x0, x1 = int(part[2] * W), max(int(round(part[3] * W)), int(part[2] * W) + 1)
    vol = ch[:, y0:y1, x0:x1]
    it = np.gradient(vol, axis=0) if L > 1 else np.zeros_like(vol)
    iy, ix = np.gradient(vol, axis=(1, 2))
    sl = (slice(t0, t1), slice(None, None, step), slice(None, None, step))
    v, gx, gy, gt = vol[sl], ix[sl], iy[sl], it[sl]
    n_t, n_y, n_x = v.shape[:3]
    tt, yy, xx = np.meshgrid(np.linspace(0, 1, n_t), np.linspace(0, 1, n_y),
                             np.linspace(0, 1, n_x), indexing="ij")
    feats = [xx[..., None], yy[..., None], tt[..., None]]
    for c in range(C):
        feats += [v[..., c:c + 1], gx[..., c:c + 1], gy[..., c:c + 1], gt[..., c:c + 1]]
    return np.concatenate(feats, axis=-1).reshape(-1, 3 + 4 * C).astype(np.float32)


class STFV3D:
    """``fit(sequences)``; ``transform_cycles(seq) -> (n_cycles, dim)``; ``transform(seq)``."""

    def __init__(self, cfg=None):
        self.cfg = cfg or STFV3DConfig()
        self.pcas_ = None
        self.encoders_ = None

    def _units(self, frames):
        """List over cycles of lists over units (segment-major) of raw descriptors."""
        cfg = self.cfg
        small = resize_frames(frames, cfg.frame_hw)
        idx, _ = landmarks(small, cfg.fep)
        ch = colour_channels(small, cfg.colour)
        cycles = []
        for b in cycle_segments(len(small), idx, cfg):
            units = []
            for s in range(cfg.n_segments):
                for part in cfg.parts:
                    units.append(unit_descriptors(ch, int(b[s]), int(b[s + 1]), part,
                                                  cfg.pixel_step))
            cycles.append(units)
        return cycles

    def fit(self, sequences):
        from sklearn.decomposition import PCA
        from rcnreid.nn.fisher import FisherVectorEncoder
        cfg = self.cfg
        rng = np.random.RandomState(cfg.seed)
        sequences = list(sequences)
        per_unit = max(50, 2 * cfg.fit_samples // max(1, len(sequences)))   # bounded memory
        pools = None
        for seq in sequences:
            for units in self._units(seq):
                if pools is None:
                    pools = [[] for _ in units]
                for u, x in enumerate(units):
                    pools[u].append(subsample_rows(x, per_unit, rng))
        self.pcas_, self.encoders_ = [], []
        for u, pool in enumerate(pools):
            X = subsample_rows(np.concatenate(pool), cfg.fit_samples, rng).astype(np.float64)
            k = X.shape[1] if cfg.pca_dim is None else min(int(cfg.pca_dim), X.shape[1], len(X))
            pca = PCA(n_components=k, random_state=cfg.seed).fit(X)
            self.pcas_.append(pca)
            self.encoders_.append(FisherVectorEncoder(cfg.n_components, seed=cfg.seed + u)
                                  .fit(pca.transform(X)))
        return self

    @property
    def dim(self):
        return sum(e.dim for e in self.encoders_)

    def transform_cycles(self, frames):
        """float32 (n_cycles, dim): one concatenation of unit Fisher vectors per walking cycle."""
        out = []
        for units in self._units(frames):
            out.append(np.concatenate([
                enc.encode(pca.transform(x.astype(np.float64)))
                for x, pca, enc in zip(units, self.pcas_, self.encoders_)]))
        return np.asarray(out, np.float32)

    def transform(self, frames):
        """float32 (dim,): the mean of the cycle descriptors (input of the metric-learning rows)."""
        return self.transform_cycles(frames).mean(axis=0)


def cycle_set_distance(cycles_a, cycles_b):
    """(len(cycles_a), len(cycles_b)): the smallest Euclidean distance over cycle pairs."""
    from rcnreid.baselines.dvr import min_over_bags
    A, B = np.concatenate(cycles_a), np.concatenate(cycles_b)
    ia = np.repeat(np.arange(len(cycles_a)), [len(c) for c in cycles_a])
    ib = np.repeat(np.arange(len(cycles_b)), [len(c) for c in cycles_b])
    return min_over_bags(euclidean(A, B), ia, ib, len(cycles_a), len(cycles_b))


def euclidean(A, B):
    """(len(A), len(B)) Euclidean distances."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    d2 = (A ** 2).sum(1)[:, None] + (B ** 2).sum(1)[None, :] - 2 * A @ B.T
    return np.sqrt(np.maximum(d2, 0))
