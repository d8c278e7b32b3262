"""Writing rcnreid's HDF5 dataset file (schema: docs/DATA.md); the reader is
:mod:`rcnreid.data.reader`, the converters (``rcnreid prepare``) and
:mod:`rcnreid.data.synthetic` call :func:`write_dataset`.

The file is written under a temporary name beside the output and renamed only when complete
(:func:`rcnreid.store.atomic.atomic_h5`; a full disk is one line and keeps any previous file), so an
interrupted or failed conversion never leaves a file that looks valid; a lock
(:mod:`rcnreid.store.locks`) keeps a second converter off the same output. Everything in it is a
function of the inputs, so converting twice gives the
same contents; only the ``created`` attribute differs, and it too is fixed when the
``SOURCE_DATE_EPOCH`` environment variable is set (the reproducible-builds convention).
"""
import dataclasses
import datetime
import os
import time

import numpy as np

from rcnreid.store.atomic import atomic_h5, check_out_path
from rcnreid.data.frames import RESIZE_METHOD, STORED_HW, load_rgb
from rcnreid.errors import UserError

#: Version of the layout described in docs/DATA.md; the reader refuses other versions.
SCHEMA_VERSION = 1
#: The file attribute ``split_source`` for each ``splits`` kind, when the caller names none.
SPLIT_SOURCE_OF_KIND = {"official-mat": "mat", "json": "json", "seed": "random"}
#: Frames per HDF5 chunk of ``frames`` (a chunk of 176x66 frames is ~0.5 MB).
CHUNK_FRAMES = 16


@dataclasses.dataclass
class SequenceSource:
    """One raw sequence to convert: who, which camera, where from, and its frames in order."""
    person: int          # person id (the number in the person folder's name)
    camera: int          # 1 = probe camera (cam1 / cam_a), 2 = gallery camera (cam2 / cam_b)
    folder: str          # source folder relative to the dataset root, e.g. "cam1/person001"
    paths: list          # frame files in temporal order (rcnreid.data.frames.list_frames)


def creation_time():
    """ISO-8601 UTC creation time; ``SOURCE_DATE_EPOCH`` (seconds) fixes it for reproducible files."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = int(epoch) if epoch and epoch.strip().isdigit() else int(time.time())
    return datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sequence_table(sequences, starts):
    """The ``sequences`` rows as a numpy structured array (person, camera, start, length, folder)."""
    width = max([len(s.folder.encode("utf-8")) for s in sequences] + [1])
    dtype = np.dtype([("person", "<i4"), ("camera", "i1"), ("start", "<i8"), ("length", "<i4"),
                      ("folder", "S%d" % width)])
    table = np.zeros(len(sequences), dtype=dtype)
    for i, (s, st) in enumerate(zip(sequences, starts)):
        table[i] = (s.person, s.camera, st, len(s.paths), s.folder.encode("utf-8"))
    return table


def write_dataset(out_path, sequences, splits, name, protocol, frame_hw=STORED_HW,
                  extra_attrs=None, load_kwargs=None, skipped=None, log=print):
    """Convert ``sequences`` (list of :class:`SequenceSource`) into the HDF5 file ``out_path``.

    ``splits`` is a :class:`rcnreid.data.splits.Splits`. ``load_kwargs`` go to
    :func:`rcnreid.data.frames.load_rgb` (``expect_wh``, ``convert_modes``); conversions it makes are
    added to the Counter ``skipped``. Prints progress through ``log`` and returns the summary dict
    (people, sequences, frames, skipped reasons -> counts).
    """
    from rcnreid.store.locks import hold
    if not sequences:
        raise UserError("%s: no sequences to write; check --root" % out_path)
    check_out_path(out_path, kind="dataset")
    load_kwargs = dict(load_kwargs or {})
    notes = skipped if skipped is not None else {}
    lengths = np.array([len(s.paths) for s in sequences], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    total = int(lengths.sum())
    H, W = int(frame_hw[0]), int(frame_hw[1])
    table = sequence_table(sequences, starts)
    # Every file says where its splits came from (docs/DATA.md): the converters pass
    # "official" / "mat" / "json" / "random"; otherwise it follows the splits' kind.
    attrs = dict(extra_attrs or {})
    attrs.setdefault("split_source", SPLIT_SOURCE_OF_KIND.get(splits.kind, splits.kind))
    every = max(1, len(sequences) // 20)
    t0 = time.time()
    # One converter at a time per output (a second stops at once, naming the first); the file is
    # written under a temporary name and renamed when complete (rcnreid.store.atomic).
    with hold(out_path, "dataset output"), atomic_h5(out_path) as f:
        frames = f.create_dataset(
            "frames", shape=(total, H, W, 3), dtype=np.uint8,
            chunks=(min(CHUNK_FRAMES, total), H, W, 3), compression="gzip",
            compression_opts=4, shuffle=True)
        for i, seq in enumerate(sequences):
            block = np.empty((len(seq.paths), H, W, 3), dtype=np.uint8)
            for j, p in enumerate(seq.paths):
                block[j] = load_rgb(p, size=(H, W), notes=notes, **load_kwargs)
            frames[starts[i]:starts[i] + len(seq.paths)] = block
            if (i + 1) % every == 0 or i + 1 == len(sequences):
                log("  %s: %d/%d sequences, %d/%d frames (%.0f s)"
                    % (name, i + 1, len(sequences), int(starts[i] + len(seq.paths)),
                       total, time.time() - t0))
        f.create_dataset("sequences", data=table)
        g = f.create_group("splits")
        g.create_dataset("train", data=np.asarray(splits.train, dtype=np.int32))
        g.create_dataset("test", data=np.asarray(splits.test, dtype=np.int32))
        g.attrs["source_kind"] = splits.kind
        g.attrs["source"] = splits.source
        f.attrs["dataset"] = name
        f.attrs["protocol"] = protocol
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["frame_height"] = H
        f.attrs["frame_width"] = W
        f.attrs["resize_method"] = RESIZE_METHOD
        f.attrs["created"] = creation_time()
        for k, v in sorted(attrs.items()):
            f.attrs[k] = v
    people = len(set(int(s.person) for s in sequences))
    return {"dataset": name, "protocol": protocol, "people": people,
            "sequences": len(sequences), "frames": total, "skipped": dict(notes),
            "splits": "%s (%s)" % (splits.kind, splits.source), "out": os.fspath(out_path),
            "copy_check": attrs.get("copy_check"), "shortfall": attrs.get("shortfall")}


def format_summary(summary):
    """The conversion summary as a few lines of text."""
    lines = ["wrote %s: dataset %s, protocol %s: %d people, %d sequences, %d frames"
             % (summary["out"], summary["dataset"], summary["protocol"], summary["people"],
                summary["sequences"], summary["frames"])]
    if summary.get("splits"):
        lines.append("  splits: %s" % summary["splits"])
    if summary.get("copy_check") == "complete":
        lines.append("  copy: matches the published description")
    elif summary.get("copy_check"):
        lines.append("  copy: %s, converted with --allow-incomplete (the file's shortfall "
                     "attribute says what is missing)" % summary["copy_check"])
    skipped = summary.get("skipped") or {}
    if skipped:
        for reason in sorted(skipped):
            lines.append("  skipped/converted: %d x %s" % (skipped[reason], reason))
    else:
        lines.append("  nothing skipped")
    return "\n".join(lines)
