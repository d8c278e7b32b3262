"""Writing each sequence's representation h-bar (Eq. 4) to HDF5, for the metric-learning rows of
Table 5 (Deep RCN + LFDA / KISSME) and the pooling rows of Table 3.

Output file (rows in the dataset's sequence order):

- ``level="sequence"``: ``features`` float32 (N, D), h-bar of every sequence with all of its
  frames, averaged over the test-time augmentations (``augs``; default: the run's set);
- ``level="frame"``: ``frame_features`` float32 (sum L_i, D), the frame-level outputs x_t of
  Table 3 (also averaged over the augmentations), and ``frame_offsets`` int64 (N + 1,): the
  frames of sequence i are rows offsets[i]:offsets[i+1];
- always: ``person``, ``camera`` (int64, N) and attributes ``checkpoint``, ``dataset``,
  ``data_path``, ``config_name``, ``level``, ``test_augs``, ``repr_dim``.

Averaging h-bar over augmentations (rather than keeping one per augmentation) gives one vector per
sequence, which is what PCA/LFDA/KISSME take; ``augs="center"`` uses the centre crop alone.
"""
import os

import numpy as np

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.engine.trained_model import load_model
from rcnreid.store.atomic import atomic_h5, check_out_path
from rcnreid.data import augment
from rcnreid.errors import UserError
from rcnreid.data.inputs import make_inputs, run_rows

LEVELS = ("sequence", "frame")


def extract_features(data_path, checkpoint_path, out_path, level="sequence", augs=None,
                     log=print, rows=None, inputs=None, force=False):
    """Write the representations of every sequence (or of ``rows``) to ``out_path``; returns it.

    ``out_path`` follows :func:`rcnreid.store.atomic.check_out_path`: never the dataset or the
    checkpoint; an existing file only when it is a features file, or with ``force``."""
    from rcnreid.data.reader import ReIDDataset
    log = log or (lambda *a: None)
    if level not in LEVELS:
        raise UserError("--level %s: unknown; use %s" % (level, " or ".join(LEVELS)))
    check_out_path(out_path, "--out", "features.h5", inputs=(data_path, checkpoint_path),
                   kind="features", force=force)
    ckpt = ckptlib.load_checkpoint(checkpoint_path)
    model = load_model(checkpoint_path, ckpt)
    cfg = ckpt.run_config()
    ds = ReIDDataset(data_path)
    inputs = inputs or make_inputs(ds, cfg)
    aug_name = augs or cfg.train.test_augs
    aug_list = augment.test_augmentations(aug_name)
    rows = np.arange(ds.num_sequences) if rows is None else np.asarray(rows, dtype=np.int64)
    frame_level = level == "frame"
    fn = model.build_frame_features() if frame_level else model.build_represent()
    acc = None
    for k, aug in enumerate(aug_list):
        out = run_rows(fn, inputs, rows, aug, batch=cfg.train.eval_batch,
                       max_len=cfg.train.eval_max_len, frame_level=frame_level)
        out = [np.asarray(o, dtype=np.float64) for o in out]
        acc = out if acc is None else [a + o for a, o in zip(acc, out)]
        log("  extract: augmentation %d/%d, %d sequences" % (k + 1, len(aug_list), len(rows)))
    feats = [(a / len(aug_list)).astype(np.float32) for a in acc]
    need = sum(x.nbytes for x in feats) + 3 * 8 * len(rows)
    with atomic_h5(out_path, need=need) as f:
        if frame_level:
            offsets = np.concatenate([[0], np.cumsum([len(x) for x in feats])])
            f.create_dataset("frame_features", data=np.concatenate(feats, axis=0))
            f.create_dataset("frame_offsets", data=offsets.astype(np.int64))
        else:
            f.create_dataset("features", data=np.stack(feats))
        f.create_dataset("person", data=ds.person[rows])
        f.create_dataset("camera", data=ds.camera[rows])
        f.create_dataset("row", data=rows)
        f.attrs.update({"checkpoint": os.path.abspath(checkpoint_path),
                        "dataset": ds.name, "data_path": os.path.abspath(data_path),
                        "config_name": cfg.name, "level": level, "test_augs": aug_name,
                        "repr_dim": int(feats[0].shape[-1]),
                        "trained_trial": int(ckpt.attrs.get("trial", -1))})
    log("wrote %s (%d sequences, %s level, D = %d)" % (out_path, len(rows), level,
                                                       feats[0].shape[-1]))
    return out_path
