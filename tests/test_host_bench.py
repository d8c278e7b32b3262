"""The host-cost benchmark (rcnreid.diagnostics.host_bench, issue 28.3) runs and reports what it
says: checkpoint parts of the configuration's size, and the prefetch comparison (here with the
stand-in step, which compiles nothing)."""
import json

from rcnreid.diagnostics import host_bench


def test_prefetch_with_a_stand_in_step(capsys):
    assert host_bench.main(["prefetch", "--config", "tiny", "--steps", "2",
                            "--per-round", "3", "--stand-in-step", "0.05"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["config"] == "tiny" and r["rounds"] == 2 and r["steps_per_round"] == 3
    assert r["step"] == "stand-in: a 0.05 s GIL-free wait"
    assert r["prepare_s"] > 0
    # each timed round is three waits of 0.05 s, with or without the preparation beside them
    assert r["step_prefetch_on_s"] >= 0.05 and r["step_prefetch_off_s"] >= 0.05


def test_checkpoint_cost_parts(tmp_path, capsys):
    assert host_bench.main(["checkpoint", "--config", "tiny", "--repeats", "1",
                            "--folder", str(tmp_path)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["config"] == "tiny" and r["repeats"] == 1 and r["file_mib"] > 0
    assert all(r[k] > 0 for k in ("checksum_s", "save_s", "load_s"))
    assert list(tmp_path.iterdir()) == []            # its temporary folder is gone
