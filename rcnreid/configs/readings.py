"""Readings of the paper: the default (trainable) one and the paper's text taken literally.

``"default"`` is the reading every configuration is written in (docs/REPRODUCTION.md). It
deviates from what the paper states in a few places, each to make the network train or to follow
what the paper's own numbers show it did. ``"literal"`` and ``"literal-3x3"`` put every such
setting back as the text states it, and add nothing of ours (docs/REPRODUCTION.md section "The
literal reading"):

====================================  =======================  ==============================
paper (section)                       default reading          literal readings
====================================  =======================  ==============================
U[-1, 1] initialisation (5.2) of      ``init="glorot"``,       ``init="uniform1"``: every
every parameter, Theta of 4.5         c starts at 0            weight and c from U[-1, 1]
h-bar from the last time step (Eq. 4) ``temporal_pooling``     ``temporal_pooling="last"``
                                      ``="average"`` (5.4.2)
Eq. 4's h-bar = (1/L) sum_l h^l_T     ``level_fusion``         ``level_fusion="zeropad_mean"``
(levels of 128/256/256 channels,      ``="project"`` (learned  (no parameters: see below)
5.2; Theta of 4.5 has no projection)  map to a common width)
Eq. 6 a sum over the pairs            ``loss_reduction``       ``loss_reduction="sum"``
                                      ``="mean"``
Eq. 2 / 3 without biases              ``gru_bias=True``        ``gru_bias=False``
"a dropout ratio of 0.7 on the        0.7 (paper profile) on   0.7 at every profile, one
hidden-unit activations" (5.2)        h-bar, one mask per      Bernoulli per hidden unit
                                      sequence                 (channel x position) and frame,
                                                               before the spatial averaging
                                                               (``dropout_masks="units"``)
Table 1 / Section 4.1's encoder       3x3 zero-padded convs    see the two variants below
====================================  =======================  ==============================

Eq. 4 averages h^1_T ... h^L_T, and Section 5.3 reduces each level's map to 1x1 by average
pooling; the levels have 128, 256 and 256 channels (5.2), so the text does not say how vectors of
unequal widths are averaged. The literal readings take the plainest parameter-free reading:
(1/L) times the sum of the levels' spatial means, a narrower level counting as zero in the
channels it lacks (``"zeropad_mean"``); with equal widths it is Eq. 4 exactly.

The encoder is where the text contradicts itself, so there are two literal readings:

- ``"literal"``: unpadded **4x4** convolutions, 2x2/2 max-pooling keeping partial windows (ceil).
  This is *inferred*, not stated: it is the encoder that reproduces every size Table 1 lists
  (conv 157x57, pool 79x29, conv 76x26, pool 38x13, conv 35x10, pool 18x5 from 160x60), while
  Table 1's filter column and Section 4.1 say 3x3.
- ``"literal-3x3"``: unpadded **3x3** convolutions as Table 1 and Section 4.1 state, stride 1,
  then 2x2/2 max-pooling (Section 4.1) dropping partial windows (floor). From 160x60 it gives
  every *pooled* size of Table 1 (79x29, 38x13, 18x5: the maps the ConvGRUs read) but none of
  the convolution sizes (158x58, 77x27, 36x11 instead of 157x57, 76x26, 35x10); no 3x3
  convolution of a 160x60 input can give 157x57 with stride 1. Table 1 lists Pool2 as a 3x3/2
  convolution; both variants follow Section 4.1's "three max-pooling layers" instead.

Sizes (channels, input size, epochs, T) stay those of the profile, except that an input too small
for three unpadded blocks (the quick and test profiles) is enlarged to the smallest size of
the paper's 8:3 aspect that takes them (64x24 for both variants): Table 1's sizes only follow
from 160x60, the paper and cpu profiles' input. The FC-GRU row (Eq. 1, no encoder) gets every
setting but the encoder's. The Table 3 "pool_*" rows keep their temporal pooling: it is what they
compare.
"""
import dataclasses

from rcnreid.nn.convgru import check_level_sizes
from rcnreid.errors import UserError

READINGS = ("default", "literal", "literal-3x3")

#: Section 5.2's dropout ratio, as stated.
LITERAL_DROPOUT = 0.7
#: Table 1's sizes, inferred: unpadded 4x4 convolutions, 2x2/2 max-pooling keeping partial windows.
TABLE1_ENCODER = {"encoder_kernel": 4, "conv_padding": "valid", "pool_mode": "ceil"}
#: Table 1's and Section 4.1's 3x3 as stated: unpadded, 2x2/2 max-pooling dropping partial windows.
TABLE1_3X3_ENCODER = {"encoder_kernel": 3, "conv_padding": "valid", "pool_mode": "floor"}
#: The encoder of each literal reading.
LITERAL_ENCODERS = {"literal": TABLE1_ENCODER, "literal-3x3": TABLE1_3X3_ENCODER}


def apply_reading(cfg, reading):
    """``cfg`` (a :class:`rcnreid.configs.registry.RunConfig`) under ``reading`` (one of
    :data:`READINGS`).

    "default" returns ``cfg`` unchanged; "literal" and "literal-3x3" return a new RunConfig (see
    the module docstring) whose ``name`` ends in ``+literal`` / ``+literal-3x3``. A config
    already under one literal reading is not given another.
    """
    if reading not in READINGS:
        raise UserError("reading %r: unknown; choose one of %s" % (reading, ", ".join(READINGS)))
    if reading == "default":
        return cfg
    suffix = "+" + reading
    if cfg.name.endswith(suffix):
        return cfg
    if any(cfg.name.endswith("+" + r) for r in LITERAL_ENCODERS):
        raise UserError("reading %r: %s is already under another literal reading"
                        % (reading, cfg.name))
    m = cfg.model
    changes = {"init": "uniform1", "gru_bias": False, "dropout_masks": "units",
               "level_fusion": "zeropad_mean"}
    if m.temporal_pooling == "average" and not cfg.name.split("+")[0].endswith("pool_average"):
        changes["temporal_pooling"] = "last"
    if m.kind == "convgru":
        changes.update(LITERAL_ENCODERS[reading])
        changes["input_hw"] = _fitting_hw(dataclasses.replace(m, **changes))
    model = dataclasses.replace(m, **changes)
    optim = dataclasses.replace(cfg.train.optim, loss_reduction="sum", dropout=LITERAL_DROPOUT,
                                dropout_is_keep=False)
    train = dataclasses.replace(cfg.train, optim=optim)
    name = cfg.name + suffix
    return dataclasses.replace(cfg, model=model, train=train, name=name)


def _fitting_hw(model):
    """The model's input size, or the smallest (8k, 3k) not below it that the encoder takes."""
    if _fits(model, model.input_hw):
        return tuple(model.input_hw)
    h, w = model.input_hw
    k = max(1, -(-h // 8), -(-w // 3))
    while not _fits(model, (8 * k, 3 * k)):
        k += 1
    return (8 * k, 3 * k)


def _fits(model, hw):
    try:
        check_level_sizes(dataclasses.replace(model, input_hw=tuple(hw)))
    except UserError:
        return False
    return True
