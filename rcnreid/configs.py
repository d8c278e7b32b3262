"""Run configurations: the model (Section 4, Tables 2, 3) plus the protocol (Section 5.2).

A :class:`RunConfig` is plain data: ``model`` (:class:`rcnreid.model_config.ModelConfig`) and
``train`` (:class:`TrainConfig`, which holds the optimiser's
:class:`rcnreid.optim.OptimConfig`). Configurations are named by *row* and *profile*:

- rows (what is compared in the paper): ``deep_rcn`` (Table 2, Deep RCN 5x5/5x5),
  ``deep_rcn_9x9_1x1`` (Table 2), ``rcn_ind`` (Table 2, RCN-Ind), ``pool_max``,
  ``pool_average`` (= ``deep_rcn``), ``pool_fisher`` (Table 3 temporal pooling), ``pool_last``
  (Eq. 4 read literally: the last time step; docs/REPRODUCTION.md §1) and ``fc_gru`` (Table 2,
  VGG-16 fc7 + FC-GRU; trained on per-frame feature vectors);
- profiles (how big): ``paper`` (the paper's sizes and protocol), ``cpu`` (paper input size and
  protocol, fewer ConvGRU channels), ``quick`` (small input, few channels, short runs: minutes
  on 2 CPU cores on the synthetic set) and ``test`` (tiny, for the test-suite).

``get_config(row, profile)`` builds one; the names ``paper``, ``quick``, ``cpu`` and ``tiny``
are shorthands for ``deep_rcn`` at that profile, and ``<profile>_<row>`` (e.g. ``quick_rcn_ind``)
names any combination. The paper gives no number of epochs, learning rate or test-time crops;
the values chosen and their alternatives are in ``docs/REPRODUCTION.md §3``.
"""
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Optional, Tuple

from rcnreid.errors import UserError
from rcnreid.model_config import ModelConfig
from rcnreid.optim import OptimConfig

PROFILES = ("paper", "cpu", "quick", "test")
ROWS = ("deep_rcn", "deep_rcn_9x9_1x1", "rcn_ind", "pool_max", "pool_average", "pool_fisher",
        "pool_last", "fc_gru")
SHORTHANDS = {"paper": ("deep_rcn", "paper"), "cpu": ("deep_rcn", "cpu"),
              "quick": ("deep_rcn", "quick"), "tiny": ("deep_rcn", "test")}
PAIR_MODES = ("cross_camera", "any_camera")


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
    eval_batch: sequences of equal length represented together at evaluation (memory bound).
    eval_max_len: cap on the frames of a test sequence (None: every frame, the paper's reading);
        a capped sequence keeps its first ``eval_max_len`` frames.
    """
    seq_len: int = 20
    batch_pairs: int = 10
    epochs: int = 500
    dissimilar_per_similar: int = 1
    pair_mode: str = "cross_camera"
    crop_hw: Tuple[int, int] = (160, 60)
    test_augs: str = "crops5_mirror"
    eval_batch: int = 4
    eval_max_len: Optional[int] = None
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
        if self.pair_mode not in PAIR_MODES:
            bad("pair_mode", "%r is not one of %s" % (self.pair_mode, ", ".join(PAIR_MODES)))
        if self.eval_batch < 1:
            bad("eval_batch", "must be >= 1")
        if self.eval_max_len is not None and self.eval_max_len < 1:
            bad("eval_max_len", "must be >= 1 or None")
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
        optim = _dataclass_from(OptimConfig, tr.pop("optim", {}), "optim")
        train = _dataclass_from(TrainConfig, dict(tr, optim=optim), "train")
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


def _dataclass_from(cls, d, what):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise UserError("%s config: unknown option(s) %s; known: %s"
                        % (what, ", ".join(unknown), ", ".join(sorted(names))))
    return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


# ------------------------------------------------------------------------------ rows
#: What each row changes in the model (Table 2 and Table 3), independent of the size.
ROW_MODEL_CHANGES = {
    "deep_rcn": {},
    "deep_rcn_9x9_1x1": {"input_kernel": 9, "hidden_kernel": 1},
    "rcn_ind": {"stacked": False},
    "pool_max": {"temporal_pooling": "max"},
    "pool_average": {"temporal_pooling": "average"},
    "pool_fisher": {"temporal_pooling": "fisher"},
    "pool_last": {"temporal_pooling": "last"},
    "fc_gru": {"kind": "fcgru", "hidden_channels": (512,), "fc_input_dim": 4096},
}

#: What each profile changes in the model size (ConvGRU rows) and in the protocol.
PROFILE_MODEL_SIZES = {
    "paper": {},
    "cpu": {"hidden_channels": (16, 32, 32)},
    "quick": {"input_hw": (40, 16), "encoder_channels": (8, 8, 8),
              "hidden_channels": (8, 16, 16)},
    "test": {"input_hw": (16, 8), "encoder_channels": (4, 4, 4), "hidden_channels": (3, 5, 5),
             "input_kernel": 3, "hidden_kernel": 3},
}
PROFILE_FC_SIZES = {"paper": {}, "cpu": {"hidden_channels": (128,)},
                    "quick": {"hidden_channels": (32,)},
                    "test": {"hidden_channels": (6,), "fc_input_dim": 12}}
PROFILE_TRAIN = {
    "paper": {},
    "cpu": {"epochs": 100, "test_augs": "center_mirror"},
    "quick": {"epochs": 150, "seq_len": 8, "test_augs": "center_mirror", "eval_batch": 32,
              "optim": OptimConfig(learning_rate=1e-2, dropout=0.0)},
    "test": {"epochs": 3, "seq_len": 4, "batch_pairs": 4, "test_augs": "center",
             "eval_batch": 32, "eval_max_len": 12,     # dropout on: resume tests cover its RNG
             "optim": OptimConfig(learning_rate=1e-2, dropout=0.3)},
}


def get_config(name, profile="paper"):
    """The :class:`RunConfig` of row ``name`` at ``profile`` (one of :data:`PROFILES`).

    ``name`` may also be a shorthand (``paper``, ``cpu``, ``quick``, ``tiny``: Deep RCN at that
    profile, which then overrides ``profile``) or ``<profile>_<row>`` (e.g. ``quick_rcn_ind``).
    """
    row, prof = _resolve(name, profile)
    model_changes = dict(ROW_MODEL_CHANGES[row])
    if model_changes.get("kind") == "fcgru":
        model_changes.update(PROFILE_FC_SIZES[prof])
    else:
        size = dict(PROFILE_MODEL_SIZES[prof])
        if row == "deep_rcn_9x9_1x1":       # keep the row's kernels at every size
            size.pop("input_kernel", None)
            size.pop("hidden_kernel", None)
        model_changes.update(size)
    model = dataclasses.replace(ModelConfig(), **model_changes)
    train = TrainConfig(**PROFILE_TRAIN[prof])
    label = row if prof == "paper" else "%s_%s" % (prof, row)
    return RunConfig(model=model, train=train, name=label)


def _resolve(name, profile):
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


#: Every name :func:`get_config` accepts without a profile argument.
CONFIG_NAMES = tuple(sorted(SHORTHANDS)) + ROWS + tuple(
    "%s_%s" % (p, r) for p in PROFILES if p != "paper" for r in ROWS)


def load_config(name_or_path, profile="paper"):
    """A named configuration, or a RunConfig JSON file (as written next to every run)."""
    import os
    if name_or_path.endswith(".json") or os.path.sep in name_or_path:
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
            return RunConfig.from_json(text)
        except UserError as exc:
            raise UserError("--config %s: %s; give a config.json written by `rcnreid train`"
                            % (name_or_path, exc))
        except (ValueError, TypeError, AttributeError) as exc:
            raise UserError("--config %s: not a run configuration (%s); give a config.json "
                            "written by `rcnreid train`" % (name_or_path, exc))
    return get_config(name_or_path, profile)
