"""`python -m rcnreid.bench --json` runs on a tiny configuration and reports every key."""
import json
import subprocess
import sys

from rcnreid.bench import KEYS
from rcnreid.summary import gflop_per_sequence
from rcnreid.model_config import MODEL_PRESETS


def test_bench_json_has_every_key():
    out = subprocess.run([sys.executable, "-m", "rcnreid.bench", "--config", "tiny", "--json",
                          "--steps", "2", "--warmup", "1"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    d = json.loads(out.stdout)
    assert set(KEYS) <= set(d)
    assert d["config"] == "tiny" and d["steps_timed"] == 2
    for k in KEYS[1:-1]:
        assert d[k] > 0, k
    assert abs(d["gflop_per_sequence"] - gflop_per_sequence(MODEL_PRESETS["tiny"], 4)) < 1e-12
    assert abs(d["train_gflops"] - 3 * d["gflop_per_sequence"] * d["train_sequences_per_s"]) < 1e-9
    assert {"floatX", "device", "blas_ldflags"} <= set(d["device"])


def test_bench_unknown_config_is_one_line_error():
    out = subprocess.run([sys.executable, "-m", "rcnreid.bench", "--config", "nope"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "cpu" in out.stderr and "Traceback" not in out.stderr


def test_bench_compare_times_every_form_and_reports_speedups():
    from rcnreid.bench import FORMS, compare_forms, format_comparison
    c = compare_forms("tiny", steps=1, warmup=0)
    assert set(c["forms"]) == set(FORMS) and c["steps_timed"] == 1
    naive = c["forms"]["naive"]
    for form, r in c["forms"].items():
        assert r["form"] == form and r["train_step_s"] > 0 and r["infer_sequences_per_s"] > 0
        assert abs(c["speedup"][form]["train"] - naive["train_step_s"] / r["train_step_s"]) < 1e-9
    assert c["speedup"]["naive"] == {"train": 1.0, "infer": 1.0}
    text = format_comparison(c)
    assert all(form in text for form in FORMS) and "speed-up" in text
