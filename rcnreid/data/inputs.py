"""From dataset rows to network inputs (Section 5.2), for training and for evaluation.

:class:`ImageInputs` serves the ConvGRU models: a training batch takes a random run of T
consecutive frames per sequence (``ReIDDataset.random_run``) and one random crop + mirror for the
whole run (``augment.train_augment``), stacked time-major (T, B, 3, H, W). At test time a
sequence's frames (all of them, or the first ``max_len``) go through one fixed augmentation
(``augment.apply``).

Another input source (e.g. per-frame VGG-16 fc7 vectors for the FC-GRU row) only has to offer the
same three methods: ``train_batch(rows, T, rng)``, ``test_view(row, aug, max_len)`` and
``test_length(row, max_len)``.
"""
import numpy as np

from rcnreid.data import augment


class ImageInputs:
    """Frames of a :class:`rcnreid.data.reader.ReIDDataset` as model input of ``out_hw``."""

    def __init__(self, ds, out_hw, crop_hw=augment.NET_INPUT_HW):
        self.ds = ds
        self.out_hw = tuple(out_hw)
        self.crop_hw = tuple(crop_hw)

    def train_batch(self, rows, T, rng):
        """float32 (T, B, 3, H, W): per row a random run of T frames, cropped and mirrored.

        Random draws, per row in order: the run's start, then the crop and the mirror."""
        seqs = []
        for r in rows:
            frames = self.ds.random_run(int(r), T, rng)
            seqs.append(augment.train_augment(frames, rng, out_hw=self.out_hw,
                                              crop_hw=self.crop_hw))
        return augment.stack_time_major(seqs)

    def test_length(self, row, max_len=None):
        n = int(self.ds.length[int(row)])
        return n if max_len is None else min(n, int(max_len))

    def test_view(self, row, aug, max_len=None):
        """float32 (L, 3, H, W): the sequence's frames under test-time augmentation ``aug``."""
        frames = self.ds.frames(int(row))
        if max_len is not None:
            frames = frames[:int(max_len)]
        return augment.apply(frames, aug, out_hw=self.out_hw, crop_hw=self.crop_hw)


def make_inputs(ds, cfg):
    """The input source of run config ``cfg`` over dataset ``ds``: frames
    (:class:`ImageInputs`) for ConvGRU models; for the FC-GRU (kind "fcgru") the per-frame VGG-16
    fc7 features written beside the dataset by ``rcnreid extract-fc7`` (UserError naming the
    file and the command when they are missing)."""
    if cfg.model.kind == "fcgru":
        from rcnreid.data.features import make_feature_inputs
        return make_feature_inputs(ds, cfg)
    return ImageInputs(ds, cfg.model.input_hw, cfg.train.crop_hw)


def run_rows(fn, inputs, rows, aug, batch=8, max_len=None, frame_level=False):
    """Apply a compiled per-sequence function to every row under one augmentation.

    Sequences of equal length are batched together (at most ``batch`` per call), so each
    sequence is computed exactly once with all of its frames. ``fn(x (T, B, ...))`` returns
    (B, D) (``frame_level=False``) or (T, B, D). Returns a list in ``rows`` order of (D,) or (T, D)
    numpy arrays.
    """
    rows = [int(r) for r in rows]
    by_len = {}
    for k, r in enumerate(rows):
        by_len.setdefault(inputs.test_length(r, max_len), []).append(k)
    out = [None] * len(rows)
    for length in sorted(by_len):
        ks = by_len[length]
        for i in range(0, len(ks), batch):
            chunk = ks[i:i + batch]
            x = augment.stack_time_major([inputs.test_view(rows[k], aug, max_len)
                                          for k in chunk])
            y = np.asarray(fn(x))
            for j, k in enumerate(chunk):
                out[k] = y[:, j] if frame_level else y[j]
    return out
