"""Speed benchmark of the Siamese ConvGRU graph (``make bench``; issue 8).

    rcnreid bench --config cpu [--set SECTION.FIELD=VALUE ...] [--json]
                            [--naive | --form F | --compare] [--steps N] [--warmup N]

Measures for a named configuration of the registry (:mod:`rcnreid.configs`: ``paper``, ``cpu``,
``tiny``, ``quick_rcn_ind``, ...; T is the configuration's ``train.seq_len``, the pairs per step
its profile's ``bench_pairs``): graph compile time (training step + representation);
training-step time and sequences per second (forward, backward, RMSProp update on ``pairs``
pairs = 2*pairs sequences of T frames); inference sequences per second (representation only,
2*pairs sequences per call); peak resident memory; forward GFLOP per sequence counted from the
layer shapes (:mod:`rcnreid.summary`, 2 FLOP per multiply-accumulate) and the training GFLOP/s
that follow (a training step counted as 3x the forward work: forward + two backward products).
Every timing is the median of ``steps`` calls after ``warmup`` untimed calls.
"""
import resource
import statistics
import sys
import time

import numpy as np

from rcnreid.configs import get_config, profile_of
from rcnreid.errors import UserError

KEYS = ("config", "compile_s", "train_step_s", "train_sequences_per_s", "infer_sequences_per_s",
        "peak_rss_mb", "gflop_per_sequence", "train_gflops", "device")


def _median_time(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


#: Graph forms: (naive graph?, how the training step's gradient goes through the recurrence).
FORMS = {
    "fused": (False, "manual"),        # the default: batched input convolutions, fused gates,
                                       # hand-written BPTT (rcnreid.convgru_bptt)
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
        from rcnreid.model import SiameseRCN
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

    def result(self, train_s, infer_s, steps, warmup):
        from rcnreid.summary import gflop_per_sequence
        from rcnreid.theano_env import describe
        gflop = gflop_per_sequence(self.cfg, self.t_len)
        train_seq_s = 2 * self.pairs / train_s
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
            "infer_sequences_per_s": 2 * self.pairs / infer_s,
            "peak_rss_mb": peak_kb / 1024.0,
            "gflop_per_sequence": gflop,
            "train_gflops": 3.0 * gflop * train_seq_s,
            "device": describe(),
        }


def run_bench(name, naive=False, steps=5, warmup=1, seed=0, log=None, form=None, overrides=()):
    """Run the benchmark for the registry configuration ``name`` (with ``overrides``, as
    ``--set``); returns a dict with :data:`KEYS` and more.

    ``form``: one of :data:`FORMS` (default ``"naive"`` if ``naive`` else ``"fused"``)."""
    form = form or ("naive" if naive else "fused")
    _check_args(name, form, steps, warmup, overrides)
    log = log or (lambda msg: None)
    prep = _Prepared(name, form, seed, log, overrides=overrides)
    log("timing %d training steps after %d warm-up ..." % (steps, warmup))
    train_s = _median_time(prep.train_step, steps, warmup)
    log("timing %d representation calls after %d warm-up ..." % (steps, warmup))
    infer_s = _median_time(prep.infer, steps, warmup)
    return prep.result(train_s, infer_s, steps, warmup)


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
        out["forms"][prep.form] = prep.result(statistics.median(t["train"]),
                                              statistics.median(t["infer"]), steps, warmup)
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
        "  inference          %8.2f sequences/s" % r["infer_sequences_per_s"],
        "  forward work       %8.3f GFLOP per sequence" % r["gflop_per_sequence"],
        "  peak memory        %8.0f MB resident" % r["peak_rss_mb"],
        "  device             %s, floatX %s, BLAS %s, scan loop %s"
        % (r["device"]["device"], r["device"]["floatX"], r["device"]["blas_source"],
           r["device"]["scan_impl"]),
    ]
    return "\n".join(lines)


def main(argv=None):
    """``python -m rcnreid.bench ...``: the old spelling of ``rcnreid bench ...``
    (:mod:`rcnreid.commands.bench`)."""
    from rcnreid.cli import main as rcnreid_main
    return rcnreid_main(["bench"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
