"""FV2D: Local Descriptors encoded by Fisher Vectors (Ma, Su, Jurie, ECCV-W 2012), multi-shot.

Every frame is treated as an image (paper Sec. 5.4.3, "FV2D"). For each pixel and each colour
channel, the 7-D local descriptor of Ma et al. is

    f(x, y) = (x, y, I(x, y), I_x, I_y, I_xx, I_yy)

with (x, y) normalised to [0, 1] inside the pixel's image block. The frame is split into
``blocks`` = (rows, cols) non-overlapping blocks; one diagonal GMM per channel (shared by the
blocks, fitted on training sequences only) encodes the descriptors of a (block, channel) as a
Fisher vector (means and variances terms, signed square root, L2; :mod:`rcnreid.nn.fisher`); the
frame's descriptor concatenates them, and the sequence's is their mean over frames.
``dim = rows * cols * channels * 2 * 7 * K``.
"""
import dataclasses

import numpy as np

from rcnreid.baselines.fragments import resize_frames
from rcnreid.baselines.local_features import (block_bounds, colour_channels, spatial_derivatives,
                                              subsample_rows)


@dataclasses.dataclass
class FV2DConfig:
    """FV2D options (defaults from Ma et al. 2012 where stated, else documented choices)."""
    frame_hw: tuple = (128, 64)     # working size (the datasets' original frames)
    colour: str = "hsv"             # channels the descriptors are computed on
    blocks: tuple = (4, 2)          # (rows, cols) image blocks
    n_components: int = 16          # GMM components per channel
    pixel_step: int = 1             # take every pixel_step-th pixel (row and column)
    frame_step: int = 1             # encode every frame_step-th frame of a sequence
    fit_samples: int = 50000        # descriptors per channel sampled to fit a GMM
    fit_frames: int = 5             # frames per training sequence the samples are drawn from
    seed: int = 0


def frame_descriptors(frame_channels, cfg):
    """List over channels of lists over blocks of (n, 7) descriptors of one frame (H, W, C)."""
    s = cfg.pixel_step
    H, W, C = frame_channels.shape
    rows, cols = block_bounds(H, cfg.blocks[0]), block_bounds(W, cfg.blocks[1])
    out = []
    for c in range(C):
        ch = frame_channels[..., c]
        ix, iy, ixx, iyy = spatial_derivatives(ch)
        maps = [ch, ix, iy, ixx, iyy]
        per_block = []
        for r0, r1 in rows:
            for c0, c1 in cols:
                yy, xx = np.mgrid[r0:r1:s, c0:c1:s]
                pos = [((xx - c0) / max(c1 - c0 - 1, 1)).ravel(),
                       ((yy - r0) / max(r1 - r0 - 1, 1)).ravel()]
                vals = [m[r0:r1:s, c0:c1:s].ravel() for m in maps]
                per_block.append(np.stack(pos + vals, axis=1).astype(np.float32))
        out.append(per_block)
    return out


class FV2D:
    """``fit(list of uint8 sequences)`` then ``transform(sequence) -> (dim,)`` float32."""

    def __init__(self, cfg=None):
        self.cfg = cfg or FV2DConfig()
        self.encoders_ = None

    def _channels(self, frames):
        frames = resize_frames(frames, self.cfg.frame_hw)[::max(1, self.cfg.frame_step)]
        return colour_channels(frames, self.cfg.colour)

    def fit(self, sequences):
        from rcnreid.nn.fisher import FisherVectorEncoder
        cfg = self.cfg
        rng = np.random.RandomState(cfg.seed)
        sequences = list(sequences)
        # at most fit_frames frames per sequence and a per-frame share of fit_samples, so that
        # memory stays bounded on the full datasets
        per_frame = max(50, 2 * cfg.fit_samples // max(1, len(sequences) * cfg.fit_frames))
        pools = None
        for seq in sequences:
            chans = self._channels(seq)
            pick = np.unique(np.linspace(0, len(chans) - 1, cfg.fit_frames).round().astype(int))
            for fr in chans[pick]:
                d = frame_descriptors(fr, cfg)
                if pools is None:
                    pools = [[] for _ in d]
                for c, blocks in enumerate(d):
                    pools[c].append(subsample_rows(np.concatenate(blocks), per_frame, rng))
        self.encoders_ = []
        for c, pool in enumerate(pools):
            X = subsample_rows(np.concatenate(pool), cfg.fit_samples, rng)
            self.encoders_.append(FisherVectorEncoder(cfg.n_components, seed=cfg.seed + c).fit(X))
        return self

    @property
    def dim(self):
        r, c = self.cfg.blocks
        return r * c * sum(e.dim for e in self.encoders_)

    def transform(self, frames):
        """float32 (dim,): mean over the frames of the per-frame Fisher vectors."""
        acc = None
        chans = self._channels(frames)
        for fr in chans:
            d = frame_descriptors(fr, self.cfg)
            v = np.concatenate([self.encoders_[c].encode(b) for c, blocks in enumerate(d)
                                for b in blocks])
            acc = v if acc is None else acc + v
        return (acc / len(chans)).astype(np.float32)
