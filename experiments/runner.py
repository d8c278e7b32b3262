"""The orchestration shared by the table and figure scripts: every row x dataset x trial of a
table, computed once and cached, then reported.

A table is a list of :class:`~experiments.options.Row` objects. Each row names a *unit*: a cached
computation for one (dataset, trial) that returns a CMC curve (``experiments.units`` holds the
real ones). Rows that need the same work name the same unit, so it runs once: Table 3's "Average
pooling" and Table 4's "Deep RCN" are Table 2's "Deep RCN (5 x 5, 5 x 5)" unit; Table 5's "Deep
RCN+KISSME/LFDA" reuse the trained Deep RCN of that trial.

Where each part lives: the options and rows in ``experiments/options.py``, the result cache and
its lock in ``cache.py``, the data files in ``datasets.py``, the process pool with GPU pinning in
``pool.py``, the aggregation and Markdown in ``table_report.py``, the command line in ``cli.py``.

A unit that raises :class:`RowNotRun` (e.g. no VGG-16 weights) or any other error is shown as
"not run" with the reason; the error is recorded in ``<results>/tableN.json``, never dropped.
A training stopped by SIGTERM / SIGINT / SIGUSR1 (:mod:`experiments.interrupts`) writes its
checkpoint and stops the whole run: the command exits with status 75, and running it again
resumes bit-exactly (one unit alone: ``python -m experiments.unit``; on SLURM:
``experiments.cluster``).
"""
import dataclasses
import os
import time
import traceback

from experiments import datasets
from experiments.cache import as_percent_cmc, cache_path, read_cached, unit_lock
from experiments.device_time import device_label
from experiments.interrupts import interrupt_guard, is_interrupted
from experiments.options import DATASETS, Options, Row, RowNotRun  # noqa: F401 - the vocabulary
from experiments.pool import resolve_units, run_in_processes
from experiments.table_report import build_report, write_outputs
from rcnreid.store.atomic import write_json
from rcnreid.errors import UserError


@dataclasses.dataclass
class Context:
    """What a unit function receives for one (dataset, trial)."""
    options: Options
    dataset: str            # "ilidsvid" | "prid2011"
    data_path: str
    trial: int
    units: dict
    log: object = print

    @property
    def profile(self):
        """The registry's :class:`rcnreid.configs.registry.Profile` of this run."""
        return self.options.profile_spec

    @property
    def seed(self):
        return self.options.seed * 1000 + self.trial

    def run_dir(self, *parts):
        """Folder for this trial's model runs / features, shared by all tables."""
        return os.path.join(self.options.results, "runs", self.options.run_tag, self.dataset,
                            *parts, "trial%d" % self.trial)

    def unit(self, key):
        """The (cached) result of another unit of the same dataset and trial."""
        return compute_unit(self, key)


#: Seconds spent in units computed inside the unit being computed now (one list per open
#: ``compute_unit`` call of this process): what a unit's ``own_seconds`` leaves out.
_NESTED = []


def compute_unit(ctx, key):
    """Return the cached result of unit ``key`` for ``ctx``'s dataset and trial, computing it once.

    The result is a dict with at least ``cmc`` (percent, ranks 1..20); it is written atomically
    the moment it is computed, with the data, profile, reading and overrides it was computed under,
    its wall ``seconds`` (units it computed on the way included), ``own_seconds`` (without them:
    what the unit itself took) and the ``device`` it ran on
    (:func:`experiments.device_time.device_label`).
    """
    t_enter = time.time()
    try:
        return _compute_unit(ctx, key)
    finally:
        if _NESTED:         # the caller is a unit: this call's time is not its own
            _NESTED[-1].append(time.time() - t_enter)


def _compute_unit(ctx, key):
    opts = ctx.options
    cached = read_cached(opts, ctx.dataset, ctx.trial, key)
    if cached is not None:
        return cached
    if opts.collect_only:
        raise RowNotRun("pending: trial %d not computed yet" % ctx.trial)
    if key not in ctx.units:
        raise RowNotRun("no code for unit %r" % key)
    path = cache_path(opts, ctx.dataset, ctx.trial, key)
    with unit_lock(path, log=ctx.log):
        cached = read_cached(opts, ctx.dataset, ctx.trial, key)     # another process finished it
        if cached is not None:
            return cached
        t0 = time.time()
        ctx.log("[%s trial %d] %s ..." % (ctx.dataset, ctx.trial, key))
        _NESTED.append([])
        try:
            result = dict(ctx.units[key](ctx))
        finally:
            nested = sum(_NESTED.pop())
        seconds = time.time() - t0
        result["cmc"] = as_percent_cmc(result["cmc"])
        result.update(unit=key, dataset=ctx.dataset, trial=ctx.trial, seconds=seconds,
                      own_seconds=max(0.0, seconds - nested), device=device_label(),
                      data=opts.data, profile=opts.profile, reading=opts.reading,
                      overrides=list(opts.overrides))
        write_json(path, result)
        ctx.log("[%s trial %d] %s done in %.0f s: rank-1 %.1f%%"
                % (ctx.dataset, ctx.trial, key, result["seconds"], result["cmc"][0]))
        return result


def _short_error(exc):
    if isinstance(exc, RowNotRun):
        return "not run: %s" % exc
    msg = str(exc).strip().splitlines()
    return "not run: %s: %s" % (type(exc).__name__, msg[0] if msg else "")


def run_trial_rows(options, rows, units, dataset, trial, log=print):
    """Compute every row for one (dataset, trial); return ``{row name: status dict}``.

    Status dicts: ``{"ok": True, "cmc": [...]}`` or ``{"ok": False, "reason": ..., "error": ...}``.
    """
    out = {}
    try:
        if options.collect_only:
            path = None
        elif options.data == "synthetic":
            path = datasets.ensure_synthetic(options, dataset, log)
        else:
            path = datasets.dataset_path(options, dataset)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - shown in the table, not swallowed
        err = traceback.format_exc()
        return {r.name: {"ok": False, "reason": _short_error(exc), "error": err} for r in rows}
    ctx = Context(options=options, dataset=dataset, data_path=path, trial=trial, units=units,
                  log=log)
    for row in rows:
        try:
            res = compute_unit(ctx, row.unit_key(options))
            out[row.name] = {"ok": True, "cmc": res["cmc"]}
        except RowNotRun as exc:
            out[row.name] = {"ok": False, "reason": _short_error(exc), "error": None}
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - incl. UserError raised inside a row
            if is_interrupted(exc):     # a signal stopped a training: the process stops (75)
                raise
            log("[%s trial %d] %s failed: %s" % (dataset, trial, row.name, exc))
            out[row.name] = {"ok": False, "reason": _short_error(exc),
                             "error": traceback.format_exc()}
    return out


def _dataset_info(options, log):
    """``{dataset: describe_dataset(file)}`` for the report (files that exist only)."""
    info = {}
    for d in options.datasets:
        try:
            path = datasets.dataset_path(options, d)
        except UserError as exc:
            info[d] = {"error": str(exc)}
            continue
        info[d] = (datasets.describe_dataset(path) if os.path.exists(path)
                   else {"path": path, "error": "file not found"})
    return info


def run_table(table_id, rows, options, units="experiments.units:UNITS", log=print):
    """Run (or collect) every row x dataset x trial of one table and write its outputs.

    Returns the report dict that is also written to ``<results>/<table_id>.json``.
    ``units`` is a dict or a ``"module:attribute"`` reference to one (needed for JOBS > 1).
    """
    if options.rows:
        known = {r.name for r in rows}
        unknown = [n for n in options.rows if n not in known]
        if unknown:
            raise UserError("--row %s: not a row of %s; rows are: %s"
                            % (", ".join(unknown), table_id, "; ".join(sorted(known))))
        todo = [r for r in rows if r.name in options.rows]
    else:
        todo = list(rows)
    units_dict = resolve_units(units)
    if options.data == "real" and not options.collect_only:
        for d in options.datasets:
            datasets.dataset_path(options, d)           # UserError before any work
    if options.data == "synthetic" and not options.collect_only:
        for d in options.datasets:      # once, before any worker process wants it
            try:
                datasets.ensure_synthetic(options, d, log)
            except Exception:  # noqa: BLE001 - reported per row by run_trial_rows
                pass
    tasks = [(d, t) for d in options.datasets for t in options.trials]
    if options.jobs > 1 and len(tasks) > 1 and not options.collect_only:
        status = run_in_processes(table_id, tasks, options, todo, units, run_trial_rows, log=log)
    else:
        with interrupt_guard():     # SIGTERM: the training checkpoints, the process exits 75
            status = {(d, t): run_trial_rows(options, todo, units_dict, d, t, log=log)
                      for d, t in tasks}
    # The table always shows every row, from whatever is cached (also rows not asked for now).
    report = build_report(table_id, rows, options, status, _dataset_info(options, log))
    write_outputs(table_id, report, options.results, log=log)
    return report
