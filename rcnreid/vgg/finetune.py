"""Fine-tuning VGG-16 on VIPeR (Section 5.3), the first step of Table 2's "VGG 16 + FC-GRU" row
(the whole row on one trial is :func:`experiments.trials.run_vgg_trial`).

The paper says only that VGG-16, "pretrained on ImageNet", is fine-tuned "on the single shot VIPeR
re-identification dataset" before fc7 is extracted. The choices (docs/REPRODUCTION.md §6; each one is a
field of :class:`FinetuneConfig`):

- task: identity classification. fc8 (1000 ImageNet classes) is replaced by a new layer with one
  output per VIPeR person (N(0, 0.01^2) weights), trained with the softmax cross-entropy. Each
  of a person's two images (cam_a, cam_b) is a training sample.
- people: all 632 VIPeR people (``people="all"``; VIPeR is disjoint from iLIDS-VID and
  PRID 2011, so no test person of Table 2 is seen), or the training people of one VIPeR split
  (``people="train"``, ``viper_trial``).
- frozen: conv1_1..conv3_3 (``frozen_blocks=3``) keep their ImageNet weights; conv4, conv5,
  fc6, fc7 and the new fc8 are trained.
- optimiser: SGD with momentum 0.9, learning rate 1e-3 (fc8: ``new_layer_lr_mult`` = 10 times
  it), weight decay 5e-4 on weights (not biases), mini-batches of 32, dropout 0.5 on fc6 and
  fc7 (VGG's own), 20 epochs with the rate divided by 10 after epoch 15.
- augmentation: a random crop of 90% of the image's height and width and a random mirror per
  image, resized to the network input (224x224 in the default ``fc6_mode="resize"``).

Checkpoints and resume work like the main trainer's (:mod:`rcnreid.engine.checkpoint`), through the
same epoch loop (:func:`rcnreid.engine.epoch_loop.run_epochs`: the log row before the checkpoint, a
stop on a NaN/inf loss or parameter, the checkpoint interval ``checkpoint_every_s``, the next
mini-batch's crops prepared in the background with ``prefetch``, a stop signal served after the
current mini-batch) and the same update-rule module
(:func:`rcnreid.nn.optim.momentum_updates`, state ``momentum/<name>``): the run folder holds
``checkpoint-last.h5`` (trainable parameters, momentum buffers, the data and dropout RNG states),
``finetune_log.jsonl`` and, when finished, ``checkpoint-final.h5`` and the
fine-tuned weights ``vgg16-finetuned.npz`` (:func:`rcnreid.vgg.weights.save_npz`). Frozen layers are
not stored in checkpoints (they are the initial weights file's, whose fingerprint is checked on
resume). A resumed run ends with the same parameters as an uninterrupted one.
"""
import dataclasses
import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from rcnreid.store import locks
from rcnreid import config_dict
from rcnreid.errors import UserError

RESULT_NAME = "vgg16-finetuned.npz"
LOG_NAME = "finetune_log.jsonl"
PEOPLE = ("all", "train")


@dataclass(frozen=True)
class FinetuneConfig:
    """How VGG-16 is fine-tuned on VIPeR (module docstring; docs/REPRODUCTION.md §6)."""
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_drop_epochs: Tuple[int, ...] = (15,)   # multiply the rate by lr_drop after these epochs
    lr_drop: float = 0.1
    new_layer_lr_mult: float = 10.0           # fc8 (new) learns faster
    momentum: float = 0.9
    weight_decay: float = 5e-4
    frozen_blocks: int = 3                    # conv blocks 1..frozen_blocks are not trained
    dropout: float = 0.5
    crop_frac: float = 0.9                    # random crop of this fraction of H and W
    mirror: bool = True
    people: str = "all"                       # "all" VIPeR people | "train" people of a split
    viper_trial: int = 0
    # How the run is carried out, not what it computes (a run may be resumed with other values;
    # RUNTIME_FIELDS): seconds between checkpoints (0: every epoch; a paper-size checkpoint of
    # the trained layers and their momentum is about 1 GB) and the background preparation of the
    # next mini-batch, as the main trainer's train.checkpoint_every_s and train.prefetch.
    checkpoint_every_s: float = 300.0
    prefetch: bool = True

    def __post_init__(self):
        def bad(opt, msg):
            raise UserError("finetune option %s: %s" % (opt, msg))
        if self.epochs < 0 or self.batch_size < 1:
            bad("epochs/batch_size", "epochs >= 0, batch_size >= 1")
        if not 0 <= self.frozen_blocks <= 5:
            bad("frozen_blocks", "must be in 0..5")
        if not 0.0 < self.crop_frac <= 1.0:
            bad("crop_frac", "must be in (0, 1]")
        if self.people not in PEOPLE:
            bad("people", "%r is not one of %s" % (self.people, ", ".join(PEOPLE)))
        if not 0.0 <= self.dropout < 1.0:
            bad("dropout", "must be in [0, 1)")
        if not self.checkpoint_every_s >= 0:
            bad("checkpoint_every_s", "must be >= 0 seconds (0: at the end of every epoch)")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        return config_dict.from_dict(cls, d, "fine-tuning")


#: Fields of :class:`FinetuneConfig` that change how a run is carried out, not its results: a
#: checkpoint written with other values (or before they existed) resumes.
RUNTIME_FIELDS = (("checkpoint_every_s",), ("prefetch",))


def same_run(saved, cfg):
    """True when a checkpoint's configuration dict ``saved`` describes the same fine-tuning as
    ``cfg`` (the runtime fields left out)."""
    from rcnreid.engine.resume import without_runtime
    return without_runtime(saved, RUNTIME_FIELDS) == without_runtime(cfg.to_dict(), RUNTIME_FIELDS)


#: Profiles: the paper-sized run and smaller ones (the network itself comes from the weights).
FINETUNE_PROFILES = {
    "paper": FinetuneConfig(),
    "cpu": FinetuneConfig(epochs=5, lr_drop_epochs=(4,)),
    "quick": FinetuneConfig(epochs=3, lr_drop_epochs=()),
    "test": FinetuneConfig(epochs=3, batch_size=8, lr_drop_epochs=(2,), learning_rate=1e-4,
                           checkpoint_every_s=0.0),     # every epoch: the resume tests
}


def get_finetune_config(profile):
    try:
        return FINETUNE_PROFILES[profile]
    except KeyError:
        raise UserError("finetune profile %r: unknown; choose one of %s"
                        % (profile, ", ".join(sorted(FINETUNE_PROFILES))))


def trainable_layers(frozen_blocks):
    from rcnreid.vgg.vgg16 import LAYERS
    return [l for l in LAYERS if not (l.startswith("conv") and int(l[4]) <= frozen_blocks)]


def learning_rate_at(cfg, epoch):
    """The base learning rate during ``epoch`` (1-based)."""
    drops = sum(1 for e in cfg.lr_drop_epochs if epoch > e)
    return cfg.learning_rate * cfg.lr_drop ** drops


def fingerprint(arrays, names):
    """SHA-1 of the named arrays (which frozen weights a checkpoint was trained with)."""
    h = hashlib.sha1()
    for n in names:
        h.update(n.encode())
        h.update(np.ascontiguousarray(arrays[n], dtype=np.float32).tobytes())
    return h.hexdigest()


class ClassifierTrainer:
    """Compiled SGD-with-momentum step of VGG-16 + identity softmax (module docstring)."""

    def __init__(self, net, cfg, seed=1):
        from rcnreid.nn.optim import momentum_updates
        from rcnreid.backend.theano_env import T, theano
        self.net, self.cfg = net, cfg
        self.layers = trainable_layers(cfg.frozen_blocks)
        self.names = [l + s for l in self.layers for s in ("_W", "_b")]
        self.dropout_rng = np.random.RandomState(seed)
        x, y = T.tensor4("x"), T.ivector("y")
        m6, m7, lr = T.matrix("mask6"), T.matrix("mask7"), T.scalar("lr")
        logits = net.graph(x, upto="fc8", dropout_masks=(m6, m7))["fc8"]
        logp = T.nnet.logsoftmax(logits)
        loss = -logp[T.arange(y.shape[0]), y].mean()
        acc = T.mean(T.cast(T.eq(T.argmax(logits, axis=1), y), "float32"))   # float32: GPU-clean
        params = [net.params[n] for n in self.names]
        grads = T.grad(loss, params)
        updates, self.velocity = momentum_updates(
            params, grads, lr, cfg.momentum,
            lr_mults={n: cfg.new_layer_lr_mult for n in self.names if n.startswith("fc8")},
            weight_decays={n: cfg.weight_decay for n in self.names if n.endswith("_W")})
        self._step = theano.function([x, y, m6, m7, lr], [loss, acc], updates=updates,
                                     name="vgg16_finetune_step")

    def masks(self, n):
        p = self.cfg.dropout
        w = self.net.cfg.fc_width
        if p <= 0:
            one = np.ones((n, w), dtype=np.float32)
            return one, one
        keep = 1.0 - p
        m6 = (self.dropout_rng.rand(n, w) < keep).astype(np.float32) / np.float32(keep)
        m7 = (self.dropout_rng.rand(n, w) < keep).astype(np.float32) / np.float32(keep)
        return m6, m7

    def step(self, x, y, lr):
        m6, m7 = self.masks(len(x))
        loss, acc = self._step(x, np.asarray(y, dtype=np.int32), m6, m7, np.float32(lr))
        return float(loss), float(acc)

    def get_state(self):
        d = OrderedDict(("momentum/" + n, v.get_value()) for n, v in self.velocity.items())
        _, keys, pos, has_gauss, cached = self.dropout_rng.get_state()
        d["dropout_rng/keys"], d["dropout_rng/pos"] = keys, np.int64(pos)
        d["dropout_rng/has_gauss"] = np.int64(has_gauss)
        d["dropout_rng/cached_gaussian"] = np.float64(cached)
        return d

    def set_state(self, d):
        for n, v in self.velocity.items():
            v.set_value(np.asarray(d["momentum/" + n], dtype=np.float32))
        self.dropout_rng.set_state(("MT19937", np.asarray(d["dropout_rng/keys"], np.uint32),
                                    int(d["dropout_rng/pos"]), int(d["dropout_rng/has_gauss"]),
                                    float(d["dropout_rng/cached_gaussian"])))


def augment_batch(images, cfg, vgg_cfg, rng):
    """uint8 (B, H, W, 3) -> float32 network input: per image a random crop of ``crop_frac`` and
    a random mirror (draws per image in order: top, left, mirror)."""
    from rcnreid.vgg.vgg16 import preprocess
    B, H, W, _ = images.shape
    ch, cw = max(1, int(round(H * cfg.crop_frac))), max(1, int(round(W * cfg.crop_frac)))
    out = []
    for img in images:
        top = int(rng.randint(0, H - ch + 1))
        left = int(rng.randint(0, W - cw + 1))
        flip = bool(rng.rand() < 0.5) if cfg.mirror else False
        out.append(preprocess(img[None, top:top + ch, left:left + cw], vgg_cfg, mirror=flip)[0])
    return np.stack(out)


def _training_rows(ds, cfg):
    if cfg.people == "all":
        persons = ds.persons
    else:
        persons, _ = ds.split(cfg.viper_trial)
    rows = ds.rows(persons)
    labels = np.searchsorted(np.asarray(persons), ds.person[rows]).astype(np.int32)
    return rows, labels, np.asarray(persons)


@locks.holds_run_folder("out_dir")
def finetune(viper_path, weights_path, out_dir, cfg=None, resume=False, seed=0, log=print,
             max_epochs=None, vgg_cfg=None, fc6_mode=None):
    """Fine-tune VGG-16 from ``weights_path`` on the VIPeR file ``viper_path``.

    Returns the path of the fine-tuned weights (``out_dir/vgg16-finetuned.npz``), or of the last
    checkpoint when ``max_epochs`` stops the run early (continue with ``resume=True``). The
    parameters of the new fc8 come from ``seed``, the dropout masks from ``seed + 1``, the data
    order and augmentation from ``seed + 2``. ``vgg_cfg``: the configuration the weights must
    fit (default: the file's own, else configuration D); ``fc6_mode`` overrides how fc6 meets
    the input.
    """
    from rcnreid.engine import checkpoint as ckptlib
    from rcnreid.engine.resume import restore_run
    from rcnreid.store.atomic import write_json
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.engine.epoch_loop import RunFiles, run_epochs
    from rcnreid.vgg.vgg16 import VGG16
    from rcnreid.vgg.weights import load_weights, save_npz
    log = log or (lambda *a: None)
    ckptlib.check_stop_after(max_epochs)
    cfg = cfg or FinetuneConfig()
    out_dir = os.fspath(out_dir)
    result = os.path.join(out_dir, RESULT_NAME)
    last_path = os.path.join(out_dir, ckptlib.LAST_NAME)
    final_path = os.path.join(out_dir, ckptlib.FINAL_NAME)
    log_path = os.path.join(out_dir, LOG_NAME)
    existing = ckptlib.last_checkpoint(out_dir)
    if existing and not resume:
        raise UserError("%s: already holds a fine-tuning run (%s); add --resume to continue it "
                        "or choose another --out folder" % (out_dir, os.path.basename(existing)))
    ds = ReIDDataset(viper_path)
    rows, labels, persons = _training_rows(ds, cfg)
    w = load_weights(weights_path, vgg_cfg)
    net_cfg = w.config.replace(num_classes=len(persons), dropout=cfg.dropout)
    if fc6_mode is not None:
        net_cfg = net_cfg.replace(fc6_mode=fc6_mode)
    params = w.params_for(net_cfg, seed=seed)
    frozen = [n for n in params if n[:-2] not in trainable_layers(cfg.frozen_blocks)]
    finger = fingerprint(params, frozen)
    os.makedirs(out_dir, exist_ok=True)          # only once the inputs are known to be good
    attrs = {"seed": int(seed), "viper_path": os.path.abspath(os.fspath(viper_path)),
             "weights": os.path.abspath(os.fspath(weights_path)), "frozen_fingerprint": finger,
             "vgg_config": json.loads(net_cfg.to_json()), "persons": len(persons)}
    ckpt = None
    if existing:
        ckpt = ckptlib.load_checkpoint(existing)
        if not same_run(ckpt.config, cfg) or \
                ckpt.attrs.get("frozen_fingerprint") != finger or \
                int(ckpt.attrs.get("seed", seed)) != int(seed) or \
                ckpt.attrs.get("vgg_config", attrs["vgg_config"]) != attrs["vgg_config"] or \
                int(ckpt.attrs.get("persons", len(persons))) != len(persons):
            raise UserError("%s: was written with another fine-tuning configuration, seed, "
                            "weights file, --fc6-mode or VIPeR file; resume with the same ones or "
                            "use a new --out folder" % existing)
        if ckpt.finished and os.path.isfile(result):
            log("%s: fine-tuning already finished (epoch %d)" % (result, ckpt.epoch))
            return result
    net = VGG16(net_cfg, params=params)
    trainer = ClassifierTrainer(net, cfg, seed=seed + 1)
    data_rng = np.random.RandomState(seed + 2)

    def set_params(arrays):
        for n, v in arrays.items():
            net.params[n].set_value(np.asarray(v, dtype=np.float32))

    start = restore_run(ckpt, set_params, trainer, data_rng, log_path, out_dir, log)
    write_json(os.path.join(out_dir, "finetune_config.json"),
               {"finetune": cfg.to_dict(), "vgg": json.loads(net_cfg.to_json()), **attrs})

    def snapshot(epoch, finished):
        trained = OrderedDict((n, net.params[n].get_value()) for n in trainer.names)
        return ckptlib.Checkpoint(params=trained, optim_state=trainer.get_state(),
                                  rng_states={"data": data_rng.get_state()}, epoch=epoch,
                                  finished=finished, config=cfg.to_dict(), attrs=attrs)

    epochs = cfg.epochs
    stop = epochs if max_epochs is None else min(epochs, int(max_epochs))
    log("fine-tuning VGG-16 on %s: %d images of %d people, layers %s trained, epochs %d..%d"
        % (ds.name, len(rows), len(persons), ",".join(trainable_layers(cfg.frozen_blocks)),
           start + 1, epochs))
    images = np.stack([ds.frames(r)[0] for r in rows])
    lr = [None]                                   # the rate of the current epoch

    def begin_epoch(epoch):
        lr[0] = learning_rate_at(cfg, epoch)
        order = data_rng.permutation(len(rows))
        parts = [order[b:b + cfg.batch_size] for b in range(0, len(order), cfg.batch_size)]
        return parts, {"learning_rate": lr[0]}

    def prepare(idx):            # the only draws of a mini-batch (crops, mirrors)
        return augment_batch(images[idx], cfg, net_cfg, data_rng), idx

    def step(x_idx):
        x, idx = x_idx
        loss, acc = trainer.step(x, labels[idx], lr[0])
        return loss, acc, len(idx)

    files = RunFiles(out_dir, log_path, last_path, lr_option="finetune option learning_rate",
                     accuracy_name="identity accuracy")
    run_epochs(start, stop, epochs, begin_epoch, step, snapshot, files, log, data_rng=data_rng,
               position=ckpt.position if ckpt is not None else None, prepare=prepare,
               checkpoint_every_s=cfg.checkpoint_every_s, prefetch=cfg.prefetch)
    if stop < epochs:
        log("stopped after epoch %d of %d; continue with --resume" % (stop, epochs))
        return last_path
    if start >= epochs:
        ckptlib.save_checkpoint(last_path, snapshot(epochs, True))
    if os.path.isfile(last_path):
        os.replace(last_path, final_path)
    info = {"finetuned_on": ds.name, "viper_path": attrs["viper_path"],
            "base_weights": attrs["weights"], "epochs": epochs, "seed": int(seed),
            "persons": len(persons), "config": cfg.to_dict()}
    save_npz(result, net.get_params(), net_cfg, layout="rcnreid", info=info)
    log("wrote %s" % result)
    return result


def is_finetuned(weights_path):
    """True for an .npz written by :func:`finetune` (it records what it was fine-tuned on)."""
    path = os.fspath(weights_path)
    if not os.path.isfile(path):
        from rcnreid.vgg.weights import load_weights
        load_weights(path)                        # raises the "not found" UserError
    with open(path, "rb") as fh:
        if fh.read(2) != b"PK":                   # Keras HDF5: ImageNet weights
            return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return "finetune_info" in z.files
    except (OSError, ValueError) as exc:
        raise UserError("%s: not a readable .npz file (%s)" % (path, exc))


def finetuned_weights(weights_path, finetune_dir, profile="paper", seed=0, log=print,
                      viper_path=None):
    """VGG-16 weights fine-tuned on VIPeR (Section 5.3), fine-tuning them into ``finetune_dir``
    first (resumable; a finished run is reused) unless ``weights_path`` already holds weights from
    ``rcnreid finetune-vgg``. The VIPeR file is ``viper_path`` or ``$VIPER_H5``."""
    if is_finetuned(weights_path):
        return weights_path
    viper_path = viper_path or os.environ.get("VIPER_H5", "")
    if not viper_path:
        raise UserError("VGG 16 + FC-GRU: %s is ImageNet weights and Section 5.3 fine-tunes "
                        "them on VIPeR first; set VIPER_H5=viper.h5 (rcnreid prepare "
                        "viper) or give weights from `rcnreid finetune-vgg`" % weights_path)
    return finetune(viper_path, weights_path, finetune_dir, get_finetune_config(profile),
                    resume=True, seed=seed, log=log)


def fc7_features(data_path, tuned, finetune_dir, log=print, features_path=None):
    """Path of the per-frame fc7 file of ``data_path`` under weights ``tuned`` (default
    ``finetune_dir/<dataset stem>.fc7.h5``), extracted unless an up-to-date one is there."""
    from rcnreid.data.features import FrameFeatures
    from rcnreid.vgg.fc7 import extract_fc7
    stem = os.path.splitext(os.path.basename(os.fspath(data_path)))[0]
    features_path = features_path or os.path.join(finetune_dir, stem + ".fc7.h5")
    if os.path.isfile(features_path):
        ff = FrameFeatures(features_path)
        if (ff.attrs.get("weights") == os.path.abspath(os.fspath(tuned))
                and os.path.getmtime(features_path) >= os.path.getmtime(tuned)):
            return features_path
    extract_fc7(data_path, tuned, features_path, log=log)
    return features_path
