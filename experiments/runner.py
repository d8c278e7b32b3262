"""The one runner shared by the table and figure scripts: trials, caching, reporting.

A table is a list of :class:`Row` objects. Each row names a *unit*: a cached computation for one
(dataset, trial) that returns a CMC curve (``experiments.units`` holds the real ones). Rows that
need the same work name the same unit, so it runs once: Table 3's "Average pooling" and Table 4's
"Deep RCN" are Table 2's "Deep RCN (5 x 5, 5 x 5)" unit; Table 5's "Deep RCN+KISSME/LFDA" reuse
the trained Deep RCN of that trial.

Every unit result is written atomically to ``<results>/cache/<data>-<profile>/<dataset>/trial<K>/``
as soon as it finishes, so a second run skips finished trials and an interrupted run resumes.
A unit that raises :class:`RowNotRun` (e.g. no VGG-16 weights) or any other error is shown as
"not run" with the reason; the error is recorded in ``<results>/tableN.json``, never dropped.

Numbers are CMC matching rates in percent (Section 5.3: the average CMC over 10 random 50/50
person splits); a table cell holds mean +- std over the finished trials, the paper's number and the
difference.
"""
import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
import traceback

import numpy as np

from rcnreid.atomic import write_json, write_text
from rcnreid.errors import UserError

HERE = os.path.dirname(os.path.abspath(__file__))
PAPER_NUMBERS = os.path.join(HERE, "paper_numbers.json")
DATASETS = ("ilidsvid", "prid2011")
RANKS = (1, 5, 10, 20)
CMC_LENGTH = 20          # stored CMC curves run over ranks 1..20 (Fig. 5)


class RowNotRun(Exception):
    """A row that cannot run here, with the reason shown in the table (e.g. missing weights)."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One table row: its name as in the paper and the unit that computes it.

    ``unit`` may hold ``{option}`` fields of :class:`Options` (e.g. ``"pool/max/{pool_distance}"``)
    so that results computed under different options are cached apart.
    """
    name: str
    unit: str

    def unit_key(self, options):
        return self.unit.format(**dataclasses.asdict(options))


@dataclasses.dataclass(frozen=True)
class Profile:
    """How big a run is. ``train_profile`` is handed to ``rcnreid.train.run_trial``.

    ``synthetic_persons`` sizes the built-in synthetic datasets (None: the generator's default).
    """
    name: str
    train_profile: str
    synthetic_persons: object = None
    fisher_components: int = 16
    pca_dim: int = 128


#: ``paper``: Section 5 settings; ``quick``: a CPU-sized run; ``test``: the tests' tiny run.
PROFILES = {
    "paper": Profile("paper", train_profile="paper", synthetic_persons=None,
                     fisher_components=16, pca_dim=128),
    "quick": Profile("quick", train_profile="quick", synthetic_persons=24,
                     fisher_components=4, pca_dim=32),
    "test": Profile("test", train_profile="test", synthetic_persons=8,
                    fisher_components=2, pca_dim=8),
}


@dataclasses.dataclass
class Options:
    """Everything a table run needs; built from the command line by :func:`parse_args`."""
    data: str = "real"                 # "real" | "synthetic"
    profile: str = "paper"
    trials: tuple = tuple(range(10))
    jobs: int = 1
    datasets: tuple = DATASETS
    rows: tuple = ()                   # row names to compute (empty: all)
    ilidsvid: str = "data/ilidsvid.h5"
    prid: str = "data/prid2011.h5"
    results: str = "results"
    seed: int = 0
    collect_only: bool = False         # build the table from finished trials, compute nothing
    vgg16_weights: str = ""
    pool_distance: str = "euclidean"   # Table 3 max/FV pooling: "euclidean" | "similarity" (Eq. 5)

    @property
    def profile_spec(self):
        return PROFILES[self.profile]

    @property
    def run_tag(self):
        return "%s-%s" % (self.data, self.profile)


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


# ----------------------------------------------------------------------------------------------
# paper numbers

def load_paper_numbers(path=PAPER_NUMBERS):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def paper_rows(table_id, path=PAPER_NUMBERS):
    """``{row name: {dataset: [R1, R5, R10, R20] or None entries}}`` for one table."""
    tables = load_paper_numbers(path)["tables"]
    return {r["name"]: {d: r.get(d) for d in DATASETS} for r in tables[table_id]["rows"]}


def paper_title(table_id, path=PAPER_NUMBERS):
    return load_paper_numbers(path)["tables"][table_id]["title"]


# ----------------------------------------------------------------------------------------------
# the unit cache

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
def unit_lock(path):
    """Serialise two processes (e.g. SLURM array tasks) that want the same unit."""
    try:
        import fcntl
    except ImportError:     # pragma: no cover - not POSIX
        yield
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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


def compute_unit(ctx, key):
    """Return the cached result of unit ``key`` for ``ctx``'s dataset and trial, computing it once.

    The result is a dict with at least ``cmc`` (percent, ranks 1..20); it is written atomically
    the moment it is computed.
    """
    opts = ctx.options
    cached = read_cached(opts, ctx.dataset, ctx.trial, key)
    if cached is not None:
        return cached
    if opts.collect_only:
        raise RowNotRun("pending: trial %d not computed yet" % ctx.trial)
    if key not in ctx.units:
        raise RowNotRun("no code for unit %r" % key)
    path = cache_path(opts, ctx.dataset, ctx.trial, key)
    with unit_lock(path):
        cached = read_cached(opts, ctx.dataset, ctx.trial, key)     # another process finished it
        if cached is not None:
            return cached
        t0 = time.time()
        ctx.log("[%s trial %d] %s ..." % (ctx.dataset, ctx.trial, key))
        result = dict(ctx.units[key](ctx))
        result["cmc"] = as_percent_cmc(result["cmc"])
        result.update(unit=key, dataset=ctx.dataset, trial=ctx.trial, seconds=time.time() - t0,
                      data=opts.data, profile=opts.profile)
        write_json(path, result)
        ctx.log("[%s trial %d] %s done in %.0f s: rank-1 %.1f%%"
                % (ctx.dataset, ctx.trial, key, result["seconds"], result["cmc"][0]))
        return result


# ----------------------------------------------------------------------------------------------
# datasets

def dataset_path(options, dataset):
    """The HDF5 file for ``dataset``: the user's file (DATA=real) or the built-in synthetic one."""
    if options.data == "synthetic":
        return synthetic_path(options, dataset)
    path = options.ilidsvid if dataset == "ilidsvid" else options.prid
    if not os.path.exists(path):
        opt = "ILIDSVID_H5" if dataset == "ilidsvid" else "PRID_H5"
        raise UserError("%s: %s file not found; build it with `make data` (see docs/DATA.md), "
                        "set %s=..., or use DATA=synthetic" % (path, dataset, opt))
    return path


def synthetic_path(options, dataset):
    persons = options.profile_spec.synthetic_persons
    return os.path.join(options.results, "data", "synthetic-%s-%s.h5"
                        % (dataset, persons if persons else "default"))


def ensure_synthetic(options, dataset, log=print):
    """Build the synthetic HDF5 file for ``dataset`` once (atomic; reused by every table)."""
    path = synthetic_path(options, dataset)
    if os.path.exists(path):
        return path
    try:
        from data_prep.synth import make_synthetic_h5
    except ImportError as exc:
        raise RowNotRun("no synthetic data generator (data_prep.synth): %s" % exc)
    persons = options.profile_spec.synthetic_persons
    kw = {"layout": dataset, "seed": 0}
    if persons:
        kw["persons"] = persons
    log("building synthetic %s dataset %s" % (dataset, path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    from rcnreid.atomic import atomic_path
    with atomic_path(path, suffix=".h5") as tmp:
        os.unlink(tmp)
        make_synthetic_h5(tmp, **kw)
    return path


# ----------------------------------------------------------------------------------------------
# running

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
            path = ensure_synthetic(options, dataset, log)
        else:
            path = dataset_path(options, dataset)
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
            log("[%s trial %d] %s failed: %s" % (dataset, trial, row.name, exc))
            out[row.name] = {"ok": False, "reason": _short_error(exc),
                             "error": traceback.format_exc()}
    return out


def _visible_gpus():
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return [g for g in cvd.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import subprocess
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]
    except (OSError, subprocess.SubprocessError):
        return []


def _worker_init(gpu_queue):
    """Pin a worker process to one GPU (before Theano is imported in it)."""
    gpu = gpu_queue.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def _worker(args):
    options, rows, units_ref, dataset, trial = args
    units = _resolve_units(units_ref)
    return dataset, trial, run_trial_rows(options, rows, units, dataset, trial)


def _resolve_units(ref):
    """Units travel to worker processes by name (``module:attribute``) since they may be closures."""
    if isinstance(ref, str):
        import importlib
        mod, attr = ref.split(":")
        return getattr(importlib.import_module(mod), attr)
    return ref


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
    units_dict = _resolve_units(units)
    if options.data == "real" and not options.collect_only:
        for d in options.datasets:
            dataset_path(options, d)           # UserError before any work
    if options.data == "synthetic" and not options.collect_only:
        for d in options.datasets:      # once, before any worker process wants it
            try:
                ensure_synthetic(options, d, log)
            except Exception:  # noqa: BLE001 - reported per row by run_trial_rows
                pass
    tasks = [(d, t) for d in options.datasets for t in options.trials]
    status = {}
    if options.jobs > 1 and len(tasks) > 1 and not options.collect_only:
        import concurrent.futures
        import multiprocessing
        mpctx = multiprocessing.get_context("spawn")
        gpus = _visible_gpus()
        queue = mpctx.Manager().Queue()
        for i in range(options.jobs):
            queue.put(gpus[i % len(gpus)] if len(gpus) > 1 else None)
        log("%s: %d (dataset, trial) tasks in %d processes%s"
            % (table_id, len(tasks), options.jobs,
               (" over GPUs " + ",".join(gpus)) if len(gpus) > 1 else ""))
        with concurrent.futures.ProcessPoolExecutor(options.jobs, mp_context=mpctx,
                                                    initializer=_worker_init,
                                                    initargs=(queue,)) as pool:
            futs = [pool.submit(_worker, (options, todo, units, d, t)) for d, t in tasks]
            for fut in concurrent.futures.as_completed(futs):
                d, t, st = fut.result()
                status[(d, t)] = st
                log("%s: %s trial %d finished" % (table_id, d, t))
    else:
        for d, t in tasks:
            status[(d, t)] = run_trial_rows(options, todo, units_dict, d, t, log=log)
    # The table always shows every row, from whatever is cached (also rows not asked for now).
    report = build_report(table_id, rows, options, status, units_dict)
    write_outputs(table_id, report, options.results, log=log)
    return report


# ----------------------------------------------------------------------------------------------
# reporting

def build_report(table_id, rows, options, status, units):
    """Aggregate per-trial CMCs into mean +- std per row and dataset, next to the paper's."""
    paper = paper_rows(table_id)
    out_rows = []
    for row in rows:
        key = row.unit_key(options)
        entry = {"name": row.name, "unit": key, "paper": paper.get(row.name), "ours": {}}
        for d in options.datasets:
            per_trial, errors = {}, {}
            for t in options.trials:
                st = status.get((d, t), {}).get(row.name)
                if st is None:      # not asked for in this run: use the cache if it is there
                    cached = read_cached(options, d, t, key)
                    if cached is not None:
                        per_trial[t] = cached["cmc"]
                    else:
                        errors[t] = {"reason": "not run: trial %d not computed yet" % t,
                                     "error": None}
                elif st["ok"]:
                    per_trial[t] = st["cmc"]
                else:
                    errors[t] = {"reason": st["reason"], "error": st.get("error")}
            cell = {"trials_done": sorted(per_trial), "per_trial": {str(k): v for k, v in
                                                                   sorted(per_trial.items())},
                    "errors": {str(k): v for k, v in sorted(errors.items())}}
            if per_trial:
                arr = np.array([per_trial[t] for t in sorted(per_trial)])
                cell["mean_cmc"] = arr.mean(axis=0).tolist()
                cell["std_cmc"] = arr.std(axis=0).tolist()        # population std over trials
                cell["mean"] = [cell["mean_cmc"][r - 1] for r in RANKS]
                cell["std"] = [cell["std_cmc"][r - 1] for r in RANKS]
                cell["status"] = "ok" if not errors else "partial"
            else:
                cell["status"] = "not run"
            reasons = sorted({e["reason"] for e in errors.values()})
            cell["reason"] = "; ".join(reasons)
            entry["ours"][d] = cell
        out_rows.append(entry)
    return {"table": table_id, "title": paper_title(table_id), "data": options.data,
            "profile": options.profile, "trials": list(options.trials),
            "datasets": list(options.datasets), "ranks": list(RANKS),
            "units": "percent", "std": "population std over finished trials",
            "rows": out_rows}


def _fmt(v):
    return "%.1f" % v


def format_cell(mean, std, paper):
    """``"41.2 ± 3.0 (paper 42.6, Δ -1.4)"``; the paper part is ``paper -`` when not reported."""
    ours = "%s ± %s" % (_fmt(mean), _fmt(std)) if mean is not None else "not run"
    if paper is None:
        return "%s (paper -)" % ours
    if mean is None:
        return "%s (paper %s)" % (ours, _fmt(paper))
    return "%s (paper %s, Δ %+.1f)" % (ours, _fmt(paper), mean - paper)


def render_markdown(report):
    """One Markdown table per dataset: rows x ranks, each cell ours, paper, difference."""
    names = load_paper_numbers()["datasets"]
    lines = ["# %s" % report["title"], "",
             "Ours: mean ± std of the CMC matching rate (%%) over the finished trials; "
             "DATA=%s, PROFILE=%s, trials %s." % (report["data"], report["profile"],
                                                   ",".join(map(str, report["trials"]))),
             "Each cell: ours (paper, Δ = ours - paper). '-' = not reported in the paper.", ""]
    for d in report["datasets"]:
        lines += ["## %s" % names.get(d, d), "",
                  "| Method | Trials | " + " | ".join("R = %d" % r for r in report["ranks"])
                  + " | Note |",
                  "|---|---|" + "---|" * len(report["ranks"]) + "---|"]
        for row in report["rows"]:
            cell = row["ours"][d]
            paper = (row["paper"] or {}).get(d) or [None] * len(report["ranks"])
            if cell["status"] == "not run":
                vals = [format_cell(None, None, p) for p in paper]
            else:
                vals = [format_cell(m, s, p) for m, s, p in zip(cell["mean"], cell["std"], paper)]
            note = cell["reason"].replace("|", "/")
            lines.append("| %s | %d/%d | %s | %s |" % (row["name"], len(cell["trials_done"]),
                                                        len(report["trials"]), " | ".join(vals),
                                                        note))
        lines.append("")
    return "\n".join(lines)


def write_outputs(table_id, report, results, log=print):
    md = render_markdown(report)
    write_json(os.path.join(results, table_id + ".json"), report)
    write_text(os.path.join(results, table_id + ".md"), md + "\n")
    log(md)
    log("wrote %s and %s" % (os.path.join(results, table_id + ".md"),
                             os.path.join(results, table_id + ".json")))


# ----------------------------------------------------------------------------------------------
# command line

def _parse_trials(text):
    """``"3"`` -> trials 0..2 (TRIALS=N); ``"0,4,7"`` or ``"2-5"`` -> those trial numbers."""
    text = str(text).strip()
    try:
        if "," in text or "-" in text:
            out = []
            for part in text.split(","):
                if "-" in part:
                    a, b = part.split("-")
                    out += list(range(int(a), int(b) + 1))
                else:
                    out.append(int(part))
        else:
            n = int(text)
            if not 1 <= n <= 10:
                raise ValueError
            out = list(range(n))
    except ValueError:
        raise UserError("--trials %s: expected a count 1..10 or trial numbers like 0,3 or 2-5"
                        % text)
    if any(not 0 <= t <= 9 for t in out):
        raise UserError("--trials %s: trial numbers are 0..9" % text)
    return tuple(sorted(set(out)))


def build_parser(table_id, description):
    p = argparse.ArgumentParser(prog="experiments/%s.py" % table_id, description=description)
    p.add_argument("--data", choices=("real", "synthetic"),
                   default=os.environ.get("DATA", "real"),
                   help="real: the HDF5 files of `make data`; synthetic: built-in data (no downloads)")
    p.add_argument("--profile", choices=sorted(PROFILES),
                   default=os.environ.get("PROFILE", "paper"),
                   help="paper: Section 5 settings; quick: CPU-sized; test: tiny (the tests)")
    p.add_argument("--trials", default=os.environ.get("TRIALS", "10"),
                   help="number of trials (1..10, runs trials 0..N-1) or trial numbers (0,3 / 2-5)")
    p.add_argument("--trial", type=int, default=None,
                   help="run this one trial (0..9) only, e.g. one SLURM array task")
    p.add_argument("--row", action="append", default=[],
                   help="run only this row (repeatable); the table still shows every row")
    p.add_argument("--dataset", action="append", default=[], choices=DATASETS,
                   help="run only this dataset (repeatable; default both)")
    p.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "1")),
                   help="(dataset, trial) tasks in parallel processes, one per GPU if several")
    p.add_argument("--ilidsvid", default=os.environ.get("ILIDSVID_H5", "data/ilidsvid.h5"))
    p.add_argument("--prid", default=os.environ.get("PRID_H5", "data/prid2011.h5"))
    p.add_argument("--results", default=os.environ.get("RESULTS", "results"))
    p.add_argument("--seed", type=int, default=0, help="base seed (trial K uses seed*1000+K)")
    p.add_argument("--collect", action="store_true",
                   help="compute nothing: build the table from the finished trials in --results")
    p.add_argument("--vgg16-weights", default=os.environ.get("VGG16_WEIGHTS", ""),
                   help="VGG-16 weights file for the VGG 16 + FC-GRU row (env VGG16_WEIGHTS)")
    p.add_argument("--pool-distance", choices=("euclidean", "similarity"), default="euclidean",
                   help="Table 3 max/Fisher pooling: Euclidean distance of L2-normalised pooled "
                        "vectors, or the learned similarity of Eq. 5 (max pooling only)")
    return p


def options_from_args(args):
    if args.trial is not None:
        if not 0 <= args.trial <= 9:
            raise UserError("--trial %d: trial numbers are 0..9" % args.trial)
        trials = (args.trial,)
    else:
        trials = _parse_trials(args.trials)
    if args.jobs < 1:
        raise UserError("--jobs %d: must be at least 1" % args.jobs)
    return Options(data=args.data, profile=args.profile, trials=trials, jobs=args.jobs,
                   datasets=tuple(args.dataset) or DATASETS, rows=tuple(args.row),
                   ilidsvid=args.ilidsvid, prid=args.prid, results=args.results, seed=args.seed,
                   collect_only=args.collect, vgg16_weights=args.vgg16_weights,
                   pool_distance=args.pool_distance)


def main(table_id, rows, argv=None, description=None, units="experiments.units:UNITS",
         after=None):
    """Entry point of ``experiments/tableN.py``; returns an exit status.

    ``after(report, options)`` runs once the table is written (Fig. 5 draws its plot there).
    """
    parser = build_parser(table_id, description or paper_title(table_id))
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
        report = run_table(table_id, rows, options, units=units)
        if after is not None:
            after(report, options)
    except UserError as exc:
        print("%s: error: %s" % (table_id, exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("%s: interrupted; finished trials are saved, run again to resume" % table_id,
              file=sys.stderr)
        return 130
    return 0
