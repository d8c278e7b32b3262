"""Ranked-gallery pictures: for a probe sequence, its top-K gallery sequences in rank order.

One PNG per probe (Pillow): the probe's panel first, then the gallery sequences ranked by the
similarity of evaluation (Eq. 5 averaged over the test-time augmentations, the matrix that
:func:`rcnreid.evaluation.evaluate.evaluate` computes), each labelled with its rank, person id and
similarity, framed green when it is the probe's true match and red otherwise. When the true match
is beyond rank K it is drawn after the top K with its rank.

Each panel shows a few frames, evenly spaced over the part of the sequence the model read
(``eval_max_len``), as the model saw them before normalisation: the first test-time view (the
centre crop of ``crop_hw``, not mirrored) resized to the model's input size with the same
resizing as :mod:`rcnreid.data.augment`, enlarged for display by an integer factor with
nearest-neighbour sampling (every displayed pixel is a pixel the model read).

Ties between similarities are ordered as the CMC counts them (pessimistic: the true match after
the wrong sequences with the same similarity), so a picture's rank labels agree with the CMC.
"""
import os
import re

import numpy as np

from rcnreid.store.atomic import atomic_path, read_json, write_json
from rcnreid.errors import UserError

GREEN = (0, 170, 0)          # the true match
RED = (215, 25, 25)          # a wrong match
PROBE = (40, 90, 200)        # the probe
NEUTRAL = (128, 128, 128)    # ``rcnreid rank --montage``: identities unknown
BORDER = 4                   # frame line width, pixels
GAP = 2                      # between frames inside a panel
LINE_H = 13                  # one label line (Pillow's default font)
DISPLAY_H = 128              # frames are enlarged to about this height (integer factor)
INDEX_NAME = "index.json"


# -- which frames, which order, which probes ---------------------------------------------------

def spaced_indices(length, n):
    """``n`` frame indices evenly spaced over 0..length-1 (fewer when the sequence is shorter)."""
    length, n = int(length), int(n)
    if length <= 0 or n <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, length - 1, min(n, length))).astype(np.int64))


def model_view(frames, out_hw, crop_hw):
    """uint8 (T, H, W, 3) -> uint8 (T, h, w, 3): the centre ``crop_hw`` crop resized to
    ``out_hw``, i.e. the first test-time augmentation of :mod:`rcnreid.data.augment` before its
    normalisation to [-1, 1]."""
    from rcnreid.data import augment
    frames = np.asarray(frames)
    ch, cw = min(int(crop_hw[0]), frames.shape[1]), min(int(crop_hw[1]), frames.shape[2])
    top, left = augment.crop_origin(frames.shape[1:3], (ch, cw), "center")
    crop = frames[:, top:top + ch, left:left + cw].astype(np.float32)
    x = augment.resize_frames(crop, out_hw)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def ranking(scores, probe_ids, gallery_ids, tiebreak=None):
    """Per probe: the gallery order (best first) and the 1-based rank of its true match (None
    when it has none), both as the CMC counts them (:func:`rcnreid.evaluation.cmc.match_positions`,
    pessimistic ties): ordered by score, then by ``tiebreak`` (evaluation's averaged logits),
    and a true match after the wrong sequences equal to it on both."""
    from rcnreid.evaluation.cmc import match_positions
    S = np.asarray(scores, dtype=np.float64)
    tb = np.zeros_like(S) if tiebreak is None else np.asarray(tiebreak, dtype=np.float64)
    gid = np.asarray(gallery_ids)
    pos = match_positions(S, probe_ids, gid, ties="pessimistic", tiebreak=tiebreak)
    out = []
    for i, pid in enumerate(np.asarray(probe_ids)):
        is_true = (gid == pid).astype(np.int64)
        order = np.lexsort((np.arange(len(gid)), is_true, -tb[i], -S[i]))
        out.append({"order": order, "true_rank": int(pos[i][0]) if len(pos[i]) else None})
    return out


def parse_probes(text):
    """``--probes``: ``"all"`` or a positive count."""
    if str(text).strip().lower() == "all":
        return "all"
    try:
        n = int(text)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise UserError("--probes %s: give a number of probes (at least 1) or 'all'" % text)
    return n


def choose_probes(true_ranks, probes=6, seed=0):
    """Indices of the probes to draw: ``"all"``, or ``probes`` of them: the worst-ranked half
    (rounded up; the hard cases, worst first) then the rest drawn at random with ``seed`` among
    the others, in probe order."""
    n_all = len(true_ranks)
    if probes == "all":
        return list(range(n_all))
    n = min(int(probes), n_all)
    key = [-(r if r is not None else n_all + 1) for r in true_ranks]
    worst = [int(i) for i in np.argsort(key, kind="stable")[:(n + 1) // 2]]
    rest = [i for i in range(n_all) if i not in worst]
    rng = np.random.RandomState(seed)
    picked = sorted(int(i) for i in rng.choice(rest, size=n - len(worst), replace=False)) \
        if n > len(worst) else []
    return worst + picked


# -- drawing -----------------------------------------------------------------------------------

def _font():
    from PIL import ImageFont
    return ImageFont.load_default()


def _strip(frames, scale):
    """uint8 (n, h, w, 3) -> one uint8 image of the frames side by side, enlarged ``scale`` x."""
    n, h, w, _ = frames.shape
    big = np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2)
    out = np.full((h * scale, n * w * scale + (n - 1) * GAP, 3), 255, dtype=np.uint8)
    for k in range(n):
        x = k * (w * scale + GAP)
        out[:, x:x + w * scale] = big[k]
    return out


def draw_ranking(panels, out_path, title="", cols=6):
    """Draw ``panels`` (dicts: ``frames`` uint8 (n, h, w, 3), ``lines`` [str, ...], ``colour``
    RGB) in a grid, ``cols`` per row, into the PNG ``out_path`` (atomically). Returns the layout:
    per panel its ``box`` [x0, y0, x1, y1] (the outer edge of its coloured frame, x1/y1
    exclusive) and ``colour``, and the image ``size``."""
    from PIL import Image, ImageDraw
    if not panels:
        raise ValueError("draw_ranking: no panels")
    h = max(p["frames"].shape[1] for p in panels)
    scale = max(1, int(round(DISPLAY_H / float(h))))
    strips = [_strip(p["frames"], scale) for p in panels]
    n_lines = max(len(p["lines"]) for p in panels)
    cell_w = max(s.shape[1] for s in strips) + 2 * BORDER + 10
    cell_w = max(cell_w, 110)
    cell_h = n_lines * LINE_H + 4 + max(s.shape[0] for s in strips) + 2 * BORDER + 10
    cols = max(1, min(int(cols), len(panels)))
    rows = (len(panels) + cols - 1) // cols
    top = (LINE_H + 8) if title else 4
    W, H = cols * cell_w + 10, top + rows * cell_h
    img = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = _font()
    if title:
        draw.text((6, 4), title, fill=(0, 0, 0), font=font)
    layout = []
    for k, (p, s) in enumerate(zip(panels, strips)):
        x0 = 6 + (k % cols) * cell_w
        y0 = top + (k // cols) * cell_h
        for j, line in enumerate(p["lines"]):
            draw.text((x0, y0 + j * LINE_H), line, fill=(0, 0, 0), font=font)
        by = y0 + n_lines * LINE_H + 4
        box = [x0, by, x0 + s.shape[1] + 2 * BORDER, by + s.shape[0] + 2 * BORDER]
        draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=tuple(p["colour"]))
        img.paste(Image.fromarray(s), (x0 + BORDER, by + BORDER))
        layout.append({"box": box, "colour": list(p["colour"]), "scale": scale})
    with atomic_path(out_path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")
    return {"size": [W, H], "panels": layout}


# -- a dataset trial ---------------------------------------------------------------------------

def _read_scores(path):
    with np.load(path) as z:
        return (z["similarity"], z["probe_ids"], z["gallery_ids"],
                z["logits"] if "logits" in z.files else None)


def trial_scores(data_path, checkpoint_path, trial, scores_path=None, log=None):
    """(similarity (Np, Ng), tie-break key or None, probe rows, gallery rows) of a trial: read
    from ``scores_path`` (an ``evaluate --scores`` file) when given, else computed by
    :func:`rcnreid.evaluation.evaluate.evaluate`."""
    import tempfile
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.evaluation.evaluate import evaluate, trial_rows
    ds = ReIDDataset(data_path)
    _, probe, gallery = trial_rows(ds, trial)
    if scores_path is None:
        with tempfile.TemporaryDirectory(prefix="rcnreid-visrank-") as tmp:
            scores_path = os.path.join(tmp, "scores.npz")
            evaluate(data_path, checkpoint_path, trial, log=log, scores_path=scores_path)
            S, pid, gid, L = _read_scores(scores_path)
    else:
        try:
            S, pid, gid, L = _read_scores(scores_path)
        except (OSError, ValueError, KeyError) as exc:
            raise UserError("%s: not a scores file of `rcnreid evaluate --scores` (%s)"
                            % (scores_path, exc))
    if (S.shape != (len(probe), len(gallery)) or not np.array_equal(pid, ds.person[probe])
            or not np.array_equal(gid, ds.person[gallery])):
        raise UserError("%s: its probes and gallery are not those of %s trial %d; give the "
                        "scores of this dataset and trial" % (scores_path, data_path, trial))
    return S, L, probe, gallery


def visrank(data_path, checkpoint_path, out_dir, trial=0, probes=6, top=10, frames=4, seed=0,
            scores_path=None, cols=6, log=print):
    """Write one ranked-gallery PNG per chosen probe of trial ``trial`` into ``out_dir``, and
    ``index.json`` describing every picture (probe, ranks, ids, similarities, panel boxes).
    Returns the index dict."""
    from rcnreid.engine import checkpoint as ckptlib
    from rcnreid.store.atomic import check_out_path
    from rcnreid.data.reader import ReIDDataset
    log = log or (lambda *a: None)
    if int(top) < 1:
        raise UserError("--top %s: must be at least 1" % top)
    if int(frames) < 1:
        raise UserError("--frames %s: must be at least 1" % frames)
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError("--out %s: is a file; give a folder for the pictures" % out_dir)
    cfg = ckptlib.load_checkpoint(checkpoint_path).run_config()
    ds = ReIDDataset(data_path)
    S, L, probe, gallery = trial_scores(data_path, checkpoint_path, trial, scores_path, log)
    pid, gid = ds.person[probe], ds.person[gallery]
    ranks = ranking(S, pid, gid, tiebreak=L)
    chosen = choose_probes([r["true_rank"] for r in ranks], probes, seed)
    out_hw = cfg.model.input_hw if cfg.model.kind == "convgru" else cfg.train.crop_hw
    max_len = cfg.train.eval_max_len

    def view(row):
        L = int(ds.length[row]) if max_len is None else min(int(ds.length[row]), int(max_len))
        idx = spaced_indices(L, frames)
        return model_view(ds.frames(int(row))[idx], out_hw, cfg.train.crop_hw), idx

    os.makedirs(out_dir, exist_ok=True)
    before = read_index(out_dir)
    pictures = []
    for i in chosen:
        order, true_rank = ranks[i]["order"], ranks[i]["true_rank"]
        shown = [(k + 1, int(j)) for k, j in enumerate(order[:int(top)])]
        if true_rank is not None and true_rank > int(top):
            shown.append((true_rank, int(order[true_rank - 1])))
        fr, idx = view(probe[i])
        panels = [{"frames": fr, "colour": PROBE,
                   "lines": ["probe", "id %d" % pid[i], "frames %s" % ",".join(map(str, idx))]}]
        entries = []
        for rank, j in shown:
            correct = bool(gid[j] == pid[i])
            fr, idx = view(gallery[j])
            beyond = rank > int(top)
            panels.append({"frames": fr, "colour": GREEN if correct else RED,
                           "lines": [("... rank %d" if beyond else "rank %d") % rank,
                                     "id %d" % gid[j], "s = %.4f" % S[i, j]]})
            entries.append({"rank": rank, "person": int(gid[j]), "row": int(gallery[j]),
                            "similarity": float(S[i, j]), "correct": correct})
        name = "probe%03d-id%d-rank%s.png" % (i, pid[i], true_rank if true_rank else "none")
        check_out_path(os.path.join(out_dir, name), "--out", name, kind="png")
        title = "%s trial %d: probe id %d, true match at rank %s" % (
            ds.name, int(trial), pid[i], true_rank if true_rank else "- (absent)")
        lay = draw_ranking(panels, os.path.join(out_dir, name), title=title, cols=cols)
        for e, p in zip([None] + entries, lay["panels"]):
            if e is not None:
                e["box"] = p["box"]
        pictures.append({"file": name, "probe": int(i), "probe_row": int(probe[i]),
                         "person": int(pid[i]), "true_rank": true_rank,
                         "probe_box": lay["panels"][0]["box"], "size": lay["size"],
                         "scale": lay["panels"][0]["scale"], "gallery": entries})
        log("wrote %s" % os.path.join(out_dir, name))
    index = {"dataset": ds.name, "data_path": os.path.abspath(os.fspath(data_path)),
             "checkpoint": os.path.abspath(os.fspath(checkpoint_path)), "trial": int(trial),
             "probes": probes, "top": int(top), "frames": int(frames), "seed": int(seed),
             "view": {"crop_hw": list(cfg.train.crop_hw), "out_hw": list(out_hw),
                      "max_len": max_len, "anchor": "center", "mirror": False},
             "colours": {"true": list(GREEN), "wrong": list(RED), "probe": list(PROBE)},
             "pictures": pictures}
    write_json(os.path.join(out_dir, INDEX_NAME), index)
    _remove_stale(out_dir, before, index)
    return index


def _remove_stale(out_dir, before, now):
    """Remove the pictures an earlier run listed in its index.json that this run did not draw
    again (only files named as this module names them)."""
    keep = {p["file"] for p in now["pictures"]}
    for p in (before or {}).get("pictures", []):
        name = os.path.basename(str(p.get("file", "")))
        if name not in keep and re.fullmatch(r"probe\d+-id-?\d+-rank(\d+|none)\.png", name):
            try:
                os.unlink(os.path.join(out_dir, name))
            except OSError:
                pass


def read_index(out_dir):
    """The ``index.json`` of a :func:`visrank` folder (None when there is none)."""
    return read_json(os.path.join(os.fspath(out_dir), INDEX_NAME))


# -- folders of frames (``rcnreid rank --montage``) --------------------------------------------

def check_montage_path(path):
    """Before any work: UserError when ``rank --montage PATH`` cannot be written."""
    from rcnreid.store.atomic import check_out_path
    path = os.fspath(path)
    if path.lower().endswith(".png"):
        check_out_path(path, "--montage", "montage.png", kind="png")
    elif os.path.exists(path) and not os.path.isdir(path):
        raise UserError("--montage %s: is a file; give a folder (or a .png path for one probe)"
                        % path)


def montage_paths(path, probe_names):
    """Where ``rank --montage PATH`` writes: PATH itself for one probe when it ends in .png, else
    one ``<probe>.png`` per probe in the folder PATH."""
    path = os.fspath(path)
    if path.lower().endswith(".png"):
        if len(probe_names) != 1:
            raise UserError("--montage %s: %d probe sequences give %d pictures; give a folder "
                            "instead of a .png file" % (path, len(probe_names), len(probe_names)))
        return [path]
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError("--montage %s: is a file; give a folder (or a .png path for one probe)"
                        % path)
    return [os.path.join(path, "%s.png" % "".join(c if c.isalnum() or c in "-_." else "_"
                                                  for c in n)) for n in probe_names]


def montage(checkpoint_path, result, montage_path, top=10, frames=4, cols=6, log=print):
    """Draw each probe's ranking of :func:`rcnreid.evaluation.rank_folders.rank_folders`
    (``result``) to
    :func:`montage_paths` (``montage_path``). Frames are read again from the folders exactly as
    ranking read them (resized to the checkpoint's frame size, capped to ``eval_max_len``) and
    shown as the model saw them (:func:`model_view`), the ``top`` best gallery sequences per
    probe. Folder identities are unknown, so gallery panels are framed grey. Returns the paths
    written."""
    from rcnreid.engine import checkpoint as ckptlib
    from rcnreid.evaluation.rank_folders import read_sequences
    paths = montage_paths(montage_path, [p["probe"] for p in result["probes"]])
    ckpt = ckptlib.load_checkpoint(checkpoint_path)
    cfg = ckpt.run_config()
    frame_hw = tuple(ckpt.attrs.get("frame_hw", (176, 66)))
    max_len = cfg.train.eval_max_len
    cache = {}

    def panel(path, lines, colour):
        if path not in cache:
            seqs = read_sequences(path, frame_hw, lambda m: None, max_len)
            if len(seqs) != 1:
                raise UserError("%s: could not be read again for the montage; check the folder"
                                % path)
            cache[path] = seqs[0].frames
        fr = cache[path]
        return {"frames": model_view(fr[spaced_indices(len(fr), frames)], cfg.model.input_hw,
                                     cfg.train.crop_hw),
                "lines": lines, "colour": colour}

    for res, out in zip(result["probes"], paths):
        panels = [panel(res["path"], ["probe", res["probe"][:18]], PROBE)]
        for k, g in enumerate(res["ranking"][:int(top)], 1):
            panels.append(panel(g["path"], ["rank %d" % k, g["gallery"][:18],
                                            "s = %.4f" % g["similarity"]], NEUTRAL))
        draw_ranking(panels, out, title="probe %s" % res["probe"], cols=cols)
        (log or (lambda *a: None))("wrote %s" % out)
    return paths
