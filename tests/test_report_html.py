"""``make report``: results/report.html from a table, Fig. 5, a trained run and its pictures.

The results folder is laid out as the table scripts leave it (``table2.json``, a cached unit
result naming its run folder, ``fig5.png``) around one real tiny training run. The page is
checked for every row, every paper number, the mean ± std, the colours, the settings and that
every embedded image decodes; then it is rendered in headless Chromium (Debian's ``chromium``;
the test skips with one line where it is absent) and every ``<img>`` must have loaded.
"""
import base64
import html
import io
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from experiments import report as R
from rcnreid.viz.report_html import diff_colour
from tests.tiny_run import tiny_run

PAPER = os.path.join(os.path.dirname(R.__file__), "paper_numbers.json")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    data, ckpt, run = tiny_run(tmp_path_factory)
    res = tmp_path_factory.mktemp("report") / "results"
    res.mkdir()
    with open(os.path.join(run, "eval-trial0.json")) as f:
        ev = json.load(f)
    assert os.path.isfile(os.path.join(run, "scores-trial0.npz"))  # kept for the galleries
    cmc = [100.0 * v for v in ev["cmc"]] + [100.0] * (20 - len(ev["cmc"]))
    unit = {"unit": "rcn/deep_rcn", "dataset": "ilidsvid", "trial": 0, "out_dir": run,
            "checkpoint": ckpt, "cmc": cmc, "data": "synthetic", "profile": "test"}
    cache = res / "cache" / "synthetic-test" / "ilidsvid" / "trial0"
    cache.mkdir(parents=True)
    (cache / "rcn_deep_rcn.json").write_text(json.dumps(unit))
    paper = json.load(open(PAPER))["tables"]["table2"]
    units = {"RCN-Ind": "rcn/rcn_ind", "VGG 16 + FC-GRU": "vgg/fc_gru",
             "Deep RCN (9 x 9, 1 x 1)": "rcn/deep_rcn_9x9_1x1",
             "Deep RCN (5 x 5, 5 x 5)": "rcn/deep_rcn"}
    rows = []
    for r in paper["rows"]:
        ours = {"prid2011": {"status": "not run", "trials_done": [], "reason": "not run: no data"}}
        if units[r["name"]] == "rcn/deep_rcn":
            ours["ilidsvid"] = {"status": "ok", "trials_done": [0], "reason": "",
                                "mean": [cmc[k - 1] for k in (1, 5, 10, 20)],
                                "std": [1.25, 0.0, 0.0, 0.0], "mean_cmc": cmc}
        else:
            ours["ilidsvid"] = {"status": "not run", "trials_done": [],
                                "reason": "not run: no VGG-16 weights"}
        rows.append({"name": r["name"], "unit": units[r["name"]], "ours": ours,
                     "paper": {d: r[d] for d in ("ilidsvid", "prid2011")}})
    table = {"table": "table2", "title": paper["title"], "data": "synthetic", "profile": "test",
             "reading": "paper-default", "trials": [0], "datasets": ["ilidsvid", "prid2011"],
             "ranks": [1, 5, 10, 20], "std": "population std over finished trials",
             "overrides": ["train.epochs=3"],
             "dataset_info": {"prid2011": {"path": "/elsewhere/prid2011.h5", "protocol":
                                           "prid2011-178", "split_source": "json: splits.json",
                                           "paper": "178 people"}},
             "rows": rows,
             "device_time": {"units_timed": 3, "units_untimed": 0, "units_pending": 1,
                             "by_device": {"NVIDIA H200": 5400.0}},
             "float_arithmetic": {"device": "cuda0", "cudnn_conv": "deterministic",
                                  "deterministic_conv": True, "tf32": "on (default)"}}
    (res / "table2.json").write_text(json.dumps(table))
    Image.new("RGB", (60, 40), (10, 200, 30)).save(str(res / "fig5.png"))
    assert R.main(["--results", str(res), "--probes", "2", "--top", "3"]) == 0
    return res, table, data, unit


def _decoded(b64):
    """The pixels of an embedded PNG, decoded in full (a truncated image raises)."""
    img = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
    img.load()
    return np.asarray(img)


def _images(page):
    return re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)


def test_report_holds_every_row_paper_number_setting_and_picture(results):
    res, table, data, unit = results
    page = (res / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and 'src="http' not in page and "href=\"http" not in page
    for row in table["rows"]:
        assert row["name"] in page
        for d in ("ilidsvid", "prid2011"):
            for v in row["paper"][d]:
                assert "paper %.1f" % v in page
    ok = [r for r in table["rows"] if r["ours"]["ilidsvid"]["status"] == "ok"][0]
    mean, paper = ok["ours"]["ilidsvid"]["mean"][0], ok["paper"]["ilidsvid"][0]
    assert "%.1f ± %.1f" % (mean, 1.25) in page
    assert "Δ %+.1f" % (mean - paper) in page
    assert 'style="background:%s"' % diff_colour(mean - paper) in page
    for setting in (data, "synthetic", "paper-default", "train.epochs=3", "/elsewhere/prid2011.h5",
                    "prid2011-178 (paper: 178 people)", "json: splits.json",
                    "Device time: 1.50 h on NVIDIA H200 (3 finished units, 1 units not finished",
                    "cuDNN convolutions deterministic (deterministic), TF32 on"):
        assert html.escape(setting, quote=False) in page
    from rcnreid.data.reader import ReIDDataset
    assert ReIDDataset(data).split_source in page
    assert re.search(r"[0-9a-f]{12}", page)                              # the commit
    assert 'href="#curves-ilidsvid-rcn-deep-rcn"' in page                # row -> its curves
    imgs = _images(page)
    assert len(imgs) == 1 + 1 + 2          # Fig. 5, the training curves, two ranked galleries
    sizes = [_decoded(b).shape[1::-1] for b in imgs]
    assert sizes[0] == (60, 40) and all(w > 100 and h > 50 for w, h in sizes[1:])
    assert page.count("<img") == len(imgs)
    idx = json.loads((res / "report" / "visrank" / "ilidsvid-trial0" / "index.json").read_text())
    assert idx["checkpoint"] == os.path.abspath(unit["checkpoint"]) and idx["top"] == 3
    for p in idx["pictures"]:
        assert "probe id %d: true match at rank %s" % (p["person"], p["true_rank"]) in page


def test_report_without_tables_is_one_line(tmp_path, capsys):
    assert R.main(["--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make table2" in err[0]


def test_report_keeps_a_file_that_is_not_a_page(results, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    assert R.main(["--results", str(results[0]), "--out", str(notes)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not an HTML page" in err[0]
    assert notes.read_text() == "my notes"
    again = tmp_path / "again.html"                          # its own page is replaced
    again.write_text("<!DOCTYPE html>\n<html></html>")
    assert R.main(["--results", str(results[0]), "--out", str(again), "--probes", "2",
                   "--top", "3"]) == 0
    assert len(_images(again.read_text(encoding="utf-8"))) == 4


def test_diff_colours_green_above_red_below():
    assert diff_colour(0.0) == "#ffffff" and diff_colour(None) == "#eeeeee"
    up, down = diff_colour(10.0), diff_colour(-30.0)
    assert up[3:5] == "ff" and int(up[1:3], 16) < 255            # green channel full
    assert down[1:3] == "ff" and down[3:5] == "%02x" % (255 - 120)  # red, saturated


def test_report_renders_in_headless_chromium(results, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium); report not "
                    "rendered")
    res = results[0]
    page = (res / "report.html").read_text(encoding="utf-8")
    n = len(_images(page))
    # A test-only copy with a probe script; the report itself has none.
    probe = ("<script>window.addEventListener('load', function () {"
             "var s = Array.prototype.map.call(document.images, function (i) {"
             "return i.complete && i.naturalWidth > 0 ? 1 : 0; });"
             "var p = document.createElement('pre'); p.id = 'imgcheck';"
             "p.textContent = 'IMGS:' + s.join(',') + ':END'; document.body.appendChild(p);"
             "});</script>")
    check = tmp_path / "check.html"
    check.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--user-data-dir=%s" % (tmp_path / "profile"), "--virtual-time-budget=10000"]
    out = subprocess.run(cmd + ["--dump-dom", check.as_uri()], capture_output=True, text=True,
                         timeout=120)
    m = re.search(r"IMGS:([01,]*):END", out.stdout)
    assert m, out.stderr[-2000:]
    flags = [int(v) for v in m.group(1).split(",") if v]
    assert len(flags) == n and all(flags)
    shot = tmp_path / "shot.png"
    subprocess.run(cmd + ["--window-size=1200,1600", "--screenshot=%s" % shot,
                          (res / "report.html").as_uri()], capture_output=True, timeout=120)
    a = np.asarray(Image.open(str(shot)).convert("RGB")).astype(int)
    assert a.shape[:2] == (1600, 1200)
    # the table cells are coloured: some pixels of the cell greens/reds are on screen
    assert np.sum(np.any(a < 200, axis=2)) > 1000


def test_table_markdown_links_each_rows_training_curves(results, tmp_path, monkeypatch):
    from experiments import datasets, runner
    from experiments.options import Options, Row
    _, _, data, unit = results
    monkeypatch.setattr(datasets, "ensure_synthetic", lambda options, dataset, log=print: data)
    res = tmp_path / "res"
    opts = Options(data="synthetic", profile="test", trials=(0,), datasets=("ilidsvid",),
                   results=str(res))
    units = {"rcn/deep_rcn": lambda ctx: {"cmc": unit["cmc"], "out_dir": unit["out_dir"]},
             "rcn/rcn_ind": lambda ctx: {"cmc": unit["cmc"]}}           # no run folder
    rows = [Row("RCN-Ind", "rcn/rcn_ind"), Row("Deep RCN (5 x 5, 5 x 5)", "rcn/deep_rcn")]
    rep = runner.run_table("table2", rows, opts, units=units, log=lambda *a: None)
    cells = {r["name"]: r["ours"]["ilidsvid"] for r in rep["rows"]}
    assert "training_curves" not in cells["RCN-Ind"]
    link = cells["Deep RCN (5 x 5, 5 x 5)"]["training_curves"]
    assert [c["trial"] for c in link] == [0]
    assert os.path.samefile(str(res / link[0]["png"]),
                            os.path.join(unit["out_dir"], "training.png"))
    md = (res / "table2.md").read_text(encoding="utf-8")
    line = [ln for ln in md.splitlines() if ln.startswith("| Deep RCN (5 x 5, 5 x 5)")][0]
    assert "curves: [trial 0](%s)" % link[0]["png"] in line
    assert "curves" not in [ln for ln in md.splitlines() if ln.startswith("| RCN-Ind")][0]
