"""Training curves: loss (Eq. 6, mean over an epoch's pairs) and pair accuracy per epoch.

Read from the run folders' ``train_log.jsonl`` (:mod:`rcnreid.engine.trainlog`); one line per run,
both panels share the epoch axis. Headless (matplotlib "Agg"); PNG and PDF written atomically.
:func:`rcnreid.engine.train.train` draws ``training.png``/``.pdf`` into the run folder when a run
ends.
"""
import json
import os

from rcnreid.store.atomic import atomic_path
from rcnreid.errors import UserError
from rcnreid.engine.trainlog import LOG_NAME, read_log

PLOT_NAME = "training"          # <run folder>/training.png and training.pdf


def run_label(run_dir):
    """A run's name in the legend: its folder, with the config and trial from ``run.json``."""
    name = os.path.basename(os.path.normpath(os.fspath(run_dir)))
    try:
        with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as f:
            info = json.load(f)
        return "%s (%s, trial %s)" % (name, info.get("config_name", "?"), info.get("trial", "?"))
    except (OSError, ValueError, AttributeError):
        return name


def read_runs(run_dirs):
    """``[(label, {"epoch": [...], "loss": [...], "accuracy": [...]})]``, one per run folder.
    A folder without a log, or with an empty one, is a UserError naming it."""
    if not run_dirs:
        raise UserError("plot-log: give at least one run folder")
    out = []
    for d in run_dirs:
        d = os.fspath(d)
        path = os.path.join(d, LOG_NAME)
        if not os.path.isdir(d):
            raise UserError("%s: not a folder; give the --out folder of `rcnreid train`" % d)
        rows = read_log(path)
        if not rows:
            raise UserError("%s: no training log (%s) or no finished epoch in it; give the --out "
                            "folder of a `rcnreid train` run" % (d, LOG_NAME))
        rows = sorted(rows, key=lambda r: int(r["epoch"]))
        out.append((run_label(d), {k: [r[k] for r in rows] for k in ("epoch", "loss",
                                                                     "accuracy")}))
    return out


def draw_training(runs, title=None):
    """A matplotlib figure of ``runs`` (as :func:`read_runs`): loss left, pair accuracy right."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(9.0, 3.6))
    for label, c in runs:
        mk = "o" if len(c["epoch"]) <= 30 else None
        ax_l.plot(c["epoch"], c["loss"], marker=mk, markersize=3, label=label)
        ax_a.plot(c["epoch"], [100.0 * a for a in c["accuracy"]], marker=mk, markersize=3,
                  label=label)
    ax_l.set_xlabel("Epoch")
    ax_l.set_ylabel("Loss (Eq. 6, mean per pair)")
    ax_a.set_xlabel("Epoch")
    ax_a.set_ylabel("Pair accuracy (%)")
    ax_a.set_ylim(0, 100)
    for ax in (ax_l, ax_a):
        ax.grid(True, alpha=0.3)
    ax_a.legend(loc="lower right", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig, out_base, dpi=100):
    """Write ``fig`` to ``out_base``.png and .pdf (atomically); return the two paths."""
    import matplotlib.pyplot as plt
    out_base = os.fspath(out_base)
    for ext in (".png", ".pdf"):
        if out_base.endswith(ext):
            out_base = out_base[:-len(ext)]
    if os.path.isdir(out_base):
        raise UserError("--out %s: is a folder; give a path without extension (e.g. %s)"
                        % (out_base, os.path.join(out_base, PLOT_NAME)))
    from rcnreid.store.atomic import check_out_path
    for ext in (".png", ".pdf"):      # both refused before either is written
        check_out_path(out_base + ext, "--out", PLOT_NAME + ext, kind=ext[1:])
    paths = []
    for ext in (".png", ".pdf"):
        with atomic_path(out_base + ext, suffix=ext) as tmp:
            fig.savefig(tmp, format=ext[1:], dpi=dpi)
        paths.append(out_base + ext)
    plt.close(fig)
    return paths


def plot_training(run_dirs, out_base=None, title=None):
    """Plot the logs of ``run_dirs`` to ``out_base``.png/.pdf (default: ``training`` in the run
    folder when there is one run; several runs need ``out_base``). Returns the two paths."""
    runs = read_runs(run_dirs)
    if out_base is None:
        if len(run_dirs) != 1:
            raise UserError("plot-log: %d run folders: give --out PATH (without extension) for "
                            "the common plot" % len(run_dirs))
        out_base = os.path.join(os.fspath(run_dirs[0]), PLOT_NAME)
    return save_figure(draw_training(runs, title), out_base)


def plot_finished_run(run_dir, log=print):
    """Draw ``training.png``/``.pdf`` into the folder of a finished run (what the callers of
    :func:`rcnreid.engine.train.train` do: ``rcnreid train``, the demo, the trials of
    ``experiments/``; training itself draws nothing). A failure to draw is one warning line,
    never a failed training run."""
    try:
        return plot_training([run_dir])
    except Exception as exc:  # noqa: BLE001 - the model is saved; the plot is a convenience
        (log or (lambda *a: None))("warning: could not draw the training curves of %s (%s); "
                                   "draw them with `rcnreid plot-log %s`" % (run_dir, exc,
                                                                              run_dir))
        return []
