"""The unit cache: one JSON file per (run tag, dataset, trial, unit), written atomically.

``<results>/cache/<run tag>/<dataset>/trial<K>/<unit>.json`` (:attr:`Options.run_tag` separates
data, profile, reading and overrides). A result is written the moment its unit finishes, so a
second run skips finished trials and an interrupted run resumes; :func:`unit_lock` makes a
second process that wants the same unit wait for the first and reuse its result.
"""
import contextlib
import json
import os

import numpy as np

from experiments.options import CMC_LENGTH


def _safe(key):
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in key)


def cache_path(options, dataset, trial, key):
    return os.path.join(options.results, "cache", options.run_tag, dataset, "trial%d" % trial,
                        _safe(key) + ".json")


def read_cached(options, dataset, trial, key):
    path = cache_path(options, dataset, trial, key)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError:      # written atomically, so this is a foreign/corrupt file: recompute
        return None


@contextlib.contextmanager
def unit_lock(path, log=None):
    """Serialise two processes (e.g. SLURM array tasks) that want the same unit: the second
    waits for the first (:func:`rcnreid.store.locks.hold`) and then reuses its result."""
    from rcnreid.store.locks import hold
    with hold(path, "experiment unit", wait=True, log=log):
        yield


def as_percent_cmc(cmc, length=CMC_LENGTH):
    """A CMC curve as percentages over ranks 1..length.

    Accepts fractions (max <= 1) or percentages. A gallery smaller than ``length`` (tiny synthetic
    data) is padded with its last value, which is 100: every probe is matched by then.
    """
    c = np.asarray(cmc, dtype=np.float64).ravel()
    if c.size == 0:
        raise ValueError("empty CMC curve")
    if c.max() <= 1.0 + 1e-9:
        c = c * 100.0
    if c.size < length:
        c = np.concatenate([c, np.full(length - c.size, c[-1])])
    return [float(v) for v in c[:length]]
