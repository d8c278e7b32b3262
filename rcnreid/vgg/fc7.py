"""Extracting per-frame VGG-16 fc7 features of a video dataset (Table 2, Section 5.3).

Section 5.3: fc7 of the fine-tuned VGG-16 is extracted for every frame "and given as the inputs to
our deep network", the FC-GRU of Eq. 1 (model kind ``"fcgru"``, run config ``fc_gru``).

The file it writes (its format, and serving it to the network as :class:`FeatureInputs`) is
:mod:`rcnreid.data.features`; by default the features of ``DATA.h5`` go to ``DATA.fc7.h5``
(:func:`~rcnreid.data.features.default_features_path`).
"""
import os
import time

import numpy as np

from rcnreid.store.atomic import atomic_path

from rcnreid.data.features import FORMAT, KIND, default_features_path


def extract_fc7(data_path, weights_path, out_path=None, vgg_cfg=None, fc6_mode=None, batch=32,
                mirror=True, log=print, network=None):
    """Write the fc7 features of every frame of the dataset ``data_path`` to ``out_path``.

    ``weights_path``: a VGG-16 weights file (:func:`rcnreid.vgg.weights.load_weights`; e.g. the
    output of ``rcnreid finetune-vgg``). ``vgg_cfg``: the configuration the weights must fit
    (default: the file's own, else configuration D); ``fc6_mode`` overrides how fc6 meets the
    frames ("resize" or "conv_avg", :mod:`rcnreid.vgg.vgg16`). ``network``: an already built
    :class:`rcnreid.vgg.vgg16.VGG16` instead of ``weights_path`` (tests). Returns ``out_path``.
    """
    import h5py
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.vgg.vgg16 import VGG16, preprocess
    from rcnreid.vgg.weights import load_weights
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
