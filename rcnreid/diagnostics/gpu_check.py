"""Does Theano's GPU backend really compute rcnreid's network, and compute it right?

``rcnreid gpu-check [--device cuda]`` (``make gpu-check``) runs the same few training steps of a
tiny Deep RCN twice, in two fresh processes: once on the device, once on the CPU. It then checks

1. placement: the device's compiled training step holds no CPU convolution and no CPU scan
   (the convolutions are ``GpuCorrMM``/``GpuDnnConv``, the recurrence a GPU scan);
2. numbers: losses, parameters after the steps and the representation h-bar (Eq. 4) agree with
   the CPU's to float32 rounding;
3. checkpoints: a checkpoint written on the device loads on the CPU (and the reverse) and gives
   the same representation;
4. same seed twice (issue 28): a second device run of the same seed gives bit-identical losses,
   parameters and representation, or the largest difference is reported (a failure only when
   the cuDNN algorithms in force are documented as deterministic,
   :mod:`rcnreid.backend.gpu_conv`);

and prints one verdict line, which names the float-arithmetic settings (device, cuDNN
algorithms, TF32): ``GPU OK: ...`` (exit 0) or ``GPU NOT OK: <what> (<fix>)`` (exit 1).
Each process is a ``python -m rcnreid.diagnostics.gpu_check --worker`` run; the device is chosen
with ``THEANO_FLAGS=device=...`` before Theano is imported, the only way Theano allows.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

#: Agreement demanded between device and CPU (float32 rounding over a few steps).
RTOL, ATOL = 1e-4, 1e-5


def tiny_model_config():
    """A tiny Deep RCN: the Table 1 encoder and three stacked ConvGRUs, on 16x8 frames."""
    from rcnreid.nn.model_config import ModelConfig
    return ModelConfig(input_hw=(16, 8), encoder_channels=(4, 4, 4), hidden_channels=(3, 5, 5),
                       input_kernel=3, hidden_kernel=3)


def _inputs(cfg, t_len=4, pairs=2, seed=0):
    rng = np.random.RandomState(seed)
    shape = (t_len, pairs, cfg.input_channels) + tuple(cfg.input_hw)
    xa = rng.uniform(-1, 1, shape).astype("float32")
    xb = rng.uniform(-1, 1, shape).astype("float32")
    y = (np.arange(pairs) % 2 == 0).astype("float32")
    return xa, xb, y


def _walk_ops(fgraph):
    """Every Apply node of a graph, inner graphs of scans included."""
    for node in fgraph.toposort():
        yield node
        inner = getattr(node.op, "fn", None)
        inner_fgraph = getattr(getattr(inner, "maker", None), "fgraph", None)
        if inner_fgraph is not None:
            yield from _walk_ops(inner_fgraph)


def placement(fn):
    """{'gpu_ops', 'cpu_conv', 'cpu_scan', 'gpu_conv', 'gpu_scan'} of a compiled function."""
    gpu_ops, cpu_conv, cpu_scan, gpu_conv, gpu_scan = 0, [], 0, [], 0
    for node in _walk_ops(fn.maker.fgraph):
        name = type(node.op).__name__
        if name.startswith("Gpu"):
            gpu_ops += 1
        if "Conv" in name or "Corr" in name:
            (gpu_conv if name.startswith("Gpu") else cpu_conv).append(name)
        if name == "Scan":
            if node.op.info.get("gpua", False):
                gpu_scan += 1
            else:
                cpu_scan += 1
    return {"gpu_ops": gpu_ops, "cpu_conv": sorted(set(cpu_conv)), "cpu_scan": cpu_scan,
            "gpu_conv": sorted(set(gpu_conv)), "gpu_scan": gpu_scan}


def worker(out_dir, steps=2, seed=0, load_from=None, config=None):
    """Run in this process (on whatever device Theano computes on) and write ``result.npz``,
    ``placement.json`` and ``checkpoint.h5`` into ``out_dir``. With ``load_from`` (another
    worker's folder), also the representation of that worker's checkpoint on this device.
    ``config``: a registry name (e.g. ``paper``) whose network, sequence length and benchmark
    pairs are trained instead of the tiny model (its optimiser settings are the same)."""
    from rcnreid.engine import checkpoint as ckptlib
    from rcnreid.configs.registry import RunConfig
    from rcnreid.nn.model import SiameseRCN
    from rcnreid.nn.optim import OptimConfig
    from rcnreid.backend.theano_env import describe, theano

    with open(os.path.join(out_dir, "compiledir.txt"), "w") as f:   # for the parent's progress
        f.write(theano.config.compiledir)
    if config:
        from rcnreid.configs.registry import get_config, profile_of
        run_cfg = get_config(config)              # as `rcnreid bench --config` times it
        t_len, pairs = run_cfg.train.seq_len, profile_of(config).bench_pairs
        cfg = run_cfg.model
        xa, xb, y = _inputs(cfg, t_len=t_len, pairs=pairs, seed=seed)
    else:
        cfg = tiny_model_config()
        xa, xb, y = _inputs(cfg, seed=seed)
    model = SiameseRCN(cfg, seed=seed)
    trainer = model.build_train(OptimConfig(), seed=seed)
    losses = [trainer.step(xa, xb, y)["loss"] for _ in range(steps)]
    represent = model.build_represent()
    rep = represent(np.concatenate([xa, xb], axis=1))
    out = {"losses": np.array(losses), "rep": rep}
    out.update({"param/" + k: v for k, v in model.get_params().items()})
    if load_from is not None:
        other = ckptlib.load_checkpoint(os.path.join(load_from, "checkpoint.h5"))
        model.set_params(other.params)
        out["rep_of_other_checkpoint"] = represent(np.concatenate([xa, xb], axis=1))
    np.savez(os.path.join(out_dir, "result.npz"), **out)
    ckptlib.save_checkpoint(os.path.join(out_dir, "checkpoint.h5"), ckptlib.Checkpoint(
        params=model.get_params(), config=RunConfig(model=cfg, name="gpu-check").to_dict(),
        attrs={"seed": seed}))
    info = describe()
    with open(os.path.join(out_dir, "placement.json"), "w") as f:
        json.dump({"placement": placement(trainer.fn), "device": info["device"],
                   "gpu_active": info.get("gpu_active", False),
                   "gpu_conv": info.get("gpu_conv"),
                   "float_arithmetic": info.get("float_arithmetic")}, f)


def _cache_size(out_dir):
    """C modules in the worker's Theano cache (it names the folder in compiledir.txt), or None."""
    try:
        with open(os.path.join(out_dir, "compiledir.txt")) as f:
            folder = f.read().strip()
        return sum(1 for n in os.listdir(folder) if n.startswith("tmp"))
    except OSError:
        return None


def _run_worker(device, out_dir, steps, seed, load_from=None, timeout=3600, log=None,
                every=30.0, config=None):
    """Run one worker process; while it runs, say every ``every`` seconds how far the first
    compilation has got (a cold cache compiles a couple of hundred C modules: minutes)."""
    env = dict(os.environ)
    # Theano marks a process that started a GPU and refuses to start one in its children; each
    # worker is a process of its own that starts its own device (or none, for the CPU).
    env.pop("THEANO_GPU_IS_ALREADY_ACTIVE", None)
    flags = [p for p in env.get("THEANO_FLAGS", "").split(",")
             if p.strip() and not p.strip().startswith(("device=", "init_gpu_device="))]
    env["THEANO_FLAGS"] = ",".join(flags + ["device=%s" % device])
    cmd = [sys.executable, "-m", "rcnreid.diagnostics.gpu_check", "--worker", out_dir,
           "--steps", str(steps), "--seed", str(seed)]
    if load_from:
        cmd += ["--load-from", load_from]
    if config:
        cmd += ["--config", config]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    started = time.time()
    while True:
        try:
            out, err = proc.communicate(timeout=every)
            break
        except subprocess.TimeoutExpired:
            waited = time.time() - started
            if waited > timeout:
                proc.kill()
                out, err = proc.communicate()
                err = (err or "") + "\nstopped after %d s" % waited
                break
            if log is not None:
                n = _cache_size(out_dir)
                log("  ... %s: %d s%s" % (device, waited, "" if n is None else
                                          ", %d compiled modules in Theano's cache" % n))
    done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    done.stderr_path = None
    if proc.returncode != 0:
        path = os.path.join(out_dir, "stderr.txt")
        try:
            with open(path, "w") as f:
                f.write(err or "")
            done.stderr_path = path
        except OSError:
            pass
    return done


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*")


def error_line(text):
    r"""The line of a failed process's stderr that says what went wrong: the last exception line
    (``ValueError: ...``; Theano follows it with its apply node and ``HINT:`` lines), else the
    last line that is not a hint.

    >>> error_line("Traceback ...\nValueError: bad shape\nApply node: Elemwise\nHINT: Use ...")
    'ValueError: bad shape'
    >>> error_line("rcnreid: error: no such device\n")
    'rcnreid: error: no such device'
    """
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if _EXCEPTION_LINE.match(ln):
            return ln
    plain = [ln for ln in lines if not ln.startswith("HINT:")]
    return (plain or lines or ["(no output)"])[-1]


def _failure(proc):
    """A failed worker in one line: what went wrong and where its whole stderr was kept."""
    where = getattr(proc, "stderr_path", None)
    line = error_line(proc.stderr)
    if proc.returncode is not None and proc.returncode < 0:      # no exception: a crash
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = "signal %d" % -proc.returncode
        line = "the process died of %s (last line: %s)" % (name, line)
    return line + (" (its whole error output: %s)" % where if where else "")


def compare(device_dir, cpu_dir):
    """[(check, ok, detail)] for the device worker's folder against the CPU worker's."""
    dev = np.load(os.path.join(device_dir, "result.npz"))
    cpu = np.load(os.path.join(cpu_dir, "result.npz"))
    with open(os.path.join(device_dir, "placement.json")) as f:
        where = json.load(f)
    p = where["placement"]
    checks = [("placement", p["gpu_ops"] > 0 and not p["cpu_conv"] and p["cpu_scan"] == 0,
               "%d GPU ops, GPU conv %s, GPU scans %d, CPU conv %s, CPU scans %d"
               % (p["gpu_ops"], ",".join(p["gpu_conv"]) or "none", p["gpu_scan"],
                  ",".join(p["cpu_conv"]) or "none", p["cpu_scan"]))]

    def close(key_dev, key_cpu=None):
        a, b = dev[key_dev], cpu[key_cpu or key_dev]
        return np.allclose(a, b, rtol=RTOL, atol=ATOL), float(np.max(np.abs(a - b)))

    ok, diff = close("losses")
    checks.append(("losses", ok, "max |diff| %.2g" % diff))
    worst = max((close(k) + (k,) for k in dev.files if k.startswith("param/")),
                key=lambda r: (not r[0], r[1]))
    checks.append(("parameters", all(close(k)[0] for k in dev.files if k.startswith("param/")),
                   "max |diff| %.2g (%s)" % (worst[1], worst[2][6:])))
    ok, diff = close("rep")
    checks.append(("representation", ok, "max |diff| %.2g" % diff))
    if "rep_of_other_checkpoint" in dev.files and "rep_of_other_checkpoint" in cpu.files:
        ok1, d1 = close("rep_of_other_checkpoint", "rep")      # CPU checkpoint on the device
        ok2 = np.allclose(cpu["rep_of_other_checkpoint"], dev["rep"], rtol=RTOL, atol=ATOL)
        checks.append(("checkpoints", ok1 and ok2, "device<->CPU checkpoints load, max |diff| "
                       "%.2g" % d1))
    return checks


def same_seed(dir_a, dir_b, expected_deterministic=True):
    """(check, ok, detail) for two device runs of one seed (issue 28 item 2): are losses,
    parameters and representation bit-identical, and if not, by how much do they differ?
    Differences fail the check unless the convolution algorithms in force are documented as not
    deterministic (``expected_deterministic`` False: then they are reported, as a bound)."""
    a = np.load(os.path.join(dir_a, "result.npz"))
    b = np.load(os.path.join(dir_b, "result.npz"))
    keys = ["losses", "rep"] + sorted(k for k in a.files if k.startswith("param/"))
    differ = [(float(np.max(np.abs(a[k].astype("float64") - b[k]))), k) for k in keys
              if not np.array_equal(a[k], b[k])]
    if not differ:
        return ("same seed twice", True, "bit-identical losses, parameters and representation "
                "(%d arrays)" % len(keys))
    worst, key = max(differ)
    detail = "%d of %d arrays differ, max |diff| %.3g (%s)" % (len(differ), len(keys), worst,
                                                              key.replace("param/", ""))
    if not expected_deterministic:
        return ("same seed twice", True, detail + "; expected: the convolution algorithms in "
                "force are not deterministic")
    return ("same seed twice", False, detail)


def _settings_line(where):
    """The float-arithmetic settings of a worker (placement.json), in one line."""
    from rcnreid.backend.gpu_conv import summary
    fa = where.get("float_arithmetic")
    return summary(fa) if fa else "device %s" % where.get("device")


def run_check(device, steps=2, seed=0, keep=None, log=print, repeat=True):
    """The whole check; returns (ok, verdict line)."""
    from rcnreid.backend.gpu_probe import probe
    report = probe(device)
    for key, value in report["facts"]:
        log("%-14s %s" % (key + ":", value))
    if report["problem"]:
        return False, "GPU NOT OK: %s" % report["problem"]
    tmp = keep or tempfile.mkdtemp(prefix="rcnreid-gpu-check-")
    dev_dir, cpu_dir = os.path.join(tmp, "device"), os.path.join(tmp, "cpu")
    os.makedirs(dev_dir, exist_ok=True)
    os.makedirs(cpu_dir, exist_ok=True)
    log("training %d steps of a tiny Deep RCN on the CPU ..." % steps)
    proc = _run_worker("cpu", cpu_dir, steps, seed, log=log)
    if proc.returncode != 0:
        return False, "GPU NOT OK: the CPU reference run failed: %s" % _failure(proc)
    log("training the same steps on %s (the first compilation takes minutes) ..." % device)
    proc = _run_worker(device, dev_dir, steps, seed, load_from=cpu_dir, log=log)
    if proc.returncode != 0:
        return False, "GPU NOT OK: the run on %s failed: %s" % (device, _failure(proc))
    with open(os.path.join(dev_dir, "placement.json")) as f:
        where = json.load(f)
    log("%-14s %s" % ("Theano GPU:", "active on %s" % where["device"] if where["gpu_active"]
                      else "NOT active (computed on %s)" % where["device"]))
    proc = _run_worker("cpu", cpu_dir, steps, seed, load_from=dev_dir, log=log)
    if proc.returncode != 0:
        return False, "GPU NOT OK: the device's checkpoint does not load on the CPU: %s" \
            % _failure(proc)
    checks = compare(dev_dir, cpu_dir)
    if repeat:
        log("training the same steps on %s again, same seed (determinism) ..." % device)
        dev2_dir = os.path.join(tmp, "device-again")
        os.makedirs(dev2_dir, exist_ok=True)
        proc = _run_worker(device, dev2_dir, steps, seed, log=log)
        if proc.returncode != 0:
            return False, "GPU NOT OK: the second run on %s failed: %s" % (
                device, _failure(proc))
        conv = where.get("gpu_conv") or {}
        checks.append(same_seed(dev_dir, dev2_dir,
                                expected_deterministic=conv.get("deterministic") is not False))
    log("%-14s %s" % ("arithmetic:", _settings_line(where)))
    for name, ok, detail in checks:
        log("%-14s %s  %s" % (name + ":", "ok  " if ok else "FAIL", detail))
    bad = [name for name, ok, _ in checks if not ok]
    if bad:
        return False, ("GPU NOT OK: %s differ(s) from the CPU (folders kept in %s; report it "
                       "with `rcnreid info --json`)" % (", ".join(bad), tmp))
    again = [detail for name, _, detail in checks if name == "same seed twice"]
    if keep is None:
        shutil.rmtree(tmp, ignore_errors=True)      # a failed check keeps its folders
    return True, "GPU OK: %s computes rcnreid's training step and representation as the CPU " \
                 "does (to float32 rounding)%s; %s" % (
                     device, "; same seed twice: " + again[0] if again else "",
                     _settings_line(where))


def run_same_seed(device, config=None, steps=2, seed=0, keep=None, log=print):
    """Only the determinism check: train ``steps`` steps twice on ``device`` from one seed, in
    two fresh processes (the tiny model, or the registry configuration ``config``, e.g.
    ``paper``), and compare them bit for bit (:func:`same_seed`). Returns (ok, verdict line),
    the line naming the float-arithmetic settings in force."""
    tmp = keep or tempfile.mkdtemp(prefix="rcnreid-gpu-check-")
    dirs = [os.path.join(tmp, "device"), os.path.join(tmp, "device-again")]
    for i, d in enumerate(dirs):
        os.makedirs(d, exist_ok=True)
        log("training %d steps of %s on %s, run %d of 2 (seed %d) ..."
            % (steps, config or "a tiny Deep RCN", device, i + 1, seed))
        proc = _run_worker(device, d, steps, seed, log=log, config=config)
        if proc.returncode != 0:
            return False, "GPU NOT OK: run %d on %s failed: %s" % (i + 1, device,
                                                                   _failure(proc))
    with open(os.path.join(dirs[0], "placement.json")) as f:
        where = json.load(f)
    conv = where.get("gpu_conv") or {}
    name, ok, detail = same_seed(dirs[0], dirs[1],
                                 expected_deterministic=conv.get("deterministic") is not False)
    log("%-14s %s  %s" % (name + ":", "ok  " if ok else "FAIL", detail))
    verdict = "same seed twice on %s (%s, %d steps): %s; %s" % (
        device, config or "tiny", steps, detail, _settings_line(where))
    if ok and keep is None:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        verdict += " (folders kept in %s)" % tmp
    return ok, ("GPU OK: " if ok else "GPU NOT OK: ") + verdict


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m rcnreid.diagnostics.gpu_check")
    ap.add_argument("--worker", metavar="DIR", help=argparse.SUPPRESS)
    ap.add_argument("--load-from", metavar="DIR", help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default=None)
    args = ap.parse_args(argv)
    if args.worker:
        from rcnreid.errors import UserError
        try:
            worker(args.worker, steps=args.steps, seed=args.seed, load_from=args.load_from,
                   config=args.config)
        except UserError as exc:
            print("rcnreid: error: %s" % exc, file=sys.stderr)
            return 2
        return 0
    ok, verdict = run_check(args.device, steps=args.steps, seed=args.seed)
    print(verdict)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
