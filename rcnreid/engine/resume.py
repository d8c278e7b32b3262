"""Resuming a run: the one check that a checkpoint belongs to the run being asked for, and the
one step that puts a run back where its checkpoint left it. Both trainers use them
(:func:`rcnreid.engine.train.train`, :func:`rcnreid.vgg.finetune.finetune`), so a resumed run
ends with exactly the parameters of an uninterrupted one (the checkpoint holds parameters,
optimiser state and the RNG states; the log is cut back to the checkpoint's epoch, the order of
:func:`rcnreid.engine.epoch_loop.run_epochs`: row, then checkpoint).
"""
import json
import os

from rcnreid.configs.registry import RunConfig
from rcnreid.engine.trainlog import truncate_log
from rcnreid.errors import UserError


#: Settings that change how a run is carried out, not its results: a run may be resumed with
#: other values (``train.checkpoint_every_s``, ``train.prefetch``), as paths into the config dict.
RUNTIME_FIELDS = (("train", "checkpoint_every_s"), ("train", "prefetch"))


def without_runtime(d, fields=RUNTIME_FIELDS):
    """A JSON copy of the configuration dict ``d`` without the runtime ``fields`` (key paths;
    the fine-tuning's are top-level, :data:`rcnreid.vgg.finetune.RUNTIME_FIELDS`)."""
    d = json.loads(json.dumps(d))
    for path in fields:
        parent = d
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return d


def _config_differences(old, new, prefix=""):
    """``["train.epochs: 3 -> 5", ...]``: where two RunConfig dicts differ."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_config_differences(a, b, prefix + k + "."))
        elif a != b:
            out.append("%s%s: %s -> %s" % (prefix, k, json.dumps(a), json.dumps(b)))
    return out


def _stored_config(config):
    """A checkpoint's RunConfig dict with the fields added since it was written at their
    defaults (a new option whose default is the old behaviour does not block a resume)."""
    try:
        return json.loads(json.dumps(RunConfig.from_dict(config).to_dict()))
    except UserError:               # a field that no longer exists: compare as written
        return config


def check_resumable(ckpt, cfg, seed, trial, path):
    """UserError (naming the differences and the fix) unless checkpoint ``ckpt`` (file ``path``)
    was written by the same run: configuration ``cfg`` (fields added since at their defaults),
    ``seed`` and ``trial``."""
    new = without_runtime(cfg.to_dict())
    old = without_runtime(_stored_config(ckpt.config))
    if old != new:
        diff = _config_differences(old, new)
        raise UserError("%s: was written with another configuration (%s%s); resume with the "
                        "run's own settings (--config %s) or use a new --out folder"
                        % (path, "; ".join(diff[:4]), "; ..." if len(diff) > 4 else "",
                           os.path.join(os.path.dirname(path), "config.json")))
    for key, want in (("seed", seed), ("trial", trial)):
        if int(ckpt.attrs.get(key, want)) != int(want):
            raise UserError("%s: was written with %s=%s, not %s; resume with the same %s or "
                            "use a new --out folder" % (path, key, ckpt.attrs.get(key), want, key))


def restore_run(ckpt, set_params, trainer, data_rng, log_path, out_dir, log):
    """Put a run back where checkpoint ``ckpt`` left it (None: a fresh start): parameters (through
    ``set_params``), the trainer's optimiser state, the data RNG, and the log cut to match.
    Returns the last epoch completed (a mid-epoch checkpoint's ``position`` then tells
    :func:`rcnreid.engine.epoch_loop.run_epochs` where in the next epoch to continue)."""
    if ckpt is None:
        truncate_log(log_path, 0)
        return 0
    set_params(ckpt.params)
    trainer.set_state(ckpt.optim_state)
    data_rng.set_state(ckpt.rng_states["data"])
    truncate_log(log_path, ckpt.epoch)
    p = ckpt.position
    if p is None:
        log("resuming %s from epoch %d" % (out_dir, ckpt.epoch))
    else:                    # the loop continues the epoch (rcnreid.engine.epoch_loop)
        log("resuming %s from mini-batch %d/%d of epoch %d"
            % (out_dir, int(p["batch"]), int(p["batches"]), int(p["epoch"])))
    return ckpt.epoch
