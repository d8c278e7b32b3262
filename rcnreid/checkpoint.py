"""Training checkpoints in HDF5, written atomically (temp file + rename).

Layout of a checkpoint file:

- ``params/<name>``: the network's parameters (float32), in the model's order;
- ``optim/<key>``: the trainer's state (RMSProp accumulators, dropout RNG, step count), as given
  by ``Trainer.get_state()``;
- ``rng/<name>/{keys,pos,has_gauss,cached_gaussian}``: numpy ``RandomState`` states (the data
  stream: pairs, runs, crops);
- attributes: ``epoch`` (epochs completed), ``finished`` (training reached its last epoch),
  ``config`` (the resolved :class:`rcnreid.configs.RunConfig` as JSON), ``seed``, ``trial``,
  ``data_path``, ``frame_hw`` (stored frame size of the training data), ``format`` = 1.

File names inside a run folder: ``checkpoint-last.h5`` (after every epoch) and
``checkpoint-final.h5`` (when training has finished).
"""
import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from rcnreid.atomic import atomic_path
from rcnreid.errors import UserError

FORMAT = 1
LAST_NAME = "checkpoint-last.h5"
FINAL_NAME = "checkpoint-final.h5"


@dataclass
class Checkpoint:
    """What a checkpoint holds, in memory."""
    params: "OrderedDict[str, np.ndarray]"
    optim_state: dict = field(default_factory=dict)
    rng_states: dict = field(default_factory=dict)   # name -> RandomState.get_state() tuple
    epoch: int = 0
    finished: bool = False
    config: dict = field(default_factory=dict)       # RunConfig.to_dict()
    attrs: dict = field(default_factory=dict)        # seed, trial, data_path, frame_hw, ...

    def run_config(self):
        from rcnreid.configs import RunConfig
        return RunConfig.from_dict(self.config)


def save_checkpoint(path, ckpt):
    """Write ``ckpt`` (a :class:`Checkpoint`) to ``path`` atomically; returns ``path``."""
    import h5py
    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            g = f.create_group("params")
            order = []
            for k, v in ckpt.params.items():
                g.create_dataset(k, data=np.asarray(v))
                order.append(k)
            g.attrs["order"] = json.dumps(order)
            o = f.create_group("optim")
            for k, v in ckpt.optim_state.items():
                o.create_dataset(k, data=np.asarray(v))
            r = f.create_group("rng")
            for name, state in ckpt.rng_states.items():
                _, keys, pos, has_gauss, cached = state
                s = r.create_group(name)
                s.create_dataset("keys", data=np.asarray(keys, dtype=np.uint32))
                s.attrs["pos"] = int(pos)
                s.attrs["has_gauss"] = int(has_gauss)
                s.attrs["cached_gaussian"] = float(cached)
            f.attrs["format"] = FORMAT
            f.attrs["epoch"] = int(ckpt.epoch)
            f.attrs["finished"] = bool(ckpt.finished)
            f.attrs["config"] = json.dumps(ckpt.config, sort_keys=True)
            f.attrs["extra"] = json.dumps(ckpt.attrs, sort_keys=True)
    return path


def load_checkpoint(path):
    """Read a :class:`Checkpoint`; UserError if missing, truncated or not a checkpoint."""
    import h5py
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError("%s: checkpoint not found; train a model first (rcnreid train)" % path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise UserError("%s: not a readable HDF5 checkpoint (%s); train again or use another "
                        "checkpoint" % (path, exc))
    with f:
        if int(f.attrs.get("format", -1)) != FORMAT or "params" not in f:
            raise UserError("%s: not an rcnreid checkpoint (format %s); give a file written by "
                            "rcnreid train" % (path, f.attrs.get("format", "missing")))
        order = json.loads(f["params"].attrs["order"])
        params = OrderedDict((k, f["params"][k][()]) for k in order)
        optim = {}
        f["optim"].visititems(lambda k, obj: optim.__setitem__(k, obj[()])
                              if isinstance(obj, h5py.Dataset) else None)
        rngs = {}
        for name in f["rng"]:
            s = f["rng"][name]
            rngs[name] = ("MT19937", s["keys"][()], int(s.attrs["pos"]),
                          int(s.attrs["has_gauss"]), float(s.attrs["cached_gaussian"]))
        return Checkpoint(params=params, optim_state=optim, rng_states=rngs,
                          epoch=int(f.attrs["epoch"]), finished=bool(f.attrs["finished"]),
                          config=json.loads(f.attrs["config"]),
                          attrs=json.loads(f.attrs.get("extra", "{}")))


def load_model(path, ckpt=None):
    """The trained :class:`rcnreid.model.SiameseRCN` of a checkpoint (its RunConfig as
    ``model.run_config``)."""
    from rcnreid.model import SiameseRCN
    ckpt = ckpt or load_checkpoint(path)
    cfg = ckpt.run_config()
    model = SiameseRCN(cfg.model, seed=int(ckpt.attrs.get("seed", 0)))
    model.set_params(ckpt.params)
    model.run_config = cfg
    model.checkpoint_attrs = dict(ckpt.attrs)
    return model


def last_checkpoint(out_dir):
    """Path of the run's latest checkpoint (final if finished), or None."""
    for name in (FINAL_NAME, LAST_NAME):
        p = os.path.join(os.fspath(out_dir), name)
        if os.path.isfile(p):
            return p
    return None


def final_checkpoint(out_dir):
    """Path of the run's finished checkpoint; UserError when training has not finished."""
    p = os.path.join(os.fspath(out_dir), FINAL_NAME)
    if not os.path.isfile(p):
        raise UserError("%s: no finished checkpoint (%s); run or resume `rcnreid train` into "
                        "this folder" % (out_dir, FINAL_NAME))
    return p
