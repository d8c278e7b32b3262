"""CMC plots like the paper's Fig. 5: matching rate (%) against rank, rank-1 in the legend.

Fig. 5 writes each curve's label as "<rank-1 %> <method>"; :func:`plot_cmc` does the same
("[53.5%] Deep RCN"). Headless (matplotlib "Agg"); PNG and PDF are written atomically.
"""
import json
import os

import numpy as np

from rcnreid.store.atomic import atomic_path
from rcnreid.errors import UserError


def load_result(path):
    """(label, cmc fractions, std or None) from an ``evaluate`` or ``aggregate`` JSON file."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except OSError as exc:
        raise UserError("%s: cannot read the result file (%s)" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise UserError("%s: not a JSON result file (%s)" % (path, exc))
    if not isinstance(d, dict) or "cmc" not in d:
        raise UserError("%s: no 'cmc' entry; give files written by `rcnreid evaluate` or "
                        "`rcnreid aggregate`" % path)
    label = d.get("label") or d.get("config_name") or os.path.splitext(os.path.basename(path))[0]
    std = d.get("cmc_std")
    return label, np.asarray(d["cmc"], dtype=np.float64), (
        None if std is None else np.asarray(std, dtype=np.float64))


def legend_label(label, cmc):
    """Fig. 5's legend entry: rank-1 matching rate before the name."""
    return "[%.1f%%] %s" % (100.0 * float(cmc[0]), label)


def _strip_ext(out_base):
    """``out_base`` without a trailing .png / .pdf."""
    for ext in (".png", ".pdf"):
        if out_base.endswith(ext):
            return out_base[:-len(ext)]
    return out_base


def plot_cmc(curves, out_base, title="CMC", max_rank=20):
    """Plot ``curves`` (a list of (label, cmc fractions[, std])) to ``out_base``.png and .pdf.

    Curves are sorted by rank-1 (best first) in the legend, as in Fig. 5. Returns the two paths.
    """
    if not curves:
        raise UserError("plot: no curves to plot")
    from rcnreid.store.atomic import check_out_path
    check_out_path(os.fspath(out_base), "--out", "cmc")      # a folder is refused
    for ext in ("png", "pdf"):
        check_out_path(_strip_ext(os.fspath(out_base)) + "." + ext, "--out", "cmc", kind=ext)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = []
    for c in curves:
        label, cmc = c[0], np.asarray(c[1], dtype=np.float64)
        std = np.asarray(c[2], dtype=np.float64) if len(c) > 2 and c[2] is not None else None
        items.append((label, cmc, std))
    items.sort(key=lambda t: -t[1][0])
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    markers = "osd^v<>ph*x+"
    for k, (label, cmc, std) in enumerate(items):
        n = min(len(cmc), max_rank)
        r = np.arange(1, n + 1)
        ax.plot(r, 100.0 * cmc[:n], marker=markers[k % len(markers)], markersize=4,
                label=legend_label(label, cmc))
        if std is not None:
            ax.fill_between(r, 100.0 * (cmc[:n] - std[:n]), 100.0 * (cmc[:n] + std[:n]),
                            alpha=0.15)
    ax.set_xlabel("Rank")
    ax.set_ylabel("Matching rate (%)")
    ax.set_title(title)
    ax.set_xlim(1, max_rank)
    ax.set_xticks(sorted({1} | set(range(5, max_rank + 1, 5)) | {max_rank}))
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out_base = _strip_ext(os.fspath(out_base))
    paths = []
    for ext in (".png", ".pdf"):
        path = out_base + ext
        with atomic_path(path, suffix=ext) as tmp:
            fig.savefig(tmp, format=ext[1:], dpi=120)
        paths.append(path)
    plt.close(fig)
    return paths
