"""The convolutional encoder (Section 4.1, Table 1): one conv block per ConvGRU level.

Block l: 3x3 convolution (stride 1, 32 channels, ReLU), then 2x2 max-pooling with stride 2. The
output of block l is the convolutional map x^l that the l-th ConvGRU reads (Eq. 2/3). With the
default reading (zero-padded convolutions, partial pooling windows kept) a 160x60 frame gives
maps of 80x30, 40x15 and 20x8: each level is half the size of the one below, so Eq. 3's
max-pooling of h^{l-1} to level l's size is one 2x2 pool. ``conv_padding="valid"`` and
``pool_mode="floor"`` give Table 1's sizes instead (79x29, 38x13, 18x5). Table 1's fourth
convolution, the fully connected and the hash layers are not used (docs/REPRODUCTION.md §1).
"""
from collections import OrderedDict

from rcnreid.nn import init as initlib
from rcnreid.errors import UserError
from rcnreid.nn.layers import conv, conv_size, maxpool2, pooled_size
from rcnreid.backend.theano_env import T


def encoder_params(cfg, rng):
    """OrderedDict of numpy arrays: ``enc{l}_W`` (C_out, C_in, k, k) and ``enc{l}_b``."""
    p = OrderedDict()
    c_in = cfg.input_channels
    for l, c_out in enumerate(cfg.encoder_channels):
        p["enc%d_W" % l] = initlib.conv_weight(rng, c_out, c_in, cfg.encoder_kernel, cfg.init)
        p["enc%d_b" % l] = initlib.zeros((c_out,))
        c_in = c_out
    return p


def encoder_layers(cfg):
    """The shape table: list of dicts (name, type, out_shape (C, H, W), params, kernel)."""
    h, w = cfg.input_hw
    c_in = cfg.input_channels
    rows = []
    ceil = cfg.pool_mode == "ceil"
    k = cfg.encoder_kernel
    for l, c_out in enumerate(cfg.encoder_channels):
        h, w = conv_size(h, k, cfg.conv_padding), conv_size(w, k, cfg.conv_padding)
        if h < 1 or w < 1:
            raise UserError("model option input_hw: %s is too small for %d encoder blocks"
                            % (cfg.input_hw, len(cfg.encoder_channels)))
        rows.append(dict(name="conv%d" % l, type="conv %dx%d/1 %s + ReLU" % (k, k, cfg.conv_padding),
                         out_shape=(c_out, h, w), params=c_out * c_in * k * k + c_out,
                         macs=c_out * c_in * k * k * h * w))
        h, w = pooled_size(h, ceil), pooled_size(w, ceil)
        rows.append(dict(name="pool%d" % l, type="maxpool 2x2/2 %s" % cfg.pool_mode,
                         out_shape=(c_out, h, w), params=0, macs=0))
        c_in = c_out
    return rows


def level_shapes(cfg):
    """(C, H, W) of each level's input map x^l, lowest level first."""
    return [r["out_shape"] for r in encoder_layers(cfg) if r["name"].startswith("pool")]


def encode(P, x, cfg):
    """Encoder graph: ``x`` (N, C, H, W) -> list of level maps, one per ConvGRU level (Eq. 2's x^l).

    ``P`` maps parameter names to Theano variables.
    """
    maps = []
    h = x
    conv_hw = [r["out_shape"][1:] for r in encoder_layers(cfg) if r["name"].startswith("conv")]
    for l in range(len(cfg.encoder_channels)):
        h = conv(h, P["enc%d_W" % l], cfg.conv_padding) + P["enc%d_b" % l].dimshuffle("x", 0, "x", "x")
        h = T.nnet.relu(h)
        h = maxpool2(h, ceil=cfg.pool_mode == "ceil", hw=conv_hw[l])
        maps.append(h)
    return maps
