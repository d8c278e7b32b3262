"""Summarise what scripts/device/issue28.sh left in its results folder (issue 28).

    python scripts/device/issue28_summary.py OUT            # writes OUT/summary.md, summary.json
    python scripts/device/issue28_summary.py OUT --chosen   # prints the choice the rule picks

Reads the ``rcnreid bench --json`` results of each cuDNN choice, the strict-float32 run, the
same-seed check, the profile by part and the JOBS=N runs, whichever exist; applies the rule of
:func:`rcnreid.backend.gpu_conv.decide` to the TF32 runs; sets each number beside issue 28's
targets; names the float-arithmetic settings of every number. Imports no Theano (it runs after
every step of the script).
"""
import argparse
import json
import os
import sys

from rcnreid.backend.gpu_conv import CHOICES, decide, summary as fa_summary

#: Result file (without .json) -> the cuDNN choice it measured (its RCNREID_GPU_CONV).
BENCH_FILES = {"det": "deterministic", "time_once": "time_once",
               "theano_default": "theano-default", "det_timed": "deterministic-timed",
               "guess_once": "guess_once"}

#: Issue 28's targets on an H200 and the 1 Dec 2026 baseline (docs/SPEED.md).
TARGET_TF32_STEP_S, TARGET_FP32_STEP_S = 0.25, 0.7
BASELINE_STEP_S, BASELINE_INFER_SEQ_S = 1.20, 360.0
#: docs/SPEED.md, "The paper profile on a GPU": at 1.20 s per step Table 2 is about 233
#: GPU-hours and the whole paper about 13 GPU-days; both scale with the step time.
BASELINE_TABLE2_DAYS, BASELINE_PAPER_DAYS = 233.0 / 24.0, 13.0
TARGET_TABLE2_DAYS, TARGET_PAPER_DAYS = 2.0, 3.0


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def collect(out):
    """{"runs": [row...], "tf32_steps": {choice: s}}: one row per bench result found."""
    runs, tf32 = [], {}
    files = sorted(f for f in os.listdir(out) if f.endswith(".json") and not
                   f.startswith(("summary", "info", "ops_", "jobs_")) and ".skipped" not in f)
    for f in files:
        name = f[:-5]
        r = _load(os.path.join(out, f))
        if not r or "train_step_s" not in r:
            continue
        choice = BENCH_FILES.get(name) or (name[5:] if name.startswith("fp32_") else name)
        fa = r.get("float_arithmetic") or {}
        strict = name.startswith("fp32_") or fa.get("NVIDIA_TF32_OVERRIDE") == "0"
        row = {"run": name, "choice": choice, "config": r.get("config"),
               "train_step_s": r["train_step_s"], "train_seq_s": r["train_sequences_per_s"],
               "infer_seq_s": r["infer_sequences_per_s"], "compile_s": r.get("compile_s"),
               "train_tflops": r.get("train_gflops", 0) / 1e3,
               "infer_tflops": r.get("infer_gflops", 0) / 1e3,
               "strict_fp32": strict, "float_arithmetic": fa,
               "deterministic": CHOICES.get(choice, {}).get("deterministic")}
        runs.append(row)
        if not strict:
            tf32[choice] = r["train_step_s"]
    return {"runs": runs, "tf32_steps": tf32}


def _last_line(path):
    try:
        with open(path) as f:
            lines = [ln.strip() for ln in f if ln.strip()]
        return lines[-1] if lines else "(empty)"
    except OSError:
        return None


def render(out, data, decision):
    lines = ["# Issue 28 on the device: %s" % out, ""]
    info = _load(os.path.join(out, "info.json")) or {}
    if info:
        lines += ["Device: %s (%s), cuDNN %s, Theano %s, Python %s." % (
            info.get("device_name"), info.get("device"), info.get("cudnn"), info.get("theano"),
            info.get("python")), ""]
    lines += ["| run | cuDNN choice | deterministic | float arithmetic | train step s | "
              "train seq/s | infer seq/s | train TFLOP/s | infer TFLOP/s | compile s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in data["runs"]:
        lines.append("| %s | %s | %s | %s | %.3f | %.1f | %.1f | %.1f | %.1f | %s |" % (
            r["run"], r["choice"], {True: "yes", False: "no", None: "-"}[r["deterministic"]],
            fa_summary(r["float_arithmetic"]) if r["float_arithmetic"] else "-",
            r["train_step_s"], r["train_seq_s"], r["infer_seq_s"], r["train_tflops"],
            r["infer_tflops"], "%.0f" % r["compile_s"] if r["compile_s"] else "-"))
    lines += ["", "**Rule** (rcnreid.backend.gpu_conv.decide, TF32 runs): default **%s**; "
              "fastest %s, fastest deterministic %s; %s." % (
                  decision["default"], decision["fastest"], decision["fastest_deterministic"],
                  decision["rule"]), ""]
    paper = [r for r in data["runs"] if r["config"] == "paper"]
    if paper:
        best = {}
        for r in paper:
            key = "fp32" if r["strict_fp32"] else "tf32"
            if key not in best or r["train_step_s"] < best[key]["train_step_s"]:
                best[key] = r
        lines.append("**Targets** (H200, paper configuration; 1 Dec: %.2f s per step, %.0f "
                     "inference seq/s):" % (BASELINE_STEP_S, BASELINE_INFER_SEQ_S))
        if "tf32" in best:
            b = best["tf32"]
            scale = b["train_step_s"] / BASELINE_STEP_S
            lines += [
                "- training step with TF32 <= %.2f s: %.3f s (%s) -> %s" % (
                    TARGET_TF32_STEP_S, b["train_step_s"], b["choice"],
                    "met" if b["train_step_s"] <= TARGET_TF32_STEP_S else "NOT met"),
                "- inference not slower than %.0f seq/s: %.1f -> %s" % (
                    BASELINE_INFER_SEQ_S, b["infer_seq_s"],
                    "met" if b["infer_seq_s"] >= BASELINE_INFER_SEQ_S else "NOT met"),
                "- Table 2 <= %.0f GPU-days: %.1f; whole paper <= %.0f: %.1f (SPEED.md's 1 Dec "
                "arithmetic scaled by the step time)" % (
                    TARGET_TABLE2_DAYS, BASELINE_TABLE2_DAYS * scale, TARGET_PAPER_DAYS,
                    BASELINE_PAPER_DAYS * scale)]
        if "fp32" in best:
            b = best["fp32"]
            lines.append("- strict float32 (NVIDIA_TF32_OVERRIDE=0) <= %.1f s: %.3f s (%s) -> %s"
                         % (TARGET_FP32_STEP_S, b["train_step_s"], b["choice"],
                            "met" if b["train_step_s"] <= TARGET_FP32_STEP_S else "NOT met"))
        lines.append("")
    for f in sorted(os.listdir(out)):
        if f.startswith("same_seed_") and f.endswith(".txt"):
            lines += ["Same seed twice (%s): %s" % (f[10:-4], _last_line(os.path.join(out, f))),
                      ""]
    for f in sorted(os.listdir(out)):
        r = _load(os.path.join(out, f)) if f.startswith("ops_") and f.endswith(".json") else None
        if r and "parts" in r:
            from rcnreid.diagnostics.op_profile import format_split
            lines += ["Profile by part (%s, %.3f s per step profiled, op times %s):" % (
                f[4:-5], r["train_step_s"], "waited for" if r.get("op_times_synchronous")
                else "NOT waited for"), "",
                format_split(r["parts"], r.get("sgemm_gflops"), r.get("device_peak")), ""]
    for f in sorted(os.listdir(out)):
        r = _load(os.path.join(out, f)) if f.startswith("jobs_") and f.endswith(".json") else None
        if r and "counts" in r:
            r["counts"] = {int(k): v for k, v in r["counts"].items()}
            from rcnreid.diagnostics.bench import format_jobs
            lines += ["JOBS=N on one device (%s):" % f[5:-5], "", "```", format_jobs(r), "```",
                      ""]
    skipped = sorted(f[:-13] for f in os.listdir(out) if f.endswith(".skipped.json"))
    if skipped:
        lines.append("Skipped for lack of time: %s" % ", ".join(skipped))
    return "\n".join(lines) + "\n"


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="issue28_summary.py")
    ap.add_argument("out")
    ap.add_argument("--chosen", action="store_true")
    args = ap.parse_args(argv)
    data = collect(args.out)
    decision = decide(data["tf32_steps"])
    if args.chosen:
        print(decision["default"] or "deterministic")
        return 0
    _write(os.path.join(args.out, "summary.json"),
           json.dumps({"decision": decision, **data}, indent=1, sort_keys=True))
    text = render(args.out, data, decision)
    _write(os.path.join(args.out, "summary.md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
