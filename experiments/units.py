"""The computations behind the table rows ("units"), one per (dataset, trial), cached by the runner.

Each unit takes an :class:`experiments.runner.Context` and returns ``{"cmc": [...], ...}``.
Units reuse each other through ``ctx.unit(key)`` and through the shared run folders, so a model is
trained once per (dataset, trial, architecture) and its features are extracted once:

=================================  ==============================================================
unit                               rows
=================================  ==============================================================
``rcn/deep_rcn``                   Table 2 Deep RCN (5x5, 5x5); Table 4 Deep RCN; Table 5's base
``rcn/deep_rcn_9x9_1x1``           Table 2 Deep RCN (9x9, 1x1)
``rcn/rcn_ind``                    Table 2 RCN-Ind
``rcn/pool_average``               Table 3 Average pooling (the ``deep_rcn`` unit itself when the
                                   two configurations are equal: the default reading)
``rcn/pool_max``                   Table 3 Max pooling: a network *trained* with max temporal
                                   pooling, scored with Eq. 5 like the Average row
``vgg/fc_gru``                     Table 2 VGG 16 + FC-GRU (needs VGG16_WEIGHTS)
``pool/fisher/<distance>``         Table 3 Fisher vector pooling of the average-trained network's
                                   frame outputs
``pool/max/<distance>``            Table 3 "Max pooling (re-pooled average net)": not in the
                                   paper; the average-trained network's frame outputs max-pooled
``deep_metric/LFDA``, ``/KISSME``  Table 5 Deep RCN+LFDA / +KISSME (h̄ of deep_rcn, PCA 128)
``baseline/<name>``                Tables 4 and 5 hand-crafted rows (``rcnreid.baselines.registry``)
=================================  ==============================================================

Every network is the registry's configuration (:func:`rcnreid.configs.registry.get_config`) of its
row at the run's profile, under the run's reading and ``--set`` overrides.
"""
import os

import h5py
import numpy as np

from experiments.cache import unit_lock
from experiments.options import RowNotRun
from experiments.trials import run_trial, run_vgg_trial
from rcnreid.baselines.registry import REGISTRY as BASELINES
from rcnreid.engine.checkpoint import final_checkpoint
from rcnreid.engine.trained_model import load_model
from rcnreid.evaluation.cmc import cmc_curve
from rcnreid.configs.registry import get_config
from rcnreid.data.reader import ReIDDataset
from rcnreid.evaluation.extract import extract_features
from rcnreid.vgg.finetune import fc7_features, finetuned_weights
from rcnreid.nn.fisher import FisherVectorEncoder
from rcnreid.metric.pipeline import evaluate_metric

#: Registry rows trained and evaluated by ``rcn/<row>`` units.
RCN_ROWS = ("deep_rcn", "deep_rcn_9x9_1x1", "rcn_ind", "pool_average", "pool_max")
#: The network whose frame outputs Table 3's re-pooled rows pool: the average-trained one.
AVERAGE_ROW = "pool_average"
BASELINES_T4 = ("HOG3D", "FV2D", "FV3D", "STFV3D")
BASELINES_T5 = ("GEI+RSVM", "HOG3D+DVR", "Color+LFDA", "STFV3D+LFDA", "STFV3D+KISSME")


def cmc_from_distance(dist, probe_ids, gallery_ids):
    """CMC (fractions, ranks 1..G) of a probe x gallery distance matrix (smaller = closer).

    The same computation and tie rule as the deep rows' evaluation
    (:func:`rcnreid.evaluation.cmc.cmc_curve`, pessimistic ties), so every row of a table is ranked
    the same way.
    """
    return cmc_curve(dist, probe_ids, gallery_ids, max_rank=len(gallery_ids),
                     higher_is_better=False)


# ----------------------------------------------------------------------------------------------
# the deep model (Tables 2 and 3, and the base of Tables 4 and 5)

def row_config(ctx, row):
    """The :class:`rcnreid.configs.registry.RunConfig` that unit ``rcn/<row>`` trains in this
    run."""
    opts = ctx.options
    return get_config(row, opts.profile, reading=opts.reading, overrides=opts.overrides)


def _rcn_unit(row):
    def unit(ctx):
        """Train (or resume) and evaluate the registry row ``row``: :func:`run_trial`."""
        if row == AVERAGE_ROW:
            cfg = row_config(ctx, row)
            base = row_config(ctx, "deep_rcn")
            if (cfg.model, cfg.train) == (base.model, base.train):    # the same network
                return dict(ctx.unit("rcn/deep_rcn"), same_as="rcn/deep_rcn")
        out_dir = ctx.run_dir(row)
        opts = ctx.options
        res = run_trial(ctx.data_path, ctx.trial, row, profile=opts.profile, out_dir=out_dir,
                        seed=ctx.seed, log=ctx.log, reading=opts.reading,
                        overrides=opts.overrides)
        out = {"cmc": res["cmc"], "out_dir": out_dir, "config": row,
               "checkpoint": final_checkpoint(out_dir),
               "temporal_pooling": row_config(ctx, row).model.temporal_pooling}
        if isinstance(res.get("map"), (int, float)):
            out["map"] = res["map"]
        return out
    unit.__name__ = "rcn_" + row
    return unit


def trained_checkpoint(ctx, row="deep_rcn"):
    """Path of the trained model of this trial (training it first through its unit if needed)."""
    res = ctx.unit("rcn/" + row)
    return res.get("checkpoint") or final_checkpoint(res["out_dir"])


def sequence_features(ctx, row="deep_rcn", level="sequence"):
    """Features of every sequence of the dataset from this trial's trained model, cached on disk.

    ``level="sequence"``: h̄ (N, D); ``level="frame"``: a list of (L_i, D) frame outputs
    (Table 3). Extraction is :func:`rcnreid.evaluation.extract.extract_features`; the HDF5 file it
    writes is kept beside the checkpoint and read back by every row that needs it.
    """
    ckpt = trained_checkpoint(ctx, row)
    path = os.path.join(os.path.dirname(ckpt), "features-%s.h5" % level)
    if not os.path.exists(path):
        extract_features(ctx.data_path, ckpt, path, level=level, log=ctx.log)
    with h5py.File(path, "r") as f:
        if level == "sequence":
            return np.asarray(f["features"], dtype=np.float64)
        flat = np.asarray(f["frame_features"], dtype=np.float64)
        offs = np.asarray(f["frame_offsets"])
        return [flat[offs[i]:offs[i + 1]] for i in range(len(offs) - 1)]


def _split(ctx):
    """(dataset, person ids, train rows, probe rows, gallery rows) of this trial: camera 1 =
    probe."""
    with ReIDDataset(ctx.data_path, preload=False) as ds:
        train_p, test_p = ds.split(ctx.trial)
        person, camera = np.asarray(ds.person), np.asarray(ds.camera)
    train_rows = np.flatnonzero(np.isin(person, train_p))
    probe = np.flatnonzero(np.isin(person, test_p) & (camera == 1))
    gallery = np.flatnonzero(np.isin(person, test_p) & (camera == 2))
    return ds, person, train_rows, probe, gallery


def pool_frames(frames, how):
    """Temporal pooling of one sequence's frame outputs (Section 5.4.2): mean or max over time."""
    frames = np.asarray(frames, dtype=np.float64)
    return frames.max(axis=0) if how == "max" else frames.mean(axis=0)


def l2_rows(X):
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def euclidean(A, B):
    sq = (A ** 2).sum(1)[:, None] + (B ** 2).sum(1)[None, :] - 2.0 * A @ B.T
    return np.sqrt(np.maximum(sq, 0.0))


def _pool_unit(how, distance):
    def unit(ctx):
        """Table 3: max or Fisher-vector pooling of the average-trained network's frame outputs.

        Frame outputs are L2-normalised first ("normalisation on frame descriptors", Sec. 5.4.2).
        ``distance="euclidean"``: sequences are ranked by the Euclidean distance of the
        L2-normalised pooled vectors; ``"similarity"``: the raw max-pooled vector takes h̄'s place
        in the learned similarity of Eq. 5 (max pooling only). The Fisher GMM is fitted on the
        frame outputs of this trial's training persons only (docs/REPRODUCTION.md §7).
        """
        if how == "fisher" and distance == "similarity":
            raise RowNotRun("Fisher vectors (2*D*K dims) cannot feed Eq. 5 (D dims); "
                            "use --pool-distance euclidean")
        _, person, train_rows, probe, gallery = _split(ctx)
        raw = sequence_features(ctx, AVERAGE_ROW, level="frame")
        if distance == "similarity":
            model = load_model(trained_checkpoint(ctx, AVERAGE_ROW))
            hp = np.stack([pool_frames(raw[i], how) for i in probe]).astype(np.float32)
            hg = np.stack([pool_frames(raw[i], how) for i in gallery]).astype(np.float32)
            dist = -np.asarray(model.similarity(hp, hg), dtype=np.float64)
            return {"cmc": cmc_from_distance(dist, person[probe], person[gallery]).tolist()}
        frames = [l2_rows(f) for f in raw]
        if how == "fisher":
            X = np.concatenate([frames[i] for i in train_rows])
            fv = FisherVectorEncoder(n_components=ctx.profile.fisher_components,
                                     seed=ctx.seed).fit(X)

            def enc(rows):
                return l2_rows(np.stack([fv.encode(frames[i]) for i in rows]))
        else:
            def enc(rows):
                return l2_rows(np.stack([pool_frames(frames[i], how) for i in rows]))
        dist = euclidean(enc(probe), enc(gallery))
        return {"cmc": cmc_from_distance(dist, person[probe], person[gallery]).tolist()}
    unit.__name__ = "pool_%s_%s" % (how, distance)
    return unit


def _deep_metric_unit(method):
    def unit(ctx):
        """Table 5: PCA to 128 dims then LFDA / KISSME on the Deep RCN's h̄ (Section 5.5)."""
        _, person, train_rows, probe, gallery = _split(ctx)
        H = sequence_features(ctx, "deep_rcn", level="sequence")
        dist = evaluate_metric(H[train_rows], person[train_rows], H[probe], H[gallery],
                               method=method, pca_dim=ctx.profile.pca_dim)
        return {"cmc": cmc_from_distance(dist, person[probe], person[gallery]).tolist()}
    unit.__name__ = "deep_metric_" + method
    return unit


# ----------------------------------------------------------------------------------------------
# VGG-16 + FC-GRU (Table 2)

def vgg_unit(ctx):
    """Table 2 VGG 16 + FC-GRU: needs a VGG-16 weights file; trains the FC-GRU on fc7 features.

    VGG-16 is fine-tuned on VIPeR once for all datasets and trials, and fc7 is extracted once per
    dataset, into ``runs/<run tag>/vgg16_finetune``; both steps hold the runner's lock, so
    parallel trials (JOBS, SLURM) wait for them instead of repeating them.
    """
    weights = ctx.options.vgg16_weights
    if not weights:
        raise RowNotRun("no VGG-16 weights file (set VGG16_WEIGHTS=...)")
    if not os.path.exists(weights):
        raise RowNotRun("VGG16_WEIGHTS=%s: file not found" % weights)
    opts = ctx.options
    shared = os.path.join(opts.results, "runs", opts.run_tag, "vgg16_finetune")
    with unit_lock(os.path.join(shared, "finetune"), log=ctx.log):
        tuned = finetuned_weights(weights, shared, opts.profile, seed=opts.seed, log=ctx.log)
    with unit_lock(os.path.join(shared, ctx.dataset + ".fc7"), log=ctx.log):
        features = fc7_features(ctx.data_path, tuned, shared, log=ctx.log)
    out_dir = ctx.run_dir("fc_gru")
    res = run_vgg_trial(ctx.data_path, ctx.trial, tuned, profile=opts.profile, out_dir=out_dir,
                        seed=ctx.seed, log=ctx.log, finetune_dir=shared, features_path=features,
                        reading=opts.reading, overrides=opts.overrides)
    return {"cmc": res["cmc"], "out_dir": out_dir}


# ----------------------------------------------------------------------------------------------
# hand-crafted baselines (Tables 4 and 5)

def _baseline_unit(name):
    def unit(ctx):
        """A row of :data:`rcnreid.baselines.registry.REGISTRY`: (distance, probe ids, gallery
        ids) -> CMC."""
        if name not in BASELINES:
            raise RowNotRun("rcnreid.baselines.registry has no row %r" % name)
        dist, pids, gids = BASELINES[name](ctx.data_path, ctx.trial, seed=ctx.seed,
                                           profile=ctx.options.profile, log=ctx.log)
        return {"cmc": cmc_from_distance(dist, pids, gids).tolist()}
    unit.__name__ = "baseline_" + name
    return unit


UNITS = {}
for _row in RCN_ROWS:
    UNITS["rcn/" + _row] = _rcn_unit(_row)
UNITS["vgg/fc_gru"] = vgg_unit
for _how in ("max", "fisher"):
    for _dist in ("euclidean", "similarity"):
        UNITS["pool/%s/%s" % (_how, _dist)] = _pool_unit(_how, _dist)
UNITS["deep_metric/LFDA"] = _deep_metric_unit("LFDA")
UNITS["deep_metric/KISSME"] = _deep_metric_unit("KISSME")
for _name in BASELINES_T4 + BASELINES_T5:
    UNITS["baseline/" + _name] = _baseline_unit(_name)
