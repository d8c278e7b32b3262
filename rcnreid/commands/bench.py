"""``rcnreid bench``: throughput of the ConvGRU graph (:mod:`rcnreid.diagnostics.bench`; ``make
bench``)."""
NAME = "bench"
HELP = "time the Siamese ConvGRU graph (compile, training step, inference) of a configuration"


def add_arguments(p):
    from rcnreid.commands.options import add_set_option
    from rcnreid.diagnostics.bench import FORMS
    p.add_argument("--config", default="cpu",
                   help="a configuration name of rcnreid.configs.registry (paper, cpu, tiny, "
                        "quick_rcn_ind, ...; default cpu)")
    add_set_option(p, help="change one field of the configuration, as for `rcnreid train` "
                           "(repeatable), e.g. model.hidden_channels=[32,64,64]")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--naive", action="store_true",
                   help="the straightforward Eq. 2 (six convolutions per step inside the scan); "
                        "same as --form naive")
    p.add_argument("--form", default=None, choices=sorted(FORMS),
                   help="graph form: fused (default), fused-theano-bptt (Theano's scan "
                        "gradient), naive")
    p.add_argument("--compare", action="store_true",
                   help="time every form (fused, fused-theano-bptt, naive) round-robin in one "
                        "process and report the speed-ups over the naive form")
    p.add_argument("--compare-settings", default=None, metavar="A,B[,...]",
                   help="time process settings (fixed when Theano is imported, so each is a "
                        "new process, started A, B, A, B, ...): default (rcnreid's choice), "
                        "openmp-off (before issue 18), openmp, openmp-blas1, openmp-passive, "
                        "corrmm / onednn (CPU convolutions by Theano's CorrMM / by oneDNN), "
                        "corrmm-sse3 (CorrMM on OpenBLAS's SSE3 kernels); "
                        "speed-ups over the first")
    p.add_argument("--ops", action="store_true",
                   help="profile the training step and print where its time goes, by part "
                        "(convolutions by kind, each scan, elementwise, other), with each "
                        "convolution part's GFLOP/s beside the machine's sgemm rate (on a GPU "
                        "also beside the device's FP32 and TF32 peaks; on CUDA set "
                        "CUDA_LAUNCH_BLOCKING=1)")
    p.add_argument("--jobs", default=None, metavar="N[,N...]",
                   help="run N benchmark processes at once on this device for each N (e.g. "
                        "1,2,4; each gets 1/N of the GPU memory share) and report the aggregate "
                        "training sequences/s and the recommended JOBS per device")
    p.add_argument("--device", default=None,
                   help="with --jobs: the processes' Theano device (cuda, cuda1, opencl0:0); "
                        "leave device out of THEANO_FLAGS so that this process holds none")
    p.add_argument("--rounds", type=int, default=3,
                   help="with --compare-settings: processes per setting (default 3)")
    p.add_argument("--steps", type=int, default=5, help="timed calls (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls first")
    p.add_argument("--seed", type=int, default=0)


def _peak_note(r):
    """Where the device's peak came from, and the float-arithmetic settings of the run."""
    from rcnreid.backend.gpu_conv import summary
    peak = r.get("device_peak")
    if peak:
        note = "device peaks: %s" % peak["source"]
    elif r["device"] != "cpu":
        note = "device peaks: unknown for %s (rcnreid.diagnostics.op_profile.DEVICE_PEAKS)" % (
            r.get("device_name") or r["device"])
    else:
        note = "device: the CPU (rates beside the sgemm rate)"
    return note + "; float arithmetic: " + summary(r["float_arithmetic"])


def run(args):
    import json
    import sys
    from rcnreid.diagnostics.bench import (compare_forms, compare_settings, format_comparison,
                                           format_report, format_settings, run_bench)
    log = lambda m: print("[bench] " + m, file=sys.stderr, flush=True)  # noqa: E731
    if args.compare_settings:
        c = compare_settings(args.config, settings=[s.strip() for s in
                                                    args.compare_settings.split(",") if s.strip()],
                             rounds=args.rounds, steps=args.steps, warmup=args.warmup,
                             seed=args.seed, form=args.form or "fused", log=log,
                             overrides=args.overrides)
        print(json.dumps(c, sort_keys=True) if args.json else format_settings(c))
        return 0
    if args.device and not args.jobs:
        from rcnreid.errors import UserError
        raise UserError("bench --device: only with --jobs (otherwise set THEANO_FLAGS=device=...)")
    if args.jobs:
        from rcnreid.diagnostics.bench import compare_jobs, format_jobs
        from rcnreid.errors import UserError
        try:
            counts = [int(n) for n in args.jobs.split(",") if n.strip()]
        except ValueError:
            raise UserError("bench --jobs %s: give process counts, e.g. 1,2,4" % args.jobs)
        c = compare_jobs(args.config, counts=counts, steps=args.steps, warmup=args.warmup,
                         seed=args.seed, form=args.form or "fused", log=log,
                         overrides=args.overrides, device=args.device)
        print(json.dumps(c, sort_keys=True) if args.json else format_jobs(c))
        return 0
    if args.ops:
        from rcnreid.diagnostics.bench import profile_ops
        from rcnreid.diagnostics.op_profile import format_split
        r = profile_ops(args.config, steps=args.steps, warmup=args.warmup, seed=args.seed,
                        form=args.form or "fused", log=log, overrides=args.overrides)
        print(json.dumps(r, sort_keys=True) if args.json else
              "%s, %s form on %s: %.3f s per step profiled; convolutions %.2f GFLOP per step\n"
              "%s\n%s"
              % (r["config"], r["form"], r["device_name"] or r["device"], r["train_step_s"],
                 r["conv_gflop_per_step"],
                 format_split(r["parts"], r["sgemm_gflops"], r["device_peak"]),
                 _peak_note(r)))
        return 0
    if args.compare:
        c = compare_forms(args.config, steps=args.steps, warmup=args.warmup, seed=args.seed,
                          log=log, overrides=args.overrides)
        print(json.dumps(c, sort_keys=True) if args.json else format_comparison(c))
        return 0
    r = run_bench(args.config, naive=args.naive, steps=args.steps, warmup=args.warmup,
                  seed=args.seed, form=args.form, log=log, overrides=args.overrides)
    print(json.dumps(r, sort_keys=True) if args.json else format_report(r))
    return 0
