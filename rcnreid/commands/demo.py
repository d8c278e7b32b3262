"""``rcnreid demo``: synthetic data -> quick training -> evaluation -> CMC table and plot."""
NAME = "demo"
HELP = "train and evaluate the quick configuration on synthetic data (a few minutes on a CPU)"


def add_arguments(p):
    p.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    p.add_argument("--seed", type=int, default=0)


def run(args):
    from rcnreid.demo import run_demo
    run_demo(args.out, seed=args.seed)
    return 0
