"""Nothing a user owns is lost, and bad bytes are one line: a table of bad inputs over all the
commands that write or read user files (``rcnreid extract/evaluate/aggregate/rank/train`` and
``python -m data_prep``). Each case gives the command line, a fragment of the expected one-line
message, and checks that every file the user had is byte-for-byte unchanged and nothing new was
left behind. The refusals happen before any Theano graph is compiled, so the table is quick.
"""
import hashlib
import json
import os
import shutil
import struct
import zlib
from collections import OrderedDict

import numpy as np
import pytest

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.configs.registry import get_config
from rcnreid.data.reader import ReIDDataset
from rcnreid.data.synthetic import SynthConfig, make_synthetic_h5, write_synthetic_tree

SMALL = SynthConfig(min_len=3, max_len=5)


def _checkpoint_for(data, path, big=False):
    """A checkpoint of the ``tiny`` configuration (untrained parameters) recorded as trained on
    ``data``; no graph is compiled."""
    from rcnreid.nn.model import SiameseRCN
    cfg = get_config("tiny")
    params = OrderedDict(SiameseRCN(cfg.model, seed=0).get_params())
    ds = ReIDDataset(data)
    ck = ckptlib.Checkpoint(params=params, optim_state={}, rng_states={
        "data": np.random.RandomState(2).get_state()}, epoch=1, config=cfg.to_dict(),
        attrs={"seed": 0, "trial": 0, "data_path": os.path.abspath(data), "dataset": ds.name,
               "frame_hw": list(ds.frame_hw), "data_fingerprint": ds.fingerprint()})
    ckptlib.save_checkpoint(path, ck)
    return path


def _bomb_png(path, w=20000, h=20000):
    """A PNG header announcing a w x h image (decompression-bomb sized), no pixel data."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IEND", b""))


def _copy_h5(src, dst, edit):
    import h5py
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def _float_frames(f):
    frames = f["frames"][()].astype(np.float32) / 255.0
    del f["frames"]
    f.create_dataset("frames", data=frames)


def _other_table_layout(f):
    seq = f["sequences"][()]
    table = np.stack([seq["person"], seq["camera"], seq["start"], seq["length"]], axis=1)
    del f["sequences"]
    f.create_dataset("sequences", data=table.astype(np.int64))


def _damage_first_chunk(path):
    import h5py
    with h5py.File(path, "r") as f:
        info = f["frames"].id.get_chunk_info(0)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\x55" * info.size)


def _flip_middle(path, n=64):
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        block = bytearray(fh.read(n))
        fh.seek(size // 2)
        fh.write(bytes(b ^ 0xA5 for b in block))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    P = {"root": str(root)}
    P["data"] = str(root / "data.h5")
    make_synthetic_h5(P["data"], persons=4, seed=0, config=SMALL)
    P["other"] = str(root / "other.h5")
    make_synthetic_h5(P["other"], persons=4, seed=1, config=SMALL)
    P["ckpt"] = _checkpoint_for(P["data"], str(root / "model.h5"))
    os.makedirs(root / "run")
    P["run"] = str(root / "run")
    shutil.copyfile(P["ckpt"], os.path.join(P["run"], ckptlib.LAST_NAME))
    with open(os.path.join(P["run"], "config.json"), "w") as f:
        json.dump(get_config("tiny").to_dict(), f)
    P["notes"] = str(root / "notes.txt")
    with open(P["notes"], "w") as f:
        f.write("my notes, not a dataset\n")
    P["result"] = str(root / "result.json")
    with open(P["result"], "w") as f:
        json.dump({"cmc": [0.5, 1.0], "map": 0.5, "trial": 0}, f)
    P["link"] = str(root / "link-to-model.h5")
    os.symlink(P["ckpt"], P["link"])
    P["raw"] = write_synthetic_tree(str(root / "raw"), persons=2, seed=0, config=SMALL)
    P["frame"] = sorted(os.path.join(d, n) for d, _, names in os.walk(P["raw"]) for n in names
                        if n.endswith(".png"))[0]
    P["bombraw"] = write_synthetic_tree(str(root / "bombraw"), persons=2, seed=0, config=SMALL)
    first = sorted(os.path.join(d, n) for d, _, names in os.walk(P["bombraw"]) for n in names
                   if n.endswith(".png"))[0]
    _bomb_png(first)
    P["float"] = _copy_h5(P["data"], str(root / "float.h5"), _float_frames)
    P["layout"] = _copy_h5(P["data"], str(root / "layout.h5"), _other_table_layout)
    P["chunk"] = str(root / "chunk.h5")
    shutil.copyfile(P["data"], P["chunk"])
    _damage_first_chunk(P["chunk"])
    P["badckpt"] = str(root / "bad-model.h5")
    shutil.copyfile(P["ckpt"], P["badckpt"])
    _flip_middle(P["badckpt"])
    return P


def snapshot(root):
    """{relative path: sha256} of every file (and link target) under ``root``."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "link:" + os.readlink(p)
                continue
            with open(p, "rb") as f:
                out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


R = "rcnreid"
D = "data_prep"
#: (id, program, argument template, expected fragment of the one-line message)
CASES = [
    # 1. an output that is one of the command's inputs, or a file that is not ours
    ("extract-out-is-data", R, "extract --data {data} --model {ckpt} --out {data}",
     "is also an input"),
    ("extract-out-is-model", R, "extract --data {data} --model {ckpt} --out {ckpt}",
     "is also an input"),
    ("extract-out-links-to-model", R, "extract --data {data} --model {ckpt} --out {link}",
     "is also an input"),
    ("extract-out-is-model-force", R,
     "extract --data {data} --model {ckpt} --out {ckpt} --force", "is also an input"),
    ("extract-out-foreign", R, "extract --data {data} --model {ckpt} --out {notes}",
     "exists and is not a features file"),
    ("evaluate-out-is-data", R, "evaluate --data {data} --model {ckpt} --out {data}",
     "is also an input"),
    ("evaluate-out-foreign", R, "evaluate --data {data} --model {ckpt} --out {notes}",
     "exists and is not a JSON file"),
    ("evaluate-scores-is-model", R, "evaluate --data {data} --model {ckpt} --scores {ckpt}",
     "is also an input"),
    ("aggregate-out-is-input", R, "aggregate {result} --out {result}", "is also an input"),
    ("rank-json-is-model", R, "rank --model {ckpt} --probe {raw} --gallery {raw} --json {ckpt}",
     "is also an input"),
    ("data-prep-out-foreign", D, "ilidsvid --root {raw} --out {notes} --quiet",
     "exists and is not an rcnreid dataset file"),
    ("data-prep-out-is-a-frame", D, "ilidsvid --root {raw} --out {frame} --quiet",
     "exists and is not an rcnreid dataset file"),
    ("synthetic-out-foreign", "synthetic", "{notes}", "exists and is not an rcnreid dataset"),
    # 2. --resume on other data
    ("train-resume-other-data", R,
     "train --data {other} --config tiny --out {run} --resume", "whose contents differ"),
    # 4. corrupt or odd bytes
    ("train-damaged-chunk", R, "train --data {chunk} --config tiny --out {root}/newrun",
     "damaged frames"),
    ("evaluate-damaged-chunk", R, "evaluate --data {chunk} --model {ckpt}", "damaged frames"),
    ("extract-damaged-chunk", R, "extract --data {chunk} --model {ckpt} --out {root}/f.h5",
     "damaged frames"),
    ("evaluate-damaged-checkpoint", R, "evaluate --data {data} --model {badckpt}",
     "damaged checkpoint"),
    ("train-float-frames", R, "train --data {float} --config tiny --out {root}/newrun",
     "frames are stored as float32"),
    ("extract-float-frames", R, "extract --data {float} --model {ckpt} --out {root}/f.h5",
     "frames are stored as float32"),
    ("evaluate-table-layout", R, "evaluate --data {layout} --model {ckpt}",
     "the sequences table has fields"),
    ("data-prep-decompression-bomb", D, "ilidsvid --root {bombraw} --out {root}/b.h5 --quiet",
     "too large to decode safely"),
    ("train-stop-after-negative", R,
     "train --data {data} --config tiny --out {root}/newrun --stop-after -1",
     "--stop-after -1"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_nothing_the_user_owned_changes(files, case, capsys):
    name, prog, template, fragment = case
    argv = template.format(**files).split()
    before = snapshot(files["root"])
    if prog == R:
        from rcnreid.cli import main
        rc = main(argv)
    elif prog == D:
        from data_prep.__main__ import main
        rc = main(argv)
    else:           # the library's synthetic generator, as the demo and the runner call it
        from rcnreid.errors import UserError
        with pytest.raises(UserError) as info:
            make_synthetic_h5(argv[0], persons=2, config=SMALL)
        rc, err = 2, "rcnreid: error: %s" % info.value
        print(err, file=__import__("sys").stderr)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert fragment in lines[0], lines[0]
    assert snapshot(files["root"]) == before      # nothing changed, nothing left behind


def test_force_replaces_a_foreign_file_but_never_an_input(tmp_path):
    from rcnreid.store.atomic import check_out_path
    from rcnreid.errors import UserError
    notes, data = tmp_path / "notes.txt", tmp_path / "data.h5"
    notes.write_text("x")
    data.write_bytes(b"y")
    with pytest.raises(UserError, match="is not a JSON file"):
        check_out_path(notes, kind="json")
    check_out_path(notes, kind="json", force=True)
    os.link(data, tmp_path / "hard.h5")
    for out in (data, tmp_path / "hard.h5"):
        with pytest.raises(UserError, match="is also an input"):
            check_out_path(out, kind="json", inputs=(str(data),), force=True)
    (tmp_path / "ours.json").write_text("{}")
    check_out_path(tmp_path / "ours.json", kind="json")          # our kind: replaced freely


def test_a_checkpoint_with_flipped_bytes_fails_its_checksum_and_names_the_previous(tmp_path):
    data = str(tmp_path / "d.h5")
    make_synthetic_h5(data, persons=4, seed=0, config=SMALL)
    run = tmp_path / "run"
    last = str(run / ckptlib.LAST_NAME)
    _checkpoint_for(data, last)
    ck = ckptlib.load_checkpoint(last)
    assert ck.attrs["data_fingerprint"] == ReIDDataset(data).fingerprint()
    ck.epoch = 2
    ckptlib.save_checkpoint(last, ck)               # the epoch-1 file stays as checkpoint-prev
    assert ckptlib.load_checkpoint(str(run / ckptlib.PREV_NAME)).epoch == 1
    params = ck.params
    name = max(params, key=lambda k: params[k].size)
    import h5py
    with h5py.File(last, "r") as f:                  # flip bytes inside the largest parameter
        offset = f["params"][name].id.get_offset()
    with open(last, "r+b") as fh:
        fh.seek(offset + 8)
        fh.write(b"\x7f\x7f\x7f\x7f")
    from rcnreid.errors import UserError
    with pytest.raises(UserError, match="checksum mismatch") as info:
        ckptlib.load_checkpoint(last)
    assert ckptlib.PREV_NAME in str(info.value) and "\n" not in str(info.value)


def test_dataset_fingerprint_tells_files_apart(tmp_path):
    a, b, c = (str(tmp_path / n) for n in ("a.h5", "b.h5", "c.h5"))
    make_synthetic_h5(a, persons=4, seed=0, config=SMALL)
    make_synthetic_h5(b, persons=4, seed=1, config=SMALL)
    shutil.copyfile(a, c)
    fa, fb, fc = (ReIDDataset(p).fingerprint() for p in (a, b, c))
    assert fa == fc and fa != fb
