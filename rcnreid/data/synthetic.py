"""The built-in synthetic dataset: a seeded raw tree that the converters read unchanged, and
:func:`make_synthetic_h5`, which writes it straight to a dataset file (``rcnreid prepare synth``
is the command-line face of :func:`write_synthetic_tree`).

It exists so that the demo, the tests and the experiment scripts run end to end without the real
data, and it is learnable: each person has their own clothing colours and texture (plain,
horizontal or vertical stripes, checks, a band), skin and hair, body proportions, an optional bag,
and a gait frequency and phase (legs and arms swing, the body bobs). Each camera has its own
illumination gain, colour cast and viewpoint (scale and shift) and its own background palette;
backgrounds are cluttered (iLIDS-VID layout) or cleaner (PRID 2011 layout, where the second
camera has a strong colour change, as in Section 5.1). Per-sequence tracking jitter, lighting
changes and pixel noise make matching non-trivial. Sequence lengths vary: 12-40 frames by default
for the iLIDS-VID layout, 22-48 for the PRID 2011 layout, where 12% of the sequences are replaced
by short ones of 5-21 frames (so the 178-person protocol drops pairs) and a few distractor people
appear in one camera only.

Library use::

    from rcnreid.data.synthetic import make_synthetic_h5, write_synthetic_tree
    make_synthetic_h5("synthetic.h5", layout="ilidsvid", persons=24, seed=0)
"""
import dataclasses
import os
import shutil
import tempfile

import numpy as np

from rcnreid.errors import UserError

LAYOUTS = ("ilidsvid", "prid2011")
#: Default (min_len, max_len) per layout; PRID 2011 adds short sequences (short_fraction).
DEFAULT_LENGTHS = {"ilidsvid": (12, 40), "prid2011": (22, 48)}
RAW_H, RAW_W = 128, 64


@dataclasses.dataclass
class SynthConfig:
    """Size and difficulty of the synthetic data (defaults: small and quick)."""
    persons: int = 24             # people seen by both cameras
    min_len: int = None           # frames per sequence, uniform in [min_len, max_len];
    max_len: int = None           # None: the layout's default (DEFAULT_LENGTHS)
    clutter: int = 6              # background rectangles per sequence (iLIDS-VID layout)
    noise: float = 6.0            # pixel noise (std, 0-255 scale)
    short_fraction: float = 0.12  # PRID layout: share of sequences with 5-21 frames
    distractors: int = 3          # PRID layout: people seen by one camera only (per camera)


# ----------------------------------------------------------------------------------------------
# people and cameras

def _hsv_to_rgb(h, s, v):
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array([r, g, b]) * 255.0


_PANTS = np.array([[30, 30, 35], [35, 45, 90], [70, 90, 130], [110, 110, 110], [90, 65, 45],
                   [170, 150, 110], [20, 20, 60], [60, 60, 40]], dtype=np.float64)
_TEXTURES = ("plain", "hstripes", "vstripes", "checks", "band")


def draw_person(rng):
    """The appearance and gait of one person (a dict of plain numbers and RGB colours)."""
    shirt = _hsv_to_rgb(rng.uniform(), rng.uniform(0.35, 0.9), rng.uniform(0.35, 0.95))
    second = _hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.8), rng.uniform(0.2, 1.0))
    return {
        "shirt": shirt, "second": second,
        "texture": _TEXTURES[rng.randint(len(_TEXTURES))],
        "period": rng.uniform(4.0, 10.0),
        "pants": np.clip(_PANTS[rng.randint(len(_PANTS))] + rng.normal(0, 12, 3), 0, 255),
        "skin": np.array([225, 185, 150]) * rng.uniform(0.45, 1.05),
        "hair": np.array([50, 35, 20]) * rng.uniform(0.3, 3.0),
        "shoes": np.full(3, rng.uniform(10, 90)),
        "height": rng.uniform(0.8, 0.94),     # of the frame height
        "width": rng.uniform(0.4, 0.56),      # torso width, of the frame width
        "torso": rng.uniform(0.32, 0.42),      # torso length, of the body height
        "freq": rng.uniform(0.05, 0.11),       # gait cycles per frame
        "phase": rng.uniform(0, 2 * np.pi),
        "swing": rng.uniform(0.22, 0.42),      # leg swing amplitude (radians)
        "bag": rng.uniform() < 0.35,
        "bag_colour": _hsv_to_rgb(rng.uniform(), rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.9)),
        "bag_side": rng.choice([-1.0, 1.0]),
    }


def draw_camera(rng, number, layout):
    """Illumination, colour cast, viewpoint and background palette of one camera."""
    strong = layout == "prid2011" and number == 2
    cast = rng.uniform(0.82, 1.18, 3) if strong else rng.uniform(0.92, 1.08, 3)
    return {
        "gain": rng.uniform(0.85, 1.15),
        "cast": cast,
        "offset": rng.uniform(-8, 8, 3),
        "scale": rng.uniform(0.88, 1.05),
        "dx": rng.uniform(-4, 4), "dy": rng.uniform(-5, 5),
        "bg": [_hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.5), rng.uniform(0.25, 0.85))
               for _ in range(4)],
        "shadow": strong,
    }


# ----------------------------------------------------------------------------------------------
# rendering

_YY, _XX = np.mgrid[0:RAW_H, 0:RAW_W].astype(np.float64)


def _segment_mask(ax, ay, bx, by, r):
    dx, dy = bx - ax, by - ay
    t = np.clip(((_XX - ax) * dx + (_YY - ay) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
    return (_XX - (ax + t * dx)) ** 2 + (_YY - (ay + t * dy)) ** 2 <= r * r


def render_background(rng, cam, clutter):
    """A cluttered background: a vertical gradient between two camera colours plus rectangles."""
    top, bottom = cam["bg"][0], cam["bg"][1]
    w = (_YY / (RAW_H - 1))[..., None]
    img = (1 - w) * top + w * bottom
    img = img * rng.uniform(0.92, 1.08)
    for _ in range(clutter):
        h, wd = rng.randint(6, 40), rng.randint(4, 24)
        y, x = rng.randint(-10, RAW_H), rng.randint(-10, RAW_W)
        if rng.uniform() < 0.8:
            col = cam["bg"][rng.randint(2, 4)] * rng.uniform(0.7, 1.2)
        else:
            col = _hsv_to_rgb(rng.uniform(), rng.uniform(0.1, 0.9), rng.uniform(0.2, 0.9))
        img[max(y, 0):max(y + h, 0), max(x, 0):max(x + wd, 0)] = col
    return img


def render_frame(bg, p, cam, t, jitter, light):
    """One RGB frame (float64 0-255) of person ``p`` at time ``t`` over background ``bg``."""
    img = bg.copy()
    s = cam["scale"] * p["height"] * RAW_H
    phase = 2 * np.pi * p["freq"] * t + p["phase"]
    cx = RAW_W / 2 + cam["dx"] + jitter[0]
    y0 = (RAW_H - s) / 2 + cam["dy"] + jitter[1] - 1.5 * abs(np.sin(phase))
    tw = p["width"] * RAW_W * cam["scale"]
    head_r = 0.065 * s
    head_cy = y0 + head_r
    torso_top = y0 + 2 * head_r
    hip = torso_top + p["torso"] * s
    foot = y0 + s
    swing = p["swing"] * np.sin(phase)
    leg_len = foot - hip
    leg_r = 0.19 * tw
    # legs (back leg slightly darker)
    for sign, shade in ((-1.0, 0.8), (1.0, 1.0)):
        hx = cx + sign * 0.22 * tw
        ang = sign * swing
        fx, fy = hx + leg_len * np.sin(ang), hip + leg_len * np.cos(ang)
        m = _segment_mask(hx, hip, fx, fy, leg_r)
        img[m] = p["pants"] * shade
        img[_segment_mask(fx - 1, fy - 1, fx + 2, fy - 1, leg_r * 0.9)] = p["shoes"]
    # torso with its texture
    u, v = _XX - cx, _YY - torso_top
    half = tw / 2 * (1.0 - 0.15 * np.clip(v / max(hip - torso_top, 1), 0, 1))
    torso = (np.abs(u) <= half) & (v >= 0) & (_YY <= hip + 1)
    kind, per = p["texture"], p["period"]
    if kind == "hstripes":
        alt = np.sin(2 * np.pi * v / per) > 0
    elif kind == "vstripes":
        alt = np.sin(2 * np.pi * u / per) > 0
    elif kind == "checks":
        alt = (np.sin(2 * np.pi * u / per) > 0) ^ (np.sin(2 * np.pi * v / per) > 0)
    elif kind == "band":
        alt = (v > 0.35 * (hip - torso_top)) & (v < 0.6 * (hip - torso_top))
    else:
        alt = np.zeros_like(torso)
    shading = (0.8 + 0.2 * np.cos(np.clip(u / max(tw, 1), -0.5, 0.5) * np.pi))[..., None]
    cloth = np.where(alt[..., None], p["second"], p["shirt"]) * shading
    img[torso] = cloth[torso]
    # arms swing against the legs; sleeves in the shirt colour, hands in skin colour
    arm_len = 0.36 * s
    for sign in (-1.0, 1.0):
        sx, sy = cx + sign * (tw / 2 + 0.6), torso_top + 2
        ang = -sign * 0.7 * swing
        ex, ey = sx + arm_len * np.sin(ang), sy + arm_len * np.cos(ang)
        img[_segment_mask(sx, sy, ex, ey, 0.13 * tw)] = p["shirt"] * 0.9
        img[_segment_mask(ex, ey, ex, ey, 0.12 * tw)] = p["skin"]
    if p["bag"]:
        bx = cx + p["bag_side"] * (tw / 2 + 0.14 * tw)
        bag = (np.abs(_XX - bx) <= 0.22 * tw) & (_YY >= hip - 0.12 * s) & (_YY <= hip + 0.05 * s)
        img[bag] = p["bag_colour"]
    # head and hair
    head = ((_XX - cx) / (0.8 * head_r)) ** 2 + ((_YY - head_cy) / head_r) ** 2 <= 1
    img[head] = p["skin"]
    img[head & (_YY < head_cy - 0.25 * head_r)] = p["hair"]
    # the camera: illumination, colour cast, a shadow over the lower half (PRID cam_b)
    img = img * (cam["gain"] * light) * cam["cast"] + cam["offset"]
    if cam["shadow"]:
        img[int(RAW_H * 0.55):] *= 0.75
    return img


def render_sequence(rng, person, cam, length, clutter, noise):
    """uint8 (length, 128, 64, 3) frames of one person walking past one camera."""
    bg = render_background(rng, cam, clutter)
    t0 = rng.uniform(0, 100)
    drift = rng.uniform(-2.5, 2.5, 2)
    light = rng.uniform(0.85, 1.15)
    out = np.empty((length, RAW_H, RAW_W, 3), dtype=np.uint8)
    for i in range(length):
        jitter = drift + rng.normal(0, 0.8, 2)
        frame = render_frame(bg, person, cam, t0 + i, jitter, light)
        frame += rng.normal(0, noise, frame.shape)
        out[i] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


# ----------------------------------------------------------------------------------------------
# the raw trees

def _save_png(arr, path):
    from PIL import Image
    Image.fromarray(arr, "RGB").save(path, compress_level=1)


def _lengths(rng, cfg, layout, n):
    lens = rng.randint(cfg.min_len, cfg.max_len + 1, n)
    if layout == "prid2011":
        short = rng.uniform(size=n) < cfg.short_fraction
        lens[short] = rng.randint(5, 22, int(short.sum()))
    return lens


def _resolve_config(layout, persons, config):
    if layout not in LAYOUTS:
        raise UserError("--layout %s: unknown layout; use %s" % (layout, " or ".join(LAYOUTS)))
    cfg = dataclasses.replace(config or SynthConfig(), persons=int(persons))
    lo, hi = DEFAULT_LENGTHS.get(layout, (12, 40))
    cfg = dataclasses.replace(cfg, min_len=lo if cfg.min_len is None else int(cfg.min_len),
                              max_len=hi if cfg.max_len is None else int(cfg.max_len))
    if cfg.persons < 2:
        raise UserError("--persons %d: need at least 2 people" % cfg.persons)
    if not 1 <= cfg.min_len <= cfg.max_len:
        raise UserError("--min-len/--max-len: need 1 <= min_len <= max_len")
    return cfg


def write_synthetic_tree(out_dir, layout="ilidsvid", persons=24, seed=0, config=None, log=None):
    """Write a synthetic raw tree in ``layout`` under ``out_dir``; returns the root to convert.

    iLIDS-VID layout: ``out_dir/i-LIDS-VID/sequences/cam{1,2}/personNNN/cam1_personNNN_FFFFF.png``
    (person ids with gaps, like the real 1..319). PRID 2011 layout:
    ``out_dir/prid_2011/multi_shot/cam_{a,b}/person_NNNN/NNNN.png`` plus ``config.distractors``
    people in each camera only. Deterministic in ``seed``. The tree is written under a temporary
    folder and renamed into place when complete; UserError when ``out_dir`` already holds a tree
    of this layout.
    """
    cfg = _resolve_config(layout, persons, config)
    out_dir = os.fspath(out_dir)
    top = "i-LIDS-VID" if layout == "ilidsvid" else "prid_2011"
    final_top = os.path.join(out_dir, top)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError("--out %s: is a file; give a folder to write the raw tree into" % out_dir)
    if os.path.exists(final_top):
        raise UserError("%s: already exists; write the synthetic tree into another --out folder "
                        "(or remove this one): mixing two trees would mix their people"
                        % final_top)
    from rcnreid.store.atomic import write_error
    created = not os.path.exists(out_dir)
    # Written under a temporary folder beside the result and renamed into place when complete,
    # so an interrupted run never leaves a partial tree that the converters would read.
    try:
        os.makedirs(out_dir, exist_ok=True)
        work = tempfile.mkdtemp(prefix=".synth-", dir=out_dir)
        try:
            _write_tree(work, layout, cfg, seed, log)
            os.rename(os.path.join(work, top), final_top)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except OSError as exc:          # a full disk: one line, and no empty folder left behind
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise write_error(os.path.join(out_dir, top), exc)
    return out_dir


def _write_tree(out_dir, layout, cfg, seed, log):
    """Render the tree under ``out_dir``; returns [(person, camera 1|2, "cam/folder", frame
    paths in order)] of every sequence written."""
    rng = np.random.RandomState(seed)
    cams = {1: draw_camera(rng, 1, layout), 2: draw_camera(rng, 2, layout)}
    clutter = cfg.clutter if layout == "ilidsvid" else max(cfg.clutter // 4, 0)
    if layout == "ilidsvid":
        ids = np.sort(rng.choice(np.arange(1, int(cfg.persons * 1.1) + 3), cfg.persons,
                                 replace=False))
        base = os.path.join(out_dir, "i-LIDS-VID", "sequences")
        cam_names = {1: "cam1", 2: "cam2"}
        extra = []
    else:
        ids = np.arange(1, cfg.persons + 1)
        base = os.path.join(out_dir, "prid_2011", "multi_shot")
        cam_names = {1: "cam_a", 2: "cam_b"}
        extra = [(cfg.persons + 1 + (cam - 1) * cfg.distractors + k, cam)
                 for cam in (1, 2) for k in range(cfg.distractors)]
    people = {int(pid): draw_person(rng) for pid in list(ids) + [e[0] for e in extra]}
    jobs = [(int(pid), cam) for pid in ids for cam in (1, 2)] + extra
    lengths = _lengths(rng, cfg, layout, len(jobs))
    written = []
    for k, ((pid, cam), length) in enumerate(zip(jobs, lengths)):
        seq_rng = np.random.RandomState([seed, pid, cam])
        frames = render_sequence(seq_rng, people[pid], cams[cam], int(length), clutter, cfg.noise)
        if layout == "ilidsvid":
            folder = os.path.join(base, cam_names[cam], "person%03d" % pid)
            first = int(seq_rng.randint(1, 900))
            names = ["%s_person%03d_%05d.png" % (cam_names[cam], pid, first + i)
                     for i in range(len(frames))]
        else:
            folder = os.path.join(base, cam_names[cam], "person_%04d" % pid)
            names = ["%04d.png" % (i + 1) for i in range(len(frames))]
        os.makedirs(folder, exist_ok=True)
        for arr, name in zip(frames, names):
            _save_png(arr, os.path.join(folder, name))
        written.append((pid, cam, "%s/%s" % (cam_names[cam], os.path.basename(folder)),
                        [os.path.join(folder, n) for n in names]))
        if log and ((k + 1) % max(1, len(jobs) // 10) == 0 or k + 1 == len(jobs)):
            log("  synth %s: %d/%d sequences" % (layout, k + 1, len(jobs)))
    return written


def make_synthetic_h5(out_path, layout="ilidsvid", persons=24, seed=0, config=None,
                      protocol="200", log=None):
    """Render the synthetic raw tree in a temporary folder and write it to ``out_path``.

    The file is what ``rcnreid prepare ilidsvid|prid2011`` makes of that tree: sequences
    ordered by the probe camera's folder name, then camera; PRID layout: people seen by both
    cameras only, and for ``protocol="178"`` pairs with at least :data:`PRID178_MIN_FRAMES`
    frames in both cameras. The ``dataset`` attribute is ``synthetic-<layout>``; splits are 10
    random 50/50 splits drawn from ``seed``. Returns the conversion summary dict.
    """
    from rcnreid.store.atomic import check_out_path
    from rcnreid.data.frames import RAW_WH, new_counter
    from rcnreid.data.splits import PRID178_MIN_FRAMES, random_splits
    from rcnreid.data.writer import SequenceSource, write_dataset
    protocol = str(protocol)
    if layout == "prid2011" and protocol not in ("200", "178"):
        raise UserError("--protocol %s: unknown PRID 2011 protocol; use 200 or 178" % protocol)
    cfg = _resolve_config(layout, persons, config)
    check_out_path(out_path, kind="dataset")
    quiet = log or (lambda *a: None)
    from rcnreid.store.atomic import write_error
    tmp = tempfile.mkdtemp(prefix="rcnreid-synth-")
    try:
        try:
            written = _write_tree(tmp, layout, cfg, seed, log)
        except OSError as exc:      # the temporary raw tree: a full temporary folder
            raise write_error(tmp, exc)
        by = {(pid, cam): (folder, paths) for pid, cam, folder, paths in written}
        skipped = new_counter()
        pairs = sorted({pid for pid, _ in by if (pid, 1) in by and (pid, 2) in by},
                       key=lambda p: by[(p, 1)][0])
        for cam, cam_name in ((1, "cam_a"), (2, "cam_b")):
            n_only = sum(1 for pid, c in by if c == cam and (pid, 3 - cam) not in by)
            if n_only:
                skipped["person in %s only (not a pair)" % cam_name] += n_only
        seqs, kept = [], []
        for pid in pairs:
            if protocol == "178" and layout == "prid2011" and \
                    min(len(by[(pid, c)][1]) for c in (1, 2)) < PRID178_MIN_FRAMES:
                skipped["pair with fewer than %d frames in a camera (178-person protocol)"
                        % PRID178_MIN_FRAMES] += 1
                continue
            kept.append(pid)
            seqs.extend(SequenceSource(pid, c, by[(pid, c)][0], by[(pid, c)][1]) for c in (1, 2))
        label = "synthetic(layout=%s, persons=%d, seed=%d)" % (layout, persons, seed)
        extra = {"source_root": label, "split_seed": int(seed)}
        if layout == "ilidsvid":
            extra["split_source"] = "random"        # as data_prep ilidsvid records it
        if layout == "prid2011":
            extra["min_frames"] = PRID178_MIN_FRAMES if protocol == "178" else 1
        return write_dataset(
            out_path, seqs, random_splits(kept, seed), name="synthetic-%s" % layout,
            protocol="ilidsvid" if layout == "ilidsvid" else "prid2011-%s" % protocol,
            extra_attrs=extra, load_kwargs={"expect_wh": RAW_WH, "convert_modes": False},
            skipped=skipped, log=quiet)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
