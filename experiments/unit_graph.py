"""The static unit graph: every unit of work a table (or the whole paper) does, before it runs.

The runner (:mod:`experiments.runner`) computes units dynamically: a row names a unit, and a unit
may call others through ``ctx.unit(key)`` (:mod:`experiments.units`). This module states the same
thing statically, without running or compiling anything, so that a plan (``make plan``,
:mod:`experiments.plan`) or a job scheduler can see, for one table at one set of options:

- every unit of every (dataset, trial): its ``key`` (``rcn/deep_rcn``), its ``kind`` (``train``:
  trains a network, then evaluates it; ``eval``: uses finished trainings or none, trains no
  network), the :class:`rcnreid.configs.registry.RunConfig` it trains, the units of the same
  (dataset, trial) it needs first (``depends``), and its training ``steps``;
- whether it is already finished in the results folder (:func:`is_finished`, the runner's cache),
  so finished units are never planned or recomputed.

The dependency rules mirror :mod:`experiments.units` (``tests/test_unit_graph.py`` runs a
synthetic table through the runner and checks that it computes exactly these units, each after
its dependencies):

- ``rcn/<row>`` trains the registry row ``<row>``; except ``rcn/pool_average``, which *is*
  ``rcn/deep_rcn`` (an ``eval`` unit that depends on it, ``same_as``) when the two rows' model and
  training configurations are equal, as in the default reading;
- ``pool/<how>/<distance>`` re-pools the frame outputs of ``rcn/pool_average``
  (``pool/fisher/similarity`` cannot run: Fisher vectors cannot feed Eq. 5);
- ``deep_metric/<method>`` uses h-bar of ``rcn/deep_rcn``;
- ``vgg/fc_gru`` trains the FC-GRU row ``fc_gru`` (and, once for all datasets and trials,
  fine-tunes VGG-16 on VIPeR: ``shared``); it cannot run without VGG-16 weights;
- ``baseline/<name>`` trains no network.

Training steps (mini-batches) of a ``train`` unit are ``epochs x ceil(pairs / batch_pairs)`` with
``pairs = people x (1 + dissimilar_per_similar)`` per epoch
(:class:`rcnreid.data.pairs.PairSampler`: one similar pair per training person seen by both
cameras, and that many dissimilar ones). The training people are read from the dataset file when
it exists (the trial's split, as training does), otherwise taken from the protocol: iLIDS-VID
150 (of 300), PRID 2011 100 (of 200; 89 of 178 with ``prid_protocol="178"``), synthetic data
half of the profile's persons. At the paper profile, iLIDS-VID: 150 people -> 300 pairs -> 30
steps x 500 epochs = 15,000 steps; PRID 2011: 100 -> 200 -> 20 x 500 = 10,000:

>>> from experiments.options import Options
>>> units = table_units("table3", Options(trials=(0,), datasets=("ilidsvid",)))
>>> [(u.key, u.kind, u.steps, u.depends) for u in units]   # doctest: +NORMALIZE_WHITESPACE
[('rcn/pool_max', 'train', 15000, ()),
 ('rcn/deep_rcn', 'train', 15000, ()),
 ('rcn/pool_average', 'eval', 0, ('rcn/deep_rcn',)),
 ('pool/fisher/euclidean', 'eval', 0, ('rcn/pool_average',)),
 ('pool/max/euclidean', 'eval', 0, ('rcn/pool_average',))]
"""
import dataclasses
import importlib
import math
import os
from typing import Optional, Tuple

from experiments.cache import cache_path, read_cached
from experiments.options import Options
from rcnreid.configs.registry import RunConfig, get_config
from rcnreid.errors import UserError

#: The tables of the paper and the module holding each one's rows; ``paper`` is all of them
#: (Fig. 5 plots Table 5's rows from the same cached units: it adds no unit).
TABLES = ("table2", "table3", "table4", "table5")
TARGETS = TABLES + ("fig5", "paper")
#: The network whose frame outputs Table 3's re-pooled rows use
#: (:data:`experiments.units.AVERAGE_ROW`).
AVERAGE_ROW = "pool_average"
#: Training people per trial when the dataset file is not there (Section 5.3: 50/50 splits).
PROTOCOL_TRAIN_PEOPLE = {"ilidsvid": 150, "prid2011": {"200": 100, "178": 89}}
#: Average frames per sequence (Section 5.1) when the dataset file is not there.
PROTOCOL_MEAN_FRAMES = {"ilidsvid": 73, "prid2011": 100}


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit of work: a cached computation of one (dataset, trial) (module docstring)."""
    key: str                            # e.g. "rcn/deep_rcn" (the runner's cache key)
    dataset: str
    trial: int
    kind: str                           # "train" | "eval"
    config: Optional[RunConfig] = None  # what a "train" unit trains
    depends: Tuple[str, ...] = ()       # keys of units of the same (dataset, trial) needed first
    steps: int = 0                      # training mini-batches (0 for "eval")
    epochs: int = 0
    steps_per_epoch: int = 0
    train_people: int = 0
    test_frames: int = 0                # frames of the test sequences a "train" unit evaluates
    same_as: Optional[str] = None       # an "eval" unit whose result is another unit's
    not_run: str = ""                   # why the runner will show it as "not run" (no work)
    shared: Tuple[str, ...] = ()        # work shared by all trials, done once (VGG fine-tuning)
    rows: Tuple[Tuple[str, str], ...] = ()   # (table, row name) that show this unit

    @property
    def id(self):
        """``<dataset>/trial<K>/<key>``: unique over a plan."""
        return "%s/trial%d/%s" % (self.dataset, self.trial, self.key)

    @property
    def config_name(self):
        return self.config.name if self.config is not None else None

    def dependency_ids(self):
        return ["%s/trial%d/%s" % (self.dataset, self.trial, k) for k in self.depends]


def table_rows(table_id):
    """The rows (:class:`experiments.options.Row`) of ``table2`` .. ``table5`` or ``fig5``."""
    if table_id == "fig5":
        table_id = "table5"
    if table_id not in TABLES:
        raise UserError("table %s: unknown; choose one of %s" % (table_id, ", ".join(TARGETS)))
    return importlib.import_module("experiments." + table_id).ROWS


def _row_config(options, row):
    return get_config(row, options.profile, reading=options.reading, overrides=options.overrides)


def steps_per_epoch(people, train_cfg):
    """Mini-batches per epoch for ``people`` training people seen by both cameras
    (:class:`rcnreid.data.pairs.PairSampler`, :func:`rcnreid.data.pairs.batches`)."""
    pairs = int(people) * (1 + train_cfg.dissimilar_per_similar)
    return int(math.ceil(pairs / float(train_cfg.batch_pairs)))


def _data_file(options, dataset):
    if options.data == "synthetic":
        from experiments.datasets import synthetic_path
        return synthetic_path(options, dataset)
    return options.ilidsvid if dataset == "ilidsvid" else options.prid


@dataclasses.dataclass(frozen=True)
class SplitSizes:
    """How big one trial's split is: training people seen by both cameras (what
    :class:`rcnreid.data.pairs.PairSampler` pairs), the frame counts of the test sequences (probe
    and gallery) and where the numbers came from (the data file, or the protocol)."""
    train_people: int
    test_lengths: Tuple[int, ...]
    source: str


def split_sizes(options, dataset, trial, prid_protocol="200"):
    """:class:`SplitSizes` of ``trial``: from the data file when it exists (its split, as
    training and evaluation read it), otherwise from the protocol (:data:`PROTOCOL_TRAIN_PEOPLE`,
    test sequences of :data:`PROTOCOL_MEAN_FRAMES` frames; synthetic data: half the profile's
    persons, sequences of the generator's mean length)."""
    path = _data_file(options, dataset)
    if os.path.isfile(path):
        import numpy as np
        from rcnreid.data.reader import ReIDDataset
        with ReIDDataset(path, preload=False) as ds:
            train, test = ds.split(trial)
            person, camera = np.asarray(ds.person), np.asarray(ds.camera)
            length = np.asarray(ds.length)
        keep = np.isin(person, train)
        both = set(person[keep & (camera == 1)].tolist()) & set(
            person[keep & (camera == 2)].tolist())
        tested = np.isin(person, test) & np.isin(camera, (1, 2))
        return SplitSizes(len(both), tuple(int(v) for v in length[tested]), path)
    if options.data == "synthetic":
        from rcnreid.data.synthetic import DEFAULT_LENGTHS
        persons = options.profile_spec.synthetic_persons or 24
        lo, hi = DEFAULT_LENGTHS[dataset]
        n_test = persons - persons // 2
        return SplitSizes(persons // 2, (int(round((lo + hi) / 2.0)),) * (2 * n_test),
                          "synthetic data, %d persons (file not built yet)" % persons)
    if dataset == "ilidsvid":
        people, total = PROTOCOL_TRAIN_PEOPLE["ilidsvid"], 300
        what = "iLIDS-VID protocol (300 persons)"
    else:
        people = PROTOCOL_TRAIN_PEOPLE["prid2011"][str(prid_protocol)]
        total = int(prid_protocol)
        what = "PRID 2011 protocol (%s persons)" % prid_protocol
    return SplitSizes(people, (PROTOCOL_MEAN_FRAMES[dataset],) * (2 * (total - people)),
                      "%s; %s not found" % (what, path))


def train_people(options, dataset, trial, prid_protocol="200"):
    """``(people, source)``: :attr:`SplitSizes.train_people` and where it came from."""
    sizes = split_sizes(options, dataset, trial, prid_protocol)
    return sizes.train_people, sizes.source


def _train_unit(key, dataset, trial, cfg, sizes):
    per = steps_per_epoch(sizes.train_people, cfg.train)
    cap = cfg.train.eval_max_len
    frames = sum(min(n, cap) if cap else n for n in sizes.test_lengths)
    return Unit(key=key, dataset=dataset, trial=trial, kind="train", config=cfg,
                steps=cfg.train.epochs * per, epochs=cfg.train.epochs, steps_per_epoch=per,
                train_people=sizes.train_people, test_frames=frames)


def unit_closure(key, options, dataset, trial, sizes, strict=True):
    """The units ``key`` computes for one (dataset, trial), its dependencies first (the order
    the runner computes them in): a list of :class:`Unit`. ``sizes``: the trial's
    :class:`SplitSizes` (None: steps are not counted). A key this module has no rule for is a
    UserError, or with ``strict=False`` a unit that depends on nothing (a test's own units)."""
    sizes = sizes or SplitSizes(0, (), "not counted")
    if key.startswith("rcn/"):
        row = key[len("rcn/"):]
        cfg = _row_config(options, row)
        if row == AVERAGE_ROW:
            base = _row_config(options, "deep_rcn")
            if (cfg.model, cfg.train) == (base.model, base.train):
                return (unit_closure("rcn/deep_rcn", options, dataset, trial, sizes)
                        + [Unit(key=key, dataset=dataset, trial=trial, kind="eval",
                                depends=("rcn/deep_rcn",), same_as="rcn/deep_rcn")])
        return [_train_unit(key, dataset, trial, cfg, sizes)]
    if key.startswith("pool/"):
        _, how, distance = key.split("/")
        if how == "fisher" and distance == "similarity":
            return [Unit(key=key, dataset=dataset, trial=trial, kind="eval",
                         not_run="Fisher vectors cannot feed Eq. 5")]
        return (unit_closure("rcn/" + AVERAGE_ROW, options, dataset, trial, sizes)
                + [Unit(key=key, dataset=dataset, trial=trial, kind="eval",
                        depends=("rcn/" + AVERAGE_ROW,))])
    if key.startswith("deep_metric/"):
        return (unit_closure("rcn/deep_rcn", options, dataset, trial, sizes)
                + [Unit(key=key, dataset=dataset, trial=trial, kind="eval",
                        depends=("rcn/deep_rcn",))])
    if key == "vgg/fc_gru":
        unit = dataclasses.replace(_train_unit(key, dataset, trial,
                                               _row_config(options, "fc_gru"), sizes),
                                   shared=("vgg16_finetune (VIPeR, once)",
                                           "fc7 features (once per dataset)"))
        if not options.vgg16_weights:
            unit = dataclasses.replace(unit, not_run="no VGG-16 weights (VGG16_WEIGHTS)")
        elif not os.path.exists(options.vgg16_weights):
            unit = dataclasses.replace(unit, not_run="VGG16_WEIGHTS=%s: file not found"
                                       % options.vgg16_weights)
        return [unit]
    if key.startswith("baseline/"):
        return [Unit(key=key, dataset=dataset, trial=trial, kind="eval")]
    if not strict:
        return [Unit(key=key, dataset=dataset, trial=trial, kind="eval")]
    raise UserError("unit %s: not known to experiments.unit_graph; add its rule there and in "
                    "experiments.units" % key)


def _chosen_rows(table_id, rows, options, strict):
    """The rows ``options.rows`` (``--row``) selects; all when it is empty. ``strict``: an
    unknown name is a UserError, as in :func:`experiments.runner.run_table`."""
    if not options.rows:
        return list(rows)
    names = {r.name for r in rows}
    unknown = [n for n in options.rows if n not in names]
    if strict and unknown:
        raise UserError("--row %s: not a row of %s; rows are: %s"
                        % (", ".join(unknown), table_id, "; ".join(sorted(names))))
    return [r for r in rows if r.name in options.rows]


def table_units(table_id, options, prid_protocol="200", count_steps=True):
    """Every unit that ``python -m experiments.<table_id>`` computes under ``options``
    (:class:`experiments.options.Options`): a list of :class:`Unit`, dependencies first, each
    (dataset, trial, key) once, in the runner's order (dataset, trial, row).
    ``count_steps=False`` reads no data file (steps 0)."""
    rows = _chosen_rows(table_id, table_rows(table_id), options, True)
    return units_of_rows([(_name(table_id), rows)], options, prid_protocol, count_steps)


def paper_units(options, prid_protocol="200", count_steps=True):
    """The units of Tables 2-5 and Fig. 5 together (each once: the tables share units)."""
    return units_of_rows([(t, _chosen_rows(t, table_rows(t), options, False)) for t in TABLES],
                         options, prid_protocol, count_steps)


def target_units(target, options, prid_protocol="200", count_steps=True):
    """:func:`table_units` of a table or ``fig5``, :func:`paper_units` for ``paper``."""
    if target == "paper":
        return paper_units(options, prid_protocol, count_steps)
    return table_units(target, options, prid_protocol, count_steps)


def _name(table_id):
    return "table5" if table_id == "fig5" else table_id


def units_of_rows(tables, options, prid_protocol="200", count_steps=True, strict=True):
    """The units of ``tables``, a list of ``(table name, rows)``, each unit once (the runner's
    order: table, dataset, trial, row; a unit's dependencies before it); ``strict``: as
    :func:`unit_closure`."""
    out, index, sizes = [], {}, {}
    for name, rows in tables:
        for dataset in options.datasets:
            for trial in options.trials:
                if count_steps and (dataset, trial) not in sizes:
                    sizes[dataset, trial] = split_sizes(options, dataset, trial, prid_protocol)
                for row in rows:
                    closure = unit_closure(row.unit_key(options), options, dataset, trial,
                                           sizes.get((dataset, trial)), strict)
                    for i, unit in enumerate(closure):
                        uid = unit.id
                        if uid not in index:
                            index[uid] = len(out)
                            out.append(unit)
                        if i == len(closure) - 1:       # the row's own unit
                            j = index[uid]
                            out[j] = dataclasses.replace(out[j],
                                                         rows=out[j].rows + ((name, row.name),))
    return out


def is_finished(options, unit):
    """Whether ``unit``'s result is in the runner's cache of ``options.results`` (the runner
    then reuses it and computes nothing: :func:`experiments.runner.compute_unit`)."""
    return read_cached(options, unit.dataset, unit.trial, unit.key) is not None


def result_path(options, unit):
    """The cache file that holds ``unit``'s result once it is finished."""
    return cache_path(options, unit.dataset, unit.trial, unit.key)


def unit_dict(unit, options=None):
    """Plain data for JSON (``--json`` of the plan; job schedulers)."""
    d = {"id": unit.id, "key": unit.key, "dataset": unit.dataset, "trial": unit.trial,
         "kind": unit.kind, "config_name": unit.config_name,
         "config": unit.config.to_dict() if unit.config is not None else None,
         "depends": [i for i in unit.dependency_ids()], "steps": unit.steps,
         "epochs": unit.epochs, "steps_per_epoch": unit.steps_per_epoch,
         "train_people": unit.train_people, "test_frames": unit.test_frames,
         "same_as": unit.same_as, "not_run": unit.not_run,
         "shared": list(unit.shared), "rows": [list(r) for r in unit.rows]}
    if options is not None:
        d["finished"] = is_finished(options, unit)
        d["result"] = result_path(options, unit)
    return d


__all__ = ["Unit", "SplitSizes", "Options", "TABLES", "TARGETS", "table_units", "paper_units",
           "target_units", "units_of_rows", "unit_closure", "steps_per_epoch", "split_sizes",
           "train_people", "is_finished", "result_path", "unit_dict", "table_rows"]
