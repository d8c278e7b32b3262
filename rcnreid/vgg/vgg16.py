"""VGG-16 (Simonyan & Zisserman, configuration D) in Theano, for Table 2's "VGG 16 + FC-GRU" row.

Section 5.3: "The competitor with FC-GRU [is] based on VGG 16 model [45], pretrained on ImageNet
[13], and fine-tune[d] on the single shot VIPeR re-identification dataset [20]. We extract
features from fully-connected layer fc7 ... which are given as the inputs to our deep network and
act as FC-GRU" (the FC-GRU is Eq. 1, :mod:`rcnreid.nn.fcgru`).

Configuration D: 13 convolutions 3x3 / stride 1 / zero padding 1, each followed by ReLU, in five
blocks of 2, 2, 3, 3, 3 layers with 64, 128, 256, 512, 512 channels; a 2x2 / stride 2 max-pooling
after each block; fc6 (4096), fc7 (4096) with ReLU and dropout 0.5 during training; fc8 (1000
ImageNet classes, or the identity classes when fine-tuning) and a softmax.

Conventions (the same as the rest of the package, :mod:`rcnreid.nn.layers`): float32, inputs
(B, 3, H, W) channels first, convolutions are cross-correlations (``filter_flip=False``) with
kernels (O, I, 3, 3); dense weights are (n_in, n_out) and fc6's rows follow the (C, H, W) order in
which pool5 (B, C, H, W) is flattened. :mod:`rcnreid.vgg.weights` converts the published layouts.

How fc6 meets an input that is not 224x224 (``fc6_mode``, docs/REPRODUCTION.md §6):

- ``"resize"`` (default): every frame is resized to ``input_hw`` (224x224) before the network, so
  pool5 is 7x7 and fc6 is the pretrained dense layer, exactly as on ImageNet;
- ``"conv_avg"``: fc6 is applied as a 7x7 convolution (its dense weights reshaped, zero padding 3)
  at every pool5 position and its pre-activations are averaged over the positions (global
  average pooling) before the ReLU: any input size >= 32x32 works, e.g. the 160x60 crop of
  Section 4.1 (pool5 5x1).

``width_div`` divides every width (conv channels and fc6/fc7) for small random networks in
tests; ``fc_dim`` overrides the fc6/fc7 width.
"""
import dataclasses
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from rcnreid import config_dict
from rcnreid.errors import UserError

#: Configuration D: (block, number of conv layers, channels).
BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
FC6_MODES = ("resize", "conv_avg")
#: The layers that hold parameters, in network order.
CONV_LAYERS = tuple("conv%d_%d" % (b, i + 1) for b, n, _ in BLOCKS for i in range(n))
FC_LAYERS = ("fc6", "fc7", "fc8")
LAYERS = CONV_LAYERS + FC_LAYERS
#: Total down-sampling of the five pools.
STRIDE = 32
#: Input preprocessing of the Caffe-trained VGG-16 (as Keras' ``preprocess_input``, "caffe"
#: mode): channels in BGR order, minus the ImageNet mean pixel, no scaling (0..255 range).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class VGGConfig:
    """The network's shape. Defaults are configuration D at 224x224 with 1000 classes."""
    input_hw: Tuple[int, int] = (224, 224)   # the network input; frames are resized to it
    fc6_mode: str = "resize"                 # "resize" | "conv_avg" (module docstring)
    num_classes: int = 1000                  # fc8 outputs (identity classes when fine-tuning)
    width_div: int = 1                       # divide all widths (tests: small random networks)
    fc_dim: Optional[int] = None             # fc6/fc7 width; None = 4096 // width_div
    dropout: float = 0.5                     # on fc6 and fc7 outputs, training only
    channel_order: str = "bgr"               # input channel order the weights expect
    mean: Tuple[float, float, float] = CAFFE_MEAN_BGR   # subtracted, in channel_order
    scale: float = 1.0                       # pixels (0..255, minus mean) times scale

    def __post_init__(self):
        def bad(opt, msg):
            raise UserError("VGG-16 option %s: %s" % (opt, msg))
        if self.fc6_mode not in FC6_MODES:
            bad("fc6_mode", "%r is not one of %s" % (self.fc6_mode, ", ".join(FC6_MODES)))
        if self.width_div < 1 or any(c % self.width_div for _, _, c in BLOCKS):
            bad("width_div", "%d must divide 64 (1, 2, 4, 8, 16, 32 or 64)" % self.width_div)
        if self.channel_order not in ("rgb", "bgr"):
            bad("channel_order", "%r must be 'rgb' or 'bgr'" % self.channel_order)
        h, w = self.input_hw
        if h < STRIDE or w < STRIDE:
            bad("input_hw", "%s: VGG-16 needs at least 32x32 (five 2x2 poolings)"
                % (tuple(self.input_hw),))
        if self.num_classes < 1 or self.fc_width < 1:
            bad("num_classes/fc_dim", "must be positive")
        if not 0.0 <= self.dropout < 1.0:
            bad("dropout", "must be in [0, 1)")

    # ------------------------------------------------------------------ derived
    @property
    def fc_width(self):
        return int(self.fc_dim) if self.fc_dim is not None else 4096 // self.width_div

    def channels(self, block):
        return BLOCKS[block - 1][2] // self.width_div

    @property
    def pool5_hw(self):
        """Spatial size of pool5 for ``input_hw`` (floor pooling)."""
        h, w = self.input_hw
        for _ in BLOCKS:
            h, w = h // 2, w // 2
        return h, w

    @property
    def fc6_grid(self):
        """(kh, kw) that fc6's weights cover: pool5's size in "resize" mode (7x7 at 224x224);
        in "conv_avg" mode the 7x7 of configuration D (scaled inputs keep the kernel size)."""
        return self.pool5_hw if self.fc6_mode == "resize" else (7, 7)

    def param_shapes(self):
        """OrderedDict ``layer -> (W shape, b shape)`` in the package's (Theano) layout."""
        shapes = OrderedDict()
        c_in = 3
        for b, n, _ in BLOCKS:
            c = self.channels(b)
            for i in range(n):
                shapes["conv%d_%d" % (b, i + 1)] = ((c, c_in, 3, 3), (c,))
                c_in = c
        gh, gw = self.fc6_grid
        f = self.fc_width
        shapes["fc6"] = ((c_in * gh * gw, f), (f,))
        shapes["fc7"] = ((f, f), (f,))
        shapes["fc8"] = ((f, self.num_classes), (self.num_classes,))
        return shapes

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d):
        return config_dict.from_dict(cls, d, "VGG-16")


def random_params(cfg, seed=0):
    """OrderedDict ``name -> float32 array`` (``conv1_1_W``, ``conv1_1_b``, ...): He-normal
    weights, zero biases. For tests and for a new fc8 (see :func:`new_classifier`)."""
    rng = np.random.RandomState(seed)
    out = OrderedDict()
    for layer, (ws, bs) in cfg.param_shapes().items():
        fan_in = int(np.prod(ws[1:])) if len(ws) == 4 else ws[0]
        out[layer + "_W"] = (rng.randn(*ws) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        out[layer + "_b"] = np.zeros(bs, dtype=np.float32)
    return out


def new_classifier(n_in, n_classes, seed=0):
    """(W, b) of a fresh fc8 over ``n_classes`` identities: N(0, 0.01^2) weights, zero bias
    (the initialisation of VGG's own layers)."""
    rng = np.random.RandomState(seed)
    return ((rng.randn(n_in, n_classes) * 0.01).astype(np.float32),
            np.zeros((n_classes,), dtype=np.float32))


class VGG16:
    """The network: Theano shared parameters and graph builders.

    ``params``: OrderedDict ``"conv1_1_W" -> shared`` ... ``"fc8_b"`` (float32).
    """

    def __init__(self, cfg=None, params=None, seed=0):
        from rcnreid.backend.theano_env import theano
        self.cfg = cfg or VGGConfig()
        values = params if params is not None else random_params(self.cfg, seed)
        self.check_params(values)
        self.params = OrderedDict()
        for name in self.param_names():
            self.params[name] = theano.shared(np.asarray(values[name], dtype=np.float32),
                                              name=name)

    def param_names(self):
        return [layer + s for layer in LAYERS for s in ("_W", "_b")]

    def check_params(self, values, source="parameters"):
        """UserError naming the first missing or mis-shaped array."""
        for layer, shapes in self.cfg.param_shapes().items():
            for suffix, want in zip(("_W", "_b"), shapes):
                name = layer + suffix
                if name not in values:
                    raise UserError("%s: layer %s has no %s; expected VGG-16 configuration D"
                                    % (source, layer, name))
                got = tuple(np.shape(values[name]))
                if got != tuple(want):
                    raise UserError("%s: layer %s: %s has shape %s, expected %s"
                                    % (source, layer, name, got, tuple(want)))

    def get_params(self):
        return OrderedDict((k, v.get_value()) for k, v in self.params.items())

    def set_params(self, values):
        self.check_params(values)
        for k, v in self.params.items():
            v.set_value(np.asarray(values[k], dtype=np.float32))

    # ------------------------------------------------------------------ graphs
    def graph(self, x, upto="fc8", dropout_masks=None):
        """Symbolic outputs of ``x`` (B, 3, H, W) float32, preprocessed (:func:`preprocess`).

        Returns an OrderedDict ``layer -> symbolic output`` for pool1..pool5, fc6, fc7 (after
        ReLU and, when ``dropout_masks`` = (mask6, mask7) of shape (B, fc_width) is given, the
        masks: inverted dropout, masks already scaled by 1/(1-p)) and fc8 (logits), stopping after
        ``upto``.
        """
        from rcnreid.nn.layers import conv
        from rcnreid.backend.theano_env import T
        from theano.tensor.signal.pool import pool_2d
        P = self.params
        out = OrderedDict()
        h = x
        for b, n, _ in BLOCKS:
            for i in range(n):
                name = "conv%d_%d" % (b, i + 1)
                h = T.nnet.relu(conv(h, P[name + "_W"], "same")
                                + P[name + "_b"].dimshuffle("x", 0, "x", "x"))
                out[name] = h
            h = pool_2d(h, ws=(2, 2), stride=(2, 2), ignore_border=True, mode="max")
            out["pool%d" % b] = h
            if upto == "pool%d" % b or upto == "conv%d_%d" % (b, n):
                return out
        if self.cfg.fc6_mode == "resize":
            flat = h.flatten(2)                      # (B, C*H*W) in (C, H, W) order
            a6 = T.dot(flat, P["fc6_W"]) + P["fc6_b"]
        else:
            gh, gw = self.cfg.fc6_grid
            c = self.cfg.channels(5)
            # dense rows (C, 7, 7) -> kernel (O, C, 7, 7); zero padding 3 keeps pool5's size
            k = P["fc6_W"].T.reshape((self.cfg.fc_width, c, gh, gw))
            a6 = conv(h, k, "same").mean(axis=(2, 3)) + P["fc6_b"]
        h = T.nnet.relu(a6)
        if dropout_masks is not None:
            h = h * dropout_masks[0]
        out["fc6"] = h
        if upto == "fc6":
            return out
        h = T.nnet.relu(T.dot(h, P["fc7_W"]) + P["fc7_b"])
        if dropout_masks is not None:
            h = h * dropout_masks[1]
        out["fc7"] = h
        if upto == "fc7":
            return out
        out["fc8"] = T.dot(h, P["fc8_W"]) + P["fc8_b"]
        return out

    def build_features(self, layer="fc7"):
        """Compiled ``f(x (B, 3, H, W) float32) -> (B, ...)`` output of ``layer`` (no dropout)."""
        from rcnreid.backend.theano_env import T, theano
        x = T.tensor4("x")
        return theano.function([x], self.graph(x, upto=layer)[layer], name="vgg16_" + layer)

    def output_shapes(self, batch, hw, layers=("pool5", "fc6", "fc7", "fc8")):
        """Shapes of ``layers`` for an input (batch, 3, *hw), by Theano's shape inference.

        The compiled function computes ``out.shape`` only: the shape optimiser replaces it by
        arithmetic on the input's shape, so no convolution runs (cheap even at 224x224)."""
        from rcnreid.backend.theano_env import T, theano
        x = T.tensor4("x")
        outs = self.graph(x, upto=layers[-1])
        f = theano.function([x], [outs[k].shape for k in layers], name="vgg16_shapes",
                            on_unused_input="ignore")
        dummy = np.zeros((int(batch), 3) + tuple(int(v) for v in hw), dtype=np.float32)
        return OrderedDict((k, tuple(int(v) for v in s)) for k, s in zip(layers, f(dummy)))


# ---------------------------------------------------------------------- preprocessing
def preprocess(frames, cfg, mirror=False):
    """uint8 (N, H, W, 3) RGB frames -> float32 (N, 3, h, w) network input.

    Resized to ``cfg.input_hw`` in "resize" mode (OpenCV bilinear; area averaging when shrinking),
    kept at their size in "conv_avg" mode; optionally mirrored left-right; channels reordered to
    ``cfg.channel_order``; ``cfg.mean`` subtracted and multiplied by ``cfg.scale``.
    """
    import cv2
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError("frames must be (N, H, W, 3), got %s" % (frames.shape,))
    x = frames.astype(np.float32)
    if cfg.fc6_mode == "resize" and tuple(frames.shape[1:3]) != tuple(cfg.input_hw):
        oh, ow = cfg.input_hw
        shrink = oh < frames.shape[1] and ow < frames.shape[2]
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        x = np.stack([cv2.resize(f, (int(ow), int(oh)), interpolation=interp) for f in x])
    if mirror:
        x = x[:, :, ::-1]
    if cfg.channel_order == "bgr":
        x = x[..., ::-1]
    x = (x - np.asarray(cfg.mean, dtype=np.float32)) * np.float32(cfg.scale)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)
