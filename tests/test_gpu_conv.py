"""Issue 28 items 1, 2, 4: the cuDNN convolution choice on CUDA (rcnreid.backend.gpu_conv), the
float-arithmetic settings every report names, the per-job GPU memory share of JOBS=N, and the
pieces of gpu-check / bench that need no device. No GPU is needed and nothing compiles a graph
(about 10 s, most of it the one subprocess that configures Theano for device=cuda)."""
import multiprocessing
import os
import queue
import subprocess
import sys

import numpy as np
import pytest

from rcnreid.backend import gpu_conv
from rcnreid.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_choice_names_values_that_theano_accepts():
    """The flag values are those Theano-PyMC 1.1.2 lists as supported (a typo would make Theano
    refuse THEANO_FLAGS on every CUDA run)."""
    from rcnreid.backend.theano_env import theano     # first: it configures Theano
    from theano import configdefaults as cd
    supported = {"dnn__conv__algo_fwd": cd.SUPPORTED_DNN_CONV_ALGO_FWD,
                 "dnn__conv__algo_bwd_data": cd.SUPPORTED_DNN_CONV_ALGO_BWD_DATA,
                 "dnn__conv__algo_bwd_filter": cd.SUPPORTED_DNN_CONV_ALGO_BWD_FILTER}
    for name, choice in gpu_conv.CHOICES.items():
        assert list(choice["flags"]) == list(gpu_conv.FLAG_KEYS), name
        for key, value in choice["flags"].items():
            assert value in supported[key], (name, key, value)
    assert dict(gpu_conv.CHOICES["theano-default"]["flags"]) == gpu_conv.THEANO_DEFAULTS
    for key, value in gpu_conv.THEANO_DEFAULTS.items():     # Theano's own defaults, as recorded
        assert theano.config._config_var_dict[key].default == value, key


def test_deterministic_flag_of_each_choice_follows_cudnn_documentation():
    """cuDNN documents ALGO_0 of both gradients (Theano's 'none') as non-deterministic, and
    lets time_*/guess_* pick it; only 'deterministic' (ALGO_1) is safe for the gradients."""
    for name, choice in gpu_conv.CHOICES.items():
        grads = [choice["flags"]["dnn__conv__algo_bwd_data"],
                 choice["flags"]["dnn__conv__algo_bwd_filter"]]
        want = all(v == "deterministic" for v in grads)
        assert choice["deterministic"] is want, name
        assert gpu_conv.flags_deterministic(choice["flags"]) is want, name
    assert gpu_conv.CHOICES[gpu_conv.CUDA_DEFAULT]["deterministic"]
    assert not gpu_conv.CUDA_DEFAULT_MEASURED   # no device measurement recorded yet


def test_nothing_is_added_off_cuda():
    for device in ("cpu", "opencl0:0"):
        p = gpu_conv.plan(device, {}, {"RCNREID_GPU_CONV": "time_once"})
        assert p["applied"] is False and not p["flags"] and p["preallocate"] is None


def test_cuda_default_is_deterministic_and_says_provisional():
    p = gpu_conv.plan("cuda0", {}, {})
    assert p["applied"] and p["choice"] == "deterministic"
    assert dict(p["flags"]) == dict(gpu_conv.CHOICES["deterministic"]["flags"])
    assert p["deterministic"] is True and "provisional" in p["source"]
    assert p["preallocate"] is None      # no cuDNN timing, one job: Theano's default pool


def test_the_users_flags_win_one_by_one():
    user = {"dnn__conv__algo_bwd_filter": "none", "device": "cuda"}
    p = gpu_conv.plan("cuda", user, {"RCNREID_GPU_CONV": "deterministic"})
    assert "dnn__conv__algo_bwd_filter" not in p["flags"]
    assert p["flags"]["dnn__conv__algo_bwd_data"] == "deterministic"
    assert p["in_force"]["dnn__conv__algo_bwd_filter"] == "none"
    assert p["deterministic"] is False            # the user's ALGO_0 is reported as such
    assert "dnn__conv__algo_bwd_filter" in p["source"]
    assert gpu_conv.name_of(p["in_force"]) == "custom"


@pytest.mark.parametrize("jobs, share", [("", 0.9), ("1", 0.9), ("2", 0.45), ("4", 0.225)])
def test_timing_choices_get_the_memory_pool_shared_by_the_jobs(jobs, share):
    env = {"RCNREID_GPU_CONV": "fastest", "RCNREID_JOBS_PER_GPU": jobs}
    p = gpu_conv.plan("cuda", {}, env)
    assert p["choice"] == "time_once" and p["source"] == "RCNREID_GPU_CONV"
    assert abs(p["preallocate"] - share) < 1e-12
    p = gpu_conv.plan("cuda", {"gpuarray__preallocate": "0.5"}, env)
    assert p["preallocate"] is None                                 # the user's pool wins


def test_several_jobs_share_memory_whatever_the_algorithms():
    p = gpu_conv.plan("cuda", {}, {"RCNREID_JOBS_PER_GPU": "3", "RCNREID_GPU_MEMORY": "0.6"})
    assert abs(p["preallocate"] - 0.2) < 1e-12 and p["jobs_per_gpu"] == 3


@pytest.mark.parametrize("env, words", [
    ({"RCNREID_GPU_CONV": "fastst"}, ["RCNREID_GPU_CONV=fastst", "deterministic", "fastest"]),
    ({"RCNREID_JOBS_PER_GPU": "0"}, ["RCNREID_JOBS_PER_GPU=0", ">= 1"]),
    ({"RCNREID_JOBS_PER_GPU": "two"}, ["RCNREID_JOBS_PER_GPU=two"]),
    ({"RCNREID_GPU_MEMORY": "1.5"}, ["RCNREID_GPU_MEMORY=1.5", "between 0 and 1"]),
])
def test_bad_settings_are_one_line_errors(env, words):
    with pytest.raises(UserError) as e:
        gpu_conv.plan("cuda", {}, env)
    assert all(w in str(e.value) for w in words) and "\n" not in str(e.value)


def test_unknown_choice_is_refused_on_the_cpu_too():
    with pytest.raises(UserError):
        gpu_conv.plan("cpu", {}, {"RCNREID_GPU_CONV": "nope"})


def test_theano_config_writes_the_choice_into_theano_flags_for_cuda():
    """Started for device=cuda (pygpu hidden, so the start stops with its one-line error after
    the flags are written): the choice's flags the user did not set are added, the user's kept."""
    code = ("import os, sys; sys.modules['pygpu'] = None\n"
            "try:\n    import rcnreid.backend.theano_env\nexcept Exception as e:\n"
            "    print(type(e).__name__)\nprint(os.environ['THEANO_FLAGS'])\n")
    env = dict(os.environ, THEANO_FLAGS="device=cuda,dnn__conv__algo_fwd=fft",
               RCNREID_GPU_CONV="time_once", RCNREID_JOBS_PER_GPU="2")
    env.pop("THEANORC", None)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    lines = r.stdout.split()
    assert lines[0] == "GPUBackendError", r.stdout + r.stderr
    flags = dict(item.split("=", 1) for item in lines[1].split(","))
    assert flags["dnn__conv__algo_fwd"] == "fft"
    assert flags["dnn__conv__algo_bwd_data"] == "time_once"
    assert flags["dnn__conv__algo_bwd_filter"] == "time_once"
    assert float(flags["gpuarray__preallocate"]) == 0.45
    assert lines[1].count("dnn__conv__algo_fwd=") == 1


def test_float_arithmetic_names_device_algorithms_and_tf32():
    fa = gpu_conv.float_arithmetic({"device": "cuda1"}, {"NVIDIA_TF32_OVERRIDE": "0"})
    assert fa["device"] == "cuda1" and fa["cudnn_conv"] == gpu_conv.CUDA_DEFAULT
    assert fa["deterministic_conv"] is True and fa["tf32"].startswith("off")
    fa = gpu_conv.float_arithmetic({"device": "cuda", "dnn__conv__algo_bwd_data": "none",
                                    "dnn__conv__algo_bwd_filter": "none",
                                    "dnn__conv__algo_fwd": "small"}, {})
    assert fa["cudnn_conv"] == "theano-default" and fa["deterministic_conv"] is False
    assert fa["tf32"].startswith("allowed")
    line = gpu_conv.summary(fa)
    assert "theano-default" in line and "not deterministic" in line and "TF32 allowed" in line
    assert gpu_conv.summary(gpu_conv.float_arithmetic({}, {})) == "device cpu"


def test_info_row_shows_choice_flags_and_source():
    from rcnreid.commands.info import _gpu_conv_row
    row = _gpu_conv_row({"choice": "deterministic", "source": "rcnreid default (provisional, "
                         "unmeasured)", "in_force": dict(gpu_conv.CHOICES["deterministic"]
                                                         ["flags"]),
                         "deterministic": True, "preallocate": 0.45, "jobs_per_gpu": 2})
    assert row.startswith("deterministic (algo_fwd=small, algo_bwd_data=deterministic")
    assert "provisional" in row and "gpuarray__preallocate=0.45 for 2 job(s)" in row


@pytest.mark.parametrize("jobs, gpus, want", [(4, [], 4), (4, ["0"], 4), (4, ["0", "1"], 2),
                                              (3, ["0", "1"], 2), (1, ["0", "1", "2"], 1)])
def test_pool_gives_each_job_its_share(jobs, gpus, want):
    from experiments.pool import jobs_per_gpu
    assert jobs_per_gpu(jobs, gpus) == want
    # the queue of run_in_processes deals GPUs round robin: no device gets more than that
    dealt = [gpus[i % len(gpus)] for i in range(jobs)] if len(gpus) > 1 else [None] * jobs
    assert max(dealt.count(g) for g in set(dealt)) == want


def test_pool_worker_sets_the_share_unless_the_user_did(monkeypatch):
    from experiments import pool
    q = queue.Queue()
    q.put("1")
    q.put("0")
    monkeypatch.delenv("RCNREID_JOBS_PER_GPU", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    pool._pin_gpu(q, 2)       # _worker_init would also install a stop handler for good
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1" and os.environ["RCNREID_JOBS_PER_GPU"] == "2"
    monkeypatch.setenv("RCNREID_JOBS_PER_GPU", "5")
    pool._pin_gpu(q, 2)
    assert os.environ["RCNREID_JOBS_PER_GPU"] == "5"


def _result(folder, losses, w):
    os.makedirs(folder, exist_ok=True)
    np.savez(os.path.join(folder, "result.npz"), losses=np.array(losses, "float32"),
             rep=np.ones((2, 3), "float32"), **{"param/w": np.array(w, "float32")})
    return folder


def test_same_seed_check_is_bit_exact_and_reports_the_bound(tmp_path):
    from rcnreid.diagnostics.gpu_check import same_seed
    a = _result(str(tmp_path / "a"), [0.7, 0.6], [1.0, 2.0])
    b = _result(str(tmp_path / "b"), [0.7, 0.6], [1.0, 2.0])
    c = _result(str(tmp_path / "c"), [0.7, 0.6], [1.0, np.nextafter(np.float32(2), np.float32(3))])
    name, ok, detail = same_seed(a, b)
    assert ok and detail.startswith("bit-identical")
    name, ok, detail = same_seed(a, c)          # one ulp in one parameter is a difference
    assert not ok and "1 of 3 arrays differ" in detail and "(w)" in detail
    assert "2.38e-07" in detail
    name, ok, detail = same_seed(a, c, expected_deterministic=False)
    assert ok and "not deterministic" in detail


def test_op_timing_on_cuda_needs_blocking_launches():
    from rcnreid.diagnostics.bench import check_op_timing
    with pytest.raises(UserError, match="CUDA_LAUNCH_BLOCKING=1"):
        check_op_timing({"cuda_available": True, "device": "cuda"}, {})
    check_op_timing({"cuda_available": True, "device": "cuda"}, {"CUDA_LAUNCH_BLOCKING": "1"})
    check_op_timing({"cuda_available": False, "device": "opencl0:0"}, {})


def test_device_peaks_by_name():
    from rcnreid.diagnostics.op_profile import device_peak, format_split
    p = device_peak("NVIDIA H200")
    assert p["fp32_tflops"] == 67.0 and p["tf32_tflops"] == 494.5 and "datasheet" in p["source"]
    assert device_peak("NVIDIA A100-SXM4-80GB")["tf32_tflops"] == 156.0
    assert device_peak("NVIDIA H100 PCIe") is None and device_peak("pthread-Intel") is None
    rows = [{"part": "convolutions outside the scans: forward", "seconds": 0.01, "share": 1.0,
             "gflop": 335.0, "gflops": 33500.0}]
    table = format_split(rows, sgemm=50000.0, peak=p)
    assert "of FP32 peak (67.0 TFLOP/s)" in table and "| 0.500 | 0.068 |" in table


def test_compare_jobs_sums_the_processes_and_recommends():
    from rcnreid.diagnostics.bench import compare_jobs

    def fake(name, n, form, steps, warmup, seed, overrides, device=None):
        assert device == "cuda1"
        per_job = {1: 10.0, 2: 9.0, 4: 4.0}[n]          # aggregate 10, 18, 16
        if n == 4:
            return [{"error": "out of memory"}] + [dict(_one(per_job))] * 3
        return [_one(per_job) for _ in range(n)]

    c = compare_jobs("tiny", counts=(1, 2, 4), run=fake, device="cuda1")
    assert c["counts"][2]["aggregate_train_sequences_per_s"] == 18.0
    assert c["counts"][4]["ok"] is False and c["counts"][4]["errors"] == ["out of memory"]
    assert c["recommended_jobs"] == 2
    with pytest.raises(UserError):
        compare_jobs("tiny", counts=(0,), run=fake, device="cuda1")


def _one(seq_s):
    return {"train_step_s": 4.0 / seq_s, "train_sequences_per_s": seq_s, "peak_rss_mb": 100.0,
            "device": {"device": "cuda", "gpu_conv": {"preallocate": 0.45}},
            "float_arithmetic": {"device": "cuda"}}


def _barrier_child(spec, out):
    from rcnreid.diagnostics.bench import wait_at_barrier
    import time
    wait_at_barrier(spec, timeout=60)
    out.put(time.time())


def test_processes_wait_for_each_other_at_the_barrier(tmp_path):
    """Two processes started 1 s apart both pass the barrier after the second arrived."""
    import time
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    spec = "%s:2" % tmp_path
    first = ctx.Process(target=_barrier_child, args=(spec, out))
    first.start()
    time.sleep(1.0)
    second_start = time.time()
    second = ctx.Process(target=_barrier_child, args=(spec, out))
    second.start()
    passed = [out.get(timeout=60), out.get(timeout=60)]
    first.join(10)
    second.join(10)
    assert min(passed) >= second_start


def _bench_json(path, step, infer, tf32_off=False, config="paper"):
    fa = {"device": "cuda", "cudnn_conv": "x", "deterministic_conv": True,
          "tf32": "off (...)" if tf32_off else "allowed (...)",
          "NVIDIA_TF32_OVERRIDE": "0" if tf32_off else None}
    path.write_text(__import__("json").dumps({
        "config": config, "train_step_s": step, "train_sequences_per_s": 20 / step,
        "infer_sequences_per_s": infer, "compile_s": 30.0, "train_gflops": 1e3,
        "infer_gflops": 1e3, "float_arithmetic": fa}))


def test_device_summary_applies_the_rule_and_sets_numbers_beside_the_targets(tmp_path):
    """scripts/device/issue28_summary.py on results as issue28.sh leaves them (made up here)."""
    _bench_json(tmp_path / "det.json", 0.30, 400.0)
    _bench_json(tmp_path / "time_once.json", 0.24, 420.0)
    _bench_json(tmp_path / "theano_default.json", 1.20, 360.0)
    _bench_json(tmp_path / "fp32_time_once.json", 0.65, 100.0, tf32_off=True)
    (tmp_path / "guess_once.skipped.json").write_text("{}")
    script = os.path.join(ROOT, "scripts", "device", "issue28_summary.py")
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, script, str(tmp_path), "--chosen"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "time_once", r.stderr     # determinism costs 25 % > 20 %
    r = subprocess.run([sys.executable, script, str(tmp_path)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "summary.md").read_text()
    assert "default **time_once**" in md and "determinism costs 25 % > 20 %" in md
    assert "with TF32 <= 0.25 s: 0.240 s (time_once) -> met" in md
    assert "<= 0.7 s: 0.650 s (time_once) -> met" in md
    assert "Table 2 <= 2 GPU-days: 1.9" in md            # 233 GPU-h x 0.24 / 1.20 / 24
    assert "Skipped for lack of time: guess_once" in md


def test_jobs_children_get_the_device_and_no_mark_of_the_parents_gpu():
    from rcnreid.diagnostics.bench import _with_device
    assert _with_device("device=cuda,floatX=float32", "cuda1") == "floatX=float32,device=cuda1"
    assert _with_device("floatX=float32", None) == "floatX=float32"
