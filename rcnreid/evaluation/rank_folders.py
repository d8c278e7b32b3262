"""Using a trained model: rank gallery sequences (folders of frames) against probe sequences.

A folder given as ``--probe`` or ``--gallery`` is either one sequence (it holds image files) or a
folder of sequence folders. Frames are ordered by the number in their file name
(:mod:`rcnreid.data.frames`), resized to the frame size the model was trained on (stored in the
checkpoint; the datasets store 176x66), capped to the run's ``eval_max_len`` first frames when its
configuration sets one, then go through the run's test-time augmentations; the similarity is
Eq. 5 averaged over them, exactly as in evaluation. Folders that cannot be read (no frames, a
broken or unreadable file, a folder that cannot be listed) are reported, one line each naming the
folder or file, and left out; the rest are still ranked.
"""
import os

import numpy as np

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.engine.trained_model import load_model
from rcnreid.data import augment
from rcnreid.errors import UserError


class FolderSequence:
    """One readable sequence folder: its name and frames uint8 (L, H, W, 3)."""

    def __init__(self, path, frames):
        self.path = path
        self.name = os.path.basename(os.path.normpath(path))
        self.frames = frames


def sequence_folders(root):
    """The sequence folders under ``root``: ``[root]`` if it holds images, else its sub-folders."""
    from rcnreid.data.frames import is_image_name
    if not os.path.isdir(root):
        raise UserError("%s: not a folder; give a folder of frames or of sequence folders" % root)
    try:
        names = sorted(os.listdir(root))
    except OSError as exc:
        raise UserError("%s: cannot list the folder (%s); check its permissions"
                        % (root, exc.strerror or exc))
    if any(is_image_name(n) and os.path.isfile(os.path.join(root, n)) for n in names):
        return [root]
    subs = [os.path.join(root, n) for n in names
            if not n.startswith(".") and os.path.isdir(os.path.join(root, n))]
    if not subs:
        raise UserError("%s: holds neither frames (.png/.jpg/.bmp) nor sequence folders" % root)
    return subs


def read_sequences(root, frame_hw, report, max_len=None):
    """Readable :class:`FolderSequence` s under ``root``; each failure is passed to ``report``
    as one line naming the folder or the file at fault. ``max_len`` keeps the first frames only
    (the run's ``eval_max_len``, as in evaluation)."""
    from rcnreid.data.frames import list_frames, load_rgb
    out = []
    for folder in sequence_folders(root):
        try:
            paths = list_frames(folder)
            if max_len is not None:
                paths = paths[:int(max_len)]
            frames = np.stack([load_rgb(p, size=frame_hw, convert_modes=True) for p in paths])
        except UserError as exc:
            report("skipped: %s" % exc)         # the message names the folder or the file
            continue
        except (OSError, ValueError, MemoryError) as exc:
            report("skipped: %s: cannot read the sequence (%s)" % (folder, exc))
            continue
        out.append(FolderSequence(folder, frames))
    return out


def _represent(model, seqs, augs, out_hw, crop_hw, rep):
    """(A, N, D) representations of the sequences, one pass per sequence and augmentation."""
    H = np.zeros((len(augs), len(seqs), model.repr_dim), dtype=np.float32)
    for a, aug in enumerate(augs):
        for i, s in enumerate(seqs):
            x = augment.apply(s.frames, aug, out_hw=out_hw, crop_hw=crop_hw)[:, None]
            H[a, i] = rep(x)[0]
    return H


def rank_folders(checkpoint_path, probe_dir, gallery_dir, top=None, test_augs=None, log=print):
    """Rank the gallery sequences for every probe sequence.

    Returns ``{"probes": [{"probe": name, "path": ..., "ranking": [{"gallery": name, "path": ...,
    "similarity": s}, ...]}, ...], "skipped": [messages]}``, rankings best first, cut to ``top``.
    """
    log = log or (lambda *a: None)
    if top is not None and int(top) < 1:
        raise UserError("--top %s: must be at least 1 (leave it out to list every gallery "
                        "sequence)" % top)
    ckpt = ckptlib.load_checkpoint(checkpoint_path)
    cfg = ckpt.run_config()
    if cfg.model.kind != "convgru":
        raise UserError("%s: a %s model ranks feature vectors, not folders of frames"
                        % (checkpoint_path, cfg.model.kind))
    if cfg.model.temporal_pooling == "fisher":
        raise UserError("%s: Fisher-vector pooling needs the training data's GMM; rank with a "
                        "model trained with last/average/max pooling" % checkpoint_path)
    model = load_model(checkpoint_path, ckpt)
    frame_hw = tuple(ckpt.attrs.get("frame_hw", (176, 66)))
    skipped = []

    def report(msg):
        skipped.append(msg)
        log(msg)

    max_len = cfg.train.eval_max_len
    probes = read_sequences(probe_dir, frame_hw, report, max_len)
    gallery = read_sequences(gallery_dir, frame_hw, report, max_len)
    if not probes:
        raise UserError("%s: no readable probe sequence (%d skipped, see above)"
                        % (probe_dir, len(skipped)))
    if not gallery:
        raise UserError("%s: no readable gallery sequence (%d skipped, see above)"
                        % (gallery_dir, len(skipped)))
    log("ranking %d gallery sequences for %d probe sequences (%d folders skipped)"
        % (len(gallery), len(probes), len(skipped)))
    augs = augment.test_augmentations(test_augs or cfg.train.test_augs)
    rep = model.build_represent()
    Hp = _represent(model, probes, augs, cfg.model.input_hw, cfg.train.crop_hw, rep)
    Hg = _represent(model, gallery, augs, cfg.model.input_hw, cfg.train.crop_hw, rep)
    from rcnreid.evaluation.evaluate import augmented_similarity
    pairing = cfg.train.aug_pairing
    S = augmented_similarity(model, Hp, Hg, pairing=pairing)
    L = augmented_similarity(model, Hp, Hg, logits=True, pairing=pairing)   # breaks ties of S
    out = []
    for i, p in enumerate(probes):
        order = np.lexsort((-L[i], -S[i]))
        if top:
            order = order[:int(top)]
        out.append({"probe": p.name, "path": p.path,
                    "ranking": [{"gallery": gallery[j].name, "path": gallery[j].path,
                                 "similarity": float(S[i, j])} for j in order]})
    return {"probes": out, "skipped": skipped}


def format_ranking(result):
    """Plain-text table of :func:`rank_folders`' result."""
    lines = []
    for p in result["probes"]:
        lines.append("probe %s" % p["probe"])
        for k, g in enumerate(p["ranking"], 1):
            lines.append("  %3d  %.4f  %s" % (k, g["similarity"], g["gallery"]))
    return "\n".join(lines)
