"""`rcnreid bench --json` runs on a tiny configuration and reports every key;
`--compare` times the forms round-robin and divides correctly (no timing is asserted)."""
import json
import statistics
import subprocess
import sys
import time

import pytest

from rcnreid.diagnostics.bench import (FORMS, KEYS, _Prepared, bench_setup, child_env,
                                       compare_forms, compare_settings, format_comparison,
                                       format_settings, run_child, thread_settings)
from rcnreid.errors import UserError
from rcnreid.configs.registry import get_config
from rcnreid.nn.summary import gflop_per_sequence


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
    assert abs(d["infer_gflops"] - d["gflop_per_sequence"] * d["infer_sequences_per_s"]) < 1e-9
    assert len(d["train_step_times_s"]) == 2 and len(d["infer_times_s"]) == 2
    assert d["sgemm_gflops"] > 0
    flop = 3 * d["gflop_per_sequence"] * 2 * d["pairs_per_step"]
    assert abs(d["gemm_bound_step_s"] - flop / d["sgemm_gflops"]) < 1e-12
    assert abs(d["step_over_gemm_bound"] - d["train_step_s"] / d["gemm_bound_step_s"]) < 1e-9
    assert d["train_step_s"] == statistics.median(d["train_step_times_s"])
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
    assert naive["infer_gflops"] == naive["gflop_per_sequence"] * naive["infer_sequences_per_s"]
    text = format_comparison(c)
    assert all(form in text for form in FORMS) and "speed-up" in text
    # without the naive form there is nothing to divide by
    assert compare_forms("tiny", forms=("fused",), steps=1, warmup=0,
                         prepare=_FakeForm)["speedup"] == {}


def test_child_env_sets_and_removes_thread_settings():
    base = {"THEANO_FLAGS": "floatX=float32,openmp=True", "OMP_NUM_THREADS": "7", "PATH": "/x"}
    s = thread_settings(cores=2)
    env = child_env(s["openmp-off"], base)
    assert env["THEANO_FLAGS"] == "floatX=float32,openmp=False"
    assert "OMP_NUM_THREADS" not in env and env["OPENBLAS_NUM_THREADS"] == "2"
    assert env["PATH"] == "/x" and base["OMP_NUM_THREADS"] == "7"    # base left unchanged
    env = child_env(s["default"], base)
    assert env["THEANO_FLAGS"] == "floatX=float32" and "OPENBLAS_NUM_THREADS" not in env
    env = child_env(s["openmp-blas1"], base)
    assert (env["OMP_NUM_THREADS"], env["OPENBLAS_NUM_THREADS"]) == ("2", "1")
    assert env["THEANO_FLAGS"].endswith(",openmp=True")


def test_child_env_keeps_a_machines_openblas_settings():
    """A machine whose environment sets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE keeps them in every
    child (``default`` would otherwise unset the first); a setting that would change them is
    refused with one line (issue 25)."""
    base = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576", "PATH": "/x"}
    s = thread_settings(cores=2)
    for name in ("default", "corrmm", "onednn", "openmp-blas1"):
        env = child_env(s[name], base)
        assert (env["OPENBLAS_CORETYPE"], env["OPENBLAS_L2_SIZE"]) == ("Haswell", "1048576"), name
    with pytest.raises(UserError, match="OPENBLAS_CORETYPE=Haswell"):
        child_env(s["corrmm-sse3"], base)
    assert child_env(s["corrmm-sse3"], {"PATH": "/x"})["OPENBLAS_CORETYPE"] == "Prescott"
    assert "OPENBLAS_CORETYPE" not in child_env(s["default"], {"PATH": "/x"})


def test_compare_settings_alternates_processes_and_pools_their_calls():
    order = []

    def fake_run(name, setting, form, steps, warmup, seed, overrides):
        key = [k for k, v in thread_settings().items() if v == setting][0]
        order.append(key)
        k = 1.0 if key == "openmp-off" else 0.5          # the second setting takes half the time
        n = len(order)
        return {"pairs_per_step": 2, "gflop_per_sequence": 3.0, "compile_s": 1.0,
                "sgemm_gflops": 10.0 * n,
                "train_step_s": k * n, "infer_sequences_per_s": 4 / (0.1 * k * n),
                "train_step_times_s": [k * n, k * (n + 0.5)], "infer_times_s": [0.1 * k * n],
                "device": {"openmp": key != "openmp-off", "openmp_threads": 2,
                           "blas_threads": 2}}

    c = compare_settings("tiny", settings=("openmp-off", "openmp"), rounds=3, steps=2,
                         warmup=0, run=fake_run)
    assert order == ["openmp-off", "openmp"] * 3
    off, on = c["settings"]["openmp-off"], c["settings"]["openmp"]
    # pooled medians: calls n, n+0.5 of processes n = 1, 3, 5 (off) and 2, 4, 6 (x 0.5, on)
    approx = pytest.approx
    assert off["train_step_s"] == approx(3.25) and on["train_step_s"] == approx(0.5 * 4.25)
    assert off["infer_s"] == approx(0.3) and on["infer_s"] == approx(0.5 * 0.4)
    assert off["train_gflops"] == approx(3 * 3.0 * 4 / 3.25)
    assert on["infer_gflops"] == approx(3.0 * 4 / 0.2)
    assert c["speedup"]["openmp-off"] == {"train": 1.0, "infer": 1.0}
    assert c["speedup"]["openmp"]["train"] == approx(3.25 / 2.125)
    assert c["speedup"]["openmp"]["infer"] == approx(0.3 / 0.2)
    assert len(off["runs"]) == 3 and on["threads"]["openmp"] is True
    assert off["sgemm_gflops"] == 30.0 and on["sgemm_gflops"] == 40.0
    assert off["step_over_gemm_bound"] == approx(3.25 * 30.0 / (3 * 3.0 * 4))
    assert "openmp-off" in format_settings(c)
    with pytest.raises(UserError, match="nope"):
        compare_settings("tiny", settings=("nope",), run=fake_run)


def test_a_child_process_runs_under_its_setting():
    """The setting reaches the child: it reports the flag and thread counts it ran with."""
    r = run_child("tiny", thread_settings(cores=2)["openmp-blas1"], "fused", 1, 0, 0)
    assert r["device"]["openmp"] is True and r["device"]["openmp_threads"] == 2
    assert r["device"]["blas_threads"] in (None, 1)
    r = run_child("tiny", thread_settings(cores=2)["openmp-off"], "fused", 1, 0, 0)
    assert r["device"]["openmp"] is False and r["device"]["blas_threads"] in (None, 2)
