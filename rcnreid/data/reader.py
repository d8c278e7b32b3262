"""Reading rcnreid's HDF5 dataset file (written by ``rcnreid prepare``; docs/DATA.md).

:class:`ReIDDataset` serves the sequence table, the 10 train/test person splits and the frames of
a sequence in temporal order, including the random run of T consecutive frames used in training
(Section 5.2: "sub-sequences of T = 20 consecutive frames ... a different subset of 20 frames
are randomly selected from video sequence at each epoch").

Sequences shorter than T have no run of T distinct frames; by default (``short="loop"``) the
sequence is looped from its first frame (frames 0..L-1, 0..L-1, ...), keeping every frame and the
temporal order inside each pass; ``short="repeat_last"`` holds the last frame instead
(docs/REPRODUCTION.md §2).

Bad bytes are one line naming the file: a ``sequences`` table of another layout, frames that are
not uint8 0..255 (e.g. floats in [0, 1], which the network would see as near-constant input), and
a damaged compressed chunk met while reading frames (convert the dataset again).

Provenance for reports (:meth:`ReIDDataset.provenance`): ``protocol``; ``split_source``
(``"<source_kind>: <source>"``, e.g. ``official-mat: /data/.../train_test_splits_ilidsvid.mat``
or ``seed: seed=0``) and ``split_kind`` (``official``, ``mat``, ``json``, ``random``);
``copy_check`` (``complete``, ``incomplete``, ``unchecked``) and ``shortfall`` (what an
incomplete copy lacked, written by ``rcnreid prepare --allow-incomplete``).
"""
import os

import numpy as np

from rcnreid.errors import UserError

#: The schema versions this reader understands (rcnreid.data.writer.SCHEMA_VERSION).
SCHEMA_VERSIONS = (1,)
#: Files whose frames take less memory than this are read into memory when opened.
PRELOAD_BYTES = 512 * 1024 * 1024
SHORT_POLICIES = ("loop", "repeat_last")
#: HDF5 chunk cache of a file read on demand (a chunk holds 16 frames, ~0.5 MB).
CHUNK_CACHE_BYTES = 16 * 1024 * 1024


def _text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


class ReIDDataset:
    """One converted dataset: its sequences, splits and frames.

    Parameters
    ----------
    path : the HDF5 file.
    preload : read all frames into memory (True), read them on demand (False) or decide by size
        (None: preload below :data:`PRELOAD_BYTES`).
    short : how :meth:`random_run` serves sequences shorter than T: ``"loop"`` or ``"repeat_last"``.
    """

    def __init__(self, path, preload=None, short="loop"):
        import h5py
        self.path = os.fspath(path)
        if short not in SHORT_POLICIES:
            raise UserError("short=%r: unknown policy for short sequences; use %s"
                            % (short, " or ".join(SHORT_POLICIES)))
        self.short = short
        if os.path.isdir(self.path):
            raise UserError("%s: is a folder; give the dataset's HDF5 file (convert a raw tree "
                            "with `rcnreid prepare ilidsvid|prid2011 --root %s --out "
                            "FILE.h5`)" % (self.path, self.path))
        if not os.path.isfile(self.path):
            raise UserError("%s: dataset file not found; build it with `rcnreid prepare` "
                            "(make data) or use the synthetic data" % self.path)
        try:
            self._file = h5py.File(self.path, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
        except OSError as exc:
            raise UserError("%s: not a readable HDF5 file (%s); it may be truncated, convert "
                            "the dataset again" % (self.path, exc))
        try:
            self._load_index()
        except UserError:
            self._file.close()
            raise
        except (KeyError, ValueError, OSError) as exc:
            self._file.close()
            raise UserError("%s: not an rcnreid dataset file (%s); convert the dataset again "
                            "with rcnreid prepare" % (self.path, exc))
        nbytes = int(np.prod(self._frames_ds.shape))
        if preload or (preload is None and nbytes <= PRELOAD_BYTES):
            self._frames = self._frames_ds
            try:
                self._frames = self._read(slice(None))
            finally:
                self.close()                 # everything is in memory now (or a UserError)
        else:
            self._frames = self._frames_ds

    def _load_index(self):
        f = self._file
        attrs = f.attrs
        version = int(attrs.get("schema_version", -1))
        if version not in SCHEMA_VERSIONS:
            raise UserError("%s: schema version %s, this reader understands %s; convert the "
                            "dataset again with rcnreid prepare"
                            % (self.path, version, list(SCHEMA_VERSIONS)))
        for key in ("frames", "sequences", "splits/train", "splits/test"):
            if key not in f:
                raise UserError("%s: missing %r; convert the dataset again" % (self.path, key))
        self.name = _text(attrs["dataset"])
        self.protocol = _text(attrs["protocol"])
        self.attrs = {k: (_text(v) if isinstance(v, (bytes, str)) else v)
                      for k, v in attrs.items()}
        self._frames_ds = f["frames"]
        if self._frames_ds.ndim != 4 or self._frames_ds.shape[3] != 3:
            raise UserError("%s: frames have shape %s, expected (N, H, W, 3)"
                            % (self.path, self._frames_ds.shape))
        if self._frames_ds.dtype != np.uint8:
            raise UserError("%s: frames are stored as %s; the schema stores uint8 RGB in 0..255 "
                            "(docs/DATA.md), convert the dataset again with rcnreid prepare"
                            % (self.path, self._frames_ds.dtype))
        self.frame_hw = (int(self._frames_ds.shape[1]), int(self._frames_ds.shape[2]))
        seq = f["sequences"][()]
        want = ("person", "camera", "start", "length", "folder")
        have = seq.dtype.names or ()
        if seq.ndim != 1 or any(k not in have for k in want):
            raise UserError("%s: the sequences table has fields %s and shape %s, expected one "
                            "row per sequence with fields %s; convert the dataset again with "
                            "rcnreid prepare" % (self.path, list(have) or "none",
                                                     seq.shape, ", ".join(want)))
        self.person = np.asarray(seq["person"], dtype=np.int64)
        self.camera = np.asarray(seq["camera"], dtype=np.int64)
        self.start = np.asarray(seq["start"], dtype=np.int64)
        self.length = np.asarray(seq["length"], dtype=np.int64)
        self.folder = [_text(v) for v in seq["folder"]]
        if np.any(self.length < 1) or np.any(self.start + self.length > self._frames_ds.shape[0]):
            raise UserError("%s: the sequence table points outside the frames; convert the "
                            "dataset again" % self.path)
        self._train = np.asarray(f["splits/train"][()], dtype=np.int64)
        self._test = np.asarray(f["splits/test"][()], dtype=np.int64)
        self.split_source = "%s: %s" % (_text(f["splits"].attrs.get("source_kind", "?")),
                                        _text(f["splits"].attrs.get("source", "?")))
        kind = _text(f["splits"].attrs.get("source_kind", ""))
        #: ``official`` / ``mat`` / ``json`` / ``random``: the file attribute ``split_source``
        #: (files without it: derived from the splits' ``source_kind``).
        from rcnreid.data.writer import SPLIT_SOURCE_OF_KIND
        self.split_kind = (_text(attrs["split_source"]) if "split_source" in attrs
                           else SPLIT_SOURCE_OF_KIND.get(kind, kind or "?"))
        #: ``complete`` / ``incomplete`` (the copy against its published description, checked by
        #: ``rcnreid prepare``), or ``unchecked`` (older files, synthetic data).
        self.copy_check = _text(attrs.get("copy_check", "unchecked"))
        #: What the converted copy lacked (one line; ``""`` when complete or unchecked).
        self.shortfall = _text(attrs.get("shortfall", ""))
        #: The published description the copy was checked against (``""`` when unchecked).
        self.published = _text(attrs.get("published", ""))
        self._index = {(int(p), int(c)): i for i, (p, c) in enumerate(zip(self.person, self.camera))}

    def provenance(self):
        """What a report should show beside its numbers: ``{"dataset", "protocol",
        "split_source", "split_kind", "copy_check", "shortfall"}`` (strings; ``shortfall`` is
        ``""`` for a complete or unchecked copy)."""
        return {"dataset": self.name, "protocol": self.protocol,
                "split_source": self.split_source, "split_kind": self.split_kind,
                "copy_check": self.copy_check, "shortfall": self.shortfall}

    def fingerprint(self):
        """``sha256:`` of the file's identity: its attributes, sequence table and splits (not the
        frames, which would mean reading the whole file). Recorded in checkpoints; ``--resume``
        with a dataset of another fingerprint is refused."""
        import hashlib
        h = hashlib.sha256()
        h.update(repr(sorted((k, repr(v)) for k, v in self.attrs.items())).encode("utf-8"))
        for a in (self.person, self.camera, self.start, self.length, self._train, self._test):
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        h.update("\n".join(self.folder).encode("utf-8"))
        return "sha256:" + h.hexdigest()

    # -- table --------------------------------------------------------------------------------
    @property
    def num_sequences(self):
        return int(len(self.person))

    @property
    def num_trials(self):
        return int(self._train.shape[0])

    @property
    def persons(self):
        """Sorted unique person ids."""
        return np.unique(self.person)

    def split(self, trial):
        """(train person ids, test person ids) of ``trial`` in 0..num_trials-1 (sorted arrays)."""
        t = int(trial)
        if not 0 <= t < self.num_trials:
            raise UserError("--trial %s: trials are numbered 0..%d in %s"
                            % (trial, self.num_trials - 1, self.path))
        return self._train[t].copy(), self._test[t].copy()

    def sequence_index(self, person, camera):
        """Row of (``person``, ``camera``); UserError when the dataset has no such sequence."""
        key = (int(person), int(camera))
        if key not in self._index:
            raise UserError("%s: no sequence of person %s in camera %s"
                            % (self.path, person, camera))
        return self._index[key]

    def rows(self, persons, camera=None):
        """Rows of the sequences of ``persons`` (optionally of one camera), in table order."""
        mask = np.isin(self.person, np.asarray(persons))
        if camera is not None:
            mask &= self.camera == int(camera)
        return np.flatnonzero(mask)

    # -- frames -------------------------------------------------------------------------------
    def _check_idx(self, idx):
        i = int(idx)
        if not 0 <= i < self.num_sequences:
            raise UserError("sequence %s: out of range 0..%d in %s"
                            % (idx, self.num_sequences - 1, self.path))
        return i

    def frames(self, idx):
        """uint8 (L, H, W, 3): all frames of sequence ``idx`` in temporal order."""
        i = self._check_idx(idx)
        s, n = int(self.start[i]), int(self.length[i])
        return np.array(self._read(slice(s, s + n)))

    def _read(self, sl):
        """Frames ``sl`` (a slice of the frames array); a damaged chunk is a UserError."""
        try:
            return self._frames[sl]
        except (OSError, RuntimeError, ValueError) as exc:
            raise UserError("%s: damaged frames (%s); the file is corrupt, convert the dataset "
                            "again with rcnreid prepare"
                            % (self.path, str(exc).splitlines()[0] if str(exc) else
                               type(exc).__name__))

    def run_indices(self, idx, T, rng):
        """Frame offsets (within sequence ``idx``) of a random run of ``T`` consecutive frames.

        A sequence of L >= T frames gives a uniformly drawn start in 0..L-T; a shorter one is
        looped or holds its last frame (see the module docstring) and draws nothing from ``rng``.
        """
        i = self._check_idx(idx)
        L, T = int(self.length[i]), int(T)
        if T < 1:
            raise UserError("T=%d: the run length must be at least 1" % T)
        if L >= T:
            s = int(rng.randint(0, L - T + 1))
            return np.arange(s, s + T)
        if self.short == "loop":
            return np.arange(T) % L
        return np.minimum(np.arange(T), L - 1)

    def random_run(self, idx, T, rng):
        """uint8 (T, H, W, 3): a random run of ``T`` consecutive frames of sequence ``idx``
        (Section 5.2, T = 20); ``rng`` is a numpy RandomState."""
        offs = self.run_indices(idx, T, rng)
        i = self._check_idx(idx)
        s = int(self.start[i])
        lo, hi = int(offs.min()), int(offs.max()) + 1
        block = np.asarray(self._read(slice(s + lo, s + hi)))
        return block[offs - lo]

    def close(self):
        """Close the file (a preloaded dataset keeps serving frames from memory)."""
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return ("ReIDDataset(%r: %s, protocol %s, %d sequences, %d trials, frames %dx%d)"
                % (self.path, self.name, self.protocol, self.num_sequences, self.num_trials,
                   self.frame_hw[0], self.frame_hw[1]))
