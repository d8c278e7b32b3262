"""FV3D: local 3-D gradient histograms on a regular grid of the fragments, as Fisher vectors.

Paper Sec. 5.4.3: "FV3D is similar to HOG3D where a local histogram of gradients is extracted
from divided regular grids on the volume. However, we encode these local HOG features with Fisher
vectors instead of simply concatenating them." (Liu et al., ICCV 2015.)

Each landmark fragment (:func:`rcnreid.baselines.hog3d.sequence_fragments`) is covered by local
volumes of ``local_size`` = (h, w) pixels with a stride of ``local_stride`` over the whole
fragment's duration; each local volume's descriptor is a small HOG3D
(:func:`rcnreid.baselines.hog3d.box_histograms`, ``local_cells`` cells, each L2-normalised,
concatenated) followed by the volume's centre (x, y) normalised to [0, 1]. A diagonal GMM with
``n_components`` (fitted on training fragments only) turns a fragment's local descriptors into a
Fisher vector (:mod:`rcnreid.nn.fisher`); the sequence's descriptor is the mean over its fragments.
"""
import dataclasses

import numpy as np

from rcnreid.baselines import hog3d
from rcnreid.baselines.fep import FEPConfig
from rcnreid.baselines.local_features import subsample_rows


@dataclasses.dataclass
class FV3DConfig:
    """FV3D options (documented choices: the cited papers give no grid parameters)."""
    local_size: tuple = (16, 16)      # (h, w) of a local volume, pixels at the working size
    local_stride: tuple = (8, 8)      # grid step (50% overlap)
    local_cells: tuple = (2, 2, 2)    # (x, y, t) HOG3D cells in a local volume
    subblocks: tuple = (1, 1, 1)      # sub-blocks per local cell
    polyhedron: str = "icosahedron"
    n_components: int = 32            # GMM components
    fit_samples: int = 50000          # local descriptors sampled to fit the GMM
    seed: int = 0
    fep: FEPConfig = dataclasses.field(default_factory=FEPConfig)


def local_descriptors(fragment, cfg):
    """(n_local, n_cells * n_bins + 2) descriptors of one grey fragment (T, H, W)."""
    T, H, W = fragment.shape
    P = hog3d.polyhedron_axes(cfg.polyhedron)
    ii = hog3d.gradient_integral(fragment)
    (lh, lw), (sh, sw) = cfg.local_size, cfg.local_stride
    ys = np.arange(0, max(H - lh, 0) + 1, sh)
    xs = np.arange(0, max(W - lw, 0) + 1, sw)
    cells = hog3d.cell_boxes((T, min(lh, H), min(lw, W)), cfg.local_cells, 0.0)   # relative
    boxes = []
    for y in ys:
        for x in xs:
            b = cells.copy()
            b[:, 2:4] += y
            b[:, 4:6] += x
            boxes.append(b)
    boxes = np.concatenate(boxes)
    h = hog3d.box_histograms(ii, boxes, cfg.subblocks, P)
    h = hog3d.l2_rows(h).reshape(len(ys) * len(xs), -1)
    cy, cx = np.meshgrid((ys + lh / 2.0) / H, (xs + lw / 2.0) / W, indexing="ij")
    return np.concatenate([h, cx.reshape(-1, 1), cy.reshape(-1, 1)], axis=1).astype(np.float32)


class FV3D:
    """``fit(list of uint8 sequences)``, ``transform(sequence) -> (dim,)``,
    ``transform_fragments(sequence) -> (n_fragments, dim)``."""

    def __init__(self, cfg=None):
        self.cfg = cfg or FV3DConfig()
        self.encoder_ = None

    def _locals(self, frames):
        return [local_descriptors(f, self.cfg)
                for f in hog3d.sequence_fragments(frames, self.cfg.fep)]

    def fit(self, sequences):
        from rcnreid.nn.fisher import FisherVectorEncoder
        rng = np.random.RandomState(self.cfg.seed)
        sequences = list(sequences)
        per_seq = max(50, 2 * self.cfg.fit_samples // max(1, len(sequences)))  # bounded memory
        X = np.concatenate([subsample_rows(np.concatenate(self._locals(s)), per_seq, rng)
                            for s in sequences])
        X = subsample_rows(X, self.cfg.fit_samples, rng)
        self.encoder_ = FisherVectorEncoder(self.cfg.n_components, seed=self.cfg.seed).fit(X)
        return self

    @property
    def dim(self):
        return self.encoder_.dim

    def transform_fragments(self, frames):
        return np.stack([self.encoder_.encode(x) for x in self._locals(frames)]).astype(np.float32)

    def transform(self, frames):
        return self.transform_fragments(frames).mean(axis=0)
