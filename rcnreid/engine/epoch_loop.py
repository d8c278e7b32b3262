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
was. A checkpoint is written at the end of every epoch, or, with ``checkpoint_every_s`` > 0, at
most that often (also in the middle of a long epoch; the end of the run always). The epoch's log row (loss and accuracy: means over the mini-batches weighted by their
sizes) is appended *before* the checkpoint is written: a run stopped between the two resumes
from the previous checkpoint, drops the row (:func:`rcnreid.engine.resume.restore_run`) and writes
it again, so log and checkpoint never disagree.

A stop signal (SIGTERM, SIGINT, SIGUSR1; :mod:`rcnreid.engine.interrupt`) is served after the
current mini-batch: a checkpoint of the exact position in the epoch (format 2,
:mod:`rcnreid.engine.checkpoint`), one log line, and ``TrainingInterrupted`` (exit status 75).
Resumed from it, the loop draws the epoch's order again from the data RNG's state at the epoch's
start, puts the RNG back where it was and continues with the next mini-batch: the run ends with
the parameters and log rows (less ``seconds``) of an uninterrupted one.

>>> mean_over_batches([1.0, 4.0], [3, 1])
1.75
"""
import time
from dataclasses import dataclass

import numpy as np

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.engine import interrupt
from rcnreid.engine import trainlog
from rcnreid.engine.prefetch import prefetched
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


def _epoch_start(epoch, position, data_rng, begin_epoch, files):
    """``(parts, row, done, epoch_start_rng)`` of epoch ``epoch``: its mini-batches drawn by
    ``begin_epoch`` and, when ``position`` (a mid-epoch checkpoint's) is of this epoch, the
    mini-batches already done (losses, accuracies, sizes, seconds) with the data RNG put back
    where it was after them (the same order is drawn again from the epoch's starting state)."""
    done = {"losses": [], "accuracies": [], "sizes": [], "seconds": 0.0}
    if position is None or int(position["epoch"]) != epoch:
        state = data_rng.get_state() if data_rng is not None else None
        parts, row = begin_epoch(epoch)
        return parts, row, done, state
    state = position.get("epoch_start_rng")
    now = data_rng.get_state() if data_rng is not None else None
    if data_rng is not None and state is not None:
        data_rng.set_state(state)
    parts, row = begin_epoch(epoch)
    if len(parts) != int(position["batches"]):
        raise UserError("%s: its mid-epoch position (%d mini-batches in epoch %d) does not match "
                        "the %d drawn again; delete it to resume from %s, or use a new --out "
                        "folder" % (files.last_path, int(position["batches"]), epoch,
                                    len(parts), ckptlib.PREV_NAME))
    if data_rng is not None:
        data_rng.set_state(now)
    for k in ("losses", "accuracies", "sizes"):
        done[k] = list(np.asarray(position[k]))
    done["seconds"] = float(position["seconds"])
    return parts, row, done, state


def _save_position(snapshot, files, epoch, b, parts, done, t0, start_rng, data_state):
    """Write the mid-epoch checkpoint after ``b`` mini-batches of ``epoch``; ``data_state``: the
    data RNG's state after those mini-batches' draws (before the next one's)."""
    snap = snapshot(epoch - 1, False)
    check_finite_params(snap.params, files, epoch)
    if data_state is not None:
        snap.rng_states = dict(snap.rng_states, data=data_state)
    snap.position = {"epoch": epoch, "batch": b, "batches": len(parts),
                     "seconds": round(time.time() - t0, 3),
                     "losses": np.asarray(done["losses"]),
                     "accuracies": np.asarray(done["accuracies"]),
                     "sizes": np.asarray(done["sizes"]), "epoch_start_rng": start_rng}
    ckptlib.save_checkpoint(files.last_path, snap)


def run_epochs(start, stop, epochs, begin_epoch, step, snapshot, files, log=print,
               data_rng=None, position=None, checkpoint_every_s=0.0, prepare=None,
               prefetch=False):
    """Epochs ``start + 1 .. stop`` of a run of ``epochs`` (the hooks: module docstring).

    ``data_rng``: the RandomState that ``begin_epoch`` and ``step`` draw from (recorded for a
    mid-epoch checkpoint); ``position``: the mid-epoch position of the checkpoint the run resumes
    from (``Checkpoint.position``; None: the run starts at epoch ``start + 1``'s beginning).

    A stop signal (:mod:`rcnreid.engine.interrupt`) lets the current mini-batch finish, then
    writes a checkpoint of the exact position and raises ``TrainingInterrupted`` (exit 75); at
    the last mini-batch of an epoch the epoch is finished (row, checkpoint) first, and at the
    end of the run's last epoch (``stop``) the run just ends.

    ``prepare(batch) -> x``: the mini-batch's input (its random draws from ``data_rng``), then
    ``step(x)``; None: ``step(batch)`` does both. ``prefetch`` (``train.prefetch``): the next
    mini-batch's ``prepare`` runs in a background thread while ``step`` runs
    (:mod:`rcnreid.engine.prefetch`; the same draws in the same order).

    ``checkpoint_every_s`` (``train.checkpoint_every_s``): 0 writes a checkpoint at the end of
    every epoch; T > 0 writes one at the end of an epoch when T seconds have passed since this
    run's last one (or none was written yet), and in the middle of an epoch (its position) when T
    seconds have passed there; the end of the run (``stop``) and a stop signal always write one.

    The checkpoint of epoch ``epochs`` is marked finished. Returns the number of the last epoch
    run (``start`` when none ran)."""
    log = log or (lambda *a: None)
    epoch = start
    count = 0
    every = float(checkpoint_every_s or 0.0)
    saved = [None, time.time()]         # this run's last checkpoint: wall time (None: none yet)

    def due():
        return time.time() - (saved[1] if saved[0] is None else saved[0]) >= every

    def job(batch):             # a mini-batch's input and the data RNG's state after its draws
        x = prepare(batch) if prepare is not None else batch
        state = data_rng.get_state() if prepare is not None and data_rng is not None else None
        return x, state
    with interrupt.stop_signals() as flag:
        for epoch in range(start + 1, stop + 1):
            t0 = last_report = time.time()
            parts, row, done, start_rng = _epoch_start(epoch, position, data_rng, begin_epoch,
                                                       files)
            t0 -= done["seconds"]
            losses, accs, sizes = done["losses"], done["accuracies"], done["sizes"]
            first = len(losses)
            inputs = prefetched(parts[first:], job, prefetch and prepare is not None)
            for b, (x, data_state) in zip(range(first, len(parts)), inputs):
                loss, acc, size = step(x)
                if data_state is None and data_rng is not None:
                    data_state = data_rng.get_state()
                if not np.isfinite(loss):
                    raise _diverged(files, "the loss became %s at epoch %d, mini-batch %d"
                                    % (loss, epoch, b + 1))
                losses.append(loss)
                accs.append(acc)
                sizes.append(size)
                count += 1
                interrupt.hook_after_batch(count)
                if b + 1 < len(parts) and (flag.requested or (every > 0 and due())):
                    _save_position(snapshot, files, epoch, b + 1, parts,
                                   {"losses": losses, "accuracies": accs, "sizes": sizes},
                                   t0, start_rng, data_state)
                    saved[0] = time.time()
                    if flag.requested:
                        log("epoch %d: %s received; checkpoint written after mini-batch %d/%d"
                            % (epoch, flag.signame, b + 1, len(parts)))
                        raise interrupt.interrupted_error(flag.signame, files.last_path, epoch,
                                                          b + 1, len(parts))
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
            if every <= 0 or saved[0] is None or due() or epoch == stop or flag.requested:
                ckptlib.save_checkpoint(files.last_path, snap)
                saved[0] = time.time()
            extra = "".join("  %s %g" % (k, v) for k, v in row.items()
                            if isinstance(v, float))
            log("epoch %d/%d  loss %.4f  %s %.3f%s  %.1f s" % (epoch, epochs, full["loss"],
                                                              files.accuracy_name,
                                                              full["accuracy"], extra, seconds))
            if flag.requested and epoch < stop:
                log("epoch %d: %s received; checkpoint written at the end of the epoch"
                    % (epoch, flag.signame))
                raise interrupt.interrupted_error(flag.signame, files.last_path, epoch)
    return epoch
