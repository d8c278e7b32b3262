"""``rcnreid train``: train the Siamese RCN on the training people of one trial (Section 5.2)."""
import os

NAME = "train"
HELP = "train a model on the training people of trial K (checkpoint every epoch, --resume)"


def add_arguments(p):
    from rcnreid.commands.options import (add_reading_option, add_run_folder_options,
                                          add_set_option)
    from rcnreid.configs.registry import PROFILES
    p.add_argument("--data", required=True, help="dataset HDF5 file (rcnreid prepare)")
    p.add_argument("--trial", type=int, default=0, help="train/test split 0..9 (default 0)")
    p.add_argument("--config", default="quick",
                   help="configuration name (paper, cpu, quick, tiny, deep_rcn, rcn_ind, "
                        "quick_rcn_ind, ...) or a config.json written by a run (default quick)")
    p.add_argument("--profile", default="paper", choices=sorted(PROFILES),
                   help="size profile for a row name such as deep_rcn (default paper)")
    add_reading_option(p, None, "default: the trainable reading (docs/REPRODUCTION.md); literal: "
                                "the paper's stated settings, Table 1's sizes with 4x4 kernels "
                                "(inferred); literal-3x3: 3x3 kernels as stated (default: a "
                                "config.json's own)")
    add_set_option(p, help="change one field of the configuration, e.g. "
                           "train.optim.learning_rate=0.01 (repeatable; recorded in config.json)")
    add_run_folder_options(p, "run folder for checkpoints, log and config")


def run(args):
    from rcnreid.configs.registry import load_config
    from rcnreid.engine.checkpoint import FINAL_NAME
    from rcnreid.engine.train import train
    from rcnreid.viz.training_plot import plot_finished_run
    cfg = load_config(args.config, args.profile, reading=args.reading,
                      overrides=args.overrides)
    if args.epochs is not None:
        cfg = cfg.replace_train(epochs=args.epochs)
    path = train(args.data, args.trial, cfg, args.out, resume=args.resume, seed=args.seed,
                 max_epochs=args.stop_after, wait=args.wait)
    if os.path.basename(path) == FINAL_NAME:           # finished: its training curves
        plot_finished_run(args.out)
    return 0
