"""Submit a table (or the whole paper) to SLURM: one task per unit of work -- one training or one
evaluation of a row x dataset x trial -- with the dependencies between units given to SLURM, each
task sized from its configuration; prints the job ids (``make submit``; docs/EXPERIMENTS.md).

::

    python -m experiments.cluster.submit table2 --data real --profile paper --trials 10
    python -m experiments.cluster.submit paper --partition gpu --max-time 24:00:00
    make collect DATA=real PROFILE=paper       # the tables, from whatever finished

Each task runs ``python -m experiments.unit`` (:mod:`experiments.unit`) under
``experiments/cluster/job.sh``, which turns a training's stop on SIGTERM (exit 75, checkpoint
written) into a requeue. Units already finished (cached under ``--results``) are not submitted;
units already in the queue under the same name are not submitted twice (their jobs become the
dependencies). Same options as the table scripts, plus the cluster's.
"""
import os
import sys


def _without_device(flags):
    """THEANO_FLAGS less its device settings: what this process imports Theano under."""
    keep = [p for p in (flags or "").split(",")
            if p.strip() and p.split("=")[0].strip() not in ("device", "init_gpu_device",
                                                               "contexts")]
    return ",".join(keep + ["device=cpu"])


#: The user's THEANO_FLAGS, which the tasks get unchanged (sbatch exports this environment).
#: The submitting process itself -- often a login node without a GPU -- must not start the
#: user's GPU device, which importing the configuration registry would (it imports Theano).
USER_THEANO_FLAGS = os.environ.get("THEANO_FLAGS")
os.environ["THEANO_FLAGS"] = _without_device(USER_THEANO_FLAGS)

from experiments import cli, datasets  # noqa: E402 - after the device is put aside
from experiments.cache import _safe  # noqa: E402
from experiments.cluster import plan as planlib  # noqa: E402
from experiments.cluster import sbatch, sizing  # noqa: E402
from rcnreid.errors import UserError, exit_status  # noqa: E402

JOB_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "job.sh")
TABLE_CHOICES = planlib.TARGETS


def build_parser():
    p = cli.build_parser("submit", __doc__.splitlines()[0])
    p.prog = "python -m experiments.cluster.submit"
    p.add_argument("tables", nargs="+", metavar="TABLE",
                   help="what to submit: %s" % ", ".join(TABLE_CHOICES))
    g = p.add_argument_group("cluster")
    g.add_argument("--python", default=sys.executable,
                   help="the Python the tasks run (default: this one, %(default)s)")
    g.add_argument("--partition", default=os.environ.get("SLURM_PARTITION", ""))
    g.add_argument("--account", default="")
    g.add_argument("--gpus", type=int, default=None,
                   help="GPUs per task that runs a network (default: 1 when THEANO_FLAGS "
                        "names a GPU device, else 0)")
    g.add_argument("--cpus-per-task", type=int, default=4)
    g.add_argument("--mem", type=int, default=None, metavar="MIB",
                   help="memory per task in MiB (default: 4 GiB + twice the dataset file)")
    g.add_argument("--step-seconds", type=float, default=None,
                   help="seconds per training step on the cluster's GPU, for the time limit "
                        "(default %.1f: paper profile on one H200; measure with `make bench`)"
                        % sizing.DEFAULT_STEP_SECONDS)
    g.add_argument("--max-time", default="1-00:00:00",
                   help="the longest time limit to ask for (the partition's); a longer "
                        "training is requeued at the limit and goes on (default %(default)s)")
    g.add_argument("--signal-seconds", type=int, default=300,
                   help="SIGTERM this many seconds before the time limit, for the checkpoint "
                        "(sbatch --signal=B:TERM@N; default %(default)s)")
    g.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                   help="one more sbatch option for every task, e.g. --sbatch-arg=--qos=long "
                        "(repeatable)")
    g.add_argument("--logs", default=None,
                   help="folder of the tasks' logs (default: <results>/slurm/<run tag>)")
    g.add_argument("--then-collect", action="store_true",
                   help="also submit `experiments.collect` to run once every task has ended")
    g.add_argument("--dry-run", action="store_true",
                   help="print the sbatch commands, submit nothing")
    return p


def _task_env():
    """The environment the tasks get (sbatch --export=ALL): this one, the user's THEANO_FLAGS."""
    env = dict(os.environ)
    if USER_THEANO_FLAGS is None:
        env.pop("THEANO_FLAGS", None)
    else:
        env["THEANO_FLAGS"] = USER_THEANO_FLAGS
    return env


def unit_argv(options, unit, python):
    """The command line of ``experiments.unit`` that computes ``unit`` under ``options``."""
    argv = [python, "-m", "experiments.unit", "--unit", unit.key, "--dataset", unit.dataset,
            "--trial", str(unit.trial), "--data", options.data, "--profile", options.profile,
            "--reading", options.reading, "--results", os.path.abspath(options.results),
            "--ilidsvid", os.path.abspath(options.ilidsvid),
            "--prid", os.path.abspath(options.prid), "--seed", str(options.seed),
            "--pool-distance", options.pool_distance]
    if options.vgg16_weights:
        argv += ["--vgg16-weights", os.path.abspath(options.vgg16_weights)]
    for s in options.overrides:
        argv += ["--set", s]
    return argv


def job_name(options, unit):
    return "rcnreid:%s:%s" % (options.run_tag, unit.name)


def _data_bytes(options, dataset):
    try:
        return os.path.getsize(datasets.dataset_path(options, dataset))
    except (OSError, UserError):
        return 0


def submit_all(options, tables, args, log=print):
    """Submit every unfinished unit of ``tables``; return ``[(unit, job id or status)]``."""
    units = planlib.plan(tables, options)
    if options.data == "real":
        for d in options.datasets:
            datasets.dataset_path(options, d)         # one line before anything is submitted
    max_minutes = sizing.parse_minutes(args.max_time)
    logs = os.path.abspath(args.logs or os.path.join(options.results, "slurm", options.run_tag))
    queued = {} if args.dry_run else sbatch.queued_jobs()
    if not args.dry_run:
        os.makedirs(logs, exist_ok=True)
    common = ["--requeue", "--signal=B:TERM@%d" % args.signal_seconds, "--open-mode=append",
              "--kill-on-invalid-dep=yes", "--chdir=%s" % os.getcwd()]
    if args.partition:
        common.append("--partition=%s" % args.partition)
    if args.account:
        common.append("--account=%s" % args.account)
    common += list(args.sbatch_arg)
    ids, out, n_new = {}, [], 0
    for unit in units:
        ident = (unit.dataset, unit.trial, unit.key)
        if planlib.finished(options, unit):
            out.append((unit, "finished"))
            continue
        name = job_name(options, unit)
        if name in queued:
            ids[ident] = queued[name]
            out.append((unit, queued[name] + " (already queued)"))
            log("%-10s %s: already in the queue" % (queued[name], unit.name))
            continue
        res = sizing.size(unit, _data_bytes(options, unit.dataset), gpus=args.gpus,
                          cpus=args.cpus_per_task, mem_mb=args.mem,
                          step_seconds=args.step_seconds, max_minutes=max_minutes,
                          theano_flags=USER_THEANO_FLAGS or "")
        deps = [ids[(unit.dataset, unit.trial, d)] for d in unit.deps
                if (unit.dataset, unit.trial, d) in ids]
        sargs = common + res.sbatch_args() + [
            "--job-name=%s" % name,
            "--output=%s" % os.path.join(logs, "%s-trial%d-%s.log"
                                         % (unit.dataset, unit.trial, _safe(unit.key)))]
        if deps:
            sargs.append("--dependency=afterok:%s" % ":".join(deps))
        argv = unit_argv(options, unit, args.python)
        if args.dry_run:
            job_id = "DRY%d" % (n_new + 1)
            log("sbatch %s %s %s" % (" ".join(sargs), JOB_SCRIPT, " ".join(argv)))
        else:
            job_id = sbatch.submit(sargs, JOB_SCRIPT, argv, _task_env())
        n_new += 1
        ids[ident] = job_id
        out.append((unit, job_id))
        log("%-10s %-40s %s %s, %d CPU, %d MiB, %s%s"
            % (job_id, unit.name, unit.kind,
               ("%d GPU" % res.gpus) if res.gpus else "no GPU", res.cpus, res.mem_mb,
               sizing.slurm_time(res.minutes),
               (" after " + ",".join(deps)) if deps else ""))
    if args.then_collect and ids:
        argv = [args.python, "-m", "experiments.collect", "--data", options.data,
                "--profile", options.profile, "--reading", options.reading,
                "--results", os.path.abspath(options.results),
                "--trials", ",".join(str(t) for t in options.trials),
                "--ilidsvid", os.path.abspath(options.ilidsvid),
                "--prid", os.path.abspath(options.prid)]
        for s in options.overrides:
            argv += ["--set", s]
        sargs = [a for a in common if not a.startswith(("--requeue", "--signal"))] + [
            "--job-name=rcnreid:%s:collect" % options.run_tag, "--cpus-per-task=1",
            "--mem=%dM" % sizing.BASE_MEM_MB, "--time=1:00:00",
            "--output=%s" % os.path.join(logs, "collect.log"),
            "--dependency=afterany:%s" % ":".join(sorted(set(ids.values())))]
        if args.dry_run:
            log("sbatch %s %s %s" % (" ".join(sargs), JOB_SCRIPT, " ".join(argv)))
        else:
            jid = sbatch.submit(sargs, JOB_SCRIPT, argv, _task_env())
            log("%-10s collect (after every task)" % jid)
    done = sum(1 for _, s in out if s == "finished")
    log("%d units: %d submitted, %d already finished, %d already queued; logs in %s; "
        "the tables: make collect DATA=%s PROFILE=%s READING=%s RESULTS=%s"
        % (len(out), n_new, done, len(out) - n_new - done, logs, options.data, options.profile,
           options.reading, options.results))
    return out


def main(argv=None):
    args = build_parser().parse_args(argv)

    def run():
        bad = [t for t in args.tables if t not in TABLE_CHOICES]
        if bad:
            raise UserError("%s: unknown; choose from %s" % (", ".join(bad),
                                                             ", ".join(TABLE_CHOICES)))
        if args.collect:
            raise UserError("--collect: submit computes; use `make collect` for the tables")
        try:
            sizing.parse_minutes(args.max_time)
        except ValueError:
            raise UserError("--max-time %s: expected a SLURM time such as 24:00:00 or "
                            "1-00:00:00" % args.max_time)
        options = cli.options_from_args(args)
        submit_all(options, args.tables, args)

    return exit_status("experiments.cluster.submit", run)


if __name__ == "__main__":
    sys.exit(main())
