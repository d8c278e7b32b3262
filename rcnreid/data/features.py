"""Per-frame feature files (VGG-16 fc7, Section 5.3) and serving them to the FC-GRU of Eq. 1.

The file (HDF5, written atomically by :func:`rcnreid.vgg.fc7.extract_fc7`):

- ``features``: float32 (N_frames, D), row i = the features of frame row i of the dataset's
  ``frames`` (so a sequence's features are rows ``start .. start + length`` exactly as its frames);
- ``features_mirror`` (optional, default on): the same for the left-right mirrored frames, the
  only augmentation that survives feature extraction (used by training draws and by the
  mirrored test-time augmentations);
- ``sequences``: a copy of the dataset's sequence table (person, camera, start, length, folder),
  checked against the dataset when the file is used;
- attributes: ``kind`` = "rcnreid-frame-features", ``layer`` = "fc7", ``feature_dim``,
  ``num_frames``, ``dataset`` (name), ``data_path``, ``weights`` (the weights file),
  ``vgg_config`` (JSON of :class:`rcnreid.vgg.vgg16.VGGConfig`), ``has_mirror``, ``format`` = 1.

:class:`FeatureInputs` has the interface of :class:`rcnreid.data.inputs.ImageInputs`
(``train_batch``, ``test_view``, ``test_length``), so the FC-GRU trains and evaluates through
:func:`rcnreid.engine.train.train` and :func:`rcnreid.evaluation.evaluate.evaluate` unchanged
(their ``inputs`` argument; :func:`make_feature_inputs` is what
:func:`rcnreid.data.inputs.make_inputs` calls for a model of kind ``"fcgru"``). By default the
features of ``DATA.h5`` live in ``DATA.fc7.h5`` (:func:`default_features_path`).
"""
import json
import os

import numpy as np

from rcnreid.errors import UserError

FORMAT = 1
KIND = "rcnreid-frame-features"


def default_features_path(data_path):
    """``DATA.h5`` -> ``DATA.fc7.h5`` (where ``rcnreid extract-fc7`` writes by default)."""
    stem, _ = os.path.splitext(os.fspath(data_path))
    return stem + ".fc7.h5"


class FrameFeatures:
    """An fc7 file in memory: ``features`` (N, D), ``mirror`` (N, D) or None, the sequence
    table and the attributes. UserError when missing or not a feature file."""

    def __init__(self, path):
        import h5py
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise UserError("%s: fc7 feature file not found; write it with `rcnreid extract-fc7 "
                            "--data DATA.h5 --weights VGG16_WEIGHTS`" % self.path)
        try:
            with h5py.File(self.path, "r") as f:
                if f.attrs.get("kind") not in (KIND, KIND.encode()) or "features" not in f:
                    raise UserError("%s: not an rcnreid feature file (no 'features'); write it "
                                    "with `rcnreid extract-fc7`" % self.path)
                self.features = np.asarray(f["features"][()], dtype=np.float32)
                self.mirror = (np.asarray(f["features_mirror"][()], dtype=np.float32)
                               if "features_mirror" in f else None)
                self.sequences = f["sequences"][()]
                self.attrs = {k: (v.decode() if isinstance(v, bytes) else v)
                              for k, v in f.attrs.items()}
        except OSError as exc:
            raise UserError("%s: not a readable HDF5 file (%s); extract the features again"
                            % (self.path, exc))

    @property
    def dim(self):
        return int(self.features.shape[1])

    def check_matches(self, ds):
        """UserError unless the file was extracted from a dataset with ``ds``'s sequence table."""
        seq = self.sequences
        same = (len(seq) == ds.num_sequences
                and np.array_equal(np.asarray(seq["person"], np.int64), ds.person)
                and np.array_equal(np.asarray(seq["camera"], np.int64), ds.camera)
                and np.array_equal(np.asarray(seq["start"], np.int64), ds.start)
                and np.array_equal(np.asarray(seq["length"], np.int64), ds.length))
        if not same or self.features.shape[0] < int((ds.start + ds.length).max()):
            raise UserError("%s: its frames do not match %s (extracted from %s); extract the "
                            "features of this dataset again with `rcnreid extract-fc7`"
                            % (self.path, ds.path, self.attrs.get("data_path", "?")))


class FeatureInputs:
    """Per-frame feature vectors of a dataset as FC-GRU input (the ImageInputs interface).

    Training (:meth:`train_batch`): per row, a random run of T consecutive frames
    (``ds.run_indices``, the same rule as for images) and, when the file has mirrored features,
    a random mirror for the whole run (``rng.rand() < 0.5``, drawn after the run's start) --
    cropping cannot be applied to features. Test (:meth:`test_view`): the sequence's features;
    an augmentation with ``mirror`` uses the mirrored features, its crop anchor is ignored (the
    features describe the whole frame), so crop-only augmentation sets repeat the same view.
    """

    def __init__(self, ds, features):
        self.ds = ds
        self.feats = features if isinstance(features, FrameFeatures) else FrameFeatures(features)
        self.feats.check_matches(ds)

    @property
    def dim(self):
        return self.feats.dim

    def _rows_of(self, row, offs, mirror):
        src = self.feats.mirror if (mirror and self.feats.mirror is not None) \
            else self.feats.features
        return src[int(self.ds.start[int(row)]) + np.asarray(offs)]

    def train_batch(self, rows, T, rng):
        """float32 (T, B, D)."""
        seqs = []
        for r in rows:
            offs = self.ds.run_indices(int(r), T, rng)
            flip = bool(rng.rand() < 0.5) if self.feats.mirror is not None else False
            seqs.append(self._rows_of(r, offs, flip))
        return np.stack(seqs, axis=1).astype(np.float32)

    def test_length(self, row, max_len=None):
        n = int(self.ds.length[int(row)])
        return n if max_len is None else min(n, int(max_len))

    def test_view(self, row, aug, max_len=None):
        """float32 (L, D): the sequence's features (mirrored ones when ``aug.mirror``)."""
        n = self.test_length(row, max_len)
        return self._rows_of(row, np.arange(n), bool(getattr(aug, "mirror", False)))


def make_feature_inputs(ds, cfg, features_path=None):
    """The :class:`FeatureInputs` of run config ``cfg`` (model kind "fcgru") on dataset ``ds``.

    ``features_path`` defaults to :func:`default_features_path` of the dataset. UserError when
    the file is missing, belongs to another dataset, or its dimension is not the model's
    ``fc_input_dim``."""
    path = features_path or default_features_path(ds.path)
    inputs = FeatureInputs(ds, path)
    want = int(cfg.model.fc_input_dim)
    if inputs.dim != want:
        raise UserError("%s: features have %d dimensions but config %s expects fc_input_dim=%d; "
                        "use a matching configuration or extract the features again"
                        % (path, inputs.dim, cfg.name, want))
    return inputs


def feature_info(path):
    """The attributes of an fc7 file (for ``rcnreid info``-style reports)."""
    ff = FrameFeatures(path)
    info = dict(ff.attrs)
    if "vgg_config" in info:
        info["vgg_config"] = json.loads(info["vgg_config"])
    info["shape"] = list(ff.features.shape)
    return info
