"""The units of work of a table (or the paper) as a cluster sees them: one entry per unit x
dataset x trial, with the units it waits for, whether it trains, and how many training steps.

``experiments.unit_graph`` (issue 30's static description of the tables) is what this reads
when it is there; until then :func:`plan` derives the same from the tables' rows and the
dependencies that :mod:`experiments.units` has in its code:

- ``deep_metric/*`` (Table 5) uses the trained ``rcn/deep_rcn`` of its trial;
- ``pool/*/*`` (Table 3) pools the frame outputs of ``rcn/pool_average``;
- ``rcn/pool_average`` *is* ``rcn/deep_rcn`` when the two configurations are equal (the default
  reading): it then waits for it and trains nothing.
"""
import dataclasses
import math
import os

from experiments.cache import read_cached
from rcnreid.configs.registry import get_config

#: The table ids :func:`plan` knows; ``paper`` is all of them (Fig. 5 is Table 5's units).
TABLES = ("table2", "table3", "table4", "table5")
#: Persons per dataset (Section 5.1) when the data file is not there to count them.
DATASET_PERSONS = {"ilidsvid": 300, "prid2011": 200}


@dataclasses.dataclass(frozen=True)
class PlannedUnit:
    """One unit of work of one dataset and trial."""
    key: str                 # e.g. "rcn/deep_rcn"
    dataset: str
    trial: int
    kind: str                # "train" (trains a network) or "eval" (computes from features)
    deps: tuple = ()         # keys of the units of the same dataset and trial it waits for
    config: str = ""         # registry row trained ("deep_rcn"), "" when it trains nothing
    steps: int = 0           # training steps (mini-batches) of the training it runs
    uses_network: bool = False   # runs a trained network (feature extraction: wants the GPU)

    @property
    def name(self):
        return "%s/trial%d/%s" % (self.dataset, self.trial, self.key)


def table_rows(table_ids):
    """``[(table_id, Row)]`` of the tables named (``paper``: all four; ``fig5``: Table 5's)."""
    import importlib
    ids = []
    for t in table_ids:
        ids += list(TABLES) if t == "paper" else ["table5" if t == "fig5" else t]
    out = []
    for t in dict.fromkeys(ids):
        if t not in TABLES:
            raise ValueError(t)
        out += [(t, r) for r in importlib.import_module("experiments." + t).ROWS]
    return out


def _same_network(options, row, base="deep_rcn"):
    a = get_config(row, options.profile, reading=options.reading, overrides=options.overrides)
    b = get_config(base, options.profile, reading=options.reading, overrides=options.overrides)
    return (a.model, a.train) == (b.model, b.train)


def training_steps(options, row, dataset, persons=None):
    """Mini-batches of one training of registry row ``row`` on ``dataset``: epochs x
    ceil(pairs / batch_pairs), pairs = training persons x (1 + dissimilar_per_similar), half of
    the persons training (Section 5.3)."""
    cfg = get_config(row, options.profile, reading=options.reading, overrides=options.overrides)
    if persons is None:
        persons = DATASET_PERSONS[dataset]
        if options.data == "synthetic" and options.profile_spec.synthetic_persons:
            persons = options.profile_spec.synthetic_persons
    pairs = (persons // 2) * (1 + cfg.train.dissimilar_per_similar)
    return cfg.train.epochs * int(math.ceil(pairs / float(cfg.train.batch_pairs)))


def unit_entry(options, key, dataset, trial):
    """The :class:`PlannedUnit` of ``key`` (dependencies included by :func:`plan`)."""
    if key.startswith("rcn/"):
        row = key[4:]
        if row == "pool_average" and _same_network(options, row):
            return PlannedUnit(key, dataset, trial, "eval", ("rcn/deep_rcn",),
                               uses_network=True)
        return PlannedUnit(key, dataset, trial, "train", (), row,
                           training_steps(options, row, dataset), True)
    if key == "vgg/fc_gru":
        return PlannedUnit(key, dataset, trial, "train", (), "fc_gru",
                           training_steps(options, "fc_gru", dataset), True)
    if key.startswith("pool/"):
        return PlannedUnit(key, dataset, trial, "eval", ("rcn/pool_average",), uses_network=True)
    if key.startswith("deep_metric/"):
        return PlannedUnit(key, dataset, trial, "eval", ("rcn/deep_rcn",), uses_network=True)
    return PlannedUnit(key, dataset, trial, "eval")


def plan(table_ids, options):
    """Every unit the tables ``table_ids`` need for ``options``' datasets, trials and rows,
    dependencies first (each once). Rows that cannot run here (``vgg/fc_gru`` without VGG-16
    weights) are left out: they would only fail."""
    keys = []
    for _, row in table_rows(table_ids):
        if options.rows and row.name not in options.rows:
            continue
        keys.append(row.unit_key(options))
    if not options.vgg16_weights or not os.path.exists(options.vgg16_weights):
        keys = [k for k in keys if k != "vgg/fc_gru"]
    out, seen = [], set()

    def add(key, dataset, trial):
        if (key, dataset, trial) in seen:
            return
        entry = unit_entry(options, key, dataset, trial)
        for dep in entry.deps:
            add(dep, dataset, trial)
        seen.add((key, dataset, trial))
        out.append(entry)

    for dataset in options.datasets:
        for trial in options.trials:
            for key in dict.fromkeys(keys):
                add(key, dataset, trial)
    return out


def finished(options, unit):
    """True when ``unit``'s result is in ``options.results``' cache (never recomputed)."""
    return read_cached(options, unit.dataset, unit.trial, unit.key) is not None

