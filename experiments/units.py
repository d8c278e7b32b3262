"""The computations behind the table rows ("units"), one per (dataset, trial), cached by the runner.

Each unit takes an :class:`experiments.runner.Context` and returns ``{"cmc": [...], ...}``.
Units reuse each other through ``ctx.unit(key)`` and through the shared run folders, so a model is
trained once per (dataset, trial, architecture) and its features are extracted once:

=================================  ==============================================================
unit                               rows
=================================  ==============================================================
``rcn/deep_rcn``                   Table 2 Deep RCN (5x5, 5x5); Table 3 Average pooling; Table 4 Deep RCN
``rcn/deep_rcn_9x9_1x1``           Table 2 Deep RCN (9x9, 1x1)
``rcn/rcn_ind``                    Table 2 RCN-Ind
``vgg/fc_gru``                     Table 2 VGG 16 + FC-GRU (needs VGG16_WEIGHTS)
``pool/{max,fisher}/<distance>``  Table 3 Max / Fisher vector pooling (frame outputs of deep_rcn)
``deep_metric/LFDA``, ``/KISSME``  Table 5 Deep RCN+LFDA / +KISSME (h̄ of deep_rcn, PCA 128)
``baseline/<name>``                Tables 4 and 5 hand-crafted rows (``rcnreid.baselines.registry``)
=================================  ==============================================================

Code owned by other areas is called through the contracts of docs/DEVELOPING.md; when it is
missing the unit raises :class:`RowNotRun` naming what is missing, so the table says so.
"""
import importlib
import inspect
import os

import numpy as np

from experiments.runner import RowNotRun

#: Row name in the paper -> architecture name handed to ``rcnreid.train.run_trial``.
RCN_CONFIGS = {"deep_rcn": "Deep RCN (5 x 5, 5 x 5)",
               "deep_rcn_9x9_1x1": "Deep RCN (9 x 9, 1 x 1)",
               "rcn_ind": "RCN-Ind"}
BASELINES_T4 = ("HOG3D", "FV2D", "FV3D", "STFV3D")
BASELINES_T5 = ("GEI+RSVM", "HOG3D+DVR", "Color+LFDA", "STFV3D+LFDA", "STFV3D+KISSME")


# ----------------------------------------------------------------------------------------------
# helpers

def need(module, attr=None):
    """Import ``module`` (and ``attr`` from it) or raise RowNotRun naming what is missing."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise RowNotRun("code missing: %s (%s)" % (module, exc))
    if attr is None:
        return mod
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise RowNotRun("code missing: %s.%s" % (module, attr))


def call_with(fn, **available):
    """Call ``fn`` with the keyword arguments among ``available`` that its signature accepts."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(**available)
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return fn(**available)
    return fn(**{k: v for k, v in available.items() if k in params})


def cmc_from_distance(dist, probe_ids, gallery_ids):
    """CMC (fractions, ranks 1..G) of a probe x gallery distance matrix (smaller = closer).

    The same computation and tie rule as the deep rows' evaluation (:func:`rcnreid.cmc.cmc_curve`,
    pessimistic ties), so every row of a table is ranked the same way.
    """
    from rcnreid.cmc import cmc_curve
    return cmc_curve(dist, probe_ids, gallery_ids, max_rank=len(gallery_ids),
                     higher_is_better=False)


def _cmc_of(result):
    """The CMC in a result returned by another area (dict with ``cmc``, or the curve itself)."""
    if isinstance(result, dict):
        for key in ("cmc", "cmc_curve", "mean_cmc"):
            if key in result:
                return result[key]
        raise RowNotRun("result has no 'cmc' entry: keys %s" % sorted(result))
    return result


# ----------------------------------------------------------------------------------------------
# the deep model (Table 2, and the base of Tables 3-5)

def _rcn_unit(config_name):
    def unit(ctx):
        """Train (or resume) and evaluate one architecture: ``rcnreid.train.run_trial``."""
        run_trial = need("rcnreid.train", "run_trial")
        out_dir = ctx.run_dir(config_name)
        res = call_with(run_trial, data_path=ctx.data_path, trial=ctx.trial,
                        config_name=config_name, profile=ctx.profile.train_profile,
                        out_dir=out_dir, seed=ctx.seed, log=ctx.log)
        out = {"cmc": _cmc_of(res), "out_dir": out_dir, "config": config_name}
        if isinstance(res, dict):
            for k in ("map", "checkpoint", "checkpoint_path"):
                if k in res and isinstance(res[k], (int, float, str)):
                    out[k] = res[k]
        return out
    unit.__name__ = "rcn_" + config_name
    return unit


def trained_checkpoint(ctx, config_name="deep_rcn"):
    """Path of the trained model of this trial (training it first through its unit if needed)."""
    res = ctx.unit("rcn/" + config_name)
    for k in ("checkpoint", "checkpoint_path"):
        if res.get(k):
            return res[k]
    find = getattr(importlib.import_module("rcnreid.checkpoint"), "final_checkpoint", None) \
        if _has("rcnreid.checkpoint") else None
    if find is not None:
        return find(res["out_dir"])
    cands = sorted(f for f in os.listdir(res["out_dir"]) if "final" in f)
    if not cands:
        raise RowNotRun("no final checkpoint in %s" % res["out_dir"])
    return os.path.join(res["out_dir"], cands[-1])


def _has(module):
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


def sequence_features(ctx, config_name="deep_rcn", level="sequence"):
    """Features of every sequence of the dataset from this trial's trained model, cached on disk.

    ``level="sequence"``: h̄ (N, D); ``level="frame"``: a list of (L_i, D) frame outputs
    (Table 3). Extraction is ``rcnreid.extract.extract_features``; the HDF5 file it writes is kept
    in the trial's run folder and read back by every row that needs it.
    """
    extract = need("rcnreid.extract", "extract_features")
    ckpt = trained_checkpoint(ctx, config_name)
    path = os.path.join(ctx.run_dir(config_name), "features-%s.h5" % level)
    if not os.path.exists(path):
        call_with(extract, data_path=ctx.data_path, checkpoint_path=ckpt, out_path=path,
                  level=level, frame_level=(level == "frame"), log=ctx.log)
    import h5py
    with h5py.File(path, "r") as f:
        if level == "sequence":
            key = "features" if "features" in f else "h"
            return np.asarray(f[key], dtype=np.float64)
        if "frame_features" in f:
            flat = np.asarray(f["frame_features"], dtype=np.float64)
            offs = np.asarray(f["frame_offsets"])
            return [flat[offs[i]:offs[i + 1]] for i in range(len(offs) - 1)]
        raise RowNotRun("%s holds no frame-level features (frame_features/frame_offsets)" % path)


def _split(ctx):
    """(dataset, train persons, probe rows, gallery rows) of this trial: camera 1 = probe."""
    ReIDDataset = need("rcnreid.data.reader", "ReIDDataset")
    ds = ReIDDataset(ctx.data_path)
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


def load_trained_model(ctx, config_name="deep_rcn"):
    """The trained :class:`rcnreid.model.SiameseRCN` of this trial (for Eq. 5 similarities)."""
    load = need("rcnreid.checkpoint", "load_model")
    return load(trained_checkpoint(ctx, config_name))


def _pool_unit(how, distance):
    def unit(ctx):
        """Table 3: max pooling or Fisher-vector pooling of the Deep RCN's frame outputs.

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
        raw = sequence_features(ctx, "deep_rcn", level="frame")
        if distance == "similarity":
            model = load_trained_model(ctx)
            hp = np.stack([pool_frames(raw[i], how) for i in probe]).astype(np.float32)
            hg = np.stack([pool_frames(raw[i], how) for i in gallery]).astype(np.float32)
            dist = -np.asarray(model.similarity(hp, hg), dtype=np.float64)
            return {"cmc": cmc_from_distance(dist, person[probe], person[gallery]).tolist()}
        frames = [l2_rows(f) for f in raw]
        if how == "fisher":
            Fisher = need("rcnreid.fisher", "FisherVectorEncoder")
            X = np.concatenate([frames[i] for i in train_rows])
            fv = Fisher(n_components=ctx.profile.fisher_components, seed=ctx.seed).fit(X)
            enc = lambda rows: l2_rows(np.stack([fv.encode(frames[i])  # noqa: E731
                                                 for i in rows]))
        else:
            enc = lambda rows: l2_rows(np.stack([pool_frames(frames[i], how)  # noqa: E731
                                                 for i in rows]))
        dist = euclidean(enc(probe), enc(gallery))
        return {"cmc": cmc_from_distance(dist, person[probe], person[gallery]).tolist()}
    unit.__name__ = "pool_%s_%s" % (how, distance)
    return unit


def _deep_metric_unit(method):
    def unit(ctx):
        """Table 5: PCA to 128 dims then LFDA / KISSME on the Deep RCN's h̄ (Section 5.5)."""
        evaluate_metric = need("rcnreid.metric.pipeline", "evaluate_metric")
        _, person, train_rows, probe, gallery = _split(ctx)
        H = sequence_features(ctx, "deep_rcn", level="sequence")
        dist = evaluate_metric(H[train_rows], person[train_rows], H[probe], H[gallery],
                               method, pca_dim=ctx.profile.pca_dim)
        if isinstance(dist, dict):
            dist = dist["distance"]
        return {"cmc": cmc_from_distance(dist, person[probe], person[gallery]).tolist()}
    unit.__name__ = "deep_metric_" + method
    return unit


# ----------------------------------------------------------------------------------------------
# VGG-16 + FC-GRU (Table 2)

def vgg_unit(ctx):
    """Table 2 VGG 16 + FC-GRU: needs a VGG-16 weights file; trains the FC-GRU on fc7 features.

    VGG-16 is fine-tuned on VIPeR once for all datasets and trials, and fc7 is extracted once per
    dataset, into ``runs/<data>-<profile>/vgg16_finetune``; both steps hold the runner's lock, so
    parallel trials (JOBS, SLURM) wait for them instead of repeating them.
    """
    from experiments.runner import unit_lock
    weights = ctx.options.vgg16_weights
    if not weights:
        raise RowNotRun("no VGG-16 weights file (set VGG16_WEIGHTS=...)")
    if not os.path.exists(weights):
        raise RowNotRun("VGG16_WEIGHTS=%s: file not found" % weights)
    ft = need("rcnreid.finetune")
    opts = ctx.options
    shared = os.path.join(opts.results, "runs", opts.run_tag, "vgg16_finetune")
    profile = ctx.profile.train_profile
    with unit_lock(os.path.join(shared, "finetune")):
        tuned = ft.finetuned_weights(weights, shared, profile, seed=opts.seed, log=ctx.log)
    with unit_lock(os.path.join(shared, ctx.dataset + ".fc7")):
        features = ft.fc7_features(ctx.data_path, tuned, shared, log=ctx.log)
    out_dir = ctx.run_dir("fc_gru")
    res = ft.run_vgg_trial(ctx.data_path, ctx.trial, tuned, profile=profile, out_dir=out_dir,
                           seed=ctx.seed, log=ctx.log, finetune_dir=shared,
                           features_path=features)
    return {"cmc": _cmc_of(res), "out_dir": out_dir}


# ----------------------------------------------------------------------------------------------
# hand-crafted baselines (Tables 4 and 5)

def _baseline_unit(name):
    def unit(ctx):
        """A row of ``rcnreid.baselines.registry``: a distance matrix + person ids -> CMC."""
        reg = need("rcnreid.baselines.registry")
        table = getattr(reg, "REGISTRY", None) or getattr(reg, "BASELINES", None)
        if table is not None:
            if name not in table:
                raise RowNotRun("rcnreid.baselines.registry has no row %r" % name)
            fn = table[name]
        elif hasattr(reg, "get"):
            fn = reg.get(name)
        else:
            raise RowNotRun("rcnreid.baselines.registry has neither REGISTRY nor get()")
        res = call_with(fn, data_path=ctx.data_path, trial=ctx.trial, seed=ctx.seed,
                        profile=ctx.profile.name, cache_dir=ctx.run_dir("baselines"),
                        log=ctx.log)
        if isinstance(res, dict):
            if "cmc" in res:
                return {"cmc": res["cmc"]}
            dist, pids, gids = res["distance"], res["probe_ids"], res["gallery_ids"]
        elif len(res) == 3:
            dist, pids, gids = res
        else:
            dist, ids = res
            pids = gids = ids
        return {"cmc": cmc_from_distance(dist, pids, gids).tolist()}
    unit.__name__ = "baseline_" + name
    return unit


UNITS = {}
for _cfg in RCN_CONFIGS:
    UNITS["rcn/" + _cfg] = _rcn_unit(_cfg)
UNITS["vgg/fc_gru"] = vgg_unit
for _how in ("max", "fisher"):
    for _dist in ("euclidean", "similarity"):
        UNITS["pool/%s/%s" % (_how, _dist)] = _pool_unit(_how, _dist)
UNITS["deep_metric/LFDA"] = _deep_metric_unit("LFDA")
UNITS["deep_metric/KISSME"] = _deep_metric_unit("KISSME")
for _name in BASELINES_T4 + BASELINES_T5:
    UNITS["baseline/" + _name] = _baseline_unit(_name)
