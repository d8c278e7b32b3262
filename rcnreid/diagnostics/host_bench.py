"""What the host costs a training beside the device's step (issue 28.3): the checkpoint's write
and verification, and the preparation of a mini-batch's input.

    python -m rcnreid.diagnostics.host_bench checkpoint --config paper [--repeats 3]
    python -m rcnreid.diagnostics.host_bench prefetch --config cpu [--steps 6]
    python -m rcnreid.diagnostics.host_bench prefetch --config paper --stand-in-step 1.2

``checkpoint``: times :func:`rcnreid.engine.checkpoint.save_checkpoint` on a checkpoint of the
configuration's size (its parameters and RMSProp accumulators, random values; nothing is
compiled), split into its parts: the checksum, the file written (HDF5 image, write, fsync) and
its verification. ``prefetch``: trains ``steps`` mini-batches of the configuration on a small
synthetic dataset with the next mini-batch prepared in a background thread and without, side by
side in one process (alternating), and reports the median step time of each and the time the
input preparation takes alone. With ``--stand-in-step S`` the step is a wait of S seconds that
releases the GIL, as a wait for a GPU's kernels does (nothing is compiled): what prefetch can hide
of the preparation when the device, not the CPU, is busy. Each prints one JSON object.
docs/SPEED.md has the numbers.
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np


def checkpoint_of_size(cfg, seed=0):
    """A :class:`rcnreid.engine.checkpoint.Checkpoint` with the parameters and RMSProp
    accumulators of ``cfg``'s model (random values; builds the model, compiles nothing)."""
    from collections import OrderedDict
    from rcnreid.engine.checkpoint import Checkpoint
    from rcnreid.nn.model import SiameseRCN
    rng = np.random.RandomState(seed)
    shapes = OrderedDict((k, v.shape) for k, v in SiameseRCN(cfg.model, seed=0).get_params().items())
    params = OrderedDict((k, np.asarray(rng.randn(*s), np.float32)) for k, s in shapes.items())
    optim = OrderedDict(("rms/" + k, np.asarray(rng.rand(*s), np.float32)) for k, s in shapes.items())
    optim["steps"] = np.asarray(10, np.int64)
    return Checkpoint(params=params, optim_state=optim, rng_states={"data": rng.get_state()},
                      epoch=1, config=cfg.to_dict(), attrs={"seed": seed})


def checkpoint_cost(name, repeats=3, folder=None):
    """Median seconds of the checkpoint's parts for configuration ``name`` (dict)."""
    from rcnreid.configs.registry import get_config
    from rcnreid.engine import checkpoint as ckptlib
    cfg = get_config(name)
    ckpt = checkpoint_of_size(cfg)
    parts = {"checksum_s": [], "save_s": [], "load_s": []}
    with tempfile.TemporaryDirectory(dir=folder) as d:
        path = os.path.join(d, ckptlib.LAST_NAME)
        for _ in range(repeats):
            t = time.perf_counter()
            ckptlib.checksum(ckpt)
            parts["checksum_s"].append(time.perf_counter() - t)
            t = time.perf_counter()
            ckptlib.save_checkpoint(path, ckpt)
            parts["save_s"].append(time.perf_counter() - t)
            t = time.perf_counter()
            ckptlib.load_checkpoint(path)
            parts["load_s"].append(time.perf_counter() - t)
        size = os.path.getsize(path)
    out = {"config": name, "file_mib": round(size / 2 ** 20, 2), "repeats": repeats}
    out.update({k: round(statistics.median(v), 4) for k, v in parts.items()})
    return out


def prefetch_cost(name, steps=6, warmup=1, seed=0, stand_in_step=None, per_round=2):
    """Median step seconds with and without the background preparation of the next mini-batch,
    alternating, and the median seconds of the preparation alone (dict). ``stand_in_step``:
    seconds of a GIL-free wait in place of the compiled training step (module docstring).
    Each timed round trains ``per_round`` mini-batches; the first of a round is never prefetched
    (as the first of an epoch), so longer rounds come closer to a training's steady state."""
    from rcnreid.configs.registry import get_config
    from rcnreid.data.inputs import make_inputs
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.data.synthetic import make_synthetic_h5
    from rcnreid.engine.compiled_models import compiled_model
    from rcnreid.engine.prefetch import prefetched
    cfg = get_config(name)
    T, B = cfg.train.seq_len, cfg.train.batch_pairs
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "synth.h5")
        make_synthetic_h5(path, layout="ilidsvid", persons=max(4, B), seed=seed)
        ds = ReIDDataset(path)
        inputs = make_inputs(ds, cfg)
        if stand_in_step is None:
            model, trainer = compiled_model(cfg, seed)
        rng = np.random.RandomState(seed)
        rows = np.arange(ds.num_sequences)
        batch = [rng.choice(rows, (B, 2)) for _ in range(max(steps + warmup, per_round))]

        def prepare(b):
            return (inputs.train_batch(b[:, 0], T, rng), inputs.train_batch(b[:, 1], T, rng),
                    np.ones(len(b), np.float32))

        def compute(x):
            if stand_in_step is None:
                trainer.step(*x)
            else:
                time.sleep(stand_in_step)

        prep = []
        for b in batch:
            t = time.perf_counter()
            prepare(b)
            prep.append(time.perf_counter() - t)
        times = {True: [], False: []}
        for rnd in range(2 * (steps + warmup)):
            on = rnd % 2 == 0
            t = time.perf_counter()
            for x in prefetched(batch[:per_round], prepare, on):
                compute(x)
            if rnd >= 2 * warmup:
                times[on].append((time.perf_counter() - t) / per_round)
    return {"config": name, "pairs_per_step": B, "T": T,
            "prepare_s": round(statistics.median(prep), 4),
            "step_prefetch_on_s": round(statistics.median(times[True]), 4),
            "step_prefetch_off_s": round(statistics.median(times[False]), 4),
            "rounds": steps, "steps_per_round": per_round,
            "step": ("compiled training step" if stand_in_step is None
                     else "stand-in: a %g s GIL-free wait" % stand_in_step)}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m rcnreid.diagnostics.host_bench",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("checkpoint", "prefetch"))
    p.add_argument("--config", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--per-round", type=int, default=2,
                   help="prefetch: mini-batches per timed round (the first is never prefetched)")
    p.add_argument("--stand-in-step", type=float, default=None, metavar="S",
                   help="prefetch: a GIL-free wait of S seconds in place of the training step")
    p.add_argument("--folder", default=None, help="where the checkpoint is written (default: "
                                                   "the temporary folder)")
    a = p.parse_args(argv)
    if a.per_round < 1:
        p.error("--per-round must be at least 1")
    if a.what == "checkpoint":
        r = checkpoint_cost(a.config, a.repeats, a.folder)
    else:
        r = prefetch_cost(a.config, a.steps, stand_in_step=a.stand_in_step,
                          per_round=a.per_round)
    print(json.dumps(r, sort_keys=True))
    return 0


if __name__ == "__main__":
    from rcnreid.errors import exit_status
    raise SystemExit(exit_status("host_bench", main))
