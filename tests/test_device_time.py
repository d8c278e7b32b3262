"""The device time a table took: each unit's own seconds and device, summed into tableN.json/.md.

A fake clock stands in for the wall clock, so the sums are exact: each fake training advances it
by 100 s, and nothing else does. Cost: about 5 s (tiny synthetic data, no Theano compilation).
"""
import json
import os
import shutil

import pytest

from experiments import device_time, runner, unit_graph
from experiments import units as units_mod
from experiments.cache import cache_path
from experiments.options import Options
from tests.test_unit_graph import _fake_leaves, synthetic_file  # noqa: F401 - a fixture


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now


def _run(tmp_path, monkeypatch, synthetic_file, table, reading="default"):  # noqa: F811
    clock = FakeClock()
    monkeypatch.setattr(runner, "time", clock)
    trained = _fake_leaves(monkeypatch)
    real_run_trial = units_mod.run_trial

    def run_trial(*a, **k):
        clock.now += 100.0
        return real_run_trial(*a, **k)
    monkeypatch.setattr(units_mod, "run_trial", run_trial)
    opts = Options(data="synthetic", profile="test", trials=(0, 1), datasets=("ilidsvid",),
                   results=str(tmp_path), reading=reading)
    from experiments.datasets import synthetic_path
    os.makedirs(os.path.dirname(synthetic_path(opts, "ilidsvid")))
    shutil.copy(synthetic_file, synthetic_path(opts, "ilidsvid"))
    report = runner.run_table(table, unit_graph.table_rows(table), opts, units=units_mod.UNITS,
                              log=lambda *a: None)
    return opts, report, trained


def test_units_record_their_own_seconds_and_device(tmp_path, monkeypatch,
                                                   synthetic_file):  # noqa: F811
    opts, report, trained = _run(tmp_path, monkeypatch, synthetic_file, "table3")
    with open(cache_path(opts, "ilidsvid", 0, "rcn/pool_average")) as f:
        avg = json.load(f)
    with open(cache_path(opts, "ilidsvid", 0, "rcn/deep_rcn")) as f:
        deep = json.load(f)
    # pool_average computed deep_rcn's training inside its own call: 100 s, none of it its own
    assert (avg["seconds"], avg["own_seconds"]) == (100.0, 0.0)
    assert (deep["seconds"], deep["own_seconds"]) == (100.0, 100.0)
    assert deep["device"].startswith("CPU: ")
    dt = report["device_time"]
    assert dt["seconds"] == 100.0 * len(trained)           # every training once: 2 nets x 2 trials
    assert len(trained) == 4
    assert dt["units_timed"] == 10 and dt["units_pending"] == 0
    assert list(dt["by_device"]) == [deep["device"]]
    with open(os.path.join(str(tmp_path), "table3.json")) as f:
        assert json.load(f)["device_time"]["seconds"] == 400.0
    with open(os.path.join(str(tmp_path), "table3.md")) as f:
        md = f.read()
    assert "Device time: 0.11 h on CPU: " in md          # 400 s


def test_table5_counts_the_deep_rcn_it_needs_though_no_row_shows_it(
        tmp_path, monkeypatch, synthetic_file):  # noqa: F811
    _, report, trained = _run(tmp_path, monkeypatch, synthetic_file, "table5")
    assert trained == ["deep_rcn", "deep_rcn"]
    assert report["device_time"]["seconds"] == 200.0


def test_older_results_without_own_seconds():
    assert device_time.unit_seconds({"seconds": 5.0}, False) == (5.0, device_time.NOT_RECORDED)
    assert device_time.unit_seconds({"seconds": 5.0}, True) == (None, None)
    assert device_time.unit_seconds({"seconds": 5.0, "own_seconds": 1.0, "device": "X"},
                                    True) == (1.0, "X")
    line = device_time.format_device_time(
        {"seconds": 7200.0, "by_device": {"NVIDIA H200 (cuda)": 7200.0}, "units_timed": 3,
         "units_untimed": 1, "units_pending": 2})
    assert line.startswith("Device time: 2.00 h on NVIDIA H200 (cuda) (3 finished units, "
                           "1 older results")
    assert "2 units not finished" in line
    assert device_time.format_device_time(
        {"seconds": 0.0, "by_device": {}, "units_timed": 0, "units_untimed": 0,
         "units_pending": 5}) == "Device time: nothing finished yet."


def test_device_label_says_cpu_without_a_gpu_backend(monkeypatch):
    import sys
    monkeypatch.delitem(sys.modules, "rcnreid.backend.theano_config", raising=False)
    label = device_time.device_label()
    assert label.startswith("CPU: ") and label.endswith("cores")


if __name__ == "__main__":
    pytest.main([__file__])
