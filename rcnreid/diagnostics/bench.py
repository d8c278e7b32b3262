"""Speed benchmark of the Siamese ConvGRU graph (``make bench``; issue 8).

    rcnreid bench --config cpu [--set SECTION.FIELD=VALUE ...] [--json]
                            [--naive | --form F | --compare] [--steps N] [--warmup N]

Measures for a named configuration of the registry (:mod:`rcnreid.configs.registry`: ``paper``,
``cpu``, ``tiny``, ``quick_rcn_ind``, ...; T is the configuration's ``train.seq_len``, the pairs per
step its profile's ``bench_pairs``): graph compile time (training step + representation);
training-step time and sequences per second (forward, backward, RMSProp update on ``pairs``
pairs = 2*pairs sequences of T frames); inference sequences per second (representation only,
2*pairs sequences per call); peak resident memory; forward GFLOP per sequence counted from the
layer shapes (:mod:`rcnreid.nn.summary`, 2 FLOP per multiply-accumulate) and the training GFLOP/s
that follow (a training step counted as 3x the forward work: forward + two backward products),
and the inference GFLOP/s (forward work only). Every timing is the median of ``steps`` calls
after ``warmup`` untimed calls.

Two comparisons, each timing its candidates alternately so that a machine whose speed drifts
affects them alike: ``--compare`` times the graph forms (:data:`FORMS`) round-robin in one
process; ``--compare-settings A,B`` times thread settings (:func:`thread_settings`: OpenMP on or
off, OpenMP and BLAS thread counts), which are fixed when Theano is imported, in child processes
started A, B, A, B, ... (``--rounds``) and pools their timed calls.
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from rcnreid.configs.registry import get_config, profile_of
from rcnreid.errors import UserError

KEYS = ("config", "compile_s", "train_step_s", "train_sequences_per_s", "infer_sequences_per_s",
        "peak_rss_mb", "gflop_per_sequence", "train_gflops", "infer_gflops", "device")


def _times(fn, steps, warmup):
    """Seconds of each of ``steps`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def sgemm_gflops(n=None, steps=5, warmup=1):
    """GFLOP/s of one n x n x n float32 matrix product through Theano's BLAS (the library and
    threads the graph's GEMMs use), median of ``steps`` calls: the machine's GEMM rate.

    On a GPU the matrices live on the device (shared variables) and each call returns only the
    product's sum, so the host copies do not count and each call waits for the product; ``n``
    defaults to 8192 on CUDA (1.1 TFLOP, tens of milliseconds on a current GPU), 1024 elsewhere.
    """
    from rcnreid.backend.theano_env import theano, T
    from rcnreid.backend.theano_config import cuda_available
    if n is None:
        n = 8192 if cuda_available() else 1024
    rng = np.random.RandomState(0)
    x, y = rng.rand(n, n).astype("float32"), rng.rand(n, n).astype("float32")
    a, b = theano.shared(x, name="sgemm_a"), theano.shared(y, name="sgemm_b")
    f = theano.function([], T.dot(a, b).sum())
    return 2.0 * n ** 3 / statistics.median(_times(f, steps, warmup)) / 1e9


#: Graph forms: (naive graph?, how the training step's gradient goes through the recurrence).
FORMS = {
    "fused": (False, "manual"),        # the default: batched input convolutions, fused gates,
                                       # hand-written BPTT (rcnreid.nn.convgru_bptt)
    "fused-theano-bptt": (False, "theano"),   # the same forward graph, Theano's scan gradient
    "naive": (True, "theano"),         # the straightforward Eq. 2/3: every convolution in the scan
}


def bench_setup(name, overrides=()):
    """``(RunConfig, T, pairs)`` benchmarked for the registry name ``name`` (e.g. ``paper``: the
    Table 1 encoder at 160x60, 3 stacked ConvGRUs 128/256/256, 5x5, T=20, 10 pairs, for a GPU;
    ``cpu``: the same with ConvGRU channels 16/32/32 and 2 pairs; ``tiny``: for tests)."""
    cfg = get_config(name, overrides=overrides)
    return cfg, cfg.train.seq_len, profile_of(name).bench_pairs


def _check_args(name, form, steps, warmup, overrides=()):
    if form not in FORMS:
        raise UserError("bench --form %s: unknown; choose one of %s" % (form, ", ".join(FORMS)))
    bench_setup(name, overrides)        # UserError naming the known configurations
    if steps < 1 or warmup < 0:
        raise UserError("bench --steps: must be >= 1 (and --warmup >= 0)")


class _Prepared:
    """One graph form of one configuration, compiled, with its random inputs."""

    def __init__(self, name, form, seed, log, overrides=()):
        from rcnreid.nn.model import SiameseRCN
        naive, bptt = FORMS[form]
        self.name, self.form = name, form
        run_cfg, self.t_len, self.pairs = bench_setup(name, overrides)
        self.cfg = cfg = run_cfg.model
        self.run_name = run_cfg.name
        model = SiameseRCN(cfg, seed=seed)
        rng = np.random.RandomState(seed)
        if cfg.kind == "convgru":
            shape = (self.t_len, self.pairs, cfg.input_channels) + tuple(cfg.input_hw)
        else:
            shape = (self.t_len, self.pairs, cfg.fc_input_dim)
        self.xa = rng.uniform(-1, 1, shape).astype("float32")
        self.xb = rng.uniform(-1, 1, shape).astype("float32")
        self.y = (np.arange(self.pairs) % 2 == 0).astype("float32")
        self.x_both = np.concatenate([self.xa, self.xb], axis=1)
        log("compiling the training step (%s form) ..." % form)
        t0 = time.perf_counter()
        self.trainer = model.build_train(run_cfg.train.optim, naive=naive, bptt=bptt)
        self.compile_train = time.perf_counter() - t0
        log("compiling the representation (%s form) ..." % form)
        t0 = time.perf_counter()
        self.rep = model.build_represent(naive=naive)
        self.compile_infer = time.perf_counter() - t0

    def train_step(self):
        self.trainer.step(self.xa, self.xb, self.y)

    def infer(self):
        self.rep(self.x_both)

    def result(self, train_times, infer_times, steps, warmup):
        """The report of this form from the timed calls' seconds (medians reported)."""
        from rcnreid.nn.summary import gflop_per_sequence
        gflop = gflop_per_sequence(self.cfg, self.t_len)
        train_s, infer_s = statistics.median(train_times), statistics.median(infer_times)
        train_seq_s = 2 * self.pairs / train_s
        infer_seq_s = 2 * self.pairs / infer_s
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "config": self.name,
            "model": self.run_name,
            "model_config": self.cfg.to_dict(),
            "form": self.form,
            "t_len": self.t_len,
            "pairs_per_step": self.pairs,
            "steps_timed": steps,
            "warmup_steps": warmup,
            "compile_s": self.compile_train + self.compile_infer,
            "compile_train_s": self.compile_train,
            "compile_infer_s": self.compile_infer,
            "train_step_s": train_s,
            "train_sequences_per_s": train_seq_s,
            "infer_sequences_per_s": infer_seq_s,
            "train_step_times_s": list(train_times),
            "infer_times_s": list(infer_times),
            "peak_rss_mb": peak_kb / 1024.0,
            "gflop_per_sequence": gflop,
            "train_gflops": 3.0 * gflop * train_seq_s,
            "infer_gflops": gflop * infer_seq_s,
            "device": _describe(),
            "float_arithmetic": _float_arithmetic(),
        }


def _float_arithmetic():
    """The settings that change float arithmetic (:func:`rcnreid.backend.gpu_conv.float_arithmetic`)."""
    from rcnreid.backend.gpu_conv import float_arithmetic
    return float_arithmetic()


def _describe():
    """What Theano computes on (:func:`rcnreid.backend.theano_env.describe`) and the CPU
    convolutions."""
    from rcnreid.backend import onednn_conv
    from rcnreid.backend.theano_env import describe
    d = describe()
    d.update(onednn_conv.describe())
    return d


def run_bench(name, naive=False, steps=5, warmup=1, seed=0, log=None, form=None, overrides=()):
    """Run the benchmark for the registry configuration ``name`` (with ``overrides``, as
    ``--set``); returns a dict with :data:`KEYS` and more.

    ``form``: one of :data:`FORMS` (default ``"naive"`` if ``naive`` else ``"fused"``)."""
    form = form or ("naive" if naive else "fused")
    _check_args(name, form, steps, warmup, overrides)
    log = log or (lambda msg: None)
    prep = _Prepared(name, form, seed, log, overrides=overrides)
    barrier = os.environ.get(BARRIER_ENV)
    if barrier:                 # one of several processes timed together (compare_jobs)
        _times(prep.train_step, 0, warmup)
        wait_at_barrier(barrier, log)
        warmup = 0
    log("timing %d training steps after %d warm-up ..." % (steps, warmup))
    train_times = _times(prep.train_step, steps, warmup)
    log("timing %d representation calls after %d warm-up ..." % (steps, warmup))
    infer_times = _times(prep.infer, steps, warmup)
    r = prep.result(train_times, infer_times, steps, warmup)
    log("timing a 1024^3 float32 matrix product (the machine's GEMM rate) ...")
    add_gemm_bound(r, sgemm_gflops())
    return r


def _reset_profile(fn):
    """Forget what ``fn``'s profile (and its scans' inner profiles) counted so far."""
    from rcnreid.diagnostics.gpu_check import _walk_ops
    inner = [getattr(n.op, "fn", None) for n in _walk_ops(fn.maker.fgraph)]
    for f in [fn] + [f for f in inner if hasattr(f, "maker")]:
        prof = getattr(f, "profile", None)
        if not prof:
            continue
        prof.fct_callcount, prof.fct_call_time = 0, 0.0
        if hasattr(prof, "callcount"):
            prof.callcount, prof.nbsteps, prof.call_time, prof.vm_call_time = 0, 0, 0.0, 0.0
        prof.apply_time.clear()
        prof.apply_callcount.clear()


def check_op_timing(dev, env):
    """UserError unless per-op times mean something on this device: CUDA kernels run
    asynchronously, so an op's time is only its launch unless ``CUDA_LAUNCH_BLOCKING=1`` made
    every launch wait (it must be set before the device starts, i.e. before the command runs).
    The CPU is timed as it is; on OpenCL (pocl) the split is a functional check, since its
    kernels may still run after their launch returned."""
    if dev.get("gpu_active") and not dev.get("cuda_available"):
        # OpenCL: Theano's profiler refuses any GPU device without this variable, which only
        # CUDA reads; set it so that the profile runs (its op times are not waited for).
        env.setdefault("CUDA_LAUNCH_BLOCKING", "1")
    if dev.get("cuda_available") and env.get("CUDA_LAUNCH_BLOCKING", "").strip() != "1":
        raise UserError("bench --ops on %s: GPU kernels run asynchronously, so per-op times need "
                        "CUDA_LAUNCH_BLOCKING=1 set before the device starts; run "
                        "`CUDA_LAUNCH_BLOCKING=1 rcnreid bench --ops ...`" % dev.get("device"))


def profile_ops(name, steps=3, warmup=1, seed=0, form="fused", log=None, overrides=()):
    """Where the training step of configuration ``name`` spends its time, by part
    (:func:`rcnreid.diagnostics.op_profile.split`), with the sgemm rate to set each part's GFLOP/s
    against. Compiles under Theano's ``profile`` and ``profile_memory`` (slightly slower calls; the
    split, not the total, is the point), profiles ``steps`` calls after ``warmup``."""
    from rcnreid.diagnostics import op_profile
    from rcnreid.backend.theano_env import theano
    _check_args(name, form, steps, warmup, overrides)
    log = log or (lambda msg: None)
    check_op_timing(_describe(), os.environ)
    from theano.compile import profiling
    old = theano.config.profile, theano.config.profile_memory
    theano.config.profile, theano.config.profile_memory = True, True   # read at compile and call
    try:
        prep = _Prepared(name, form, seed, log, overrides=overrides)
        fn = prep.trainer.fn
        for _ in range(warmup):
            prep.train_step()
        _reset_profile(fn)
        log("profiling %d training steps ..." % steps)
        times = _times(prep.train_step, steps, 0)
    finally:
        theano.config.profile, theano.config.profile_memory = old
        del profiling._atexit_print_list[:]       # no pages of Theano's own summary at exit
    rows = op_profile.split(fn)
    log("timing a float32 matrix product (the device's GEMM rate) ...")
    sgemm = sgemm_gflops()
    dev = _describe()
    peak = op_profile.device_peak(dev.get("device_name")) if dev.get("gpu_active") else None
    blocking = os.environ.get("CUDA_LAUNCH_BLOCKING") == "1"
    return {"config": name, "form": form, "steps_profiled": steps,
            "train_step_s": statistics.median(times), "sgemm_gflops": sgemm,
            "conv_gflop_per_step": sum(r.get("gflop", 0.0) for r in rows), "parts": rows,
            "device": dev["device"], "device_name": dev.get("device_name"),
            "device_peak": peak, "float_arithmetic": dev.get("float_arithmetic"),
            "gpu_conv": dev.get("gpu_conv"),
            "op_times_synchronous": (blocking if dev.get("cuda_available")
                                     else not dev.get("gpu_active"))}


def add_gemm_bound(r, sgemm):
    """Add to the result ``r`` the GEMM rate ``sgemm`` (GFLOP/s), the GEMM-bound step time (the
    training step's FLOPs at that rate) and how far the measured step is from it."""
    flop = 3.0 * r["gflop_per_sequence"] * 2 * r["pairs_per_step"]
    r["sgemm_gflops"] = sgemm
    r["gemm_bound_step_s"] = flop / sgemm
    r["step_over_gemm_bound"] = r["train_step_s"] / r["gemm_bound_step_s"]
    return r


def compare_forms(name, forms=tuple(FORMS), steps=5, warmup=1, seed=0, log=None,
                  prepare=_Prepared, overrides=()):
    """Every form in ``forms``, compiled in one process and timed round-robin (one call of each
    form in turn), so that a machine whose speed drifts affects them alike. Returns
    ``{"config", "steps_timed", "warmup_steps", "forms": {form: result}, "speedup": {form:
    {"train": naive time / form time, "infer": ...}}}`` (speedups only when "naive" is timed).
    ``prepare(name, form, seed, log, overrides=...)`` builds what is timed (default:
    :class:`_Prepared`).
    """
    log = log or (lambda msg: None)
    for form in forms:
        _check_args(name, form, steps, warmup, overrides)
    preps = [prepare(name, form, seed, log, overrides=overrides) for form in forms]
    times = {f: {"train": [], "infer": []} for f in forms}
    for what in ("train", "infer"):
        log("timing %d %s calls of each form, round-robin, after %d warm-up ..."
            % (steps, what, warmup))
        for i in range(warmup + steps):
            for prep in preps:
                fn = prep.train_step if what == "train" else prep.infer
                t0 = time.perf_counter()
                fn()
                if i >= warmup:
                    times[prep.form][what].append(time.perf_counter() - t0)
    out = {"config": name, "steps_timed": steps, "warmup_steps": warmup, "forms": {},
           "speedup": {}}
    for prep in preps:
        t = times[prep.form]
        out["forms"][prep.form] = prep.result(t["train"], t["infer"], steps, warmup)
    if "naive" in out["forms"]:
        base = out["forms"]["naive"]
        for f, r in out["forms"].items():
            out["speedup"][f] = {"train": base["train_step_s"] / r["train_step_s"],
                                 "infer": r["infer_sequences_per_s"]
                                 / base["infer_sequences_per_s"]}
    return out


def format_comparison(c):
    lines = ["benchmark %s: every form timed round-robin, medians of %d calls after %d warm-up"
             % (c["config"], c["steps_timed"], c["warmup_steps"]),
             "  %-18s %9s %12s %10s %12s %12s %10s" % ("form", "compile s", "train step s",
                                                       "speed-up", "train GFLOP/s", "infer seq/s",
                                                       "speed-up")]
    for f, r in c["forms"].items():
        sp = c["speedup"].get(f, {})
        lines.append("  %-18s %9.1f %12.3f %10s %12.1f %12.2f %10s"
                     % (f, r["compile_s"], r["train_step_s"],
                        "%.2fx" % sp["train"] if sp else "-", r["train_gflops"],
                        r["infer_sequences_per_s"], "%.2fx" % sp["infer"] if sp else "-"))
    return "\n".join(lines)


def format_report(r):
    lines = [
        "benchmark %s (model %s, %s form): T=%d, %d pairs (%d sequences) per step; "
        "medians of %d timed calls after %d warm-up"
        % (r["config"], r["model"], r["form"], r["t_len"], r["pairs_per_step"],
           2 * r["pairs_per_step"], r["steps_timed"], r["warmup_steps"]),
        "  compile            %8.1f s  (training step %.1f s, representation %.1f s)"
        % (r["compile_s"], r["compile_train_s"], r["compile_infer_s"]),
        "  training step      %8.3f s  -> %.2f sequences/s, %.2f GFLOP/s (3x forward FLOPs)"
        % (r["train_step_s"], r["train_sequences_per_s"], r["train_gflops"]),
        "  inference          %8.2f sequences/s -> %.2f GFLOP/s (forward FLOPs)"
        % (r["infer_sequences_per_s"], r["infer_gflops"]),
        "  forward work       %8.3f GFLOP per sequence" % r["gflop_per_sequence"],
        "  GEMM bound         %8.3f s per step at the sgemm rate of %.1f GFLOP/s: the step "
        "takes %.2fx that" % (r["gemm_bound_step_s"], r["sgemm_gflops"],
                             r["step_over_gemm_bound"]),
        "  peak memory        %8.0f MB resident" % r["peak_rss_mb"],
        "  device             %s, floatX %s, BLAS %s, scan loop %s"
        % (r["device"]["device"], r["device"]["floatX"], r["device"]["blas_source"],
           r["device"]["scan_impl"]),
        "  threads            openmp %s, %s OpenMP threads, %s BLAS threads"
        % (r["device"].get("openmp"), r["device"].get("openmp_threads"),
           r["device"].get("blas_threads")),
    ]
    return "\n".join(lines)


def thread_settings(cores=None):
    """The thread settings ``--compare-settings`` knows: name -> what the child process gets.

    ``openmp`` is Theano's flag (added to the child's THEANO_FLAGS), the others are environment
    variables; ``None`` leaves the key unset, so that :mod:`rcnreid.backend.theano_env`'s default
    applies. ``cores``: the thread count of the multi-threaded settings (default: the usable
    cores)."""
    from rcnreid.backend.threads import usable_cores
    n = str(cores or usable_cores())
    unset = {"openmp": None, "OMP_NUM_THREADS": None, "OPENBLAS_NUM_THREADS": None,
             "OMP_WAIT_POLICY": None, "RCNREID_CPU_CONV": None, "OPENBLAS_CORETYPE": None}
    return {
        # whatever rcnreid.backend.theano_env chooses when the user sets nothing
        "default": dict(unset),
        # before issue 18: no OpenMP, OpenBLAS on every core
        "openmp-off": dict(unset, openmp="False", OPENBLAS_NUM_THREADS=n),
        # OpenMP on every core (CorrMM's image loop, large Elemwise), OpenBLAS too
        "openmp": dict(unset, openmp="True", OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n),
        # OpenMP on every core, OpenBLAS single-threaded everywhere
        "openmp-blas1": dict(unset, openmp="True", OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS="1"),
        # OpenMP and OpenBLAS on every core, idle OpenMP threads sleep at once instead of spinning
        "openmp-passive": dict(unset, openmp="True", OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n,
                               OMP_WAIT_POLICY="PASSIVE"),
        # the default threads, CPU convolutions by Theano's CorrMM (before oneDNN)
        "corrmm": dict(unset, RCNREID_CPU_CONV="corrmm"),
        # CorrMM on OpenBLAS's SSE3 kernels: what an AVX-512 CPU that OpenBLAS does not know ran
        # before rcnreid set OPENBLAS_CORETYPE (rcnreid.backend.threads.openblas_coretype_default)
        "corrmm-sse3": dict(unset, RCNREID_CPU_CONV="corrmm", OPENBLAS_CORETYPE="Prescott"),
        # the default threads, CPU convolutions by oneDNN (an error where it is not available)
        "onednn": dict(unset, RCNREID_CPU_CONV="onednn"),
    }


def child_env(setting, base=None):
    """The environment of a child process timed under ``setting`` (one value of
    :func:`thread_settings`), from ``base`` (default: this process's environment).
    ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` set in ``base`` (other than by rcnreid itself,
    :func:`rcnreid.backend.threads.machine_blas_settings`) are kept as they are."""
    from rcnreid.backend.threads import machine_blas_settings
    env = dict(os.environ if base is None else base)
    machine = machine_blas_settings(env)         # set by the machine, not by rcnreid
    for var in machine:                  # a machine's own OpenBLAS setting is never changed
        if setting.get(var, env[var]) not in (None, env[var]):
            raise UserError("--compare-settings: this setting sets %s=%s, but this machine's "
                            "environment sets %s=%s (some OpenBLAS builds need theirs): leave "
                            "that setting out" % (var, setting[var], var, env[var]))
    flags = [f for f in env.get("THEANO_FLAGS", "").split(",")
             if f.strip() and f.split("=", 1)[0].strip() != "openmp"]
    if setting.get("openmp") is not None:
        flags.append("openmp=%s" % setting["openmp"])
    env["THEANO_FLAGS"] = ",".join(flags)
    for key, value in setting.items():
        if key == "openmp" or key in machine:
            continue
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_child(name, setting, form, steps, warmup, seed, overrides=()):
    """One ``rcnreid bench --json`` process under ``setting``; its result dict."""
    cmd = [sys.executable, "-m", "rcnreid", "bench", "--config", name, "--json", "--form", form,
           "--steps", str(steps), "--warmup", str(warmup), "--seed", str(seed)]
    for o in overrides:
        cmd += ["--set", o]
    out = subprocess.run(cmd, env=child_env(setting), capture_output=True, text=True)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise UserError("bench --compare-settings: the child process failed: %s" % tail)
    return json.loads(out.stdout)


def compare_settings(name, settings=("openmp-off", "default"), rounds=3, steps=3, warmup=1,
                     seed=0, form="fused", log=None, overrides=(), run=run_child):
    """Time the thread ``settings`` (names of :func:`thread_settings`) in child processes started
    alternately (A, B, A, B, ... ``rounds`` times each; each child compiles, then times ``steps``
    training steps and representation calls after ``warmup``) and pool each setting's timed calls.

    Returns ``{"config", "form", "rounds", "steps_timed", "warmup_steps", "settings": {setting:
    {"env", "threads", "train_step_s", "infer_s", "train_gflops", "infer_gflops", "sgemm_gflops",
    "step_over_gemm_bound", "runs"}},
    "speedup": {setting: {"train", "infer"}}}``: medians of the pooled calls, speed-ups over the
    first setting. ``run(name, setting, form, steps, warmup, seed, overrides)`` runs one child
    (default: :func:`run_child`)."""
    log = log or (lambda msg: None)
    known = thread_settings()
    for s in settings:
        if s not in known:
            raise UserError("bench --compare-settings %s: unknown; choose from %s"
                            % (s, ", ".join(known)))
    if rounds < 1:
        raise UserError("bench --rounds: must be >= 1")
    _check_args(name, form, steps, warmup, overrides)
    runs = {s: [] for s in settings}
    for i in range(rounds):
        for s in settings:
            log("round %d/%d: setting %s (a new process) ..." % (i + 1, rounds, s))
            runs[s].append(run(name, known[s], form, steps, warmup, seed, overrides))
    out = {"config": name, "form": form, "rounds": rounds, "steps_timed": steps,
           "warmup_steps": warmup, "settings": {}, "speedup": {}}
    for s in settings:
        rs = runs[s]
        train = statistics.median([t for r in rs for t in r["train_step_times_s"]])
        infer = statistics.median([t for r in rs for t in r["infer_times_s"]])
        seqs = 2 * rs[0]["pairs_per_step"]
        gflop = rs[0]["gflop_per_sequence"]
        dev = rs[0]["device"]
        sgemm = statistics.median([r["sgemm_gflops"] for r in rs])
        out["settings"][s] = {
            "env": known[s],
            "sgemm_gflops": sgemm,
            "step_over_gemm_bound": train * sgemm / (3.0 * gflop * seqs),
            "threads": {k: dev.get(k) for k in ("openmp", "openmp_threads", "blas_threads")},
            "train_step_s": train, "infer_s": infer,
            "train_gflops": 3.0 * gflop * seqs / train, "infer_gflops": gflop * seqs / infer,
            "runs": [{k: r[k] for k in ("train_step_s", "infer_sequences_per_s", "compile_s")}
                     for r in rs],
        }
    first = out["settings"][settings[0]]
    for s, r in out["settings"].items():
        out["speedup"][s] = {"train": first["train_step_s"] / r["train_step_s"],
                             "infer": first["infer_s"] / r["infer_s"]}
    return out


def format_settings(c):
    lines = ["benchmark %s (%s form): thread settings in alternating processes, %d rounds; "
             "medians of every timed call (%d per process after %d warm-up)"
             % (c["config"], c["form"], c["rounds"], c["steps_timed"], c["warmup_steps"]),
             "  %-14s %-22s %12s %10s %12s %12s %10s %12s"
             % ("setting", "openmp/OMP/BLAS thr.", "train step s", "speed-up", "train GFLOP/s",
                "infer GFLOP/s", "speed-up", "x GEMM bound")]
    for s, r in c["settings"].items():
        th = r["threads"]
        lines.append("  %-14s %-22s %12.3f %10s %12.1f %12.1f %10s %12.2f"
                     % (s, "%s/%s/%s" % (th["openmp"], th["openmp_threads"], th["blas_threads"]),
                        r["train_step_s"], "%.2fx" % c["speedup"][s]["train"], r["train_gflops"],
                        r["infer_gflops"], "%.2fx" % c["speedup"][s]["infer"],
                        r["step_over_gemm_bound"]))
    return "\n".join(lines)


#: ``DIR:N``: the process is one of N timed together; each waits, after compiling and warming up,
#: until all N have written their ``ready-<pid>`` file into DIR (:func:`compare_jobs`).
BARRIER_ENV = "RCNREID_BENCH_BARRIER"


def wait_at_barrier(spec, log=None, timeout=3600.0, poll=0.2):
    """Say this process is ready (a file in the folder of ``spec`` = ``DIR:N``) and wait until N
    processes are; UserError after ``timeout`` seconds (another process failed)."""
    folder, n = spec.rsplit(":", 1)
    n = int(n)
    with open(os.path.join(folder, "ready-%d" % os.getpid()), "w") as f:
        f.write("ready\n")
    if log:
        log("waiting until all %d processes have compiled ..." % n)
    start = time.time()
    while sum(1 for e in os.listdir(folder) if e.startswith("ready-")) < n:
        if time.time() - start > timeout:
            raise UserError("bench --jobs: waited %d s for the other processes (%s); one of "
                            "them failed" % (timeout, folder))
        time.sleep(poll)


def _with_device(flags, device):
    """THEANO_FLAGS ``flags`` with its device replaced by ``device`` (None: unchanged)."""
    if not device:
        return flags
    kept = [f for f in flags.split(",") if f.strip() and not f.strip().startswith(
        ("device=", "init_gpu_device="))]
    return ",".join(kept + ["device=%s" % device])


def run_jobs_children(name, n, form, steps, warmup, seed, overrides=(), timeout=3600,
                      device=None):
    """``n`` ``rcnreid bench --json`` processes at once on this process's device, each told
    that ``n`` jobs share it (``RCNREID_JOBS_PER_GPU``: its share of the GPU's memory) and timed
    together (:data:`BARRIER_ENV`); returns their result dicts, or ``{"error": ...}`` for a
    process that failed (e.g. out of device memory). ``device``: the children's Theano device
    (default: this process's THEANO_FLAGS); give it and leave the device out of this process's
    flags, so that this process holds no device memory of its own."""
    import tempfile
    folder = tempfile.mkdtemp(prefix="rcnreid-bench-jobs-")
    cmd = [sys.executable, "-m", "rcnreid", "bench", "--config", name, "--json", "--form", form,
           "--steps", str(steps), "--warmup", str(warmup), "--seed", str(seed)]
    for o in overrides:
        cmd += ["--set", o]
    env = dict(os.environ, RCNREID_JOBS_PER_GPU=str(n))
    env[BARRIER_ENV] = "%s:%d" % (folder, n)
    # each child starts its own device context (Theano refuses to in the child of a process
    # that started one, which this one did when THEANO_FLAGS names a device)
    env.pop("THEANO_GPU_IS_ALREADY_ACTIVE", None)
    env["THEANO_FLAGS"] = _with_device(env.get("THEANO_FLAGS", ""), device)
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(n)]
    out = []
    for p in procs:
        try:
            so, se = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            so, se = p.communicate()
        if p.returncode == 0:
            out.append(json.loads(so))
        else:
            tail = (se.strip().splitlines() or ["(no output)"])[-1]
            out.append({"error": tail})
    import shutil
    shutil.rmtree(folder, ignore_errors=True)           # the barrier's ready files
    return out


def recommend_jobs(counts, gain=1.10):
    """The N to use from :func:`compare_jobs`'s ``counts`` (``{N: {"ok", "aggregate_train_
    sequences_per_s"}}``): the smallest N whose aggregate rate no larger N that ran beats by
    more than ``gain`` (10 %); more jobs cost memory and time to first result, so they must earn it.

    >>> recommend_jobs({1: {"ok": True, "aggregate_train_sequences_per_s": 10.0},
    ...                 2: {"ok": True, "aggregate_train_sequences_per_s": 18.0},
    ...                 4: {"ok": True, "aggregate_train_sequences_per_s": 19.0}})
    2
    """
    ok = sorted(n for n, c in counts.items() if c.get("ok"))
    if not ok:
        return None
    best = ok[0]
    for n in ok[1:]:
        if counts[n]["aggregate_train_sequences_per_s"] > \
                gain * counts[best]["aggregate_train_sequences_per_s"]:
            best = n
    return best


def compare_jobs(name, counts=(1, 2, 4), steps=5, warmup=1, seed=0, form="fused", log=None,
                 overrides=(), run=run_jobs_children, device=None):
    """Aggregate training throughput of N processes sharing this device, for each N in
    ``counts`` (issue 28 item 4): N ``rcnreid bench`` processes start together, each with
    ``RCNREID_JOBS_PER_GPU=N`` (its share of GPU memory), compile, warm up, wait for each other
    and time ``steps`` training steps. The aggregate is the sum of their sequences per second.
    Returns ``{"config", "form", "steps_timed", "counts": {N: {...}}, "recommended_jobs"}``.
    ``run(name, n, form, steps, warmup, seed, overrides, device=device)`` runs the N processes
    (default :func:`run_jobs_children`)."""
    log = log or (lambda msg: None)
    _check_args(name, form, steps, warmup, overrides)
    if not counts or any(int(n) < 1 for n in counts):
        raise UserError("bench --jobs: give process counts >= 1, e.g. 1,2,4")
    out = {"config": name, "form": form, "steps_timed": steps, "warmup_steps": warmup,
           "counts": {}}
    for n in counts:
        n = int(n)
        log("%d process(es) at once on one device ..." % n)
        rs = run(name, n, form, steps, warmup, seed, overrides, device=device)
        errors = [r["error"] for r in rs if "error" in r]
        entry = {"jobs": n, "ok": not errors, "errors": errors}
        good = [r for r in rs if "error" not in r]
        if good:
            entry["per_job_train_step_s"] = [r["train_step_s"] for r in good]
            entry["aggregate_train_sequences_per_s"] = sum(r["train_sequences_per_s"]
                                                           for r in good)
            entry["peak_rss_mb"] = max(r["peak_rss_mb"] for r in good)
            gc = (good[0].get("device") or {}).get("gpu_conv") or {}
            entry["gpuarray_preallocate"] = gc.get("preallocate")
            entry["device"] = (good[0].get("device") or {}).get("device")
            entry["float_arithmetic"] = good[0].get("float_arithmetic")
        out["counts"][n] = entry
    out["recommended_jobs"] = recommend_jobs(out["counts"])
    return out


def format_jobs(c):
    lines = ["benchmark %s (%s form): N processes at once on one device, each timing %d "
             "training steps together" % (c["config"], c["form"], c["steps_timed"]),
             "  %4s %14s %26s %12s %s" % ("N", "preallocate", "aggregate train seq/s",
                                         "step s", "errors")]
    for n, e in sorted(c["counts"].items()):
        steps = e.get("per_job_train_step_s") or []
        lines.append("  %4d %14s %26s %12s %s" % (
            n, e.get("gpuarray_preallocate") if e.get("gpuarray_preallocate") is not None
            else "-", "%.2f" % e["aggregate_train_sequences_per_s"]
            if "aggregate_train_sequences_per_s" in e else "-",
            "%.3f" % statistics.median(steps) if steps else "-", "; ".join(e["errors"]) or "-"))
    lines.append("  recommended JOBS per device: %s (the smallest N that no larger N beats by "
                 "more than 10 %%)" % c["recommended_jobs"])
    return "\n".join(lines)
