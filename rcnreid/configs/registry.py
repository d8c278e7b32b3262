"""The one registry of named configurations: the model (Section 4, Tables 2, 3) plus the protocol
(Section 5.2), read by training (``rcnreid train``), the benchmark (``rcnreid bench``) and the
experiments (``experiments/``).

A :class:`RunConfig` is plain data: ``model`` (:class:`rcnreid.nn.model_config.ModelConfig`) and
``train`` (:class:`TrainConfig`, which holds the optimiser's
:class:`rcnreid.nn.optim.OptimConfig`). Configurations are named by *row* and *profile*:

- rows (:data:`ROW_MODEL_CHANGES`, what is compared in the paper): ``deep_rcn`` (Table 2, Deep
  RCN 5x5/5x5), ``deep_rcn_9x9_1x1`` (Table 2), ``rcn_ind`` (Table 2, RCN-Ind), ``pool_max``,
  ``pool_average`` (= ``deep_rcn``), ``pool_fisher`` (Table 3 temporal pooling), ``pool_last``
  (Eq. 4 read literally: the last time step; docs/REPRODUCTION.md §1), ``fc_gru`` (Table 2,
  VGG-16 fc7 + FC-GRU; trained on per-frame feature vectors) and the two Table 1 encoder
  readings ``deep_rcn_table1_valid`` / ``deep_rcn_table1_exact``;
- profiles (:data:`PROFILES`, how big): ``paper`` (the paper's sizes and protocol), ``cpu``
  (paper input size and protocol, fewer ConvGRU channels), ``quick`` (small input, few channels,
  short runs: minutes on 2 CPU cores on the synthetic set) and ``test`` (tiny, for the
  test-suite); a profile also sizes what the experiments and the benchmark do besides training.

``get_config(row, profile)`` builds one; the names ``paper``, ``quick``, ``cpu`` and ``tiny``
are shorthands for ``deep_rcn`` at that profile, and ``<profile>_<row>`` (e.g. ``quick_rcn_ind``)
names any combination. Any field can then be changed with an override, the ``--set`` option of
``rcnreid train``, ``rcnreid bench`` and the table scripts:

>>> cfg = get_config("quick_rcn_ind", overrides=["train.optim.learning_rate=0.05",
...                                              "model.temporal_pooling=max"])
>>> cfg.train.optim.learning_rate, cfg.model.temporal_pooling, cfg.model.stacked
(0.05, 'max', False)

The paper gives no number of epochs, learning rate or test-time crops; the values chosen and
their alternatives are in ``docs/REPRODUCTION.md §3``.
"""
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Optional, Tuple

from rcnreid import config_dict
from rcnreid.errors import UserError
from rcnreid.nn.model_config import ModelConfig
from rcnreid.nn.optim import OptimConfig

PAIR_MODES = ("cross_camera", "any_camera")
AUG_PAIRINGS = ("matched", "all")


@dataclass(frozen=True)
class TrainConfig:
    """The training and evaluation protocol (Section 5.2, 5.3).

    seq_len: T, frames per training sub-sequence (Section 5.2: 20 consecutive frames, a new random
        run every epoch).
    batch_pairs: pairs per mini-batch (Section 5.2: 10).
    epochs: passes over the training pairs (not given in the paper; docs/REPRODUCTION.md §3).
    dissimilar_per_similar: dissimilar pairs drawn per similar pair in an epoch (1 = balanced).
    pair_mode: "cross_camera" (default: dissimilar pairs join a camera-1 and a camera-2 sequence,
        like the test pairs) or "any_camera" (the two sequences may share a camera).
    crop_hw: the crop taken from the stored frames (Section 4.1: 160x60 from 176x66); the crop is
        resized to the model's ``input_hw`` when that differs.
    test_augs: name of the test-time augmentation set (rcnreid.data.augment.TEST_AUG_SETS).
    aug_pairing: which augmentation conditions Eq. 5 compares before averaging: "matched" (probe
        condition a with gallery condition a, A similarity matrices) or "all" (every probe
        condition with every gallery condition, A^2 matrices from the same A representations per
        sequence); docs/REPRODUCTION.md section 3.
    eval_batch: sequences of equal length represented together at evaluation (memory bound).
    eval_max_len: cap on the frames of a test sequence (None: every frame, the paper's reading);
        a capped sequence keeps its first ``eval_max_len`` frames.
    checkpoint_every_s: seconds of training between checkpoints (not in the paper; 0: at the end of
        every epoch). A checkpoint is always written at the end of the run and on a stop signal;
        longer epochs get mid-epoch checkpoints. 300 s: a paper-size checkpoint (135 MiB) costs
        ~3.5 s on the development machine, ~10% of a paper-size epoch at 1.2 s per step on a GPU
        every epoch, ~1% every 300 s (docs/SPEED.md). Changes no result (not compared on resume).
    prefetch: prepare the next mini-batch (frames, augmentation, arrays) in a background thread
        while the current one trains; the same random draws in the same order, so the results
        are the same bit for bit (docs/SPEED.md). Changes no result (not compared on resume).
    """
    seq_len: int = 20
    batch_pairs: int = 10
    epochs: int = 500
    dissimilar_per_similar: int = 1
    pair_mode: str = "cross_camera"
    crop_hw: Tuple[int, int] = (160, 60)
    test_augs: str = "crops5_mirror"
    aug_pairing: str = "matched"
    eval_batch: int = 4
    eval_max_len: Optional[int] = None
    checkpoint_every_s: float = 300.0
    prefetch: bool = True
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self):
        def bad(opt, msg):
            raise UserError("train option %s: %s" % (opt, msg))
        if self.seq_len < 1:
            bad("seq_len", "must be >= 1")
        if self.batch_pairs < 1:
            bad("batch_pairs", "must be >= 1")
        if self.epochs < 0:
            bad("epochs", "must be >= 0")
        if self.dissimilar_per_similar < 1:
            bad("dissimilar_per_similar", "must be >= 1")
        if self.aug_pairing not in AUG_PAIRINGS:
            bad("aug_pairing", "%r is not one of %s" % (self.aug_pairing, ", ".join(AUG_PAIRINGS)))
        if self.pair_mode not in PAIR_MODES:
            bad("pair_mode", "%r is not one of %s" % (self.pair_mode, ", ".join(PAIR_MODES)))
        if self.eval_batch < 1:
            bad("eval_batch", "must be >= 1")
        if self.eval_max_len is not None and self.eval_max_len < 1:
            bad("eval_max_len", "must be >= 1 or None")
        if not self.checkpoint_every_s >= 0:
            bad("checkpoint_every_s", "must be >= 0 seconds (0: at the end of every epoch)")
        from rcnreid.data.augment import TEST_AUG_SETS
        if self.test_augs not in TEST_AUG_SETS:
            bad("test_augs", "%r is not one of %s" % (self.test_augs,
                                                     ", ".join(sorted(TEST_AUG_SETS))))


@dataclass(frozen=True)
class RunConfig:
    """A whole run: the network and how it is trained and evaluated; ``name`` is informational."""
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = "paper"

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d):
        """The inverse of :meth:`to_dict` (lists become tuples); UserError on unknown keys."""
        d = dict(d)
        model = ModelConfig.from_dict(d.pop("model", {}))
        tr = dict(d.pop("train", {}))
        optim = config_dict.from_dict(OptimConfig, tr.pop("optim", {}), "optim")
        train = config_dict.from_dict(TrainConfig, dict(tr, optim=optim), "train")
        name = d.pop("name", "custom")
        if d:
            raise UserError("run config: unknown key(s) %s" % ", ".join(sorted(d)))
        return cls(model=model, train=train, name=name)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    def replace_train(self, **changes):
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))

    def replace_optim(self, **changes):
        return self.replace_train(optim=dataclasses.replace(self.train.optim, **changes))


# ------------------------------------------------------------------------------ the registry
#: What each row changes in the model (Table 2 and Table 3), independent of the size. The two
#: ``deep_rcn_table1_*`` variants are no table's row: Table 1's sizes read two ways
#: (docs/REPRODUCTION.md §1); they take the paper or cpu profile's 160x60 input.
ROW_MODEL_CHANGES = {
    "deep_rcn": {},
    "deep_rcn_9x9_1x1": {"input_kernel": 9, "hidden_kernel": 1},
    "rcn_ind": {"stacked": False},
    "pool_max": {"temporal_pooling": "max"},
    "pool_average": {"temporal_pooling": "average"},
    "pool_fisher": {"temporal_pooling": "fisher"},
    "pool_last": {"temporal_pooling": "last"},
    "fc_gru": {"kind": "fcgru", "hidden_channels": (512,), "fc_input_dim": 4096},
    # valid 3x3 convolutions and floor pooling (79x29, 38x13, 18x5)
    "deep_rcn_table1_valid": {"conv_padding": "valid", "pool_mode": "floor"},
    # unpadded 4x4 convolutions, ceil pooling: 157x57 -> 79x29 -> 76x26 -> 38x13 -> 35x10 -> 18x5
    "deep_rcn_table1_exact": {"encoder_kernel": 4, "conv_padding": "valid", "pool_mode": "ceil"},
}


@dataclass(frozen=True)
class Profile:
    """How big a run is: one entry of :data:`PROFILES`, read by training, bench and experiments.

    model: ModelConfig changes for the ConvGRU rows; fc_model: for the FC-GRU row;
    train: TrainConfig changes (``optim`` an :class:`OptimConfig`);
    synthetic_persons: persons of the built-in synthetic datasets of the experiments (None: the
        generator's default);
    fisher_components: GMM size of Table 3's Fisher-vector row (Section 5.4.2);
    pca_dim: PCA size before Table 5's LFDA/KISSME on h-bar (Section 5.5: 128);
    bench_pairs: pairs per timed training step of ``rcnreid bench`` (T is ``train.seq_len``).
    """
    model: dict = field(default_factory=dict)
    fc_model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    synthetic_persons: Optional[int] = None
    fisher_components: int = 16
    pca_dim: int = 128
    bench_pairs: int = 10


#: ``paper``: the paper's sizes and protocol (Section 5.2); ``cpu``: paper input size and
#: protocol, fewer ConvGRU channels; ``quick``: small input, few channels, short runs (minutes on
#: 2 CPU cores on the synthetic set); ``test``: tiny, for the test-suite.
PROFILES = {
    "paper": Profile(),
    "cpu": Profile(model={"hidden_channels": (16, 32, 32)},
                   fc_model={"hidden_channels": (128,)},
                   train={"epochs": 100, "test_augs": "center_mirror"},
                   bench_pairs=2),
    "quick": Profile(model={"input_hw": (40, 16), "encoder_channels": (8, 8, 8),
                            "hidden_channels": (8, 16, 16)},
                     fc_model={"hidden_channels": (32,)},
                     train={"epochs": 150, "seq_len": 8, "test_augs": "center_mirror",
                            "eval_batch": 32,
                            "optim": OptimConfig(learning_rate=1e-2, dropout=0.0)},
                     synthetic_persons=24, fisher_components=4, pca_dim=32, bench_pairs=2),
    "test": Profile(model={"input_hw": (16, 8), "encoder_channels": (4, 4, 4),
                           "hidden_channels": (3, 5, 5), "input_kernel": 3, "hidden_kernel": 3},
                    fc_model={"hidden_channels": (6,), "fc_input_dim": 12},
                    train={"epochs": 3, "seq_len": 4, "batch_pairs": 4, "test_augs": "center",
                           "eval_batch": 32, "eval_max_len": 12,   # dropout on: resume tests
                           "checkpoint_every_s": 0.0,       # every epoch: the resume tests
                           "optim": OptimConfig(learning_rate=1e-2, dropout=0.3)},  # cover its RNG
                    synthetic_persons=8, fisher_components=2, pca_dim=8, bench_pairs=2),
}
ROWS = tuple(ROW_MODEL_CHANGES)
SHORTHANDS = {"paper": ("deep_rcn", "paper"), "cpu": ("deep_rcn", "cpu"),
              "quick": ("deep_rcn", "quick"), "tiny": ("deep_rcn", "test")}


def get_config(name, profile="paper", reading="default", overrides=()):
    """The :class:`RunConfig` of row ``name`` at ``profile`` (a key of :data:`PROFILES`).

    ``name`` may also be a shorthand (``paper``, ``cpu``, ``quick``, ``tiny``: Deep RCN at that
    profile, which then overrides ``profile``) or ``<profile>_<row>`` (e.g. ``quick_rcn_ind``).
    ``reading`` (:data:`rcnreid.configs.readings.READINGS`) is applied next, then ``overrides``
    (``"section.field=value"`` strings or ``(path, value)`` pairs, :func:`apply_overrides`).
    """
    row, prof = resolve_name(name, profile)
    spec = PROFILES[prof]
    model_changes = dict(ROW_MODEL_CHANGES[row])
    if model_changes.get("kind") == "fcgru":
        model_changes.update(spec.fc_model)
    else:
        size = dict(spec.model)
        if "input_kernel" in model_changes:     # keep the row's kernels at every size
            size.pop("input_kernel", None)
            size.pop("hidden_kernel", None)
        model_changes.update(size)
    model = dataclasses.replace(ModelConfig(), **model_changes)
    train = TrainConfig(**spec.train)
    label = row if prof == "paper" else "%s_%s" % (prof, row)
    cfg = RunConfig(model=model, train=train, name=label)
    if reading != "default":
        from rcnreid.configs.readings import apply_reading
        cfg = apply_reading(cfg, reading)
    return apply_overrides(cfg, overrides)


def resolve_name(name, profile="paper"):
    """``(row, profile)`` that a configuration name stands for (see :func:`get_config`)."""
    if profile not in PROFILES:
        raise UserError("profile %r: unknown; choose one of %s" % (profile, ", ".join(PROFILES)))
    if name in SHORTHANDS:
        return SHORTHANDS[name]
    if name in ROWS:
        return name, profile
    for prof in PROFILES:
        if name.startswith(prof + "_") and name[len(prof) + 1:] in ROWS:
            return name[len(prof) + 1:], prof
    raise UserError("--config %s: unknown configuration; choose one of %s"
                    % (name, ", ".join(CONFIG_NAMES)))


def profile_of(name, profile="paper"):
    """The :class:`Profile` a configuration name runs at (``tiny`` -> ``PROFILES["test"]``)."""
    return PROFILES[resolve_name(name, profile)[1]]


#: Every name :func:`get_config` accepts without a profile argument.
CONFIG_NAMES = tuple(sorted(SHORTHANDS)) + ROWS + tuple(
    "%s_%s" % (p, r) for p in PROFILES if p != "paper" for r in ROWS)


# ------------------------------------------------------------------------------ --set overrides
def parse_override(text):
    """``"train.optim.learning_rate=0.01"`` -> ``(("train", "optim", "learning_rate"), 0.01)``.

    The value is read as a JSON literal (numbers, true/false/null, lists, quoted strings) and
    otherwise taken as a plain string (``model.temporal_pooling=max``).
    """
    path, eq, raw = str(text).partition("=")
    keys = tuple(k.strip() for k in path.split("."))
    if not eq or not all(keys):
        raise UserError("--set %s: expected SECTION.FIELD=VALUE, e.g. "
                        "train.optim.learning_rate=0.01 or model.temporal_pooling=max" % text)
    raw = raw.strip()
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return keys, value


def _compatible(old, new):
    """Whether ``new`` may replace the field value ``old`` (same kind of value)."""
    if old is None or new is None:
        return True
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, int):
        return isinstance(new, int)
    if isinstance(old, float):
        return isinstance(new, (int, float))
    if isinstance(old, (list, tuple)):
        return isinstance(new, list)
    return isinstance(new, type(old))


def apply_overrides(cfg, overrides):
    """``cfg`` with each override applied in order (the ``--set`` of train, bench, experiments).

    Each override is ``"section.field=value"`` (:func:`parse_override`) or a ``(keys, value)``
    pair; ``section`` is ``model`` or ``train`` (``train.optim.<field>`` for the optimiser).
    Unknown fields, values of another kind and values the configuration rejects are UserErrors.
    """
    if not overrides:
        return cfg
    d = cfg.to_dict()
    for item in overrides:
        keys, value = parse_override(item) if isinstance(item, str) else item
        text = "%s=%s" % (".".join(keys), json.dumps(value))
        node = d
        for depth, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node:
                where = ".".join(keys[:depth]) or "the run configuration"
                known = sorted(node) if isinstance(node, dict) else []
                raise UserError("--set %s: %s has no field %r; known: %s"
                                % (text, where, key, ", ".join(known)))
            if depth < len(keys) - 1:
                node = node[key]
        old = node[keys[-1]]
        if isinstance(old, dict) or not _compatible(old, value):
            raise UserError("--set %s: %s holds %s, not %s" % (
                text, ".".join(keys), "a section" if isinstance(old, dict)
                else "a value like %s" % json.dumps(old), json.dumps(value)))
        node[keys[-1]] = value
    try:
        return RunConfig.from_dict(d)
    except UserError as exc:
        raise UserError("--set %s: %s" % (", ".join(map(str, overrides)), exc))
    except (TypeError, ValueError) as exc:
        raise UserError("--set %s: invalid value (%s)" % (", ".join(map(str, overrides)), exc))


def load_config(name_or_path, profile="paper", reading=None, overrides=()):
    """A named configuration, or a RunConfig JSON file (as written next to every run).

    ``reading``: None keeps the file's own (and "default" for a name); ``overrides`` as in
    :func:`apply_overrides`, applied last.
    """
    import os
    if not (name_or_path.endswith(".json") or os.path.sep in name_or_path):
        return get_config(name_or_path, profile, reading=reading or "default",
                          overrides=overrides)
    if not os.path.isfile(name_or_path):
        raise UserError("--config %s: file not found; give a configuration name (%s) or a "
                        "config.json written by a run" % (name_or_path, ", ".join(
                            sorted(SHORTHANDS))))
    try:
        with open(name_or_path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError("--config %s: cannot read the file (%s)" % (name_or_path, exc))
    try:
        cfg = RunConfig.from_json(text)
    except UserError as exc:
        raise UserError("--config %s: %s; give a config.json written by `rcnreid train`"
                        % (name_or_path, exc))
    except (ValueError, TypeError, AttributeError) as exc:
        raise UserError("--config %s: not a run configuration (%s); give a config.json "
                        "written by `rcnreid train`" % (name_or_path, exc))
    if reading not in (None, "default"):
        from rcnreid.configs.readings import apply_reading
        cfg = apply_reading(cfg, reading)
    return apply_overrides(cfg, overrides)
