"""``rcnreid plot-log``: loss and pair accuracy per epoch of training runs (PNG and PDF)."""
NAME = "plot-log"
HELP = "plot loss and pair accuracy per epoch from the runs' train_log.jsonl (PNG and PDF)"


def add_arguments(p):
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="--out folders of `rcnreid train`")
    p.add_argument("--out", default=None,
                   help="output path without extension (default with one run: "
                        "RUN_DIR/training; needed with several)")
    p.add_argument("--title", default=None)


def run(args):
    from rcnreid.viz.training_plot import plot_training
    for path in plot_training(args.runs, args.out, title=args.title):
        print("wrote %s" % path)
    return 0
