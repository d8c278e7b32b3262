"""The spread of the suite's learned-behaviour measurements over seeds and float-rounding settings
(issue 25; docs/DEVELOPING.md, "Float rounding").

A test that trains and asserts an outcome calls a ``measure_*(seed, ...)`` function of its own
module on one seed; this tool calls the same function for several seeds, each float-rounding
setting in a child process of its own (the settings are read when Theano, OpenBLAS and oneDNN
load), and prints each metric's range, from which the tests' thresholds are set::

    .venv/bin/python -m tests.outcome_spread literal uniform --seeds 0-4
    .venv/bin/python -m tests.outcome_spread all --settings onednn-1,corrmm-1 --out spread.json
    .venv/bin/python -m tests.outcome_spread --pytest "-m outcome -n 2"     # make test-rounding

Settings are ``CONV-THREADS[-avx2]``: ``RCNREID_CPU_CONV`` (onednn or corrmm), OpenMP and
OpenBLAS threads per process, and with ``-avx2`` OpenBLAS's Haswell kernels plus oneDNN capped at
AVX2, the kernels an AVX2-only CPU (an AMD EPYC before Zen 4) runs. ``-avx2`` is refused where
the environment already sets ``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE``: some OpenBLAS builds
compute wrong results or crash under other values, so a machine's own setting is never changed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from tests.learning import spread_note

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: name -> (module, function, extra arguments the child builds, metrics worth showing, keyword
#: arguments: the update budgets are raised well above the tests' own so that the spread shows
#: the slowest escape, not the budget)
MEASURES = {
    "literal": ("tests.test_model_readings", "measure_literal_reading", None,
                ("literal_acc", "control_steps"), {"control_cap": 6500}),
    "literal-3x3": ("tests.test_model_readings", "measure_literal_reading", None,
                    ("literal_acc", "control_steps"), {"control_cap": 6500,
                                                       "reading": "literal-3x3"}),
    "uniform": ("tests.test_model_readings", "measure_uniform_tiny", None, ("steps",),
                {"cap": 1000}),
    "frame_dropout": ("tests.test_model_readings", "measure_frame_dropout", None, ("steps",),
                      {"cap": 1000}),
    "loss_falls": ("tests.test_model_properties", "measure_loss_falls", None, ("steps",),
                   {"cap": 1000}),
    "finetune": ("tests.test_vgg_pipeline", "measure_finetune", "vgg",
                 ("loss_ratio", "accuracy"), {}),
    "quick": ("tests.test_train_learns", "measure_quick", "quick",
              ("rank1_over_chance", "rank5_minus_chance", "map_minus_chance", "loss_fall"), {}),
}
DEFAULT_SETTINGS = "onednn-1,corrmm-1,onednn-2,corrmm-2,onednn-1-avx2,corrmm-1-avx2"


def default_settings(env=None):
    """DEFAULT_SETTINGS, less the ``-avx2`` ones where the environment sets OpenBLAS's kernels."""
    from rcnreid.backend.threads import machine_blas_settings
    machine = machine_blas_settings(env)
    return ",".join(s for s in DEFAULT_SETTINGS.split(",")
                    if not (machine and s.endswith("-avx2")))


def setting_env(setting, base=None):
    """The environment of one setting (see the module docstring)."""
    from rcnreid.backend.threads import ADDED
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if ADDED.get(k) != v}           # as the machine set it, without rcnreid's additions
    parts = setting.split("-")
    conv, threads = parts[0], parts[1]
    if conv not in ("onednn", "corrmm") or not threads.isdigit() or parts[2:] not in ([], ["avx2"]):
        raise SystemExit("outcome_spread: unknown setting %r (CONV-THREADS[-avx2])" % setting)
    env.update(RCNREID_CPU_CONV=conv, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
    if parts[2:] == ["avx2"]:
        preset = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if env.get(v, "").strip()]
        if preset:
            raise SystemExit("outcome_spread: %s set by this machine's environment; "
                             "-avx2 would change it: leave -avx2 out" % " and ".join(preset))
        env.update(OPENBLAS_CORETYPE="Haswell", ONEDNN_MAX_CPU_ISA="AVX2",
                   DNNL_MAX_CPU_ISA="AVX2")
    return env


def _seeds(text):
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _child(names, seeds):
    """Run the measurements here; one JSON line per (name, seed) on stdout."""
    import importlib
    work = tempfile.mkdtemp(prefix="outcome-spread-")
    made = {}
    for name in names:
        module, func, extra, keys, kw = MEASURES[name]
        fn = getattr(importlib.import_module(module), func)
        for seed in seeds:
            folder = os.path.join(work, "%s-%d" % (name, seed))
            if extra == "vgg":
                if "vgg" not in made:
                    from tests.test_vgg_pipeline import make_files
                    os.makedirs(os.path.join(work, "vgg"))
                    made["vgg"] = make_files(os.path.join(work, "vgg"))
                r = fn(seed, made["vgg"], folder, **kw)
            elif extra == "quick":
                from data_prep.synth import make_synthetic_h5
                data = os.path.join(work, "synth40-%d.h5" % seed)
                make_synthetic_h5(data, layout="ilidsvid", persons=40, seed=seed)
                r = fn(seed, data, folder, **kw)
            else:
                r = fn(seed, **kw)
            row = {k: (None if r[k] is None else float(r[k])) for k in keys}
            print(json.dumps(dict(name=name, seed=seed, **row)), flush=True)


def run_pytest(args, settings):
    """``pytest ARGS`` once per setting; 0 when every run passed. Each run's summary line is
    printed, and a closing line lists the settings that failed."""
    failed = []
    for setting in settings:
        env = setting_env(setting)
        print("== pytest %s under %s" % (" ".join(args), setting), flush=True)
        rc = subprocess.call([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"] + args,
                             env=env, cwd=ROOT)
        if rc:
            failed.append("%s (exit %d)" % (setting, rc))
    print("== settings %s: %s" % (",".join(settings),
                                   "all passed" if not failed else "FAILED " + ", ".join(failed)))
    return 1 if failed else 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tests.outcome_spread",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="measurements (%s) or all" % ", ".join(MEASURES))
    ap.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,3,7 (default 0-4)")
    ap.add_argument("--settings", default=None,
                    help="comma-separated CONV-THREADS[-avx2] (default %s; without -avx2 where "
                         "the environment sets OPENBLAS_CORETYPE)" % DEFAULT_SETTINGS)
    ap.add_argument("--out", help="also write every row as JSON to this file")
    ap.add_argument("--pytest", metavar="ARGS",
                    help="instead of measuring, run pytest with these arguments under each "
                         "setting (e.g. \"-m outcome -n 2\", what make test-rounding runs)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.settings = a.settings or default_settings()
    if a.pytest is not None:
        return run_pytest(a.pytest.split(), a.settings.split(","))
    names = list(MEASURES) if a.names == ["all"] else a.names
    if not names:
        ap.error("name a measurement (%s) or all, or give --pytest" % ", ".join(MEASURES))
    unknown = [n for n in names if n not in MEASURES]
    if unknown:
        ap.error("unknown measurement(s) %s; choose from %s" % (unknown, ", ".join(MEASURES)))
    if a.child:
        _child(names, _seeds(a.seeds))
        return 0
    rows = []
    for setting in a.settings.split(","):
        env = setting_env(setting)
        cmd = [sys.executable, "-m", "tests.outcome_spread", "--child", "--seeds", a.seeds] + names
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode:
            sys.stderr.write(proc.stderr[-3000:])
            raise SystemExit("outcome_spread: setting %s failed (exit %d)"
                             % (setting, proc.returncode))
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                row = dict(json.loads(line), setting=setting)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\nmeasurement    metric                 range over every setting and seed, then per setting")
    for name in names:
        for key in MEASURES[name][3]:
            vals = [r[key] for r in rows if r["name"] == name]
            per = "  ".join("%s %s" % (st, spread_note(v)) for st, v in (
                (st, [r[key] for r in rows if r["name"] == name and r["setting"] == st])
                for st in a.settings.split(",")) if v)
            print("%-14s %-22s %-16s %s" % (name, key, spread_note(vals), per))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
