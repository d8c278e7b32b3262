"""Per-frame VGG-16 fc7 features of a video dataset, and serving them to the FC-GRU (Table 2).

Section 5.3: fc7 of the fine-tuned VGG-16 is extracted for every frame "and given as the inputs to
our deep network", the FC-GRU of Eq. 1 (model kind ``"fcgru"``, run config ``fc_gru``).

The fc7 file (HDF5, written atomically by :func:`extract_fc7`):

- ``features``: float32 (N_frames, D), row i = fc7 of frame row i of the dataset's ``frames``
  (so a sequence's features are rows ``start .. start + length`` exactly as its frames);
- ``features_mirror`` (optional, default on): the same for the left-right mirrored frames, the
  only augmentation that survives feature extraction (used by training draws and by the
  mirrored test-time augmentations);
- ``sequences``: a copy of the dataset's sequence table (person, camera, start, length, folder),
  checked against the dataset when the file is used;
- attributes: ``kind`` = "rcnreid-frame-features", ``layer`` = "fc7", ``feature_dim``,
  ``num_frames``, ``dataset`` (name), ``data_path``, ``weights`` (the weights file),
  ``vgg_config`` (JSON of :class:`rcnreid.vgg16.VGGConfig`), ``has_mirror``, ``format`` = 1.

:class:`FeatureInputs` has the interface of :class:`rcnreid.inputs.ImageInputs`
(``train_batch``, ``test_view``, ``test_length``), so the FC-GRU trains and evaluates through
:func:`rcnreid.train.train` and :func:`rcnreid.evaluate.evaluate` unchanged (their ``inputs``
argument; :func:`make_feature_inputs` is what ``rcnreid.inputs.make_inputs`` calls for a
model of kind ``"fcgru"``). By default the features of ``DATA.h5`` live in ``DATA.fc7.h5``
(:func:`default_features_path`).
"""
import json
import os
import time

import numpy as np

from rcnreid.atomic import atomic_path
from rcnreid.errors import UserError

FORMAT = 1
KIND = "rcnreid-frame-features"


def default_features_path(data_path):
    """``DATA.h5`` -> ``DATA.fc7.h5`` (where ``rcnreid extract-fc7`` writes by default)."""
    stem, _ = os.path.splitext(os.fspath(data_path))
    return stem + ".fc7.h5"


def extract_fc7(data_path, weights_path, out_path=None, vgg_cfg=None, fc6_mode=None, batch=32,
                mirror=True, log=print, network=None):
    """Write the fc7 features of every frame of the dataset ``data_path`` to ``out_path``.

    ``weights_path``: a VGG-16 weights file (:func:`rcnreid.weights.load_weights`; e.g. the
    output of ``rcnreid finetune-vgg``). ``vgg_cfg``: the configuration the weights must fit
    (default: the file's own, else configuration D); ``fc6_mode`` overrides how fc6 meets the
    frames ("resize" or "conv_avg", :mod:`rcnreid.vgg16`). ``network``: an already built
    :class:`rcnreid.vgg16.VGG16` instead of ``weights_path`` (tests). Returns ``out_path``.
    """
    import h5py
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.vgg16 import VGG16, preprocess
    from rcnreid.weights import load_weights
    log = log or (lambda *a: None)
    out_path = os.fspath(out_path or default_features_path(data_path))
    if network is None:
        w = load_weights(weights_path, vgg_cfg)
        cfg = w.config if fc6_mode is None else w.config.replace(fc6_mode=fc6_mode)
        network = VGG16(cfg, params=w.params_for(cfg))
    cfg = network.cfg
    f7 = network.build_features("fc7")
    ds = ReIDDataset(data_path)
    n_frames = int((ds.start + ds.length).max())
    D = cfg.fc_width
    views = [("features", False)] + ([("features_mirror", True)] if mirror else [])
    log("extracting fc7 (%d-D, fc6 %s, input %s) of %d frames of %s%s"
        % (D, cfg.fc6_mode, "x".join(map(str, cfg.input_hw)) if cfg.fc6_mode == "resize"
           else "as stored", n_frames, ds.name, " (+ mirrored)" if mirror else ""))
    t0 = last = time.time()
    with atomic_path(out_path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            dsets = {name: f.create_dataset(name, shape=(n_frames, D), dtype=np.float32,
                                            chunks=(min(256, n_frames), D))
                     for name, _ in views}
            done = 0
            for i in range(ds.num_sequences):
                frames = ds.frames(i)
                s = int(ds.start[i])
                for j in range(0, len(frames), batch):
                    chunk = frames[j:j + batch]
                    for name, flip in views:
                        dsets[name][s + j:s + j + len(chunk)] = f7(preprocess(chunk, cfg, flip))
                done += len(frames)
                if time.time() - last > 30 or i + 1 == ds.num_sequences:
                    last = time.time()
                    log("  fc7: %d/%d sequences, %d/%d frames (%.0f s)"
                        % (i + 1, ds.num_sequences, done, n_frames, last - t0))
            with h5py.File(ds.path, "r") as src:
                f.create_dataset("sequences", data=src["sequences"][()])
            f.attrs["kind"] = KIND
            f.attrs["format"] = FORMAT
            f.attrs["layer"] = "fc7"
            f.attrs["feature_dim"] = D
            f.attrs["num_frames"] = n_frames
            f.attrs["dataset"] = ds.name
            f.attrs["data_path"] = os.path.abspath(ds.path)
            f.attrs["weights"] = os.path.abspath(os.fspath(weights_path)) if weights_path \
                else "(in-memory network)"
            f.attrs["vgg_config"] = cfg.to_json()
            f.attrs["has_mirror"] = int(bool(mirror))
    log("wrote %s" % out_path)
    return out_path


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
