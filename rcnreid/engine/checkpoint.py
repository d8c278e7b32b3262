"""Training checkpoints in HDF5, written atomically (temp file + rename).

Layout of a checkpoint file:

- ``params/<name>``: the network's parameters (float32), in the model's order;
- ``optim/<key>``: the trainer's state (RMSProp accumulators, dropout RNG, step count), as given
  by ``Trainer.get_state()``;
- ``rng/<name>/{keys,pos,has_gauss,cached_gaussian}``: numpy ``RandomState`` states (the data
  stream: pairs, runs, crops);
- attributes: ``epoch`` (epochs completed), ``finished`` (training reached its last epoch),
  ``config`` (the resolved :class:`rcnreid.configs.registry.RunConfig` as JSON), ``seed``,
  ``trial``, ``data_path``, ``frame_hw`` (stored frame size of the training data), ``format``,
  ``checksum`` (``sha256:`` of everything above, :func:`checksum`; verified on every load).
- ``position/`` (format 2 only): a checkpoint written in the middle of an epoch (a signal stopped
  the run, :mod:`rcnreid.engine.interrupt`): attributes ``epoch`` (the epoch in progress, one
  after the checkpoint's ``epoch``), ``batch`` (its mini-batches done), ``batches``, ``seconds``
  (its training time so far); datasets ``losses``, ``accuracies``, ``sizes`` (per mini-batch
  done, in the dtypes the step returned) and, when the run has a data RNG, ``epoch_start_rng/``
  (its state before the epoch drew its order, so the same mini-batches are drawn again).

Format: 1 for a checkpoint at the end of an epoch (what every earlier version wrote and reads),
2 for one with a ``position``. Both load; an older rcnreid refuses a format-2 file by its format
instead of silently resuming it at the start of its epoch.

File names inside a run folder: ``checkpoint-last.h5`` (after every epoch) and
``checkpoint-final.h5`` (when training has finished). A new checkpoint is read back and its
checksum verified before it replaces the previous one; the replaced ``checkpoint-last.h5`` is kept
as ``checkpoint-prev.h5`` (a hard link, no copy), so that a checkpoint damaged later on disk still
leaves the epoch before it to resume from.
"""
import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from rcnreid.store.atomic import atomic_h5
from rcnreid.errors import UserError

FORMAT = 1            # an end-of-epoch checkpoint
FORMAT_POSITION = 2   # a checkpoint with a mid-epoch position
FORMATS = (FORMAT, FORMAT_POSITION)
LAST_NAME = "checkpoint-last.h5"
FINAL_NAME = "checkpoint-final.h5"
PREV_NAME = "checkpoint-prev.h5"


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
    position: Optional[dict] = None                  # mid-epoch position (module docstring)

    def run_config(self):
        from rcnreid.configs.registry import RunConfig
        return RunConfig.from_dict(self.config)


POSITION_ARRAYS = ("losses", "accuracies", "sizes")
POSITION_ATTRS = ("epoch", "batch", "batches", "seconds")


def _rng_items(prefix, state):
    _, keys, pos, has_gauss, cached = state
    return [(prefix + "/keys", np.asarray(keys, dtype=np.uint32)),
            (prefix + "/state",
             np.array([int(pos), int(has_gauss), float(cached)], dtype=np.float64))]


def _canonical(ckpt):
    """(name, numpy array) pairs of everything a checkpoint stores, in a fixed order (a
    checkpoint without a position has the items, and so the checksum, of format 1)."""
    items = [("params/" + k, np.asarray(v)) for k, v in ckpt.params.items()]
    items += [("optim/" + k, np.asarray(ckpt.optim_state[k])) for k in sorted(ckpt.optim_state)]
    for name in sorted(ckpt.rng_states):
        items += _rng_items("rng/" + name, ckpt.rng_states[name])
    meta = json.dumps([int(ckpt.epoch), bool(ckpt.finished), ckpt.config, ckpt.attrs],
                      sort_keys=True)
    items.append(("meta", np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)))
    p = ckpt.position
    if p is not None:
        items += [("position/" + k, np.asarray(p[k])) for k in POSITION_ARRAYS]
        items.append(("position/attrs", np.array([float(p[k]) for k in POSITION_ATTRS],
                                                 dtype=np.float64)))
        if p.get("epoch_start_rng") is not None:
            items += _rng_items("position/epoch_start_rng", p["epoch_start_rng"])
    return items


def checksum(ckpt):
    """``sha256:<hex>`` of a checkpoint's contents (names, dtypes, shapes, bytes, attributes)."""
    import hashlib
    h = hashlib.sha256()
    for name, a in _canonical(ckpt):
        a = np.ascontiguousarray(a)
        h.update(("%s|%s|%s|" % (name, a.dtype.str, a.shape)).encode("utf-8"))
        h.update(a.reshape(-1).view(np.uint8))     # the bytes of tobytes(), without a copy
    return "sha256:" + h.hexdigest()


def _same_contents(a, b):
    """True when checkpoints ``a`` and ``b`` hold the same names, dtypes, shapes and bytes (what
    equal checksums say, compared directly)."""
    ia, ib = _canonical(a), _canonical(b)
    return len(ia) == len(ib) and all(
        na == nb and x.dtype == y.dtype and x.shape == y.shape and
        np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes()
        for (na, x), (nb, y) in zip(ia, ib))


def save_checkpoint(path, ckpt):
    """Write ``ckpt`` (a :class:`Checkpoint`) to ``path`` atomically; returns ``path``.

    The new file is read back and compared with ``ckpt`` before it takes the name (every entry,
    byte for byte, and the stored checksum: what :func:`load_checkpoint` checks, without hashing
    the contents a second time); a replaced ``checkpoint-last.h5`` stays as
    ``checkpoint-prev.h5``. The checksum is computed in a background thread while the HDF5 image
    is built (hashlib releases the GIL). A full disk is one UserError line and leaves the
    previous checkpoint as it was."""
    import threading
    path = os.fspath(path)
    need = sum(a.nbytes for _, a in _canonical(ckpt)) + (256 << 10)
    digest = []
    hasher = threading.Thread(target=lambda: digest.append(checksum(ckpt)), daemon=True)
    hasher.start()

    def verify(tmp):
        back = load_checkpoint(tmp, check_sum=False)
        if not _same_contents(back, ckpt) or _stored_checksum(tmp) != digest[0]:
            raise _damaged(tmp, "what was read back differs from what was written")
        if os.path.basename(path) == LAST_NAME and os.path.isfile(path):
            _keep_previous(path)

    with atomic_h5(path, need=need, verify=verify) as f:
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
            _write_rng(r.create_group(name), state)
        p = ckpt.position
        if p is not None:
            g = f.create_group("position")
            for k in POSITION_ATTRS:
                g.attrs[k] = p[k]
            for k in POSITION_ARRAYS:
                g.create_dataset(k, data=np.asarray(p[k]))
            if p.get("epoch_start_rng") is not None:
                _write_rng(g.create_group("epoch_start_rng"), p["epoch_start_rng"])
        f.attrs["format"] = FORMAT if p is None else FORMAT_POSITION
        f.attrs["epoch"] = int(ckpt.epoch)
        f.attrs["finished"] = bool(ckpt.finished)
        f.attrs["config"] = json.dumps(ckpt.config, sort_keys=True)
        f.attrs["extra"] = json.dumps(ckpt.attrs, sort_keys=True)
        hasher.join()
        f.attrs["checksum"] = digest[0]
    return path


def _stored_checksum(path):
    import h5py
    with h5py.File(path, "r") as f:
        stored = f.attrs.get("checksum")
    return stored.decode() if isinstance(stored, bytes) else stored


def _write_rng(group, state):
    _, keys, pos, has_gauss, cached = state
    group.create_dataset("keys", data=np.asarray(keys, dtype=np.uint32))
    group.attrs["pos"] = int(pos)
    group.attrs["has_gauss"] = int(has_gauss)
    group.attrs["cached_gaussian"] = float(cached)


def _read_rng(s):
    return ("MT19937", s["keys"][()], int(s.attrs["pos"]), int(s.attrs["has_gauss"]),
            float(s.attrs["cached_gaussian"]))


def _keep_previous(path):
    """Link ``path`` as checkpoint-prev.h5 beside it (atomically; skipped where links are not
    supported)."""
    import contextlib
    prev = os.path.join(os.path.dirname(os.path.abspath(path)), PREV_NAME)
    link = prev + ".%d.link" % os.getpid()
    with contextlib.suppress(OSError):
        os.link(path, link)
        os.replace(link, prev)
    with contextlib.suppress(OSError):
        os.unlink(link)


def _damaged(path, why):
    prev = os.path.join(os.path.dirname(os.path.abspath(path)), PREV_NAME)
    if os.path.basename(path) in (LAST_NAME, FINAL_NAME) and os.path.isfile(prev):
        fix = ("the previous epoch's checkpoint is %s: move it to %s and run again with "
               "--resume" % (prev, os.path.join(os.path.dirname(path), LAST_NAME)))
    else:
        fix = ("use another checkpoint, or delete this one and train again (--resume continues "
               "from an earlier checkpoint of the run folder if there is one)")
    return UserError("%s: damaged checkpoint (%s); %s" % (path, why, fix))


def load_checkpoint(path, check_sum=True):
    """Read a :class:`Checkpoint`; UserError if missing, truncated or not a checkpoint, or (with
    ``check_sum``) when its contents do not match its stored checksum."""
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
        try:
            is_ours = int(f.attrs.get("format", -1)) in FORMATS and "params" in f
        except Exception as exc:     # damaged metadata
            raise _damaged(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        if not is_ours:
            raise UserError("%s: not an rcnreid checkpoint (format %s); give a file written by "
                            "rcnreid train" % (path, f.attrs.get("format", "missing")))
        try:
            ckpt = _read(f, h5py)
        except Exception as exc:     # h5py/HDF5 errors on damaged bytes, missing entries
            raise _damaged(path, "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0]
                                             if str(exc) else "unreadable"))
        stored = f.attrs.get("checksum") if check_sum else None
        if stored is not None:
            stored = stored.decode() if isinstance(stored, bytes) else str(stored)
            if stored != checksum(ckpt):
                raise _damaged(path, "checksum mismatch: its bytes changed after it was written")
        return ckpt


def _read(f, h5py):
    """The :class:`Checkpoint` in an open checkpoint file."""
    order = json.loads(f["params"].attrs["order"])
    params = OrderedDict((k, f["params"][k][()]) for k in order)
    optim = {}
    f["optim"].visititems(lambda k, obj: optim.__setitem__(k, obj[()])
                          if isinstance(obj, h5py.Dataset) else None)
    rngs = {name: _read_rng(f["rng"][name]) for name in f["rng"]}
    position = None
    if "position" in f:
        g = f["position"]
        position = {k: g[k][()] for k in POSITION_ARRAYS}
        position.update({k: int(g.attrs[k]) for k in POSITION_ATTRS if k != "seconds"})
        position["seconds"] = float(g.attrs["seconds"])
        position["epoch_start_rng"] = (_read_rng(g["epoch_start_rng"])
                                       if "epoch_start_rng" in g else None)
    return Checkpoint(params=params, optim_state=optim, rng_states=rngs,
                      epoch=int(f.attrs["epoch"]), finished=bool(f.attrs["finished"]),
                      config=json.loads(f.attrs["config"]),
                      attrs=json.loads(f.attrs.get("extra", "{}")), position=position)


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


def check_stop_after(max_epochs, option="--stop-after"):
    """UserError when a trainer's ``max_epochs`` (``--stop-after N``) is not a positive count."""
    if max_epochs is not None and int(max_epochs) < 1:
        raise UserError("%s %d: give the number of epochs to run in all before stopping "
                        "(1 or more)" % (option, int(max_epochs)))


def check_same_data(ckpt, ds, data_path, path, log=None):
    """UserError when ``--resume`` would continue checkpoint ``path`` on other data than it was
    trained on: another dataset name or content fingerprint (ReIDDataset.fingerprint); for a
    checkpoint without a fingerprint, another file path. The same content under another path
    is only noted."""
    recorded = ckpt.attrs.get("data_fingerprint")
    old_path = ckpt.attrs.get("data_path")
    new_path = os.path.abspath(os.fspath(data_path))
    if ckpt.attrs.get("dataset", ds.name) != ds.name:
        why = "dataset %s, --data %s is %s" % (ckpt.attrs.get("dataset"), data_path, ds.name)
    elif recorded is not None and recorded != ds.fingerprint():
        why = ("%s, whose contents differ from --data %s (fingerprint %s, not %s)"
               % (old_path, data_path, recorded[:19], ds.fingerprint()[:19]))
    elif recorded is None and old_path is not None and old_path != new_path:
        why = "%s, not --data %s" % (old_path, data_path)
    else:
        if old_path is not None and old_path != new_path and log:
            log("note: %s was trained on %s; --data %s has the same contents"
                % (path, old_path, data_path))
        return
    raise UserError("%s: was trained on %s; resume with the run's own data file or use a new "
                    "--out folder" % (path, why))
