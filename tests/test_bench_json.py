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
