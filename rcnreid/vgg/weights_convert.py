"""Converting VGG-16 weights from other common layouts into rcnreid's .npz
(``rcnreid convert-vgg-weights``; docs/REPRODUCTION.md §6).

Reads:
- Keras HDF5 files (tf or th dim ordering, Keras 1 or 2 names), and .npz files in the "tf" or
  "rcnreid" layout (everything :func:`rcnreid.vgg.weights.load_weights` reads);
- the Lasagne model-zoo pickle ``vgg16.pkl`` (a dict with ``param values``: 32 arrays, conv
  kernels (out, in, 3, 3) used as cross-correlations, dense weights (in, out), fc6 rows in
  (C, H, W) order: the rcnreid layout; inputs BGR minus ``mean value``).

Writes an .npz in the ``rcnreid`` layout (default) or the ``tf`` layout, with the layer names and
shapes checked. Nothing is downloaded.
"""
import pickle
from collections import OrderedDict

import numpy as np

from rcnreid.errors import UserError

LAYOUTS = ("rcnreid", "tf")


def read_lasagne_pickle(path):
    """(arrays in our layout, mean in BGR order) of a Lasagne model-zoo VGG-16 pickle."""
    from rcnreid.vgg.vgg16 import LAYERS
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise UserError("%s: not a readable pickle (%s)" % (path, exc))
    values = d.get("param values") if isinstance(d, dict) else None
    if values is None or len(values) != 2 * len(LAYERS):
        raise UserError("%s: expected a dict with 'param values' (32 arrays, Lasagne model zoo "
                        "vgg16.pkl)" % path)
    arrays = OrderedDict()
    for i, layer in enumerate(LAYERS):
        arrays[layer + "_W"] = np.asarray(values[2 * i], dtype=np.float32)
        arrays[layer + "_b"] = np.asarray(values[2 * i + 1], dtype=np.float32)
    mean = d.get("mean value")
    mean = tuple(float(v) for v in np.asarray(mean).ravel()) if mean is not None else None
    return arrays, mean


def convert(src, dst, layout="rcnreid", log=print, base_cfg=None):
    """Rewrite ``src`` as a checked .npz ``dst``. ``base_cfg``: the VGGConfig a pickle must fit
    (default configuration D; .h5 / .npz files use :func:`rcnreid.vgg.weights.load_weights`'s)."""
    from rcnreid.vgg.vgg16 import VGGConfig
    from rcnreid.vgg.weights import check_arrays, load_weights, save_npz
    if src.endswith(".pkl"):
        arrays, mean = read_lasagne_pickle(src)
        cfg = (base_cfg or VGGConfig()).replace(num_classes=int(arrays["fc8_W"].shape[1]))
        if mean is not None and len(mean) == 3:
            cfg = cfg.replace(mean=mean)
        check_arrays(arrays, cfg, src)
    else:
        w = load_weights(src, base_cfg)
        arrays, cfg = w.arrays, w.config
        log("%s: read in the %s layout" % (src, w.layout))
    save_npz(dst, arrays, cfg, layout=layout)
    log("wrote %s (%s layout, inputs %s minus mean %s)" % (dst, layout, cfg.channel_order.upper(),
                                                          ", ".join("%.3f" % m for m in cfg.mean)))
    return dst
