"""`rcnreid bench --json` runs on a tiny configuration and reports every key;
`--compare` times the forms round-robin and divides correctly (no timing is asserted)."""
import json
import subprocess
import sys
import time

from rcnreid.bench import FORMS, KEYS, _Prepared, bench_setup, compare_forms, format_comparison
from rcnreid.configs import get_config
from rcnreid.summary import gflop_per_sequence


def test_bench_json_has_every_key():
    out = subprocess.run([sys.executable, "-m", "rcnreid", "bench", "--config", "tiny", "--json",
                          "--steps", "2", "--warmup", "1"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    d = json.loads(out.stdout)
    assert set(KEYS) <= set(d)
    assert d["config"] == "tiny" and d["steps_timed"] == 2
    for k in KEYS[1:-1]:
        assert d[k] > 0, k
    assert d["t_len"] == 4 and d["pairs_per_step"] == 2
    assert abs(d["gflop_per_sequence"] - gflop_per_sequence(get_config("tiny").model, 4)) < 1e-12
    assert abs(d["train_gflops"] - 3 * d["gflop_per_sequence"] * d["train_sequences_per_s"]) < 1e-9
    assert {"floatX", "device", "blas_ldflags"} <= set(d["device"])


def test_bench_unknown_config_is_one_line_error():
    """(through the old spelling, ``python -m rcnreid.bench``, an alias of ``rcnreid bench``)"""
    out = subprocess.run([sys.executable, "-m", "rcnreid.bench", "--config", "nope"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "cpu" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "rcnreid.bench", "--config", "tiny",
                          "--set", "model.nope=1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "nope" in out.stderr and "Traceback" not in out.stderr


def test_bench_reads_the_registry_and_its_overrides():
    """The benchmark's sizes are the registry's: T = train.seq_len, pairs = profile.bench_pairs."""
    cfg, t_len, pairs = bench_setup("cpu")
    assert cfg == get_config("cpu") and (t_len, pairs) == (20, 2)
    cfg, t_len, pairs = bench_setup("paper")
    assert cfg.model == get_config("deep_rcn").model and (t_len, pairs) == (20, 10)
    cfg, t_len, _ = bench_setup("quick_rcn_ind", ["model.hidden_channels=[4,4,4]",
                                                  "train.seq_len=6"])
    assert cfg.model.hidden_channels == (4, 4, 4) and cfg.model.stacked is False and t_len == 6


class _FakeForm(_Prepared):
    """A form that is not compiled: its calls only record themselves (the timing loop's order and
    arithmetic are what is tested; the real forms are compiled by test_bench_json_has_every_key
    and tests/test_model_bptt.py)."""
    calls = []

    def __init__(self, name, form, seed, log, overrides=()):
        self.name, self.form = name, form
        run_cfg, self.t_len, self.pairs = bench_setup(name, overrides)
        self.cfg, self.run_name = run_cfg.model, run_cfg.name
        self.compile_train = self.compile_infer = 0.5
        self.cost = {"naive": 3, "fused": 1, "fused-theano-bptt": 2}[form]

    def _work(self, what):
        _FakeForm.calls.append((what, self.form))
        time.sleep(0.002 * self.cost)

    def train_step(self):
        self._work("train")

    def infer(self):
        self._work("infer")


def test_bench_compare_times_forms_round_robin_and_reports_speedups():
    _FakeForm.calls = []
    c = compare_forms("tiny", steps=3, warmup=1, prepare=_FakeForm)
    forms = list(FORMS)
    # round-robin: one call of each form in turn, warm-up included, training before inference
    assert _FakeForm.calls == ([("train", f) for _ in range(4) for f in forms]
                               + [("infer", f) for _ in range(4) for f in forms])
    assert set(c["forms"]) == set(FORMS) and c["steps_timed"] == 3 and c["warmup_steps"] == 1
    naive = c["forms"]["naive"]
    for form, r in c["forms"].items():
        assert r["form"] == form and r["compile_s"] == 1.0
        assert c["speedup"][form]["train"] == naive["train_step_s"] / r["train_step_s"]
        assert (c["speedup"][form]["infer"]
                == r["infer_sequences_per_s"] / naive["infer_sequences_per_s"])
    assert c["speedup"]["naive"] == {"train": 1.0, "infer": 1.0}
    text = format_comparison(c)
    assert all(form in text for form in FORMS) and "speed-up" in text
    # without the naive form there is nothing to divide by
    assert compare_forms("tiny", forms=("fused",), steps=1, warmup=0,
                         prepare=_FakeForm)["speedup"] == {}
