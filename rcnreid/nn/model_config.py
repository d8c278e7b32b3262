"""Model configuration: a plain dataclass with the paper's values as defaults.

Named configurations (Table 2's rows, the CPU and test sizes) live in the one registry,
:mod:`rcnreid.configs.registry` (``get_config("rcn_ind").model``, ``get_config("tiny").model``).

Paper references (Wu, Shen & van den Hengel, arXiv 1606.01609):

- encoder: Section 4.1 / Table 1 (3x3 convolutions, stride 1, 2x2 max-pooling, 32 channels,
  160x60 RGB input);
- ConvGRU levels: Eq. 2 and 3, Section 5.2 (3 levels, 128/256/256 channels, 5x5 kernels);
- sequence representation: Eq. 4; temporal pooling: Table 3; similarity: Eq. 5;
- variants: Table 2 (Deep RCN 5x5/5x5, Deep RCN 9x9/1x1, RCN-Ind, VGG-16 + FC-GRU).

Every choice the paper leaves open is documented in ``docs/REPRODUCTION.md §1``.
"""
import dataclasses
from dataclasses import dataclass
from typing import Optional, Tuple

from rcnreid import config_dict
from rcnreid.errors import UserError

KINDS = ("convgru", "fcgru")
CONV_PADDINGS = ("same", "valid")
POOL_MODES = ("ceil", "floor")
LEVEL_FUSIONS = ("project", "concat", "zeropad_mean", "top", "mean")
SPATIAL_POOLINGS = ("average", "max")
TEMPORAL_POOLINGS = ("last", "average", "max", "fisher")
INITS = ("glorot", "uniform1")
DROPOUT_MASKS = ("independent", "shared", "frames", "units")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the network's graph and parameter shapes.

    kind: ``"convgru"`` (images ``(T, B, 3, H, W)``) or ``"fcgru"`` (vectors ``(T, B, D)``, Eq. 1).
    """
    kind: str = "convgru"
    # --- encoder (Section 4.1, Table 1) ---
    input_hw: Tuple[int, int] = (160, 60)
    input_channels: int = 3
    encoder_channels: Tuple[int, ...] = (32, 32, 32)   # one conv block per ConvGRU level
    encoder_kernel: int = 3          # even sizes only with conv_padding="valid" (4: Table 1 exact)
    conv_padding: str = "same"       # "same" (default reading) | "valid" (Table 1's sizes)
    pool_mode: str = "ceil"          # 2x2/2 max-pool output size rounding: "ceil" | "floor"
    # --- recurrent levels (Eq. 2, 3; Section 5.2) ---
    hidden_channels: Tuple[int, ...] = (128, 256, 256)
    input_kernel: int = 5            # input-to-hidden kernel k1 = k2 (W_z, W_r, W)
    hidden_kernel: int = 5           # hidden-to-hidden kernel (U_z, U_r, U)
    cross_kernel: Optional[int] = None   # kernel of W_zl, W_rl (Eq. 3); None = input_kernel
    stacked: bool = True             # Eq. 3 cross-layer input (False = RCN-Ind)
    gru_bias: bool = True            # biases on z, r and candidate (the paper writes none)
    # --- FC-GRU (Eq. 1), kind="fcgru" ---
    fc_input_dim: int = 4096         # VGG-16 fc7
    # --- representation (Eq. 4, Table 3) ---
    spatial_pooling: str = "average"     # last hidden map -> vector
    level_fusion: str = "project"        # how Eq. 4 averages levels of unequal channel counts
    fusion_dim: Optional[int] = None     # for "project": None = max(hidden_channels)
    temporal_pooling: str = "average"    # "average" (5.4.2) | "last" (Eq. 4) | "max" | "fisher"
    fisher_components: int = 16          # GMM size for temporal_pooling="fisher"
    fc_head_dim: Optional[int] = None    # optional fc layer (tanh) on the representation (4.1)
    # --- initialisation (Section 5.2) ---
    # "glorot" (default, trains) | "uniform1" (U[-1, 1] for every weight and for Eq. 5's c)
    init: str = "glorot"
    # --- dropout (Section 5.2: "a dropout ratio of 0.7 on the hidden-unit activations") ---
    # where the training masks go (the ratio itself is OptimConfig.dropout/dropout_is_keep):
    # "independent" (default): one mask per sequence on h-bar, so h-bar_a and h-bar_b of a pair
    #   get independent masks; "shared": one mask per pair, on both h-bars; "frames": a mask per
    #   frame and level on the hidden maps' channels before pooling; "units": one Bernoulli per
    #   hidden unit (channel x position) per frame, before the spatial averaging (the literal
    #   readings: Section 5.2's "hidden-unit activations").
    dropout_masks: str = "independent"

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self):
        def bad(opt, msg):
            raise UserError("model option %s: %s" % (opt, msg))
        if self.kind not in KINDS:
            bad("kind", "%r is not one of %s" % (self.kind, ", ".join(KINDS)))
        if self.conv_padding not in CONV_PADDINGS:
            bad("conv_padding", "%r is not one of %s" % (self.conv_padding, CONV_PADDINGS))
        if self.pool_mode not in POOL_MODES:
            bad("pool_mode", "%r is not one of %s" % (self.pool_mode, POOL_MODES))
        if self.level_fusion not in LEVEL_FUSIONS:
            bad("level_fusion", "%r is not one of %s" % (self.level_fusion, LEVEL_FUSIONS))
        if self.spatial_pooling not in SPATIAL_POOLINGS:
            bad("spatial_pooling", "%r is not one of %s" % (self.spatial_pooling,
                                                           SPATIAL_POOLINGS))
        if self.temporal_pooling not in TEMPORAL_POOLINGS:
            bad("temporal_pooling", "%r is not one of %s" % (self.temporal_pooling,
                                                             TEMPORAL_POOLINGS))
        if self.init not in INITS:
            bad("init", "%r is not one of %s" % (self.init, INITS))
        if self.dropout_masks not in DROPOUT_MASKS:
            bad("dropout_masks", "%r is not one of %s" % (self.dropout_masks,
                                                          ", ".join(DROPOUT_MASKS)))
        if not self.hidden_channels or min(self.hidden_channels) < 1:
            bad("hidden_channels", "give at least one positive channel count")
        if self.kind == "convgru":
            if len(self.encoder_channels) != len(self.hidden_channels):
                bad("encoder_channels", "needs one conv block per ConvGRU level (%d), got %d; "
                    "give as many encoder channels as hidden channels"
                    % (len(self.hidden_channels), len(self.encoder_channels)))
            for name in ("input_kernel", "hidden_kernel", "encoder_kernel"):
                k = getattr(self, name)
                if name == "encoder_kernel" and self.conv_padding == "valid":
                    if k < 1:       # unpadded: any size (Table 1 exact is 4x4)
                        bad(name, "%d must be positive" % k)
                elif k < 1 or k % 2 == 0:
                    bad(name, "%d must be odd and positive (zero padding keeps the size; an even "
                        "encoder kernel needs conv_padding=\"valid\")" % k)
            if self.cross_kernel is not None and (self.cross_kernel < 1
                                                  or self.cross_kernel % 2 == 0):
                bad("cross_kernel", "must be odd and positive")
            if self.level_fusion == "mean" and len(set(self.hidden_channels)) > 1:
                bad("level_fusion", "'mean' needs equal hidden channels, got %s; use 'project', "
                    "'zeropad_mean', 'concat' or 'top'" % (self.hidden_channels,))
        if self.fisher_components < 1:
            bad("fisher_components", "must be >= 1")

    # ------------------------------------------------------------------ derived
    @property
    def num_levels(self):
        return len(self.hidden_channels)

    @property
    def cross_k(self):
        return self.input_kernel if self.cross_kernel is None else self.cross_kernel

    def scaled(self, channels=None, input_hw=None, encoder_channels=None, **changes):
        """A copy with other ConvGRU channels / input size (e.g. a CPU-sized model)."""
        if channels is not None:
            changes["hidden_channels"] = tuple(channels)
        if input_hw is not None:
            changes["input_hw"] = tuple(input_hw)
        if encoder_channels is not None:
            changes["encoder_channels"] = tuple(encoder_channels)
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        return config_dict.from_dict(cls, d, "model")
