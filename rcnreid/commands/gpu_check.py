"""``rcnreid gpu-check``: does Theano's GPU backend compute rcnreid's network as the CPU does?"""

NAME = "gpu-check"
HELP = ("train a tiny Deep RCN a few steps on the device and on the CPU, compare them and print "
        "one verdict line (exit 0: GPU OK)")


def add_arguments(p):
    p.add_argument("--device", default="cuda",
                   help="Theano device to check: cuda, cudaN, or openclP:D (default cuda)")
    p.add_argument("--steps", type=int, default=2, help="training steps (default 2)")
    p.add_argument("--same-seed-only", action="store_true",
                   help="only the determinism check: train twice on the device from one seed "
                        "and compare bit for bit (no CPU reference)")
    p.add_argument("--config", default=None,
                   help="with --same-seed-only: a configuration name (e.g. paper) to train "
                        "instead of the tiny model")
    p.add_argument("--keep", metavar="DIR", default=None,
                   help="write the two runs' results and checkpoints into DIR")


def run(args):
    from rcnreid.errors import UserError
    from rcnreid.diagnostics.gpu_check import run_check
    if args.steps < 1:
        raise UserError("gpu-check --steps: must be >= 1")
    if not args.device.startswith(("cuda", "opencl")):
        raise UserError("gpu-check --device %s: give cuda, cudaN or openclP:D" % args.device)
    if args.config and not args.same_seed_only:
        raise UserError("gpu-check --config: only with --same-seed-only (the full check trains "
                        "the tiny model on the CPU too)")
    if args.same_seed_only:
        from rcnreid.configs.registry import get_config
        from rcnreid.diagnostics.gpu_check import run_same_seed
        if args.config:
            get_config(args.config)                     # UserError naming the known ones
        ok, verdict = run_same_seed(args.device, config=args.config, steps=args.steps,
                                    keep=args.keep)
        print(verdict)
        return 0 if ok else 1
    ok, verdict = run_check(args.device, steps=args.steps, keep=args.keep)
    print(verdict)
    return 0 if ok else 1
