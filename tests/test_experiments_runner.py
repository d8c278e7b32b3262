"""The shared experiment runner: caching, sharing of units between rows, resume, reporting.

These tests drive ``experiments.runner.run_table`` with small fake units (no training), so they
check the runner's own logic; tests/test_experiments_scripts.py runs the real scripts end to end.
"""
import json
import os
import re

import numpy as np
import pytest

from experiments import cache, cli, datasets, runner, table_report
from experiments.runner import Options, Row, RowNotRun

CALLS = []


def fake_cmc(key, dataset, trial):
    """A made-up monotone CMC (percent, 20 ranks) that differs per unit, dataset and trial."""
    start = 5.0 + 3.0 * trial + (7.0 if dataset == "prid2011" else 0.0) + (len(key) % 11)
    return list(np.linspace(start, 100.0, 20))


def _fake(key):
    def unit(ctx):
        CALLS.append((key, ctx.dataset, ctx.trial))
        return {"cmc": fake_cmc(key, ctx.dataset, ctx.trial)}
    return unit


def _uses_other(ctx):
    """A unit built on another one (like Table 5's metric rows on the trained Deep RCN)."""
    base = ctx.unit("rcn/deep_rcn")
    CALLS.append(("derived", ctx.dataset, ctx.trial))
    return {"cmc": [min(100.0, v + 1.0) for v in base["cmc"]]}


def _not_run(ctx):
    raise RowNotRun("no VGG-16 weights file (set VGG16_WEIGHTS=...)")


def _broken(ctx):
    CALLS.append(("broken", ctx.dataset, ctx.trial))
    raise ValueError("shape mismatch in something")


FAKE_UNITS = {
    "rcn/deep_rcn": _fake("rcn/deep_rcn"),
    "rcn/rcn_ind": _fake("rcn/rcn_ind"),
    "derived": _uses_other,
    "vgg/fc_gru": _not_run,
    "broken": _broken,
}

T2_ROWS = [Row("RCN-Ind", "rcn/rcn_ind"), Row("VGG 16 + FC-GRU", "vgg/fc_gru"),
           Row("Deep RCN (9 x 9, 1 x 1)", "broken"), Row("Deep RCN (5 x 5, 5 x 5)", "rcn/deep_rcn")]


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()
    yield


@pytest.fixture
def synth_opts(tmp_path, monkeypatch):
    """Options for DATA=synthetic with the synthetic data step stubbed (no data needed here)."""
    monkeypatch.setattr(datasets, "ensure_synthetic", lambda options, dataset, log=print:
                        str(tmp_path / ("%s.h5" % dataset)))
    return Options(data="synthetic", profile="test", trials=(0, 1), results=str(tmp_path / "res"))


def quiet(*a, **k):
    pass


def md_cells(md, dataset_title, row_name):
    """The cells of one row in the section of one dataset of a written table."""
    section = md.split("## " + dataset_title)[1].split("## ")[0]
    for line in section.splitlines():
        parts = [c.strip() for c in line.strip().strip("|").split("|")]
        if parts and parts[0] == row_name:
            return parts
    raise AssertionError("row %r not in %s section" % (row_name, dataset_title))


def test_cmc_from_distance_matches_bruteforce():
    from experiments.units import cmc_from_distance
    rng = np.random.RandomState(3)
    n = 9
    ids = rng.permutation(n) + 100
    probe_ids = ids.copy()
    gallery_ids = rng.permutation(ids)
    dist = rng.rand(n, n)
    ours = cmc_from_distance(dist, probe_ids, gallery_ids)
    # independent: sort each row, find the position of the true match
    hits = np.zeros(n)
    for i in range(n):
        order = np.argsort(dist[i])
        pos = list(gallery_ids[order]).index(probe_ids[i])
        hits[pos:] += 1
    np.testing.assert_allclose(ours, hits / n)
    assert ours[-1] == 1.0
    # ties are ranked as in the deep rows' evaluation (pessimistic): a constant distance gets no
    # credit before the last rank, not a perfect score
    flat = cmc_from_distance(np.ones((n, n)), probe_ids, gallery_ids)
    np.testing.assert_allclose(flat, np.r_[np.zeros(n - 1), 1.0])


def test_as_percent_cmc_scales_and_pads():
    assert cache.as_percent_cmc([0.5, 1.0]) == [50.0] + [100.0] * 19
    c = cache.as_percent_cmc(list(np.linspace(10, 100, 25)))
    assert len(c) == 20 and c[0] == 10.0


def test_table_shares_units_skips_finished_and_reports_paper_numbers(synth_opts):
    rows = T2_ROWS
    rep = runner.run_table("table2", rows, synth_opts, units=FAKE_UNITS, log=quiet)
    # every unit computed once per (dataset, trial); the broken one is attempted
    assert sorted(CALLS).count(("rcn/deep_rcn", "ilidsvid", 0)) == 1
    assert len([c for c in CALLS if c[0] == "rcn/rcn_ind"]) == 4
    # Table 3's "Average pooling" and a derived row reuse the cached Deep RCN: no recomputation
    CALLS.clear()
    t3 = [Row("Max pooling", "derived"), Row("Average pooling", "rcn/deep_rcn"),
          Row("Fisher vector pooling", "broken")]
    rep3 = runner.run_table("table3", t3, synth_opts, units=FAKE_UNITS, log=quiet)
    assert [c for c in CALLS if c[0] == "rcn/deep_rcn"] == []
    assert len([c for c in CALLS if c[0] == "derived"]) == 4
    avg = rep3["rows"][1]["ours"]["prid2011"]
    deep = rep["rows"][3]["ours"]["prid2011"]
    assert avg["mean"] == deep["mean"]
    # mean and population std over trials against numpy
    per = np.array([fake_cmc("rcn/deep_rcn", "prid2011", t) for t in (0, 1)])
    np.testing.assert_allclose(deep["mean"], per.mean(0)[[0, 4, 9, 19]])
    np.testing.assert_allclose(deep["std"], per.std(0)[[0, 4, 9, 19]])
    # a second run computes nothing (only the uncached failing row is retried)
    CALLS.clear()
    runner.run_table("table2", rows, synth_opts, units=FAKE_UNITS, log=quiet)
    assert {c[0] for c in CALLS} == {"broken"}


def test_markdown_and_json_hold_paper_numbers_and_not_run_reasons(synth_opts):
    runner.run_table("table2", T2_ROWS, synth_opts, units=FAKE_UNITS, log=quiet)
    res = synth_opts.results
    md = open(os.path.join(res, "table2.md"), encoding="utf-8").read()
    paper = json.load(open(table_report.PAPER_NUMBERS))["tables"]["table2"]["rows"]
    titles = {"ilidsvid": "iLIDS-VID", "prid2011": "PRID2011"}
    for prow in paper:
        for d, title in titles.items():
            cells = md_cells(md, title, prow["name"])
            for col, value in zip(cells[2:6], prow[d]):
                assert "paper %.1f" % value in col, (prow["name"], d, col)
    # ours and the difference in the Deep RCN cell, ilidsvid R=10
    cells = md_cells(md, "iLIDS-VID", "Deep RCN (5 x 5, 5 x 5)")
    per = np.array([fake_cmc("rcn/deep_rcn", "ilidsvid", t) for t in (0, 1)])[:, 9]
    m = re.match(r"([\d.]+) ± ([\d.]+) \(paper 86\.4, Δ ([+-][\d.]+)\)", cells[4])
    assert m, cells[4]
    assert float(m.group(1)) == pytest.approx(per.mean(), abs=0.051)
    assert float(m.group(3)) == pytest.approx(per.mean() - 86.4, abs=0.051)
    # rows that cannot run are shown with the reason, never dropped
    vgg = md_cells(md, "PRID2011", "VGG 16 + FC-GRU")
    assert "VGG16_WEIGHTS" in vgg[-1] and vgg[2].startswith("not run")
    broken = md_cells(md, "iLIDS-VID", "Deep RCN (9 x 9, 1 x 1)")
    assert "ValueError" in broken[-1]
    rep = json.load(open(os.path.join(res, "table2.json")))
    err = rep["rows"][2]["ours"]["ilidsvid"]["errors"]["0"]
    assert "shape mismatch" in err["error"] and "Traceback" in err["error"]
    assert rep["rows"][1]["ours"]["ilidsvid"]["status"] == "not run"


def test_interrupted_run_resumes(synth_opts):
    state = {"interrupt": True}

    def flaky(ctx):
        if ctx.trial == 1 and state["interrupt"]:
            raise KeyboardInterrupt
        CALLS.append(("flaky", ctx.dataset, ctx.trial))
        return {"cmc": fake_cmc("flaky", ctx.dataset, ctx.trial)}

    units = dict(FAKE_UNITS, flaky=flaky)
    rows = [Row("Deep RCN", "flaky")]
    with pytest.raises(KeyboardInterrupt):
        runner.run_table("table4", rows, synth_opts, units=units, log=quiet)
    assert CALLS == [("flaky", "ilidsvid", 0)]
    assert os.path.exists(cache.cache_path(synth_opts, "ilidsvid", 0, "flaky"))
    assert not os.path.exists(os.path.join(synth_opts.results, "table4.md"))
    state["interrupt"] = False
    CALLS.clear()
    rep = runner.run_table("table4", rows, synth_opts, units=units, log=quiet)
    assert ("flaky", "ilidsvid", 0) not in CALLS
    assert sorted(CALLS) == [("flaky", "ilidsvid", 1), ("flaky", "prid2011", 0),
                             ("flaky", "prid2011", 1)]
    assert rep["rows"][0]["ours"]["ilidsvid"]["trials_done"] == [0, 1]


def test_single_trial_and_row_then_collect(synth_opts):
    import dataclasses
    one = dataclasses.replace(synth_opts, trials=(1,), rows=("RCN-Ind",), datasets=("prid2011",))
    runner.run_table("table2", T2_ROWS, one, units=FAKE_UNITS, log=quiet)
    assert CALLS == [("rcn/rcn_ind", "prid2011", 1)]
    CALLS.clear()
    coll = dataclasses.replace(synth_opts, collect_only=True)
    rep = runner.run_table("table2", T2_ROWS, coll, units=FAKE_UNITS, log=quiet)
    assert CALLS == []
    ind = rep["rows"][0]["ours"]["prid2011"]
    assert ind["trials_done"] == [1] and ind["status"] == "partial"
    assert "trial 0 not computed yet" in ind["reason"]
    assert rep["rows"][3]["ours"]["prid2011"]["status"] == "not run"
    with pytest.raises(runner.UserError):
        runner.run_table("table2", T2_ROWS, dataclasses.replace(one, rows=("Nope",)),
                         units=FAKE_UNITS, log=quiet)


def test_parallel_jobs_fill_the_same_cache(synth_opts):
    import dataclasses
    opts = dataclasses.replace(synth_opts, jobs=2, data="real", ilidsvid=__file__, prid=__file__,
                               rows=("RCN-Ind", "Deep RCN (5 x 5, 5 x 5)"))
    rep = runner.run_table("table2", T2_ROWS, opts,
                           units="tests.test_experiments_runner:FAKE_UNITS", log=quiet)
    assert CALLS == []          # the work happened in the worker processes
    for d in runner.DATASETS:
        for t in (0, 1):
            path = cache.cache_path(opts, d, t, "rcn/rcn_ind")
            assert json.load(open(path))["cmc"] == pytest.approx(fake_cmc("rcn/rcn_ind", d, t))
    assert rep["rows"][0]["ours"]["ilidsvid"]["trials_done"] == [0, 1]


def test_command_line_options(tmp_path):
    p = cli.build_parser("table2", "x")
    o = cli.options_from_args(p.parse_args(["--trials", "3", "--data", "synthetic"]))
    assert o.trials == (0, 1, 2) and o.data == "synthetic"
    o = cli.options_from_args(p.parse_args(["--trial", "7", "--row", "RCN-Ind"]))
    assert o.trials == (7,) and o.rows == ("RCN-Ind",)
    assert cli.options_from_args(p.parse_args(["--trials", "2-4,9"])).trials == (2, 3, 4, 9)
    for bad in (["--trials", "11"], ["--trial", "10"], ["--jobs", "0"]):
        with pytest.raises(runner.UserError):
            cli.options_from_args(p.parse_args(bad))
    missing = Options(data="real", ilidsvid=str(tmp_path / "none.h5"), results=str(tmp_path))
    with pytest.raises(runner.UserError, match="ILIDSVID_H5"):
        runner.run_table("table2", T2_ROWS, missing, units=FAKE_UNITS, log=quiet)


def test_reading_and_overrides_are_cached_and_reported_apart(synth_opts):
    """READING=literal and --set runs get their own cache and run folders and say so."""
    import dataclasses
    rows = [Row("Deep RCN (5 x 5, 5 x 5)", "rcn/deep_rcn")]
    one = dataclasses.replace(synth_opts, trials=(0,), datasets=("ilidsvid",))
    runner.run_table("table2", rows, one, units=FAKE_UNITS, log=quiet)
    lit = dataclasses.replace(one, reading="literal")
    setting = dataclasses.replace(one, overrides=("train.epochs=1",))
    tags = {one.run_tag, lit.run_tag, setting.run_tag}
    assert len(tags) == 3 and "literal" in lit.run_tag
    CALLS.clear()
    rep = runner.run_table("table2", rows, lit, units=FAKE_UNITS, log=quiet)
    assert CALLS == [("rcn/deep_rcn", "ilidsvid", 0)]      # not the default reading's result
    assert rep["reading"] == "literal"
    cached = json.load(open(cache.cache_path(lit, "ilidsvid", 0, "rcn/deep_rcn")))
    assert cached["reading"] == "literal" and cached["overrides"] == []
    rep = runner.run_table("table2", rows, setting, units=FAKE_UNITS, log=quiet)
    assert rep["overrides"] == ["train.epochs=1"] and len(CALLS) == 2
    md = open(os.path.join(setting.results, "table2.md"), encoding="utf-8").read()
    assert "READING=default" in md and "--set train.epochs=1" in md
    p = cli.build_parser("table2", "x")
    o = cli.options_from_args(p.parse_args(["--reading", "literal", "--set", "train.epochs=2"]))
    assert o.reading == "literal" and o.overrides == ("train.epochs=2",)
    for bad in (["--reading", "loose"], ["--set", "train.nope=1"]):
        with pytest.raises(runner.UserError):
            cli.options_from_args(p.parse_args(bad))


def test_report_names_the_protocol_and_split_source_beside_the_papers(tmp_path):
    """Each dataset section says which protocol and split source the numbers came from."""
    from rcnreid.data.synthetic import make_synthetic_h5
    path = str(tmp_path / "prid.h5")
    make_synthetic_h5(path, layout="prid2011", persons=6, seed=0)
    info = datasets.describe_dataset(path)
    assert info["protocol"].startswith("prid2011") and info["persons"] == 6
    assert info["split_source"].startswith("seed")
    opts = Options(data="real", prid=path, trials=(0,), datasets=("prid2011",),
                   results=str(tmp_path / "res"))
    rep = runner.run_table("table2", [Row("RCN-Ind", "rcn/rcn_ind")], opts,
                           units=FAKE_UNITS, log=quiet)
    assert rep["dataset_info"]["prid2011"]["protocol"] == info["protocol"]
    assert "178" in rep["dataset_info"]["prid2011"]["paper"]
    md = open(os.path.join(opts.results, "table2.md"), encoding="utf-8").read()
    section = md.split("## PRID2011")[1]
    assert ("protocol %s, 6 persons, splits from %s" % (info["protocol"], info["split_source"])
            in section) and "Paper: 200 persons" in section
