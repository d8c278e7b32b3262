"""One HTML page for a reproduction: ``results/report.html`` (``make report``).

Built from what the table scripts left in ``--results`` (it trains nothing; ranked-gallery
pictures need one evaluation pass per dataset unless the run folder holds the trial's
``scores-trial<K>.npz``, and are cached under ``<results>/report/``):

* every ``tableN.json``: each cell ours (mean ± std over the finished trials) beside the paper's
  number, coloured by the difference (green above, red below the paper);
* Fig. 5 (``fig5.png``) when it was drawn;
* the training curves (loss, pair accuracy per epoch, one line per trial) of every trained row;
* a few ranked-gallery pictures per dataset (:mod:`rcnreid.viz.visrank`) from the first finished
  trial of the Deep RCN;
* the settings every number came from: dataset file, its split source and protocol, data,
  profile, reading, trials, and the commit; the device time each table took and the float
  arithmetic (cuDNN algorithm choice, TF32) its numbers came from.

The file is self-contained (images embedded, no script) and opens from disk in a browser.

Run: ``python experiments/report.py --results results`` (or ``make report``).
"""
import argparse
import datetime
import glob
import os
import subprocess
import sys

from experiments.device_time import format_device_time
from rcnreid.backend.gpu_conv import summary as float_summary
from rcnreid.viz import report_html as H
from rcnreid.store.atomic import read_json
from rcnreid.errors import UserError, exit_status

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASET_NAMES = {"ilidsvid": "iLIDS-VID", "prid2011": "PRID 2011"}
VISRANK_UNITS = ("rcn/deep_rcn", "rcn/deep_rcn_9x9_1x1", "rcn/rcn_ind")


# -- reading what the tables left --------------------------------------------------------------

def table_reports(results):
    """``[(table id, report dict)]`` of every ``<results>/table*.json``, in table order."""
    out = []
    for path in sorted(glob.glob(os.path.join(results, "table*.json"))):
        rep = read_json(path)
        if isinstance(rep, dict) and "rows" in rep and "datasets" in rep:
            out.append((os.path.splitext(os.path.basename(path))[0], rep))
    return out


def unit_results(results, data, profile, reading=None, overrides=()):
    """``{(dataset, unit): [cached unit result, ...]}`` (sorted by trial) of the runs made with
    ``data``, ``profile``, ``reading`` and ``overrides``: every such cached unit result under
    ``<results>/cache`` (a result that does not record a setting matches it)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(results, "cache", "**", "*.json"), recursive=True)):
        r = read_json(path)
        if not isinstance(r, dict) or "unit" not in r or "dataset" not in r:
            continue
        if (r.get("data", data) != data or r.get("profile", profile) != profile
                or r.get("reading", reading) != reading
                or list(r.get("overrides", overrides) or ()) != list(overrides or ())):
            continue
        out.setdefault((r["dataset"], r["unit"]), []).append(r)
    for v in out.values():
        v.sort(key=lambda r: int(r.get("trial", 0)))
    return out


def logged_runs(unit_list):
    """Run folders (with a training log) of a unit's cached results."""
    from rcnreid.engine.trainlog import LOG_NAME
    return [r["out_dir"] for r in unit_list
            if r.get("out_dir") and os.path.isfile(os.path.join(r["out_dir"], LOG_NAME))]


def checkout_commit():
    """``<hash>`` of the checkout (``+ uncommitted changes`` when dirty), or None."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=20)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20).stdout.strip()
        return head.stdout.strip() + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def dataset_settings(unit_list):
    """``(data file, protocol, split source)`` of the dataset a unit's runs were trained on."""
    for r in unit_list:
        info = read_json(os.path.join(r.get("out_dir") or "", "run.json")) or {}
        path = info.get("data_path")
        if path and os.path.isfile(path):
            try:
                from rcnreid.data.reader import ReIDDataset
                ds = ReIDDataset(path)
                return path, ds.protocol, ds.split_source
            except UserError as exc:
                return path, "?", "unreadable: %s" % exc
        if path:
            return path, "?", "file no longer there"
    return None


# -- sections ----------------------------------------------------------------------------------

def _fmt(v):
    return "-" if v is None else "%.1f" % v


def cell_html(mean, std, paper):
    """One table cell: ours (mean ± std), the paper's number and the difference, coloured."""
    if mean is None:
        return {"html": "not run<br><small>paper %s</small>" % _fmt(paper), "cls": "num",
                "bg": H.diff_colour(None)}
    diff = None if paper is None else mean - paper
    sub = "paper %s" % _fmt(paper) + ("" if diff is None else ", Δ %+.1f" % diff)
    return {"html": "%.1f ± %.1f<br><small>%s</small>" % (mean, std, H.esc(sub)), "cls": "num",
            "bg": H.diff_colour(diff)}


def settings_line(rep, commit):
    keys = [("data", rep.get("data")), ("profile", rep.get("profile")),
            ("reading", rep.get("reading")), ("overrides", " ".join(rep.get("overrides") or [])
                                              or "none"),
            ("trials", ",".join(map(str, rep.get("trials", [])))),
            ("commit", rep.get("commit") or commit)]
    return "; ".join("%s: %s" % (k, v if v not in (None, "") else "not recorded") for k, v in keys)


def table_section(table_id, rep, commit, curves_anchor):
    ranks = rep.get("ranks", [1, 5, 10, 20])
    out = ['<h2 id="%s">%s</h2>' % (H.esc(table_id), H.esc(rep.get("title", table_id))),
           '<p class="note">%s. Each cell: ours, mean ± std (%s) of the CMC matching rate (%%) '
           'over the finished trials; below it the paper\'s number and Δ = ours − paper. Green: '
           'above the paper, red: below (full colour at 20 points); grey: not run.</p>'
           % (H.esc(settings_line(rep, commit)), H.esc(rep.get("std", "std over trials")))]
    cost = [format_device_time(rep.get("device_time"))]
    if rep.get("float_arithmetic"):
        cost.append("Float arithmetic: %s." % float_summary(rep["float_arithmetic"]))
    out.append('<p class="note">%s</p>' % H.esc(" ".join(cost)))
    for d in rep["datasets"]:
        rows = []
        for row in rep["rows"]:
            cell = row["ours"].get(d, {"status": "not run", "trials_done": [], "reason": ""})
            paper = (row.get("paper") or {}).get(d) or [None] * len(ranks)
            if cell.get("status") == "not run":
                vals = [cell_html(None, None, p) for p in paper]
            else:
                vals = [cell_html(m, s, p) for m, s, p in zip(cell["mean"], cell["std"], paper)]
            anchor = curves_anchor(d, row.get("unit"))
            name = H.esc(row["name"]) + (' <small><a href="#%s">training curves</a></small>'
                                         % anchor if anchor else "")
            rows.append([{"html": name}, "%d/%d" % (len(cell.get("trials_done", [])),
                                                    len(rep.get("trials", []))),
                         *vals, cell.get("reason", "")])
        out.append("<h3>%s</h3>" % H.esc(DATASET_NAMES.get(d, d)))
        out.append(H.table(["Method", "Trials"] + ["R = %d" % r for r in ranks] + ["Note"],
                           rows))
    return "\n".join(out)


def curves_section(reports, units, results):
    """Training curves per (dataset, trained unit), named by the rows that use the unit."""
    from rcnreid.viz.training_plot import draw_training, read_runs, save_figure
    out, anchors = ['<h2 id="curves">Training curves</h2>',
                    '<p class="note">Loss (Eq. 6) and pair accuracy per epoch, one line per '
                    'trial, from each run\'s train_log.jsonl.</p>'], {}
    seen = []
    for _, rep in reports:
        for d in rep["datasets"]:
            for row in rep["rows"]:
                key = (d, row.get("unit"))
                if key in units and key not in seen and logged_runs(units[key]):
                    seen.append(key)
    for d, unit in seen:
        names = sorted({row["name"] for _, rep in reports for row in rep["rows"]
                        if row.get("unit") == unit})
        runs = logged_runs(units[(d, unit)])
        anchor = "curves-%s-%s" % (d, "".join(c if c.isalnum() else "-" for c in unit))
        png = os.path.join(results, "report", "curves", anchor + ".png")
        save_figure(draw_training(read_runs(runs), title="%s: %s" % (DATASET_NAMES.get(d, d),
                                                                      ", ".join(names))),
                    png[:-4])
        out.append('<h3 id="%s">%s: %s</h3>' % (anchor, H.esc(DATASET_NAMES.get(d, d)),
                                                H.esc("; ".join(names))))
        out.append(H.image(png, "training curves %s %s" % (d, unit),
                           "runs: " + ", ".join(runs)))
        anchors[(d, unit)] = anchor
    if not seen:
        out.append("<p>No trained row has a training log yet.</p>")
    return "\n".join(out), anchors


def _visrank_cached(out_dir, ckpt, probes, top):
    from rcnreid.viz.visrank import read_index
    idx = read_index(out_dir)
    if not idx or idx.get("checkpoint") != os.path.abspath(ckpt):
        return None
    if os.path.getmtime(os.path.join(out_dir, "index.json")) < os.path.getmtime(ckpt):
        return None
    if idx.get("probes") != probes or idx.get("top") != top:
        return None
    if not all(os.path.isfile(os.path.join(out_dir, p["file"])) for p in idx["pictures"]):
        return None
    return idx


def visrank_section(datasets, units, results, probes=3, top=5, log=print):
    """A few ranked-gallery pictures per dataset from the first finished trial of a deep row."""
    from rcnreid.viz.visrank import visrank
    out = ['<h2 id="galleries">Ranked galleries</h2>',
           '<p class="note">Per dataset, from the first finished trial of the Deep RCN: the '
           'worst-ranked probes and a random one; each probe (blue) with its top %d gallery '
           'sequences, true match framed green, wrong ones red; a true match beyond rank %d is '
           'drawn last with its rank. Frames as the model saw them (centre crop, before '
           'normalisation).</p>' % (top, top)]
    for d in datasets:
        pick = None
        for unit in VISRANK_UNITS:
            for r in units.get((d, unit), []):
                ck = r.get("checkpoint") or os.path.join(r.get("out_dir") or "",
                                                          "checkpoint-final.h5")
                info = read_json(os.path.join(r.get("out_dir") or "", "run.json")) or {}
                if os.path.isfile(ck) and os.path.isfile(info.get("data_path", "")):
                    pick = (unit, r, ck, info["data_path"])
                    break
            if pick:
                break
        out.append("<h3>%s</h3>" % H.esc(DATASET_NAMES.get(d, d)))
        if pick is None:
            out.append("<p>No finished Deep RCN run with its data file.</p>")
            continue
        unit, r, ck, data_path = pick
        trial = int(r.get("trial", 0))
        vdir = os.path.join(results, "report", "visrank", "%s-trial%d" % (d, trial))
        scores = os.path.join(r["out_dir"], "scores-trial%d.npz" % trial)
        try:
            idx = _visrank_cached(vdir, ck, probes, top) or visrank(
                data_path, ck, vdir, trial=trial, probes=probes, top=top, seed=0,
                scores_path=scores if os.path.isfile(scores) else None, log=log)
        except UserError as exc:
            out.append("<p>Not drawn: %s</p>" % H.esc(exc))
            continue
        out.append('<p class="note">%s, trial %d, model %s</p>' % (H.esc(unit), trial, H.esc(ck)))
        for p in idx["pictures"]:
            out.append(H.image(os.path.join(vdir, p["file"]), "ranked gallery %s" % p["file"],
                               "probe id %d: true match at rank %s"
                               % (p["person"], p["true_rank"])))
    return "\n".join(out)


def settings_section(reports, units, commit):
    """Per table and dataset: the data file, split source and protocol (the table's
    ``dataset_info`` when it records them, else read from the file its runs were trained on),
    data, profile, reading, overrides, trials and commit."""
    rows = []
    for table_id, rep in reports:
        for d in rep["datasets"]:
            info = (rep.get("dataset_info") or {}).get(d) or {}
            if info.get("protocol"):
                src = (info.get("path"), info.get("protocol"), info.get("split_source"))
            else:
                src = None
                for row in rep["rows"]:
                    if (d, row.get("unit")) in units:
                        src = dataset_settings(units[(d, row["unit"])])
                        if src:
                            break
            path, protocol, split = src or (info.get("path") or "not recorded (no trained run)",
                                            "-", info.get("error", "-"))
            if info.get("paper"):
                protocol = "%s (paper: %s)" % (protocol, info["paper"])
            rows.append([table_id, DATASET_NAMES.get(d, d), path, split, protocol,
                         rep.get("data", ""), rep.get("profile", ""),
                         rep.get("reading") or "not recorded",
                         " ".join(rep.get("overrides") or []) or "none",
                         ",".join(map(str, rep.get("trials", []))),
                         rep.get("commit") or commit or "not recorded"])
    return "\n".join(['<h2 id="settings">Settings</h2>',
                      '<p class="note">Commit: the one the table recorded, else the checkout\'s '
                      'when this page was built.</p>',
                      H.table(["Table", "Dataset", "Data file", "Split source", "Protocol",
                               "Data", "Profile", "Reading", "Overrides", "Trials", "Commit"],
                              rows)])


def build_report(results, out_path=None, probes=3, top=5, log=print):
    """Write ``<results>/report.html`` (or ``out_path``); returns its path."""
    results = os.fspath(results)
    reports = table_reports(results)
    if not reports:
        raise UserError("%s: no table results (table*.json); run `make table2` (or another "
                        "table) first" % results)
    out_path = out_path or os.path.join(results, "report.html")
    from rcnreid.store.atomic import check_out_path
    check_out_path(out_path, "--out", "report.html", kind="html")
    commit = checkout_commit()
    units = {}
    for _, rep in reports:
        units.update(unit_results(results, rep.get("data"), rep.get("profile"),
                                  rep.get("reading"), rep.get("overrides") or ()))
    curves, anchors = curves_section(reports, units, results)
    datasets = []
    for _, rep in reports:
        datasets += [d for d in rep["datasets"] if d not in datasets]
    parts = ['<p class="note">Built %s UTC from %s (report commit: %s). Sections: %s.</p>'
             % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), H.esc(results),
                H.esc(commit or "unknown"),
                ", ".join('<a href="#%s">%s</a>' % (t, t) for t, _ in reports)
                + ', <a href="#fig5">Fig. 5</a>, <a href="#curves">training curves</a>, '
                  '<a href="#galleries">ranked galleries</a>, <a href="#settings">settings</a>')]
    for table_id, rep in reports:
        parts.append(table_section(table_id, rep, commit, lambda d, u: anchors.get((d, u))))
    parts.append('<h2 id="fig5">Fig. 5</h2>')
    fig5 = os.path.join(results, "fig5.png")
    parts.append(H.image(fig5, "Fig. 5", "CMC curves of Table 5's rows; hollow markers: the "
                         "paper") if os.path.isfile(fig5) else "<p>Not drawn yet (make fig5).</p>")
    parts.append(curves)
    parts.append(visrank_section(datasets, units, results, probes, top, log))
    parts.append(settings_section(reports, units, commit))
    H.write_page(out_path, "rcnreid: reproduction of Wu, Shen & van den Hengel (2016)",
                 "\n".join(parts))
    log("wrote %s" % out_path)
    return out_path


def main(argv=None):
    p = argparse.ArgumentParser(prog="experiments/report.py", description=__doc__.splitlines()[0])
    p.add_argument("--results", default=os.environ.get("RESULTS", "results"))
    p.add_argument("--out", default=None, help="default: <results>/report.html")
    p.add_argument("--probes", type=int, default=3, help="ranked-gallery pictures per dataset")
    p.add_argument("--top", type=int, default=5, help="gallery sequences per picture")
    args = p.parse_args(argv)
    return exit_status("report", lambda: build_report(args.results, args.out, probes=args.probes,
                                                      top=args.top) and None)


if __name__ == "__main__":
    sys.exit(main())
