"""Training the Siamese RCN on the training people of one trial (Sections 4.5 and 5.2).

Every epoch draws new balanced pairs (:mod:`rcnreid.data.pairs`), a new random run of T = 20
consecutive frames per sequence and a new crop + mirror per sequence
(:mod:`rcnreid.data.inputs`), and minimises Eq. 6 over mini-batches of 10 pairs with RMSProp,
gradient clipping and dropout (``SiameseRCN.build_train``). The epochs run in
:func:`rcnreid.engine.epoch_loop.run_epochs` (log row, then checkpoint; NaN/inf stop), the loop the
VGG-16 fine-tuning (:mod:`rcnreid.vgg.finetune`) uses too.

Reproducibility: the parameters come from ``seed``, the dropout masks from ``seed + 1`` and the
data stream (pairs, runs, crops) from ``seed + 2``; the checkpoint written after every epoch holds
the parameters, the optimiser state (RMSProp accumulators + dropout RNG) and the data RNG, so a
resumed run ends with exactly the parameters of an uninterrupted one.

Run folder (``out_dir``): ``config.json`` (the resolved RunConfig), ``run.json`` (data, trial,
seed), ``train_log.jsonl`` (one row per epoch), ``checkpoint-last.h5`` and, at the end,
``checkpoint-final.h5``. Training draws nothing: the training curves of a finished run are drawn
by its caller (:func:`rcnreid.viz.training_plot.plot_finished_run`: ``rcnreid train``, the demo,
the trials of ``experiments/``).
"""
import os

import numpy as np

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.store import locks
from rcnreid.engine import trainlog
from rcnreid.store.atomic import write_json
from rcnreid.configs.registry import RunConfig, get_config
from rcnreid.engine.epoch_loop import RunFiles, TrainingDiverged, run_epochs  # noqa: F401
from rcnreid.engine.compiled_models import compiled_model, is_compiled
from rcnreid.engine.resume import check_resumable, restore_run
from rcnreid.errors import UserError
from rcnreid.data.inputs import make_inputs


def _resolve_config(cfg, profile="paper"):
    if isinstance(cfg, RunConfig):
        return cfg
    return get_config(cfg, profile)


@locks.holds_run_folder("out_dir")
def train(data_path, trial, cfg, out_dir, resume=False, seed=0, log=print, max_epochs=None,
          inputs=None, profile="paper"):
    """Train ``cfg`` (a RunConfig or a config name) on trial ``trial`` of ``data_path``.

    ``resume``: continue from the run folder's last checkpoint (a finished run returns at once).
    ``max_epochs``: stop after that many epochs in all without marking the run finished (as if
    it had been interrupted; ``resume`` continues it). Returns the path of the final checkpoint
    (of the last one when stopped early). One process at a time trains into a run folder
    (:mod:`rcnreid.store.locks`; ``wait=True`` waits for the other one).
    """
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.data.pairs import PairSampler, batches

    log = log or (lambda *a: None)
    cfg = _resolve_config(cfg, profile)
    seed, trial = int(seed), int(trial)
    ckptlib.check_stop_after(max_epochs)
    if not 0 <= seed < 2 ** 32 - 2:
        raise UserError("--seed %d: use an integer in 0 .. 2**32-3 (seed + 1 and seed + 2 seed "
                        "the dropout and the data streams)" % seed)
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError("--out %s: is a file; give a folder for the run (checkpoints, log, "
                        "config.json)" % out_dir)
    last_path = os.path.join(out_dir, ckptlib.LAST_NAME)
    final_path = os.path.join(out_dir, ckptlib.FINAL_NAME)
    log_path = os.path.join(out_dir, trainlog.LOG_NAME)

    existing = ckptlib.last_checkpoint(out_dir)
    ckpt = None
    if existing and not resume:
        if existing == final_path:
            raise UserError("%s: already holds a finished training run (%s); evaluate it "
                            "(rcnreid evaluate --model %s) or choose another --out folder"
                            % (out_dir, ckptlib.FINAL_NAME, existing))
        raise UserError("%s: already holds a training run (%s); add --resume to continue it or "
                        "choose another --out folder" % (out_dir, os.path.basename(existing)))
    if existing:
        ckpt = ckptlib.load_checkpoint(existing)
        check_resumable(ckpt, cfg, seed, trial, existing)
        if ckpt.finished:
            if existing != final_path:     # stopped between the last save and the rename
                os.replace(existing, final_path)
            log("%s: training already finished (epoch %d)" % (final_path, ckpt.epoch))
            return final_path
    elif resume:
        log("%s: no checkpoint to resume from; starting a new run" % out_dir)

    ds = ReIDDataset(data_path)
    train_persons, _ = ds.split(trial)
    if ckpt is not None:
        ckptlib.check_same_data(ckpt, ds, data_path, existing, log)
    sampler = PairSampler(ds.person, ds.camera, train_persons,
                          cfg.train.dissimilar_per_similar, cfg.train.pair_mode)
    inputs = inputs or make_inputs(ds, cfg)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise UserError("--out %s: cannot create the run folder (%s)" % (out_dir, exc.strerror))

    write_json(os.path.join(out_dir, "config.json"), cfg.to_dict())
    write_json(os.path.join(out_dir, "run.json"),
               {"data_path": os.path.abspath(os.fspath(data_path)), "dataset": ds.name,
                "trial": trial, "seed": seed, "config_name": cfg.name,
                "train_persons": [int(p) for p in train_persons]})

    if not is_compiled(cfg):
        log("compiling the training graph (%s; tens of seconds on a cold Theano cache)"
            % cfg.name)
    model, trainer = compiled_model(cfg, seed)
    data_rng = np.random.RandomState(seed + 2)
    start = restore_run(ckpt, model.set_params, trainer, data_rng, log_path, out_dir, log)

    attrs = {"seed": seed, "trial": trial, "data_path": os.path.abspath(os.fspath(data_path)),
             "dataset": ds.name, "frame_hw": list(ds.frame_hw), "config_name": cfg.name,
             "data_fingerprint": ds.fingerprint()}
    epochs = cfg.train.epochs
    stop = epochs if max_epochs is None else min(epochs, int(max_epochs))
    log("training %s on %s trial %d: %d training people, %d pairs per epoch, epochs %d..%d"
        % (cfg.name, ds.name, trial, len(sampler.pos_persons),
           len(sampler.pos_persons) * (1 + cfg.train.dissimilar_per_similar), start + 1, epochs))

    def snapshot(epoch, finished):
        return ckptlib.Checkpoint(params=model.get_params(), optim_state=trainer.get_state(),
                                  rng_states={"data": data_rng.get_state()}, epoch=epoch,
                                  finished=finished, config=cfg.to_dict(), attrs=attrs)

    T = cfg.train.seq_len

    def begin_epoch(epoch):
        pairs = sampler.epoch_pairs(data_rng)
        return batches(pairs, cfg.train.batch_pairs), {"pairs": int(len(pairs))}

    def prepare(batch):          # the only draws of a mini-batch (runs, crops, mirrors)
        return (inputs.train_batch(batch[:, 0], T, data_rng),
                inputs.train_batch(batch[:, 1], T, data_rng), batch[:, 2].astype(np.float32))

    def step(x):
        r = trainer.step(*x)
        return r["loss"], r["accuracy"], len(x[2])

    files = RunFiles(out_dir, log_path, last_path, accuracy_name="pair accuracy")
    run_epochs(start, stop, epochs, begin_epoch, step, snapshot, files, log, data_rng=data_rng,
               position=ckpt.position if ckpt is not None else None,
               checkpoint_every_s=cfg.train.checkpoint_every_s, prepare=prepare,
               prefetch=cfg.train.prefetch)
    if stop < epochs:
        log("stopped after epoch %d of %d; continue with --resume" % (stop, epochs))
        return last_path
    if start >= epochs:          # epochs = 0, or a last checkpoint already at the end
        ckptlib.save_checkpoint(last_path, snapshot(epochs, True))
    os.replace(last_path, final_path)
    log("finished: %s" % final_path)
    return final_path
