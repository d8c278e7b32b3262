"""Run ONE unit of work -- one training or one evaluation of a row x dataset x trial -- and cache
its result where the table scripts and ``make collect`` find it (what a SLURM task runs).

::

    python -m experiments.unit --unit rcn/deep_rcn --dataset prid2011 --trial 0 \\
        --data synthetic --profile test --results results

Same options as the table scripts (``--data``, ``--profile``, ``--reading``, ``--set``,
``--results`` ...), which decide the cache entry, exactly as ``make tableN`` would. A unit whose
result is cached already is not recomputed (exit 0 at once); units it builds on are taken from
the cache, or computed first when missing (the runner's lock makes a second process wait).

Exit status: 0 finished (or already finished); 2 bad input (one line); 3 the unit cannot run here
(e.g. no VGG-16 weights: ``not run: <reason>``); :data:`INTERRUPTED_EXIT` (75) a training
stopped by SIGTERM / SIGINT / SIGUSR1 after writing a checkpoint -- run the same command again
to resume it (the SLURM batch script requeues on 75); 1 anything else (with its traceback).
"""
import sys

from experiments import cli, datasets
from experiments.cache import read_cached
from experiments.interrupts import INTERRUPTED_EXIT, interrupt_guard  # noqa: F401 - documented
from experiments.options import RowNotRun
from experiments.runner import Context, compute_unit
from rcnreid.errors import UserError, exit_status

#: Exit status of a unit that cannot run in this installation (missing weights, no code).
NOT_RUN_EXIT = 3


def build_parser():
    p = cli.build_parser("unit", __doc__.splitlines()[0])
    p.prog = "python -m experiments.unit"
    p.add_argument("--unit", required=True,
                   help="the unit's key, e.g. rcn/deep_rcn, deep_metric/LFDA, baseline/HOG3D "
                        "(experiments.units)")
    return p


def unit_options(args):
    """(Options, dataset, trial) of the command line; UserError unless exactly one dataset and
    one ``--trial`` are given."""
    if args.trial is None:
        raise UserError("--trial: required (0..9): a unit is one trial")
    if len(args.dataset) != 1:
        raise UserError("--dataset: give exactly one (ilidsvid or prid2011)")
    if args.collect:
        raise UserError("--collect: a unit computes; use `make collect` to build the tables")
    options = cli.options_from_args(args)
    return options, args.dataset[0], args.trial


def run_unit(options, dataset, trial, key, units=None, log=print):
    """Compute (or find cached) unit ``key`` of ``dataset`` and ``trial``; return its result.

    Raises :class:`~experiments.options.RowNotRun` when it cannot run here, and whatever the
    training raises when interrupted (see :mod:`experiments.interrupts`).
    """
    if units is None:
        from experiments.units import UNITS as units
    if key not in units:
        raise UserError("--unit %s: unknown; units are: %s" % (key, ", ".join(sorted(units))))
    cached = read_cached(options, dataset, trial, key)
    if cached is not None:
        log("[%s trial %d] %s: already finished (%s)" % (dataset, trial, key,
                                                         cached.get("seconds", "?")))
        return cached
    if options.data == "synthetic":
        path = datasets.ensure_synthetic(options, dataset, log)
    else:
        path = datasets.dataset_path(options, dataset)
    ctx = Context(options=options, dataset=dataset, data_path=path, trial=trial, units=units,
                  log=log)
    return compute_unit(ctx, key)


def main(argv=None):
    args = build_parser().parse_args(argv)
    prog = "experiments.unit"

    def run():
        options, dataset, trial = unit_options(args)
        try:
            with interrupt_guard():
                run_unit(options, dataset, trial, args.unit)
        except RowNotRun as exc:
            print("%s: %s: not run: %s" % (prog, args.unit, exc), file=sys.stderr)
            return NOT_RUN_EXIT
        return 0

    # TrainingInterrupted is a UserError whose exit status is 75 (rcnreid.errors.exit_status)
    return exit_status(prog, run, interrupted="interrupted; run the same command to resume")


if __name__ == "__main__":
    sys.exit(main())
