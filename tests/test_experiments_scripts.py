"""Every table script and Fig. 5 end to end: DATA=synthetic, the tiny test profile, one trial.

Every row runs on the synthetic data except Table 2's VGG 16 + FC-GRU, which needs a VGG-16
weights file: it must still appear, marked "not run" with the reason. The second pass must compute
nothing.
"""
import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ("table2", "table3", "table4", "table5", "fig5")
TITLES = {"ilidsvid": "iLIDS-VID", "prid2011": "PRID2011"}
NEEDS_WEIGHTS = "VGG 16 + FC-GRU"


def run_script(name, results, *extra):
    env = dict(os.environ)
    env.pop("VGG16_WEIGHTS", None)
    cmd = [sys.executable, os.path.join(ROOT, "experiments", name + ".py"), "--data", "synthetic",
           "--profile", "test", "--trials", "1", "--results", results] + list(extra)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def md_row(md, dataset, name):
    section = md.split("## " + TITLES[dataset])[1].split("## ")[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError("%s missing from %s" % (name, dataset))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    res = str(tmp_path_factory.mktemp("results"))
    outs = {name: run_script(name, res) for name in SCRIPTS}
    return res, outs


def test_every_script_writes_its_table_with_the_papers_numbers(results):
    res, outs = results
    paper = json.load(open(os.path.join(ROOT, "experiments", "paper_numbers.json")))["tables"]
    for table in ("table2", "table3", "table4", "table5"):
        md = open(os.path.join(res, table + ".md"), encoding="utf-8").read()
        rep = json.load(open(os.path.join(res, table + ".json")))
        assert md.strip() in outs[table]                  # the table is printed too
        assert [r["name"] for r in rep["rows"]] == [r["name"] for r in paper[table]["rows"]]
        for prow, rrow in zip(paper[table]["rows"], rep["rows"]):
            for d in TITLES:
                cells = md_row(md, d, prow["name"])
                for col, value in zip(cells[2:6], prow[d]):
                    want = "paper -" if value is None else "paper %.1f" % value
                    assert want in col, (table, prow["name"], d, col)
                cell = rrow["ours"][d]
                # only the row that needs VGG-16 weights may be left out, and never silently
                assert (cell["status"] == "not run") == (prow["name"] == NEEDS_WEIGHTS), \
                    (table, prow["name"], d, cell.get("reason"))
                if cell["status"] == "not run":
                    assert "VGG16_WEIGHTS" in cell["reason"]
                    assert cells[2].startswith("not run") and cell["reason"].startswith("not run")
                    assert cell["reason"].replace("|", "/") == cells[-1]
                else:
                    assert cell["trials_done"] == [0] and len(cell["mean_cmc"]) == 20
                    assert cells[1] == "1/1" and " ± " in cells[2]
                    assert all(0.0 <= v <= 100.0 for v in cell["mean_cmc"])
                    assert cell["mean_cmc"] == sorted(cell["mean_cmc"])   # a CMC never drops


def test_shared_rows_agree_across_tables(results):
    res, _ = results
    rows = {}
    for table in ("table2", "table3", "table4"):
        rep = json.load(open(os.path.join(res, table + ".json")))
        rows.update({(table, r["name"]): r["ours"] for r in rep["rows"]})
    deep = rows[("table2", "Deep RCN (5 x 5, 5 x 5)")]
    assert rows[("table3", "Average pooling")] == deep
    assert rows[("table4", "Deep RCN")] == deep


def test_fig5_plot_and_curves(results):
    res, _ = results
    png = os.path.join(res, "fig5.png")
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    fig = json.load(open(os.path.join(res, "fig5.json")))
    rep = json.load(open(os.path.join(res, "table5.json")))
    for d in TITLES:
        ran = [r["name"] for r in rep["rows"] if r["ours"][d]["status"] != "not run"]
        assert [c["name"] for c in fig["curves"][d]] == ran
        for c in fig["curves"][d]:
            assert c["label"].startswith("%.1f%% " % c["cmc"][0])
        # Fig. 5 records what its numbers came from, as the tables do (issue 29)
        assert fig["dataset_info"][d]["protocol"] == rep["dataset_info"][d]["protocol"]
        assert fig["dataset_info"][d]["split_source"] == rep["dataset_info"][d]["split_source"]
    assert fig["reading"] == rep["reading"] and fig["overrides"] == rep["overrides"]


def test_second_run_skips_finished_trials(results):
    res, _ = results
    cached = sorted(glob.glob(os.path.join(res, "cache", "**", "*.json"), recursive=True))
    before = {p: os.stat(p).st_mtime_ns for p in cached}
    for name in SCRIPTS:
        out = run_script(name, res)
        assert "done in" not in out, out[-2000:]          # no unit was computed
    after = {p: os.stat(p).st_mtime_ns
             for p in glob.glob(os.path.join(res, "cache", "**", "*.json"), recursive=True)}
    assert after == before


def test_collect_rebuilds_the_same_tables_without_computing(results):
    res, _ = results
    before = {t: json.load(open(os.path.join(res, t + ".json")))
              for t in ("table2", "table3", "table4", "table5")}
    for t in before:
        os.unlink(os.path.join(res, t + ".json"))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "collect.py"),
                           "--data", "synthetic", "--profile", "test", "--trials", "1",
                           "--results", res], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "done in" not in proc.stdout
    for t, rep in before.items():
        again = json.load(open(os.path.join(res, t + ".json")))
        for r0, r1 in zip(rep["rows"], again["rows"]):
            for d in TITLES:
                assert r1["ours"][d].get("mean_cmc") == r0["ours"][d].get("mean_cmc")
                assert r1["ours"][d]["trials_done"] == r0["ours"][d]["trials_done"]


def test_bad_option_is_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "table2.py"),
                           "--data", "real", "--ilidsvid", str(tmp_path / "no.h5"),
                           "--results", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "ILIDSVID_H5" in proc.stderr and "Traceback" not in proc.stderr


def _cached(res, tag, dataset, unit):
    path = os.path.join(res, "cache", tag, dataset, "trial0", unit.replace("/", "_") + ".json")
    return json.load(open(path))


def _run_config(cached):
    return json.load(open(os.path.join(cached["out_dir"], "config.json")))


def test_table3_max_row_is_a_network_trained_with_max_pooling(results):
    res, _ = results
    rep = json.load(open(os.path.join(res, "table3.json")))
    units = {r["name"]: r["unit"] for r in rep["rows"]}
    assert units["Max pooling"] == "rcn/pool_max"
    assert units["Max pooling (re-pooled average net)"].startswith("pool/max/")
    for d in TITLES:
        cached = _cached(res, "synthetic-test", d, units["Max pooling"])
        assert cached["temporal_pooling"] == "max"
        assert _run_config(cached)["model"]["temporal_pooling"] == "max"
        avg = _cached(res, "synthetic-test", d, units["Average pooling"])
        assert _run_config(avg)["model"]["temporal_pooling"] == "average"


def test_reports_name_the_protocol_and_split_source(results):
    res, _ = results
    for table in ("table2", "table3", "table4", "table5"):
        md = open(os.path.join(res, table + ".md"), encoding="utf-8").read()
        rep = json.load(open(os.path.join(res, table + ".json")))
        assert rep["reading"] == "default" and "READING=default" in md
        for d, title in TITLES.items():
            info = rep["dataset_info"][d]
            assert info["protocol"].startswith(d) and info["split_source"].startswith("seed")
            section = md.split("## " + title)[1]
            assert "Ours: protocol %s" % info["protocol"] in section and "Paper: " in section


def test_literal_reading_runs_apart_and_is_recorded(results):
    """READING=literal (make table2 ... READING=literal): every row but VGG runs, in folders of
    its own, recorded in the run folders' config.json and in the report; the default reading's
    results stay as they were. (Which network each Table 3 row trains under literal:
    tests/test_experiments_units.py.)"""
    res, _ = results
    before = json.load(open(os.path.join(res, "table2.json")))["rows"]
    run_script("table2", res, "--reading", "literal")
    rep = json.load(open(os.path.join(res, "table2.json")))
    md = open(os.path.join(res, "table2.md"), encoding="utf-8").read()
    assert rep["reading"] == "literal" and "READING=literal" in md
    for row in rep["rows"]:
        for d in TITLES:
            assert (row["ours"][d]["status"] == "not run") == (row["name"] == NEEDS_WEIGHTS)
    for d in TITLES:
        deep = _run_config(_cached(res, "synthetic-test-literal", d, "rcn/deep_rcn"))
        assert deep["name"].endswith("+literal") and deep["model"]["init"] == "uniform1"
        assert deep["model"]["temporal_pooling"] == "last"          # Eq. 4 as written
        assert deep["train"]["optim"]["loss_reduction"] == "sum"     # Eq. 6 as written
    for r in before:                    # the default reading's cached results are untouched
        for d in TITLES:
            if r["ours"][d]["status"] != "not run":
                c = _cached(res, "synthetic-test", d, r["unit"])
                assert c["reading"] == "default" and c["cmc"] == r["ours"][d]["mean_cmc"]
