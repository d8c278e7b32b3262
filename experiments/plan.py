"""``make plan``: what a table target will compute and how long it takes, before anything runs.

``python -m experiments.plan TARGET`` (``TARGET``: ``table2`` .. ``table5``, ``fig5`` or
``paper``) takes the table scripts' options (``make plan TABLE=2 DATA=real PROFILE=paper
JOBS=4``), lists every unit of work from the static graph (:mod:`experiments.unit_graph`):
dataset, trials, unit, kind, training steps and estimated device hours, marks the units already
finished in ``--results`` (the runner's cache) and leaves them out of the totals, then prints the
totals per table and in all: GPU-hours, GPU-days and the wall time with ``--jobs N``.

The time comes from one measured training step: ``--step-s`` seconds per step of ``--step-config``
(default ``paper``: the Deep RCN at the paper profile, 10 pairs of 20 frames, what ``rcnreid bench
--config paper`` times), or ``--bench-json FILE``, the output of ``rcnreid bench --config NAME
--json``, or ``--from-run RUN_DIR``, the median seconds per mini-batch a training logged (the
truest measure where a step is not bound by its arithmetic: a small model on a CPU runs its
overheads, not its FLOPs, and ``rcnreid bench`` times fewer pairs than training uses on the
small profiles); with none of them, the step measured on one NVIDIA H200 on 1 Dec 2026 (1.20 s,
docs/SPEED.md). Every other network's step is scaled by its floating-point operations per step
(:func:`step_gflop`, from :func:`rcnreid.nn.summary.gflop_per_sequence`, the count the benchmark
reports); evaluation of a trained network by the forward operations over its test sequences, every
test-time augmentation (an estimate: inference runs at another efficiency than training). What is
not estimated is said so: the hand-crafted baselines, Fisher vectors and metric learning (CPU
work, minutes), VGG-16's fine-tuning on VIPeR.

Wall time with ``--jobs N``: the runner hands a table's (dataset, trial) tasks in order to N
worker processes (:mod:`experiments.pool`); the plan schedules them the same way. By default each
job is assumed to have a GPU of its own (a speed-up of N); ``--speedup S`` gives the measured
throughput of N jobs together relative to one (e.g. 2 jobs sharing one GPU). Tables run one after
the other (``make paper``), each unit once. Nothing is compiled or trained: it takes seconds.
"""
import dataclasses
import json
import math
import os
import sys

from experiments import unit_graph
from experiments.cli import build_parser, options_from_args
from rcnreid.configs.registry import get_config, profile_of
from rcnreid.errors import UserError, exit_status

#: The measured step of the issue 28 arithmetic (docs/SPEED.md, 1 Dec 2026): the paper
#: configuration on one NVIDIA H200, cuDNN with its default (TF32) math.
H200_PAPER_STEP_S = 1.20
H200_DEVICE = "one NVIDIA H200"
H200_SOURCE = ("default: measured 1 Dec 2026, docs/SPEED.md; STEP_S= or BENCH_JSON= for "
               "your device")


@dataclasses.dataclass(frozen=True)
class Step:
    """The measured training step everything is scaled from."""
    seconds: float
    gflop: float            # floating-point operations of that step, forward and backward
    config: str
    source: str
    device: str


_GFLOP_PER_FRAME = {}


def forward_gflop_per_frame(cfg):
    """Forward GFLOP of one frame of ``cfg`` (a RunConfig):
    :func:`rcnreid.nn.summary.gflop_per_sequence` of one frame, once per model configuration."""
    key = json.dumps(dataclasses.asdict(cfg.model), sort_keys=True)
    if key not in _GFLOP_PER_FRAME:
        from rcnreid.nn.summary import gflop_per_sequence
        _GFLOP_PER_FRAME[key] = gflop_per_sequence(cfg.model, 1)
    return _GFLOP_PER_FRAME[key]


def step_gflop(cfg, pairs=None):
    """GFLOP of one training step of ``cfg`` (a RunConfig): ``2 x pairs`` sequences of
    ``train.seq_len`` frames, forward and backward counted as 3 forward passes (the benchmark's
    convention: ``train_gflops = 3 x gflop_per_sequence x sequences / s``)."""
    pairs = cfg.train.batch_pairs if pairs is None else pairs
    return 3.0 * forward_gflop_per_frame(cfg) * cfg.train.seq_len * 2 * pairs


def step_from_run(run_dir, device=None):
    """The :class:`Step` a finished or running training measured: the median over its logged
    epochs (``train_log.jsonl``: ``seconds``, ``pairs``) of seconds per mini-batch, for the
    configuration in its ``config.json``. The truest measure where a step is not bound by its
    arithmetic (small models on a CPU), since it times the batch size training uses."""
    import statistics
    from rcnreid.configs.registry import RunConfig
    from rcnreid.engine.trainlog import LOG_NAME, read_log
    cfg_path = os.path.join(run_dir, "config.json")
    try:
        with open(cfg_path, encoding="utf-8") as f:
            cfg = RunConfig.from_dict(json.load(f))
    except OSError:
        raise UserError("--from-run %s: no config.json; give a run folder of `rcnreid train` "
                        "or of a table" % run_dir)
    except (ValueError, TypeError) as exc:
        raise UserError("--from-run %s: config.json is not a run configuration (%s)"
                        % (run_dir, exc))
    per_step = [float(r["seconds"]) / -(-int(r["pairs"]) // cfg.train.batch_pairs)
                for r in read_log(os.path.join(run_dir, LOG_NAME))
                if r.get("seconds") and r.get("pairs")]
    if not per_step:
        raise UserError("--from-run %s: %s has no finished epoch yet; let it train an epoch "
                        "or two" % (run_dir, LOG_NAME))
    return Step(statistics.median(per_step), step_gflop(cfg), cfg.name,
                "measured: median of %d epochs of %s" % (len(per_step), run_dir),
                device or "the device that trained it")


def measured_step(step_s=None, bench_json=None, step_config="paper", device=None,
                  from_run=None):
    """The :class:`Step` of ``--step-s`` (seconds per step of ``step_config`` as ``rcnreid bench``
    times it: the profile's ``bench_pairs`` pairs), of a ``rcnreid bench --json`` file, or of a
    training's log (:func:`step_from_run`)."""
    given = [n for n, v in (("--step-s", step_s), ("--bench-json", bench_json),
                            ("--from-run", from_run)) if v is not None]
    if len(given) > 1:
        raise UserError("%s: give one of them (STEP_S=, BENCH_JSON= or FROM_RUN=)"
                        % " and ".join(given))
    if from_run is not None:
        return step_from_run(from_run, device)
    if step_s is None and bench_json is None:
        if step_config != "paper":
            raise UserError("--step-config %s: give its measured step with --step-s SECONDS"
                            % step_config)
        return dataclasses.replace(measured_step(H200_PAPER_STEP_S), device=H200_DEVICE,
                                   source=H200_SOURCE)
    if bench_json is not None:
        try:
            with open(bench_json, encoding="utf-8") as f:
                r = json.load(f)
            sec, gflop_seq = float(r["train_step_s"]), float(r["gflop_per_sequence"])
            pairs = int(r["pairs_per_step"])
        except OSError as exc:
            raise UserError("--bench-json %s: cannot read it (%s)" % (bench_json, exc.strerror))
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError("--bench-json %s: not the output of `rcnreid bench --json` (%s); "
                            "run `rcnreid bench --config paper --json > FILE`"
                            % (bench_json, exc))
        dev = r.get("device") or {}
        label = device or dev.get("device_name") or dev.get("device") or "device not recorded"
        return Step(sec, 3.0 * gflop_seq * 2 * pairs, str(r.get("config", "?")),
                    "measured: %s" % bench_json, label)
    if not (step_s > 0 and math.isfinite(step_s)):
        raise UserError("--step-s %s: must be a positive number of seconds" % step_s)
    cfg = get_config(step_config)
    pairs = profile_of(step_config).bench_pairs
    return Step(float(step_s), step_gflop(cfg, pairs), step_config, "given: --step-s %g"
                % step_s, device or "the device the step was measured on")


@dataclasses.dataclass
class Planned:
    unit: unit_graph.Unit
    finished: bool
    train_s: float          # estimated seconds of training
    eval_s: float           # estimated seconds of evaluating the trained network

    @property
    def seconds(self):
        return 0.0 if self.finished or self.unit.not_run else self.train_s + self.eval_s


def estimate(unit, step, options):
    """``(train seconds, eval seconds)`` of one unit from the measured ``step``."""
    if unit.kind != "train" or unit.config is None:
        return 0.0, 0.0
    per_gflop = step.seconds / step.gflop
    train = unit.steps * step_gflop(unit.config) * per_gflop
    from rcnreid.data.augment import TEST_AUG_SETS
    crops, mirrors = TEST_AUG_SETS[unit.config.train.test_augs]
    evaluate = unit.test_frames * len(crops) * len(mirrors) * forward_gflop_per_frame(
        unit.config) * per_gflop
    return train, evaluate


def plan_units(target, options, step, prid_protocol="200"):
    """``[(table, [Planned])]``: each table of ``target`` with the units it adds, in the order
    ``make`` runs them (a unit shared with an earlier table is planned there only)."""
    tables = unit_graph.TABLES if target == "paper" else (target,)
    seen, out = set(), []
    for t in tables:
        units = unit_graph.table_units(t, options, prid_protocol)
        planned = []
        for u in units:
            if u.id in seen:
                continue
            seen.add(u.id)
            tr, ev = estimate(u, step, options)
            planned.append(Planned(u, unit_graph.is_finished(options, u), tr, ev))
        out.append((t, planned))
    return out


def schedule(task_seconds, jobs, speedup=None):
    """Wall seconds of tasks handed in order to ``jobs`` workers (each to the first one free),
    each task taking ``jobs / speedup`` times its seconds alone (default speed-up: ``jobs``)."""
    speedup = float(jobs if speedup is None else speedup)
    slow = jobs / speedup
    free = [0.0] * max(1, int(jobs))
    for s in task_seconds:
        i = free.index(min(free))
        free[i] += s * slow
    return max(free)


def _tasks(planned, options):
    per = {}
    for p in planned:
        key = (p.unit.dataset, p.unit.trial)
        per[key] = per.get(key, 0.0) + p.seconds
    return [per.get((d, t), 0.0) for d in options.datasets for t in options.trials]


def build_plan(target, options, step, jobs=1, speedup=None, prid_protocol="200"):
    """The plan as plain data (what ``--json`` prints)."""
    tables = plan_units(target, options, step, prid_protocol)
    out_tables, units, total_s, wall_s = [], [], 0.0, 0.0
    for t, planned in tables:
        sec = sum(p.seconds for p in planned)
        wall = schedule(_tasks(planned, options), jobs, speedup)
        total_s += sec
        wall_s += wall
        todo = [p for p in planned if not p.finished and not p.unit.not_run]
        out_tables.append({
            "table": t, "units": len(planned), "to_do": len(todo),
            "finished": sum(p.finished for p in planned),
            "not_run": sum(bool(p.unit.not_run) and not p.finished for p in planned),
            "trainings": sum(p.unit.kind == "train" for p in todo),
            "steps": sum(p.unit.steps for p in todo),
            "eval_hours": sum(p.eval_s for p in todo) / 3600.0,
            "gpu_hours": sec / 3600.0, "gpu_days": sec / 86400.0, "wall_hours": wall / 3600.0})
        for p in planned:
            d = unit_graph.unit_dict(p.unit)
            d.update(table=t, finished=p.finished, train_hours=p.train_s / 3600.0,
                     eval_hours=p.eval_s / 3600.0, hours=p.seconds / 3600.0)
            units.append(d)
    people = {}
    for d in options.datasets:
        s = unit_graph.split_sizes(options, d, options.trials[0], prid_protocol)
        people[d] = {"train_people": s.train_people, "source": s.source}
    return {"target": target, "data": options.data, "profile": options.profile,
            "reading": options.reading, "overrides": list(options.overrides),
            "trials": list(options.trials), "datasets": list(options.datasets),
            "results": options.results, "people": people,
            "step": dataclasses.asdict(step),
            "jobs": jobs, "speedup": float(jobs if speedup is None else speedup),
            "speedup_source": "assumed: one GPU per job" if speedup is None else "given",
            "tables": out_tables, "units": units,
            "total": {"gpu_hours": total_s / 3600.0, "gpu_days": total_s / 86400.0,
                      "wall_hours": wall_s / 3600.0, "wall_days": wall_s / 86400.0}}


def _trials_text(trials):
    trials = sorted(trials)
    if trials and trials == list(range(trials[0], trials[-1] + 1)) and len(trials) > 2:
        return "%d-%d" % (trials[0], trials[-1])
    return ",".join(map(str, trials))


def _h(hours):
    return "%.1f" % hours if hours >= 0.05 or hours == 0 else "%.2f" % hours


def format_plan(plan, per_trial=False):
    """The plan as text: settings, the unit table, totals."""
    st = plan["step"]
    lines = ["plan for %s: DATA=%s PROFILE=%s READING=%s%s, trials %s, datasets %s, JOBS=%d"
             % (plan["target"], plan["data"], plan["profile"], plan["reading"],
                (" SET='%s'" % " ".join(plan["overrides"])) if plan["overrides"] else "",
                _trials_text(plan["trials"]), ", ".join(plan["datasets"]), plan["jobs"]),
             "step: %.3f s per training step of %s (%.0f GFLOP) on %s (%s); other networks "
             "scaled by GFLOP per step, evaluation by its forward GFLOP"
             % (st["seconds"], st["config"], st["gflop"], st["device"], st["source"]),
             "training people per trial: " + "; ".join(
                 "%s %d (%s)" % (d, v["train_people"], v["source"])
                 for d, v in plan["people"].items()), ""]
    head = "%-7s %-9s %-6s %-28s %-5s %8s %9s  %s" % (
        "table", "dataset", "trials", "unit", "kind", "steps", "est. h", "status")
    lines += [head, "-" * len(head)]
    groups = []
    for u in plan["units"]:
        status = ("finished" if u["finished"] else "not run: " + u["not_run"] if u["not_run"]
                  else "same as %s" % u["same_as"] if u["same_as"] else "to do")
        key = (u["table"], u["dataset"], u["key"], status) if not per_trial else (
            u["table"], u["dataset"], u["key"], status, u["trial"])
        if groups and groups[-1][0] == key:
            groups[-1][1].append(u)
        else:
            found = [g for g in groups if g[0] == key]
            (found[0][1].append(u) if found else groups.append((key, [u])))
    for key, us in groups:
        u = us[0]
        counted = u["kind"] == "train" and not u["finished"] and not u["not_run"]
        steps = sum(x["steps"] for x in us)
        hours = sum(x["hours"] for x in us)
        lines.append("%-7s %-9s %-6s %-28s %-5s %8s %9s  %s" % (
            u["table"], u["dataset"], _trials_text([x["trial"] for x in us]), u["key"],
            u["kind"], "{:,}".format(steps) if counted else "-",
            _h(hours) if counted else "-", key[3]))
    fmt = "%-7s %6s %6s %9s %10s %11s %7s %9s %9s"
    lines += ["", fmt % ("table", "units", "to do", "trainings", "steps", "GPU-hours",
                         "(eval)", "GPU-days", "wall h"), "-" * 83]
    for t in plan["tables"]:
        lines.append(fmt % (t["table"], t["units"], t["to_do"], t["trainings"],
                            "{:,}".format(t["steps"]), "%.1f" % t["gpu_hours"],
                            "%.1f" % t["eval_hours"], "%.2f" % t["gpu_days"],
                            "%.1f" % t["wall_hours"]))
    tot = plan["total"]
    lines.append(fmt % ("all", sum(t["units"] for t in plan["tables"]),
                        sum(t["to_do"] for t in plan["tables"]),
                        sum(t["trainings"] for t in plan["tables"]),
                        "{:,}".format(sum(t["steps"] for t in plan["tables"])),
                        "%.1f" % tot["gpu_hours"],
                        "%.1f" % sum(t["eval_hours"] for t in plan["tables"]),
                        "%.2f" % tot["gpu_days"], "%.1f" % tot["wall_hours"]))
    lines += ["",
              "GPU-hours: hours of the device the step was measured on (a CPU too); they "
              "include the estimated evaluation of the trained networks ((eval): "
              "forward GFLOP of every test frame and augmentation at the step's rate). "
              "A unit shared by several tables is counted in the first (make paper's order). "
              "Not estimated: hand-crafted baselines, Fisher vectors, metric learning (CPU, "
              "minutes each), VGG-16 fine-tuning on VIPeR.",
              "Wall time with JOBS=%d: %.1f h (%.2f days); speed-up of %d jobs over one: "
              "%.2fx (%s)." % (plan["jobs"], tot["wall_hours"], tot["wall_days"], plan["jobs"],
                               plan["speedup"], plan["speedup_source"])]
    return "\n".join(lines)


def build_plan_parser():
    p = build_parser("plan", "What a table target computes and how long it takes, before "
                             "anything runs (no compilation, no training).")
    p.prog = "python -m experiments.plan"
    p.add_argument("target", choices=unit_graph.TARGETS,
                   help="table2 .. table5, fig5, or paper (all of them)")
    p.add_argument("--step-s", type=float, default=None,
                   help="seconds per training step of --step-config (STEP_S=; default: 1.20 s "
                        "per paper step, measured on an H200 on 1 Dec 2026)")
    p.add_argument("--bench-json", default=None,
                   help="the measured step: output of `rcnreid bench --config NAME --json` "
                        "(BENCH_JSON=)")
    p.add_argument("--from-run", default=None,
                   help="the measured step: a training's run folder (its config.json and the "
                        "seconds per epoch of its train_log.jsonl; FROM_RUN=)")
    p.add_argument("--step-config", default="paper",
                   help="the configuration --step-s was measured on (default paper: Deep RCN, "
                        "paper profile)")
    p.add_argument("--device", default=None, help="name of the device the step was measured on")
    p.add_argument("--speedup", type=float, default=None,
                   help="throughput of JOBS jobs together over one job (default: JOBS, one GPU "
                        "per job)")
    p.add_argument("--prid-protocol", choices=("200", "178"), default="200",
                   help="PRID 2011 persons when the data file is not there (PRID_PROTOCOL=)")
    p.add_argument("--per-trial", action="store_true", help="one line per trial")
    p.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    return p


def _target(text):
    text = str(text).strip()
    return "table" + text if text.isdigit() else text


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        argv[0] = _target(argv[0])
    args = build_plan_parser().parse_args(argv)

    def run():
        options = options_from_args(args)
        if args.speedup is not None and not (args.speedup > 0 and math.isfinite(args.speedup)):
            raise UserError("--speedup %s: must be a positive number" % args.speedup)
        step = measured_step(args.step_s, args.bench_json, args.step_config, args.device,
                             from_run=args.from_run)
        plan = build_plan(args.target, options, step, jobs=options.jobs, speedup=args.speedup,
                          prid_protocol=args.prid_protocol)
        print(json.dumps(plan, indent=1, sort_keys=True) if args.json
              else format_plan(plan, per_trial=args.per_trial))

    return exit_status("plan", run)


if __name__ == "__main__":
    sys.exit(main())
