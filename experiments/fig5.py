"""Fig. 5: CMC curves (ranks 1..20) of Table 5's methods on iLIDS-VID and PRID 2011.

The curves are the mean CMC over the finished trials of Table 5's rows (the same cached trials:
running ``fig5`` after ``table5`` trains nothing). As in the paper, the rank-1 rate is written
before each method's name; the paper's Table 5 numbers (ranks 1, 5, 10, 20) are drawn as hollow
markers of the same colour for comparison. Writes ``results/fig5.png`` and ``results/fig5.json``
(and refreshes ``results/table5.{md,json}``).

Run: ``python experiments/fig5.py --data synthetic --profile quick --trials 1`` (or ``make fig5``).
"""
import os
import sys

from experiments.cli import main
from experiments.table_report import load_paper_numbers
from experiments.table5 import ROWS
from rcnreid.store.atomic import atomic_path, write_json


def curves_from_report(report):
    """``{dataset: [(label, mean CMC ranks 1..20, paper [R1,R5,R10,R20] or None)]}``."""
    out = {}
    for d in report["datasets"]:
        rows = []
        for row in report["rows"]:
            cell = row["ours"][d]
            if cell["status"] == "not run":
                continue
            cmc = cell["mean_cmc"]
            rows.append({"name": row["name"], "label": "%.1f%% %s" % (cmc[0], row["name"]),
                         "cmc": cmc, "paper": (row["paper"] or {}).get(d)})
        out[d] = rows
    return out


def plot_fig5(report, out_png):
    """Draw the two CMC panels of Fig. 5 into ``out_png`` (written atomically)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = load_paper_numbers()["datasets"]
    ranks_paper = report["ranks"]
    curves = curves_from_report(report)
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.8), squeeze=False)
    for ax, (d, rows) in zip(axes[0], curves.items()):
        for i, r in enumerate(rows):
            color = "C%d" % (i % 10)
            x = list(range(1, len(r["cmc"]) + 1))
            ax.plot(x, r["cmc"], "-", color=color, label=r["label"])
            if r["paper"] and all(v is not None for v in r["paper"]):
                ax.plot(ranks_paper, r["paper"], "o", mfc="none", color=color)
        ax.set_title("%s (DATA=%s, PROFILE=%s, READING=%s)"
                     % (names.get(d, d), report["data"], report["profile"],
                        report.get("reading", "default")))
        ax.set_xlabel("Rank")
        ax.set_ylabel("Matching rate (%)")
        ax.set_xlim(1, 20)
        ax.set_xticks([1, 5, 10, 15, 20])
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        if rows:
            ax.legend(loc="lower right", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no row has finished trials", ha="center",
                    transform=ax.transAxes)
    fig.text(0.01, 0.01, "lines: ours (mean over trials); hollow markers: paper, Table 5"
             + "".join("   |   %s: %s" % (names.get(d, d), _source_note(info))
                       for d, info in sorted(report.get("dataset_info", {}).items()))
             + ("   |   --set %s" % " ".join(report["overrides"])
                if report.get("overrides") else ""), fontsize=7)
    fig.tight_layout()
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return curves


def _source_note(info):
    """Protocol and split source of one dataset, for the figure's footer."""
    if not info or "protocol" not in info:
        return "data not recorded"
    note = "%s, splits %s" % (info["protocol"], info.get("split_source", "?"))
    if info.get("copy_check") == "incomplete":
        note += ", INCOMPLETE copy"
    return note


def after(report, options):
    png = os.path.join(options.results, "fig5.png")
    curves = plot_fig5(report, png)
    write_json(os.path.join(options.results, "fig5.json"),
               {"data": report["data"], "profile": report["profile"],
                "reading": report.get("reading", "default"),
                "overrides": report.get("overrides", []),
                "dataset_info": report.get("dataset_info", {}),
                "trials": report["trials"], "curves": curves})
    print("wrote %s and %s" % (png, os.path.join(options.results, "fig5.json")))


if __name__ == "__main__":
    sys.exit(main("table5", ROWS, description=__doc__.splitlines()[0], after=after))
