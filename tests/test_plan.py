"""experiments.plan (``make plan``): units, steps and device hours from a measured step.

No data files, no compilation: the protocol's person counts and the paper profile. Cost: about
3 s.
"""
import json
import os

import pytest

from experiments import plan, unit_graph
from experiments.cache import cache_path
from experiments.options import Options
from rcnreid.configs.registry import get_config
from rcnreid.errors import UserError
from rcnreid.nn.summary import gflop_per_sequence


def _opts(tmp_path, **kw):
    kw.setdefault("trials", tuple(range(10)))
    return Options(results=str(tmp_path), ilidsvid=str(tmp_path / "none-i.h5"),
                   prid=str(tmp_path / "none-p.h5"), **kw)


def _by(p, key, dataset, trial=0):
    return [u for u in p["units"]
            if (u["key"], u["dataset"], u["trial"]) == (key, dataset, trial)][0]


def test_the_issue_28_arithmetic(tmp_path):
    """1.20 s per paper step: an iLIDS-VID Deep RCN training is 15,000 steps = 5.0 h, PRID 2011
    10,000 = 3.33 h; Table 2's three trained rows x 2 datasets x 10 trials, each scaled by its
    FLOPs, about 233 h of training."""
    step = plan.measured_step(1.2)
    p = plan.build_plan("table2", _opts(tmp_path), step)
    assert _by(p, "rcn/deep_rcn", "ilidsvid")["train_hours"] == pytest.approx(5.0)
    assert _by(p, "rcn/deep_rcn", "prid2011")["train_hours"] == pytest.approx(10000 * 1.2 / 3600)
    # other rows: by their forward GFLOP per sequence (same T and batch) relative to deep_rcn
    base = gflop_per_sequence(get_config("deep_rcn").model)
    for row in ("rcn_ind", "deep_rcn_9x9_1x1"):
        ratio = gflop_per_sequence(get_config(row).model) / base
        assert _by(p, "rcn/" + row, "ilidsvid")["train_hours"] == pytest.approx(5.0 * ratio)
        assert ratio < 1
    train_h = sum(u["train_hours"] for u in p["units"] if not u["not_run"])
    assert 225 < train_h < 240
    # evaluation is estimated, and small beside training (10 augmentations of 150 x 2 x 73
    # frames against 15,000 steps of 20 x 20 frames x 3)
    ev = _by(p, "rcn/deep_rcn", "ilidsvid")["eval_hours"]
    assert ev == pytest.approx(5.0 * (10 * 300 * 73) / (15000 * 3 * 20 * 20))
    assert p["tables"][0]["gpu_hours"] == pytest.approx(
        sum(u["hours"] for u in p["units"]))
    assert p["tables"][0]["trainings"] == 60          # VGG's row cannot run without weights


def test_the_paper_trains_a_fourth_network_for_table3_and_counts_shared_units_once(tmp_path):
    p = plan.build_plan("paper", _opts(tmp_path), plan.measured_step(1.2))
    per = {t["table"]: t for t in p["tables"]}
    assert per["table3"]["trainings"] == 20           # pool_max x 2 datasets x 10 trials
    assert per["table4"]["trainings"] == per["table5"]["trainings"] == 0
    t3 = plan.build_plan("table3", _opts(tmp_path), plan.measured_step(1.2))
    assert t3["tables"][0]["trainings"] == 40         # alone: also the average-pooled Deep RCN
    assert 12.5 < p["total"]["gpu_days"] < 14
    ids = [u["id"] for u in p["units"]]
    assert len(ids) == len(set(ids))


def test_finished_units_are_marked_and_left_out(tmp_path):
    opts = _opts(tmp_path, trials=(0, 1), datasets=("ilidsvid",))
    before = plan.build_plan("table4", opts, plan.measured_step(1.2))
    path = cache_path(opts, "ilidsvid", 1, "rcn/deep_rcn")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        json.dump({"cmc": [50.0] * 20}, f)
    after = plan.build_plan("table4", opts, plan.measured_step(1.2))
    u = _by(after, "rcn/deep_rcn", "ilidsvid", 1)
    assert u["finished"] and u["hours"] == 0
    assert not _by(after, "rcn/deep_rcn", "ilidsvid", 0)["finished"]
    lost = _by(before, "rcn/deep_rcn", "ilidsvid", 1)["hours"]
    assert after["total"]["gpu_hours"] == pytest.approx(before["total"]["gpu_hours"] - lost)
    assert after["tables"][0]["finished"] == 1
    assert "finished" in plan.format_plan(after)


def test_schedule_hands_tasks_in_order_to_the_first_free_job():
    assert plan.schedule([3, 3, 3], 2) == 6
    assert plan.schedule([4, 1, 1, 1], 2) == 4
    assert plan.schedule([1, 1], 2, speedup=1.0) == 2      # two jobs sharing one GPU
    assert plan.schedule([2, 2], 1) == 4


def test_wall_time_with_jobs(tmp_path):
    opts = _opts(tmp_path, datasets=("ilidsvid",), trials=(0, 1, 2, 3))
    one = plan.build_plan("table4", opts, plan.measured_step(1.2), jobs=1)
    four = plan.build_plan("table4", opts, plan.measured_step(1.2), jobs=4)
    assert one["total"]["wall_hours"] == pytest.approx(one["total"]["gpu_hours"])
    assert four["total"]["wall_hours"] == pytest.approx(one["total"]["gpu_hours"] / 4)
    shared = plan.build_plan("table4", opts, plan.measured_step(1.2), jobs=2, speedup=1.5)
    assert shared["total"]["wall_hours"] == pytest.approx(one["total"]["gpu_hours"] / 1.5)


def test_the_step_from_a_bench_json(tmp_path):
    """A bench report of the paper config at 2.4 s per step doubles every estimate."""
    cfg = get_config("paper")
    bench = {"config": "paper", "train_step_s": 2.4, "pairs_per_step": 10, "t_len": 20,
             "gflop_per_sequence": gflop_per_sequence(cfg.model, 20),
             "device": {"device": "cuda", "device_name": "Some GPU"}}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench))
    step = plan.measured_step(bench_json=str(path))
    assert step.device == "Some GPU"
    assert step.gflop == pytest.approx(plan.measured_step(1.2).gflop)
    opts = _opts(tmp_path, trials=(0,), datasets=("prid2011",))
    a = plan.build_plan("table4", opts, step)
    b = plan.build_plan("table4", opts, plan.measured_step(1.2))
    assert a["total"]["gpu_hours"] == pytest.approx(2 * b["total"]["gpu_hours"])


def test_a_cpu_step_measured_with_fewer_pairs_is_scaled_to_the_batch(tmp_path):
    """``rcnreid bench --config cpu`` times 2 pairs; a training step has 10."""
    step = plan.measured_step(1.0, step_config="cpu")
    opts = _opts(tmp_path, profile="cpu", trials=(0,), datasets=("ilidsvid",))
    p = plan.build_plan("table4", opts, step)
    assert _by(p, "rcn/deep_rcn", "ilidsvid")["train_hours"] == pytest.approx(
        100 * 30 * 5 * 1.0 / 3600)


@pytest.mark.parametrize("kw,match", [
    (dict(step_s=1.0, bench_json="x.json"), "give one of them"),
    (dict(step_s=1.0, from_run="/x"), "give one of them"),
    (dict(from_run="/nonexistent/run"), "no config.json"),
    (dict(step_s=-1.0), "positive"),
    (dict(bench_json="/nonexistent/b.json"), "cannot read"),
    (dict(step_config="cpu"), "--step-s"),
])
def test_bad_step_options_are_one_line(kw, match):
    with pytest.raises(UserError, match=match):
        plan.measured_step(**kw)


def test_a_file_that_is_not_a_bench_report(tmp_path):
    path = tmp_path / "b.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(UserError, match="not the output of `rcnreid bench --json`"):
        plan.measured_step(bench_json=str(path))


def test_command_line(tmp_path, capsys):
    rc = plan.main(["2", "--results", str(tmp_path), "--ilidsvid", str(tmp_path / "i.h5"),
                    "--prid", str(tmp_path / "p.h5"), "--trials", "2", "--json"])
    assert rc == 0
    p = json.loads(capsys.readouterr().out)
    assert p["target"] == "table2" and p["trials"] == [0, 1]
    assert p["step"]["seconds"] == plan.H200_PAPER_STEP_S
    assert {u["key"] for u in p["units"]} == {u.key for u in unit_graph.table_units(
        "table2", _opts(tmp_path, trials=(0, 1)))}
    rc = plan.main(["paper", "--results", str(tmp_path), "--step-s", "0", "--trials", "1"])
    assert rc == 2
    assert capsys.readouterr().err.strip() == \
        "plan: error: --step-s 0.0: must be a positive number of seconds"
    text_rc = plan.main(["table5", "--results", str(tmp_path), "--trials", "1",
                         "--ilidsvid", str(tmp_path / "i.h5"), "--prid", str(tmp_path / "p.h5")])
    out = capsys.readouterr().out
    assert text_rc == 0 and "deep_metric/LFDA" in out and "rcn/deep_rcn" in out
    assert "Wall time with JOBS=1" in out


def test_the_step_from_a_trainings_log(tmp_path):
    """Seconds per epoch / mini-batches per epoch (the last one may be partial), median over
    epochs; the run's own configuration."""
    from rcnreid.engine.trainlog import LOG_NAME
    cfg = get_config("quick")
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    with pytest.raises(UserError, match="no finished epoch"):
        plan.measured_step(from_run=str(tmp_path))
    rows = [{"epoch": 1, "pairs": 24, "seconds": 30.0}, {"epoch": 2, "pairs": 24, "seconds": 6.0},
            {"epoch": 3, "pairs": 24, "seconds": 9.0}]
    (tmp_path / LOG_NAME).write_text("".join(json.dumps(r) + "\n" for r in rows))
    step = plan.measured_step(from_run=str(tmp_path), device="this CPU")
    assert step.seconds == 3.0                  # 24 pairs -> 3 mini-batches of 10; median 9/3
    assert step.config == cfg.name and step.device == "this CPU"
    assert step.gflop == pytest.approx(plan.step_gflop(cfg))
