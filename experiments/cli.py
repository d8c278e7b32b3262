"""The command line shared by the table and figure scripts (``make tableN`` passes the Make
variables DATA, PROFILE, READING, TRIALS, JOBS ... through the environment)."""
import argparse
import os

from experiments.options import DATASETS, Options
from experiments.runner import run_table
from experiments.table_report import paper_title
from rcnreid.commands.options import add_reading_option, add_set_option
from rcnreid.configs.registry import PROFILES
from rcnreid.errors import UserError, exit_status
from rcnreid.configs.readings import READINGS


def parse_trials(text):
    """``"3"`` -> trials 0..2 (TRIALS=N); ``"0,4,7"`` or ``"2-5"`` -> those trial numbers."""
    text = str(text).strip()
    try:
        if "," in text or "-" in text:
            out = []
            for part in text.split(","):
                if "-" in part:
                    a, b = part.split("-")
                    out += list(range(int(a), int(b) + 1))
                else:
                    out.append(int(part))
        else:
            n = int(text)
            if not 1 <= n <= 10:
                raise ValueError
            out = list(range(n))
    except ValueError:
        raise UserError("--trials %s: expected a count 1..10 or trial numbers like 0,3 or 2-5"
                        % text)
    if any(not 0 <= t <= 9 for t in out):
        raise UserError("--trials %s: trial numbers are 0..9" % text)
    return tuple(sorted(set(out)))


def build_parser(table_id, description):
    p = argparse.ArgumentParser(prog="experiments/%s.py" % table_id, description=description)
    p.add_argument("--data", choices=("real", "synthetic"),
                   default=os.environ.get("DATA", "real"),
                   help="real: the HDF5 files of `make data`; synthetic: built-in data (no downloads)")
    p.add_argument("--profile", choices=sorted(PROFILES),
                   default=os.environ.get("PROFILE", "paper"),
                   help="paper: Section 5 settings; cpu: paper protocol, fewer channels; quick: "
                        "CPU-sized; test: tiny (the tests) (rcnreid.configs.registry.PROFILES)")
    add_reading_option(p, os.environ.get("READING", "default"),
                       "default: the trainable reading; literal: the paper's stated settings "
                       "with Table 1's sizes (4x4 kernels, inferred); literal-3x3: the same with "
                       "3x3 kernels as stated (rcnreid.configs.readings; cached and reported "
                       "apart)")
    add_set_option(p, help="change one field of every trained network's configuration, as for "
                           "`rcnreid train` (repeatable; cached and reported apart)")
    p.add_argument("--trials", default=os.environ.get("TRIALS", "10"),
                   help="number of trials (1..10, runs trials 0..N-1) or trial numbers (0,3 / 2-5)")
    p.add_argument("--trial", type=int, default=None,
                   help="run this one trial (0..9) only, e.g. one SLURM array task")
    p.add_argument("--row", action="append", default=[],
                   help="run only this row (repeatable); the table still shows every row")
    p.add_argument("--dataset", action="append", default=[], choices=DATASETS,
                   help="run only this dataset (repeatable; default both)")
    p.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "1")),
                   help="(dataset, trial) tasks in parallel processes, one per GPU if several")
    p.add_argument("--ilidsvid", default=os.environ.get("ILIDSVID_H5", "data/ilidsvid.h5"))
    p.add_argument("--prid", default=os.environ.get("PRID_H5", "data/prid2011.h5"))
    p.add_argument("--results", default=os.environ.get("RESULTS", "results"))
    p.add_argument("--seed", type=int, default=0, help="base seed (trial K uses seed*1000+K)")
    p.add_argument("--collect", action="store_true",
                   help="compute nothing: build the table from the finished trials in --results")
    p.add_argument("--vgg16-weights", default=os.environ.get("VGG16_WEIGHTS", ""),
                   help="VGG-16 weights file for the VGG 16 + FC-GRU row (env VGG16_WEIGHTS)")
    p.add_argument("--pool-distance", choices=("euclidean", "similarity"), default="euclidean",
                   help="Table 3's re-pooled rows (frame outputs of the average-trained Deep "
                        "RCN): Euclidean distance of L2-normalised pooled vectors, or the learned "
                        "similarity of Eq. 5 (max pooling only)")
    return p


def options_from_args(args):
    if args.trial is not None:
        if not 0 <= args.trial <= 9:
            raise UserError("--trial %d: trial numbers are 0..9" % args.trial)
        trials = (args.trial,)
    else:
        trials = parse_trials(args.trials)
    if args.jobs < 1:
        raise UserError("--jobs %d: must be at least 1" % args.jobs)
    if args.reading not in READINGS:        # READING=... from the environment
        raise UserError("--reading %s (READING=): unknown; choose one of %s"
                        % (args.reading, ", ".join(READINGS)))
    overrides = tuple(args.overrides)
    if overrides:                           # a bad --set is one line now, not a row failure
        from rcnreid.configs.registry import get_config
        get_config("deep_rcn", args.profile, overrides=overrides)
    return Options(data=args.data, profile=args.profile, trials=trials, jobs=args.jobs,
                   datasets=tuple(args.dataset) or DATASETS, rows=tuple(args.row),
                   ilidsvid=args.ilidsvid, prid=args.prid, results=args.results, seed=args.seed,
                   collect_only=args.collect, vgg16_weights=args.vgg16_weights,
                   pool_distance=args.pool_distance, reading=args.reading, overrides=overrides)


def main(table_id, rows, argv=None, description=None, units="experiments.units:UNITS",
         after=None):
    """Entry point of ``experiments/tableN.py``; returns an exit status.

    ``after(report, options)`` runs once the table is written (Fig. 5 draws its plot there).
    """
    parser = build_parser(table_id, description or paper_title(table_id))
    args = parser.parse_args(argv)

    def run():
        options = options_from_args(args)
        report = run_table(table_id, rows, options, units=units)
        if after is not None:
            after(report, options)

    return exit_status(table_id, run,
                       interrupted="interrupted; finished trials are saved, run again to resume")
