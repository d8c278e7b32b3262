"""Evaluating a trained model on the test people of one trial (Sections 5.2, 5.3).

Probe = camera 1, gallery = camera 2 of the trial's test people. Every probe/gallery similarity is
Eq. 5 averaged over the test-time augmentations (Section 5.2: "the similarity scores between
sequences are computed and averaged over all augmentation conditions"). Eq. 5 factorises,
s(a, b) = sigmoid((h_a o v) . h_b + c), so each sequence's representation h-bar is computed
once per augmentation (all of its frames, sequences of equal length batched together) and the
whole matrix is formed from the representations: no network pass per pair.

For the Fisher-vector temporal pooling of Table 3 (``temporal_pooling="fisher"``), the frame-level
outputs of the trial's *training* sequences (first augmentation) fit the GMM, and sequences are
compared by the inner product of their Fisher vectors, averaged over the augmentations.
"""
import os

import numpy as np

from rcnreid.engine import checkpoint as ckptlib
from rcnreid.engine.trained_model import load_model
from rcnreid.store.atomic import write_json
from rcnreid.backend.gpu_conv import float_arithmetic
from rcnreid.evaluation.cmc import evaluate_scores
from rcnreid.data import augment
from rcnreid.errors import UserError
from rcnreid.data.inputs import make_inputs, run_rows


def represent_rows(model, inputs, rows, augs, batch=8, max_len=None, rep=None, log=None,
                   what="sequences"):
    """float32 (A, N, D): h-bar of every row under every augmentation (one pass per sequence
    and augmentation)."""
    rep = rep or model.build_represent()
    out = []
    for k, aug in enumerate(augs):
        H = run_rows(rep, inputs, rows, aug, batch=batch, max_len=max_len)
        out.append(np.stack(H).astype(np.float32))
        if log:
            log("  representations: augmentation %d/%d (%s%s), %d %s"
                % (k + 1, len(augs), aug.anchor, ", mirrored" if aug.mirror else "", len(rows),
                   what))
    return np.stack(out)


def frame_features_rows(model, inputs, rows, aug, batch=8, max_len=None, frm=None):
    """List of (L_i, D) frame-level outputs (Table 3) of every row under one augmentation."""
    frm = frm or model.build_frame_features()
    return run_rows(frm, inputs, rows, aug, batch=batch, max_len=max_len, frame_level=True)


def augmented_similarity(model, Hp, Hg, logits=False, pairing="matched"):
    """(Np, Ng): Eq. 5 averaged over augmentations, from (A, Np, D) and (A, Ng, D);
    ``logits=True``: the averaged logits instead, the tie-break key of the ranking (sigmoids
    saturate to exactly 1.0 in float64 above a logit of about 36.7; :mod:`rcnreid.evaluation.cmc`).
    ``pairing``: "matched" compares probe condition a with gallery condition a (A matrices),
    "all" every probe condition with every gallery condition (A^2 matrices)."""
    return np.mean([model.similarity(Hp[a], Hg[b], logits=logits)
                    for a, b in aug_pairs(len(Hp), pairing)], axis=0)


def aug_pairs(num_augs, pairing="matched"):
    """The (probe condition, gallery condition) pairs averaged over (TrainConfig.aug_pairing)."""
    if pairing == "all":
        return [(a, b) for a in range(num_augs) for b in range(num_augs)]
    return [(a, a) for a in range(num_augs)]


def trial_rows(ds, trial):
    """(train rows, probe rows, gallery rows) of a trial: probe = camera 1, gallery = camera 2."""
    train_p, test_p = ds.split(trial)
    return ds.rows(train_p), ds.rows(test_p, camera=1), ds.rows(test_p, camera=2)


def evaluate(data_path, checkpoint_path, trial, test_augs=None, out_path=None, log=print,
             ties="pessimistic", max_rank=20, model=None, inputs=None, scores_path=None,
             force=False):
    """CMC (ranks 1..``max_rank``, fractions) and mAP of a checkpoint on trial ``trial``.

    ``test_augs``: name of the test augmentation set (default: the run's config). Writes the
    result to ``out_path`` (JSON) and the similarity matrix with the ids to ``scores_path``
    (.npz) when given (:func:`rcnreid.store.atomic.check_out_path` rules: never an input; an
    existing file only when it is JSON / .npz, or with ``force``). Returns the result dict.
    """
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.store.atomic import check_out_path
    log = log or (lambda *a: None)
    if out_path:
        check_out_path(out_path, "--out", "eval-trial%d.json" % int(trial),
                       inputs=(data_path, checkpoint_path), kind="json", force=force)
    if scores_path:
        check_out_path(scores_path, "--scores", "scores-trial%d.npz" % int(trial),
                       inputs=(data_path, checkpoint_path, out_path), kind="npz", force=force)
    ckpt = ckptlib.load_checkpoint(checkpoint_path)
    model = model or load_model(checkpoint_path, ckpt)
    cfg = ckpt.run_config()
    ds = ReIDDataset(data_path)
    train_rows, probe, gallery = trial_rows(ds, trial)
    if len(probe) == 0 or len(gallery) == 0:
        raise UserError("%s: trial %d has no probe (camera 1) or gallery (camera 2) sequences"
                        % (data_path, trial))
    trained_on = ckpt.attrs.get("dataset")
    if trained_on is not None and trained_on != ds.name:
        log("note: %s was trained on %s and is evaluated on %s (cross-dataset)"
            % (checkpoint_path, trained_on, ds.name))
    elif "trial" in ckpt.attrs and int(ckpt.attrs["trial"]) != int(trial):
        log("warning: %s was trained on trial %s; its training people may be among the test "
            "people of trial %d" % (checkpoint_path, ckpt.attrs["trial"], trial))
    inputs = inputs or make_inputs(ds, cfg)
    aug_name = test_augs or cfg.train.test_augs
    augs = augment.test_augmentations(aug_name)
    batch, max_len = cfg.train.eval_batch, cfg.train.eval_max_len
    log("evaluating %s on %s trial %d: %d probes, %d gallery, %d augmentations"
        % (os.path.basename(checkpoint_path), ds.name, trial, len(probe), len(gallery),
           len(augs)))
    L = None                          # tie-break key: the averaged logits (rcnreid.evaluation.cmc)
    if cfg.model.temporal_pooling == "fisher":
        S = _fisher_scores(model, inputs, train_rows, probe, gallery, augs, batch, max_len, cfg)
    else:
        rep = model.build_represent()
        Hp = represent_rows(model, inputs, probe, augs, batch, max_len, rep=rep, log=log,
                            what="probes")
        Hg = represent_rows(model, inputs, gallery, augs, batch, max_len, rep=rep, log=log,
                            what="gallery sequences")
        S = augmented_similarity(model, Hp, Hg, pairing=cfg.train.aug_pairing)
        L = augmented_similarity(model, Hp, Hg, logits=True, pairing=cfg.train.aug_pairing)
    res = evaluate_scores(S, ds.person[probe], ds.person[gallery], max_rank=max_rank, ties=ties,
                          tiebreak=L)
    res.update({"trial": int(trial), "checkpoint": os.path.abspath(checkpoint_path),
                "checkpoint_epoch": int(ckpt.epoch), "dataset": ds.name,
                "data_path": os.path.abspath(os.fspath(data_path)),
                "config_name": cfg.name, "label": cfg.name, "test_augs": aug_name,
                "num_augs": len(augs), "aug_pairing": cfg.train.aug_pairing,
                "float_arithmetic": float_arithmetic(),
                "scores": "Eq. 5 similarity averaged over augmentations"
                if cfg.model.temporal_pooling != "fisher" else "Fisher-vector inner product"})
    log("trial %d: rank-1 %.1f%%  rank-5 %.1f%%  rank-10 %.1f%%  rank-20 %.1f%%  mAP %.3f"
        % (trial, res.get("rank1", 0), res.get("rank5", 0), res.get("rank10", 0),
           res.get("rank20", 0), res["map"]))
    if out_path:
        write_json(out_path, res)
        log("wrote %s" % out_path)
    if scores_path:
        from rcnreid.store.atomic import atomic_path
        with atomic_path(scores_path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, similarity=S, probe_ids=ds.person[probe],
                         gallery_ids=ds.person[gallery],
                         **({} if L is None else {"logits": L}))     # the tie-break key
    return res


def _fisher_scores(model, inputs, train_rows, probe, gallery, augs, batch, max_len, cfg):
    from rcnreid.nn.pooling import FisherTemporalPooling
    try:
        import rcnreid.nn.fisher  # noqa: F401
    except ImportError as exc:
        raise UserError("temporal_pooling=fisher: the Fisher-vector code (rcnreid.nn.fisher) is "
                        "not available (%s); evaluate another pooling row" % exc)
    frm = model.build_frame_features()
    fit_frames = frame_features_rows(model, inputs, train_rows, augs[0], batch, max_len, frm)
    fv = FisherTemporalPooling(n_components=cfg.model.fisher_components,
                               seed=int(getattr(model, "seed", 0))).fit(fit_frames)
    Fp, Fg = [], []
    for aug in augs:
        Fp.append(fv.encode_many(frame_features_rows(model, inputs, probe, aug, batch, max_len,
                                                     frm)))
        Fg.append(fv.encode_many(frame_features_rows(model, inputs, gallery, aug, batch,
                                                     max_len, frm)))
    return np.mean([fv.similarity(Fp[a], Fg[b])
                    for a, b in aug_pairs(len(augs), cfg.train.aug_pairing)], axis=0)
