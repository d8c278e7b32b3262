"""A table's report: per-trial CMCs aggregated into mean +- std beside the paper's numbers,
written as ``<results>/tableN.json`` and ``<results>/tableN.md``.

Numbers are CMC matching rates in percent (Section 5.3: the average CMC over 10 random 50/50
person splits); a cell holds mean +- std over the finished trials, the paper's number and the
difference. Every report records what its numbers came from: data, profile, reading, ``--set``
overrides, and per dataset the protocol and split source recorded in its HDF5 file, beside the
protocol the paper evaluated (:data:`experiments.datasets.PAPER_PROTOCOLS`), and the device time
its finished units took (``device_time``, :mod:`experiments.device_time`).
"""
import json
import os

import numpy as np

from experiments.cache import read_cached
from experiments.datasets import PAPER_PROTOCOLS
from experiments.device_time import format_device_time, table_device_time
from experiments.options import DATASETS, RANKS
from rcnreid.store.atomic import write_json, write_text

HERE = os.path.dirname(os.path.abspath(__file__))
PAPER_NUMBERS = os.path.join(HERE, "paper_numbers.json")


def load_paper_numbers(path=PAPER_NUMBERS):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def paper_rows(table_id, path=PAPER_NUMBERS):
    """``{row name: {dataset: [R1, R5, R10, R20] or None entries}}`` for one table."""
    tables = load_paper_numbers(path)["tables"]
    return {r["name"]: {d: r.get(d) for d in DATASETS} for r in tables[table_id]["rows"]}


def paper_title(table_id, path=PAPER_NUMBERS):
    return load_paper_numbers(path)["tables"][table_id]["title"]


def training_curves(options, dataset, key):
    """``[{"trial": K, "png": path relative to the results folder}]``: the training curves
    (``training.png``, drawn by :mod:`experiments.trials` when a run ends) of the run folders that
    the unit's cached results name (``out_dir``), where they exist."""
    out = []
    for t in options.trials:
        run = (read_cached(options, dataset, t, key) or {}).get("out_dir")
        png = os.path.join(run, "training.png") if isinstance(run, str) else None
        if png and os.path.isfile(png):
            out.append({"trial": int(t), "png": os.path.relpath(png, options.results)})
    return out


def build_report(table_id, rows, options, status, dataset_info=None):
    """Aggregate per-trial CMCs into mean +- std per row and dataset, next to the paper's.

    ``status``: ``{(dataset, trial): {row name: status dict}}`` of this run; rows and trials not
    in it are read from the cache. ``dataset_info``: ``{dataset: describe_dataset(...)}``.
    """
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
            curves = training_curves(options, d, key)
            if curves:
                cell["training_curves"] = curves
            reasons = sorted({e["reason"] for e in errors.values()})
            cell["reason"] = "; ".join(reasons)
            entry["ours"][d] = cell
        out_rows.append(entry)
    info = dataset_info or {}
    return {"table": table_id, "title": paper_title(table_id), "data": options.data,
            "profile": options.profile, "reading": options.reading,
            "overrides": list(options.overrides), "trials": list(options.trials),
            "datasets": list(options.datasets), "ranks": list(RANKS),
            "dataset_info": {d: dict(info.get(d) or {"error": "not recorded"},
                                     paper=PAPER_PROTOCOLS.get(d)) for d in options.datasets},
            "units": "percent", "std": "population std over finished trials",
            "device_time": table_device_time(table_id, rows, options),
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


def describe_source(info):
    """One line: the protocol and split source a dataset's numbers came from, and the paper's."""
    if not info or "error" in info and "protocol" not in info:
        ours = "not recorded (%s)" % (info or {}).get("error", "no data file")
    else:
        ours = "protocol %s, %d persons, splits from %s" % (info["protocol"], info["persons"],
                                                           info["split_source"])
        if info.get("copy_check") == "incomplete":
            ours += ", INCOMPLETE dataset copy (%s)" % info.get("shortfall", "")
    return "Ours: %s. Paper: %s." % (ours, (info or {}).get("paper") or "-")


def render_markdown(report):
    """One Markdown table per dataset: rows x ranks, each cell ours, paper, difference."""
    names = load_paper_numbers()["datasets"]
    settings = "DATA=%s, PROFILE=%s, READING=%s" % (report["data"], report["profile"],
                                                    report.get("reading", "default"))
    if report.get("overrides"):
        settings += ", --set %s" % " ".join(report["overrides"])
    lines = ["# %s" % report["title"], "",
             "Ours: mean ± std of the CMC matching rate (%%) over the finished trials; "
             "%s, trials %s." % (settings, ",".join(map(str, report["trials"]))),
             "Each cell: ours (paper, Δ = ours - paper). '-' = not reported in the paper.",
             format_device_time(report.get("device_time")), ""]
    for d in report["datasets"]:
        lines += ["## %s" % names.get(d, d), "",
                  describe_source(report.get("dataset_info", {}).get(d)), "",
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
            if cell.get("training_curves"):
                note = (note + " " if note else "") + "curves: " + " ".join(
                    "[trial %d](%s)" % (c["trial"], c["png"]) for c in cell["training_curves"])
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
