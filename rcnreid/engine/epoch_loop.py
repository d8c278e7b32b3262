"""The epoch loop shared by the trainers (:mod:`rcnreid.engine.train`, :mod:`rcnreid.vgg.finetune`).

One loop, in the spirit of torchreid's ``Engine.run``: the trainer supplies the hooks, the loop
does the bookkeeping that must be the same for every trainer:

- ``begin_epoch(epoch) -> (batches, row)``: draws the epoch's data order (the list of
  mini-batches) and returns the trainer's own log fields (e.g. ``pairs``, ``learning_rate``);
- ``step(batch) -> (loss, accuracy, size)``: the forward/backward pass and update of one
  mini-batch (the data augmentation of the batch happens here, after ``begin_epoch``'s draws);
- ``snapshot(epoch, finished) -> rcnreid.engine.checkpoint.Checkpoint``: the state to save.

After every mini-batch the loss must be finite, after every epoch every parameter: otherwise the
run stops with :class:`TrainingDiverged` naming the last good checkpoint, which is left as it
was. The epoch's log row (loss and accuracy: means over the mini-batches weighted by their
sizes) is appended *before* the checkpoint is written: a run stopped between the two resumes
from the previous checkpoint, drops the row (:func:`rcnreid.engine.resume.restore_run`) and writes
it again, so log and checkpoint never disagree.

>>> mean_over_batches([1.0, 4.0], [3, 1])
1.75
"""
import time
from dataclasses import dataclass

import numpy as np

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.engine import trainlog
from rcnreid.errors import UserError


class TrainingDiverged(UserError):
    """The loss or a parameter became NaN or infinite; the last good checkpoint is left in
    place."""


@dataclass
class RunFiles:
    """Where a run keeps its log and checkpoint, and how its messages name things."""
    out_dir: str
    log_path: str
    last_path: str
    lr_option: str = "optim.learning_rate"   # the option to lower when the run diverges
    accuracy_name: str = "accuracy"          # how the per-epoch log line names the accuracy


def mean_over_batches(values, sizes):
    """The mean of per-batch means ``values`` weighted by the batch ``sizes`` (the epoch mean)."""
    w = np.asarray(sizes, dtype=np.float64)
    return float(np.dot(values, w) / w.sum())


def _diverged(files, what):
    good = ckptlib.last_checkpoint(files.out_dir)
    return TrainingDiverged(
        "%s: %s; training stopped. The last good checkpoint is %s; lower the "
        "learning rate (%s) or check the data"
        % (files.out_dir, what, good or "none (no epoch finished)", files.lr_option))


def check_finite_params(params, files, epoch):
    """:class:`TrainingDiverged` naming the first parameter (of dict ``params``) that holds a NaN
    or an infinity: a last update can break the parameters while its loss was still finite."""
    bad = [k for k, v in params.items() if not np.all(np.isfinite(v))]
    if bad:
        raise _diverged(files, "parameter %s became NaN or infinite at epoch %d"
                        % (bad[0], epoch))


def run_epochs(start, stop, epochs, begin_epoch, step, snapshot, files, log=print):
    """Epochs ``start + 1 .. stop`` of a run of ``epochs`` (the hooks: module docstring).

    The checkpoint of epoch ``epochs`` is marked finished. Returns the number of the last epoch
    run (``start`` when none ran)."""
    log = log or (lambda *a: None)
    epoch = start
    for epoch in range(start + 1, stop + 1):
        t0 = last_report = time.time()
        parts, row = begin_epoch(epoch)
        losses, accs, sizes = [], [], []
        for b, batch in enumerate(parts):
            loss, acc, size = step(batch)
            if not np.isfinite(loss):
                raise _diverged(files, "the loss became %s at epoch %d, mini-batch %d"
                                % (loss, epoch, b + 1))
            losses.append(loss)
            accs.append(acc)
            sizes.append(size)
            if time.time() - last_report > 60:
                last_report = time.time()
                log("  epoch %d: %d/%d mini-batches, %.0f s" % (epoch, b + 1, len(parts),
                                                                last_report - t0))
        snap = snapshot(epoch, epoch == epochs)
        check_finite_params(snap.params, files, epoch)
        seconds = time.time() - t0
        full = {"epoch": epoch, "loss": mean_over_batches(losses, sizes),
                "accuracy": mean_over_batches(accs, sizes)}
        full.update(row)
        full["seconds"] = round(seconds, 3)
        trainlog.append_row(files.log_path, full)
        ckptlib.save_checkpoint(files.last_path, snap)
        extra = "".join("  %s %g" % (k, v) for k, v in row.items()
                        if isinstance(v, float))
        log("epoch %d/%d  loss %.4f  %s %.3f%s  %.1f s" % (epoch, epochs, full["loss"],
                                                          files.accuracy_name, full["accuracy"],
                                                          extra, seconds))
    return epoch
