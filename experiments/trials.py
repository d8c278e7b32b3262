"""The trial pipelines of the tables: one unit of work = train (or resume, or reuse), draw the
training curves, evaluate, on one trial of one dataset. The runner's units
(:mod:`experiments.units`) call them; the library offers the steps
(:func:`rcnreid.engine.train.train`, :func:`rcnreid.evaluation.evaluate.evaluate`,
:mod:`rcnreid.vgg.finetune`, :mod:`rcnreid.vgg.fc7`).

- :func:`run_trial`: a registry row (Deep RCN, RCN-Ind, the pooling rows), Eqs. 1-6 trained and
  scored by Eq. 5; the result also lands in ``out_dir/eval-trial<K>.json``.
- :func:`run_vgg_trial`: Table 2's "VGG 16 + FC-GRU" (Section 5.3): fine-tune VGG-16 on VIPeR,
  extract fc7, train and evaluate the FC-GRU of Eq. 1 on it.
"""
import dataclasses
import json
import os

from rcnreid.configs.registry import get_config
from rcnreid.data.features import FeatureInputs
from rcnreid.data.reader import ReIDDataset
from rcnreid.engine import checkpoint as ckptlib
from rcnreid.engine.resume import check_resumable
from rcnreid.engine.train import train
from rcnreid.evaluation.evaluate import evaluate
from rcnreid.store.atomic import write_json
from rcnreid.vgg.finetune import fc7_features, finetuned_weights
from rcnreid.viz.training_plot import plot_finished_run


def _draw_if_finished(path, run_dir, log):
    """Training curves into the run folder once the run is finished (``training.png``/``.pdf``;
    a failure to draw is one warning line)."""
    if (os.path.basename(path) == ckptlib.FINAL_NAME
            and not os.path.isfile(os.path.join(run_dir, "training.png"))):
        plot_finished_run(run_dir, log)


def run_trial(data_path, trial, config_name, profile="paper", out_dir=".", seed=0, log=print,
              reading="default", overrides=()):
    """Train (or resume, or reuse a finished run in ``out_dir``) and evaluate one trial of the
    registry configuration ``config_name`` at ``profile``, under ``reading`` and ``overrides``
    (:func:`rcnreid.configs.registry.get_config`).

    Returns the evaluation dict (:func:`rcnreid.evaluation.evaluate.evaluate`: ``cmc`` fractions
    at ranks 1..20, ``map``, ...) plus ``checkpoint``. The result is also written to
    ``out_dir/eval-trial<K>.json`` and reused when it belongs to the same checkpoint.
    """
    log = log or (lambda *a: None)
    cfg = get_config(config_name, profile, reading=reading, overrides=overrides)
    out_dir = os.fspath(out_dir)
    final = os.path.join(out_dir, ckptlib.FINAL_NAME)
    if not os.path.isfile(final):
        _draw_if_finished(train(data_path, trial, cfg, out_dir, resume=True, seed=seed, log=log),
                          out_dir, log)
    else:
        ck = ckptlib.load_checkpoint(final)
        check_resumable(ck, cfg, seed, trial, final)
        log("%s: reusing the finished model" % final)
    res_path = os.path.join(out_dir, "eval-trial%d.json" % int(trial))
    if os.path.isfile(res_path):
        with open(res_path, encoding="utf-8") as f:
            try:
                res = json.load(f)
            except ValueError:
                res = {}
        if res.get("checkpoint_mtime") == os.path.getmtime(final) and "cmc" in res:
            return res
    res = evaluate(data_path, final, trial, log=log,      # scores: for rcnreid.viz.visrank
                   scores_path=os.path.join(out_dir, "scores-trial%d.npz" % int(trial)))
    res["checkpoint_mtime"] = os.path.getmtime(final)
    write_json(res_path, res)
    return res


def run_vgg_trial(data_path, trial, weights_path, profile="paper", out_dir=".", seed=0,
                  log=print, viper_path=None, finetune_dir=None, features_path=None,
                  reading="default", overrides=()):
    """Table 2's "VGG 16 + FC-GRU" on one trial: fine-tune, extract fc7, train and evaluate.

    ``weights_path``: ImageNet VGG-16 weights (fine-tuned on VIPeR first: ``viper_path`` or the
    ``VIPER_H5`` environment variable must name the VIPeR file from ``rcnreid prepare
    viper``), or weights already fine-tuned by ``rcnreid finetune-vgg`` (used as they are).
    Fine-tuning and the fc7 file are shared by the trials: they live in ``finetune_dir``
    (default: ``vgg16_finetune`` beside the parent of ``out_dir``). The FC-GRU is run config
    ``fc_gru`` at ``profile`` (under ``reading`` and ``overrides``, as
    :func:`rcnreid.configs.registry.get_config`) with ``fc_input_dim`` set to the features'
    dimension, trained with :func:`rcnreid.engine.train.train` (its curves drawn) and evaluated
    with :func:`rcnreid.evaluation.evaluate.evaluate`. Returns the evaluation dict (``cmc``
    fractions at ranks 1..20, ...).
    """
    log = log or (lambda *a: None)
    out_dir = os.path.abspath(os.fspath(out_dir))
    finetune_dir = finetune_dir or os.path.join(os.path.dirname(os.path.dirname(out_dir)),
                                                "vgg16_finetune")
    tuned = finetuned_weights(weights_path, finetune_dir, profile, seed=seed, log=log,
                              viper_path=viper_path)
    features_path = fc7_features(data_path, tuned, finetune_dir, log=log,
                                 features_path=features_path)
    ds = ReIDDataset(data_path)
    inputs = FeatureInputs(ds, features_path)
    cfg = get_config("fc_gru", profile, reading=reading, overrides=overrides)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, fc_input_dim=inputs.dim))
    run_dir = os.path.join(out_dir, "fcgru")
    final = train(data_path, trial, cfg, run_dir, resume=True, seed=seed, log=log, inputs=inputs)
    _draw_if_finished(final, run_dir, log)
    if not os.path.isfile(final):
        final = ckptlib.final_checkpoint(run_dir)
    res = evaluate(data_path, final, trial, log=log, inputs=inputs)
    res["features"] = features_path
    res["weights"] = os.path.abspath(os.fspath(tuned))
    return res
