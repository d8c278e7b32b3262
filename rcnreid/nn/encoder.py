"""The convolutional encoder (Section 4.1, Table 1): one conv block per ConvGRU level.

Block l: a k x k convolution (stride 1, 32 channels, ReLU), then 2x2 max-pooling with stride 2.
The output of block l is the convolutional map x^l that the l-th ConvGRU reads (Eq. 2/3).

- Default reading: 3x3 zero-padded convolutions, partial pooling windows kept: a 160x60 frame
  gives maps of 80x30, 40x15 and 20x8, each level half the size of the one below, so Eq. 3's
  max-pooling of h^{l-1} to level l's size is one 2x2 pool. None of Table 1's sizes.
- ``encoder_kernel=4, conv_padding="valid", pool_mode="ceil"`` (``READING=literal``): the only
  setting here that gives *all* of Table 1's sizes (conv 157x57, pool 79x29, conv 76x26, pool
  38x13, conv 35x10, pool 18x5). The 4x4 is inferred from those sizes; Table 1's filter column
  and Section 4.1 say 3x3.
- ``encoder_kernel=3, conv_padding="valid", pool_mode="floor"`` (``READING=literal-3x3``): the
  3x3 kernels as stated; gives Table 1's pooled sizes (79x29, 38x13, 18x5) but not its
  convolution sizes (158x58, 77x27, 36x11).

Table 1's fourth convolution, the fully connected and the hash layers are not used
(docs/REPRODUCTION.md §1); Table 1 lists Pool2 as a 3x3/2 convolution, every setting here uses
the 2x2/2 max-pooling of Section 4.1.
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
        if h < 1 or w < 1:      # floor pooling of a 1-pixel map leaves nothing
            raise UserError("model option input_hw: %s is too small for %d encoder blocks"
                            % (cfg.input_hw, len(cfg.encoder_channels)))
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
