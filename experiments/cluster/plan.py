"""The units of work of a table (or the paper) as a cluster sees them: one task per unit x
dataset x trial, with the units it waits for, whether it trains, and how many training steps.

The units, their dependencies and steps are :mod:`experiments.unit_graph`'s (the static
description of what the runner computes); this module only adds what a scheduler needs on top:
whether the unit runs a network (and so wants a GPU), and leaving out units that would only fail
(``not_run``: no VGG-16 weights) or are finished already.
"""
import dataclasses

from experiments import unit_graph

#: What can be submitted: a table, ``fig5`` (Table 5's units) or ``paper`` (all).
TARGETS = unit_graph.TARGETS


@dataclasses.dataclass(frozen=True)
class PlannedUnit:
    """One unit of work of one dataset and trial, as one SLURM task."""
    key: str                 # e.g. "rcn/deep_rcn"
    dataset: str
    trial: int
    kind: str                # "train" (trains a network) or "eval"
    deps: tuple = ()         # keys of the units of the same dataset and trial it waits for
    config: str = ""         # registry row trained ("deep_rcn"), "" when it trains nothing
    steps: int = 0           # training steps (mini-batches)
    uses_network: bool = False   # trains or runs a network (feature extraction): wants a GPU

    @property
    def name(self):
        return "%s/trial%d/%s" % (self.dataset, self.trial, self.key)


def _planned(u):
    return PlannedUnit(key=u.key, dataset=u.dataset, trial=u.trial, kind=u.kind,
                       deps=tuple(u.depends), config=u.config_name or "", steps=u.steps,
                       uses_network=u.kind == "train" or bool(u.depends))


def plan(targets, options):
    """Every unit the targets need (:func:`experiments.unit_graph.target_units`) for
    ``options``' datasets, trials and rows, dependencies first, each once; units the runner would
    show as "not run" (``vgg/fc_gru`` without weights) are left out."""
    out, seen = [], set()
    for target in targets:
        for u in unit_graph.target_units(target, options):
            if u.id in seen or u.not_run:
                continue
            seen.add(u.id)
            out.append(_planned(u))
    return out


def finished(options, unit):
    """True when ``unit``'s result is in ``options.results``' cache (never recomputed)."""
    from experiments.cache import read_cached
    return read_cached(options, unit.dataset, unit.trial, unit.key) is not None
