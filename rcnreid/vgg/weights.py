"""Reading and writing VGG-16 weights files (nothing is ever downloaded).

Two formats are read (docs/REPRODUCTION.md §6, "Weights file"):

1. **Keras HDF5** (``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` as Keras publishes it, or a
   file written by ``model.save_weights``): one group per layer, ``block1_conv1`` ...
   ``block5_conv3``, ``fc1``, ``fc2``, ``predictions``, each listing its arrays in the attribute
   ``weight_names`` (``block1_conv1_W_1:0`` / ``block1_conv1_b_1:0`` in the Keras 1 file,
   ``block1_conv1/kernel:0`` / ``.../bias:0`` in Keras 2 files). Kernels are TensorFlow's
   (kh, kw, in, out) cross-correlation kernels; ``fc1``'s rows follow the (H, W, C) flattening of
   a channels-last pool5. The older ``th_dim_ordering_th_kernels`` file (kernels (out, in, kh, kw),
   flipped for Theano's true convolution, ``fc1`` rows in (C, H, W) order) is recognised by the
   shape of ``block1_conv1``'s kernel and converted too. Inputs: BGR, ImageNet mean subtracted.
2. **NumPy .npz** of named arrays ``conv1_1_W``, ``conv1_1_b``, ..., ``conv5_3_b``, ``fc6_W``,
   ``fc6_b``, ``fc7_W``, ``fc7_b`` and optionally ``fc8_W``, ``fc8_b``. The optional string entry
   ``layout`` says how they are laid out: ``"tf"`` (default; the same as the Keras tf file:
   (kh, kw, in, out) kernels, fc6 rows (H, W, C)) or ``"rcnreid"`` (this package's own layout,
   :mod:`rcnreid.vgg.vgg16`: (out, in, kh, kw) cross-correlation kernels, fc6 rows (C, H, W)).
   Optional entries ``channel_order`` ("bgr"/"rgb") and ``mean`` (3 floats, in that order) give
   the input preprocessing (default: Caffe's BGR mean, as the Keras file); ``vgg_config`` (JSON)
   is written by :func:`save_npz` (fine-tuned networks) and restores the whole
   :class:`rcnreid.vgg.vgg16.VGGConfig`.

Every layer's presence and shape is checked against configuration D before anything is used; the
first mismatch is a :class:`UserError` naming the file, the layer and both shapes. fc6 and fc7
are required (a Keras "notop" file is refused); fc8 is optional and may have any number of
classes (ImageNet's 1000, or the identities of a fine-tuned network).
"""
import json
import os
from collections import OrderedDict

import numpy as np

from rcnreid.store.atomic import atomic_path
from rcnreid.errors import UserError
from rcnreid.vgg.vgg16 import BLOCKS, CONV_LAYERS, VGGConfig

#: Our layer name -> Keras layer (group) name.
KERAS_NAMES = OrderedDict([("conv%d_%d" % (b, i + 1), "block%d_conv%d" % (b, i + 1))
                           for b, n, _ in BLOCKS for i in range(n)])
KERAS_NAMES.update([("fc6", "fc1"), ("fc7", "fc2"), ("fc8", "predictions")])
LAYOUTS = ("tf", "th", "rcnreid")
REQUIRED = CONV_LAYERS + ("fc6", "fc7")


class VGGWeights:
    """Weights in the package's layout plus how inputs must be preprocessed.

    ``arrays``: OrderedDict ``conv1_1_W`` ... (``fc8_*`` when the file has fc8);
    ``config``: the :class:`VGGConfig` they fit (``num_classes`` from fc8, channel order and mean
    from the file); ``source``: the file; ``layout``: the layout found; ``meta``: extra entries
    (e.g. what a fine-tuned file was trained on).
    """

    def __init__(self, arrays, config, source, layout, meta=None):
        self.arrays = arrays
        self.config = config
        self.source = source
        self.layout = layout
        self.meta = dict(meta or {})

    @property
    def has_fc8(self):
        return "fc8_W" in self.arrays

    def params_for(self, cfg, seed=0):
        """Parameter dict for a :class:`rcnreid.vgg.vgg16.VGG16` of ``cfg``; a missing fc8, or one
        with another number of classes than ``cfg.num_classes``, gets a fresh classifier."""
        from rcnreid.vgg.vgg16 import new_classifier
        out = OrderedDict((k, v) for k, v in self.arrays.items() if not k.startswith("fc8"))
        if self.has_fc8 and self.arrays["fc8_W"].shape[1] == cfg.num_classes:
            out["fc8_W"], out["fc8_b"] = self.arrays["fc8_W"], self.arrays["fc8_b"]
        else:
            out["fc8_W"], out["fc8_b"] = new_classifier(cfg.fc_width, cfg.num_classes, seed)
        return out


# ---------------------------------------------------------------------- layout conversion
def _kernel_to_ours(w, layout):
    """A conv kernel in ``layout`` -> (out, in, kh, kw) cross-correlation kernel."""
    if layout == "tf":
        return np.ascontiguousarray(np.transpose(w, (3, 2, 0, 1)))
    if layout == "th":                # Theano true-convolution kernels: flip to correlate
        return np.ascontiguousarray(w[:, :, ::-1, ::-1])
    return np.ascontiguousarray(w)


def _fc6_to_ours(w, layout, channels, grid):
    """fc6 rows in ``layout``'s flattening -> rows in (C, H, W) order."""
    if layout != "tf":
        return np.ascontiguousarray(w)
    gh, gw = grid
    if w.shape[0] != channels * gh * gw:
        return w                      # wrong size: the shape check names it
    return np.ascontiguousarray(
        w.reshape(gh, gw, channels, w.shape[1]).transpose(2, 0, 1, 3).reshape(w.shape))


def _kernel_from_ours(w, layout):
    if layout == "tf":
        return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))
    if layout == "th":
        return np.ascontiguousarray(w[:, :, ::-1, ::-1])
    return np.ascontiguousarray(w)


def _fc6_from_ours(w, layout, channels, grid):
    if layout != "tf":
        return np.ascontiguousarray(w)
    gh, gw = grid
    return np.ascontiguousarray(
        w.reshape(channels, gh, gw, w.shape[1]).transpose(1, 2, 0, 3).reshape(w.shape))


def to_ours(raw, layout, cfg):
    """Convert ``raw`` (``conv1_1_W`` ... in ``layout``) to this package's layout."""
    out = OrderedDict()
    for name, w in raw.items():
        w = np.asarray(w, dtype=np.float32)
        if name.endswith("_W") and name[:-2] in CONV_LAYERS and w.ndim == 4:
            w = _kernel_to_ours(w, layout)
        elif name == "fc6_W" and w.ndim == 2:
            w = _fc6_to_ours(w, layout, cfg.channels(5), cfg.fc6_grid)
        out[name] = w
    return out


def from_ours(arrays, layout, cfg):
    """The inverse of :func:`to_ours` (for writing files in another layout, and tests)."""
    out = OrderedDict()
    for name, w in arrays.items():
        w = np.asarray(w, dtype=np.float32)
        if name.endswith("_W") and name[:-2] in CONV_LAYERS:
            w = _kernel_from_ours(w, layout)
        elif name == "fc6_W":
            w = _fc6_from_ours(w, layout, cfg.channels(5), cfg.fc6_grid)
        out[name] = w
    return out


# ---------------------------------------------------------------------- checks
def check_arrays(arrays, cfg, source):
    """UserError naming the first layer (in network order) that is missing or mis-shaped.

    ``arrays`` are in our layout; fc8 is optional and may have any number of classes."""
    for layer, (ws, bs) in cfg.param_shapes().items():
        for suffix, want in (("_W", ws), ("_b", bs)):
            name = layer + suffix
            if name not in arrays:
                if layer == "fc8":
                    continue
                raise UserError("%s: layer %s (%s) is missing; a VGG-16 weights file with "
                                "layers conv1_1..conv5_3, fc6, fc7 is needed (docs/REPRODUCTION.md §6)"
                                % (source, layer, name))
            got = tuple(arrays[name].shape)
            if layer == "fc8":
                want = (want[0], got[-1]) if suffix == "_W" else got
            if got != tuple(want):
                raise UserError("%s: layer %s: %s has shape %s, expected %s (VGG-16 "
                                "configuration D%s); use a VGG-16 weights file"
                                % (source, layer, name, got, tuple(want),
                                   "" if cfg.width_div == 1 else ", width/%d" % cfg.width_div))
    if ("fc8_W" in arrays) != ("fc8_b" in arrays):
        raise UserError("%s: layer fc8 has only one of fc8_W / fc8_b" % source)
    if "fc8_W" in arrays and arrays["fc8_b"].shape != (arrays["fc8_W"].shape[1],):
        raise UserError("%s: layer fc8: fc8_b has shape %s, expected (%d,)"
                        % (source, arrays["fc8_b"].shape, arrays["fc8_W"].shape[1]))


# ---------------------------------------------------------------------- readers
def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray):
        return _text(v.item()) if v.shape == () else str(v)
    return str(v)


def _keras_layer_arrays(f, group_name, source):
    """(kernel, bias) of one Keras layer group, or None when the group is absent."""
    if group_name not in f:
        return None
    g = f[group_name]
    names = [_text(n) for n in g.attrs.get("weight_names", [])]
    if not names:                     # no attribute: every dataset below the group
        found = []
        g.visititems(lambda n, obj: found.append(n) if hasattr(obj, "shape") else None)
        names = sorted(found)
    arrays = []
    for n in names:
        if n not in g:
            raise UserError("%s: layer %s lists weight %r but does not hold it; the file is "
                            "damaged" % (source, group_name, n))
        arrays.append(np.asarray(g[n][()], dtype=np.float32))
    if len(arrays) != 2:
        raise UserError("%s: layer %s holds %d arrays, expected a kernel and a bias"
                        % (source, group_name, len(arrays)))
    kernel, bias = sorted(arrays, key=lambda a: -a.ndim)
    return kernel, bias


def read_keras_h5(path, cfg):
    """Raw arrays (``conv1_1_W`` ...) and the layout ("tf" or "th") of a Keras HDF5 file."""
    import h5py
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise UserError("%s: not a readable HDF5 file (%s)" % (path, exc))
    with f:
        if "model_weights" in f:      # a whole model saved with model.save()
            f = f["model_weights"]
        raw = OrderedDict()
        for ours, keras in KERAS_NAMES.items():
            got = _keras_layer_arrays(f, keras, path)
            if got is None:
                if ours == "fc8":
                    continue
                raise UserError("%s: layer %s (Keras group %r) is missing; use the full VGG-16 "
                                "weights (with the top layers fc1, fc2), not a 'notop' file"
                                % (path, ours, keras))
            raw[ours + "_W"], raw[ours + "_b"] = got
    k = raw["conv1_1_W"]
    layout = "th" if (k.ndim == 4 and k.shape[1] == 3 and k.shape[3] == 3 and k.shape[0] != 3) \
        else "tf"
    return raw, layout


def read_npz(path):
    """Raw arrays, the layout and the extra entries of an .npz weights file."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError("%s: not a readable .npz file (%s)" % (path, exc))
    with z:
        names = list(z.files)
        meta = {}
        for key in ("layout", "channel_order", "vgg_config", "finetune_info"):
            if key in names:
                meta[key] = _text(z[key])
        if "mean" in names:
            meta["mean"] = tuple(float(v) for v in np.asarray(z["mean"]).ravel())
        raw = OrderedDict((n, np.asarray(z[n], dtype=np.float32)) for n in names
                          if n.endswith("_W") or n.endswith("_b"))
    layout = meta.pop("layout", "tf")
    if layout not in ("tf", "rcnreid"):
        raise UserError("%s: layout %r is not 'tf' or 'rcnreid' (docs/REPRODUCTION.md §6)"
                        % (path, layout))
    return raw, layout, meta


def load_weights(path, cfg=None):
    """Read a VGG-16 weights file (Keras HDF5 or .npz; module docstring) -> :class:`VGGWeights`.

    ``cfg`` (a :class:`VGGConfig`) fixes the expected shapes; by default configuration D, or the
    configuration stored in a file written by :func:`save_npz`. Raises UserError naming the file
    when it is missing or unreadable, and the first layer whose name or shape does not match.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError("%s: VGG-16 weights file not found; give the Keras "
                        "vgg16_weights_tf_dim_ordering_tf_kernels.h5 or an .npz "
                        "(docs/REPRODUCTION.md §6); nothing is downloaded" % path)
    with open(path, "rb") as fh:
        magic = fh.read(8)
    meta = {}
    if magic == b"\x89HDF\r\n\x1a\n":
        cfg = cfg or VGGConfig()
        raw, layout = read_keras_h5(path, cfg)
    elif magic[:2] == b"PK":
        raw, layout, meta = read_npz(path)
        if cfg is None:
            cfg = (VGGConfig.from_dict(json.loads(meta["vgg_config"]))
                   if "vgg_config" in meta else VGGConfig())
    else:
        raise UserError("%s: neither an HDF5 (Keras) nor an .npz file; convert it with "
                        "`rcnreid convert-vgg-weights`" % path)
    changes = {}
    if "channel_order" in meta:
        changes["channel_order"] = meta["channel_order"]
    if "mean" in meta:
        changes["mean"] = tuple(meta["mean"])
    if changes:
        cfg = cfg.replace(**changes)
    arrays = to_ours(raw, layout, cfg)
    check_arrays(arrays, cfg, path)
    if "fc8_W" in arrays:
        cfg = cfg.replace(num_classes=int(arrays["fc8_W"].shape[1]))
    order = [n for layer in cfg.param_shapes() for n in (layer + "_W", layer + "_b")
             if n in arrays]
    extra = {k: v for k, v in meta.items() if k not in ("channel_order", "mean", "vgg_config")}
    return VGGWeights(OrderedDict((n, arrays[n]) for n in order), cfg, path, layout, extra)


# ---------------------------------------------------------------------- writers
def save_npz(path, arrays, cfg, layout="rcnreid", info=None):
    """Write ``arrays`` (our layout) as an .npz weights file in ``layout`` ("rcnreid" or "tf"),
    with the config and preprocessing, atomically. ``info``: a JSON-able dict stored as
    ``finetune_info``."""
    check_arrays(arrays, cfg, "weights to save")
    out = from_ours(arrays, layout, cfg) if layout != "rcnreid" else OrderedDict(arrays)
    out["layout"] = np.array(layout)
    out["channel_order"] = np.array(cfg.channel_order)
    out["mean"] = np.asarray(cfg.mean, dtype=np.float64)
    out["vgg_config"] = np.array(cfg.to_json())
    if info is not None:
        out["finetune_info"] = np.array(json.dumps(info, sort_keys=True))
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **out)
    return path


def save_keras_h5(path, arrays, cfg, layout="tf", keras_version=1):
    """Write ``arrays`` (our layout) in the Keras HDF5 layout (tests and conversions).

    ``keras_version=1``: flat ``<layer>_W_1:0`` / ``<layer>_b_1:0`` datasets in each layer group,
    as in the published file; ``2``: ``<layer>/kernel:0`` / ``<layer>/bias:0`` sub-groups."""
    import h5py
    raw = from_ours(arrays, layout, cfg)
    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            layer_names = []
            for ours, keras in KERAS_NAMES.items():
                if ours + "_W" not in raw:
                    continue
                g = f.create_group(keras)
                if keras_version == 1:
                    names = ["%s_W_1:0" % keras, "%s_b_1:0" % keras]
                else:
                    names = ["%s/kernel:0" % keras, "%s/bias:0" % keras]
                g.create_dataset(names[0], data=raw[ours + "_W"])
                g.create_dataset(names[1], data=raw[ours + "_b"])
                g.attrs["weight_names"] = np.array([n.encode() for n in names])
                layer_names.append(keras.encode())
            f.attrs["layer_names"] = np.array(layer_names)
            f.attrs["backend"] = b"tensorflow" if layout == "tf" else b"theano"
    return path
