"""The rows of Tables 4 and 5 built from hand-crafted representations, by name.

Each row is a callable ``row(ds, trial, fast=False, seed=0, log=None)`` that returns
``(distance, probe_ids, gallery_ids)``: a float64 (n_probe, n_gallery) *distance* matrix (lower =
more alike; pass ``higher_is_better=False`` to :func:`rcnreid.evaluation.cmc.cmc_curve`) between the
camera-1 sequences (probe) and the camera-2 sequences (gallery) of the trial's test people, and
their person ids. Everything trained (GMMs, PCA, RankSVM, DVR, metrics) sees the trial's training
people only. ``fast=True`` shrinks the work (smaller frames, fewer GMM components, subsampled pixels
and frames) for tests and the synthetic data; the paper's settings are the default.

    from rcnreid.baselines.registry import ROWS, run_row
    dist, pid, gid = run_row("HOG3D", ds, trial=0, fast=True)

The experiments runner (``experiments/units.py``, units ``baseline/<name>``) looks rows up in
:data:`REGISTRY` and calls them with keywords from a file path:
``REGISTRY[name](data_path, trial, seed=0, profile="paper", log=None)``; every profile but
``"paper"`` uses the ``fast`` settings (the runner's quick / test profiles run on synthetic data).
"""
import dataclasses

import numpy as np

from rcnreid.baselines import dvr, fv2d, fv3d, gei, hog3d, ranking, stfv3d
from rcnreid.baselines.fep import FEPConfig
from rcnreid.errors import UserError


def fep_config(fast):
    return FEPConfig(frame_hw=(64, 32), half=5, flow_winsize=7) if fast else FEPConfig()


def configs(fast=False, seed=0):
    """Per-representation configurations: the papers' values, or the ``fast`` reductions."""
    f = fep_config(fast)
    if not fast:
        return {"hog3d": hog3d.HOG3DConfig(), "fv2d": fv2d.FV2DConfig(seed=seed),
                "fv3d": fv3d.FV3DConfig(seed=seed), "stfv3d": stfv3d.STFV3DConfig(seed=seed),
                "gei": gei.GEIConfig(), "dvr": dvr.DVRConfig(),
                "ranksvm": ranking.RankSVMConfig(), "color": _colour_config(False)}
    return {
        "hog3d": hog3d.HOG3DConfig(fep=f),
        "fv2d": fv2d.FV2DConfig(frame_hw=(64, 32), n_components=8, pixel_step=2, frame_step=4,
                                fit_samples=10000, seed=seed),
        "fv3d": fv3d.FV3DConfig(local_size=(16, 16), local_stride=(8, 8), n_components=8,
                                fit_samples=10000, seed=seed, fep=f),
        "stfv3d": stfv3d.STFV3DConfig(frame_hw=(64, 32), n_components=4, pca_dim=8, pixel_step=3,
                                      fit_samples=3000, seed=seed, fep=f),
        "gei": gei.GEIConfig(gei_hw=(32, 22), fep=f),
        "dvr": dvr.DVRConfig(n_iter=3, negatives_per_person=20),
        "ranksvm": ranking.RankSVMConfig(max_iter=200),
        "color": _colour_config(True),
    }


def _colour_config(fast):
    from rcnreid.baselines.color import ColorConfig
    return ColorConfig(frame_step=4, bins=8) if fast else ColorConfig()


@dataclasses.dataclass
class TrialSets:
    """Rows of a trial: training sequences (both cameras), probe (cam 1) and gallery (cam 2)."""
    train: np.ndarray
    probe: np.ndarray
    gallery: np.ndarray


def trial_sets(ds, trial):
    train_p, test_p = ds.split(trial)
    probe, gallery = ds.rows(test_p, camera=1), ds.rows(test_p, camera=2)
    if len(probe) == 0 or len(gallery) == 0:
        raise UserError("%s: trial %s has no test sequences in camera 1 or 2" % (ds.path, trial))
    return TrialSets(ds.rows(train_p), probe, gallery)


def _map(fn, ds, rows, log, what):
    out = []
    for k, i in enumerate(rows):
        out.append(fn(ds.frames(i)))
        if log and ((k + 1) % max(1, len(rows) // 4) == 0 or k + 1 == len(rows)):
            log("  %s: %d/%d sequences" % (what, k + 1, len(rows)))
    return out


def _result(ds, sets, dist):
    return (np.asarray(dist, np.float64), ds.person[sets.probe].copy(),
            ds.person[sets.gallery].copy())


def _cross_camera(ds, rows):
    """Training rows split by camera and restricted to people seen by both cameras."""
    a = [i for i in rows if ds.camera[i] == 1]
    b = [i for i in rows if ds.camera[i] == 2]
    both = set(ds.person[a]) & set(ds.person[b])
    a = [i for i in a if ds.person[i] in both]
    b = {int(ds.person[i]): i for i in b if ds.person[i] in both}
    return a, [b[int(ds.person[i])] for i in a]


# ----------------------------------------------------------------------------------------------
# Table 4

def hog3d_row(ds, trial, fast=False, seed=0, log=None, pair_rule="mean"):
    """HOG3D: fragment descriptors; ``pair_rule`` "mean" (mean fragment, Euclidean) or "min"
    (smallest fragment-pair distance)."""
    cfg = configs(fast, seed)["hog3d"]
    sets = trial_sets(ds, trial)
    fn = lambda fr: hog3d.hog3d_fragments(fr, cfg)    # noqa: E731
    P = _map(fn, ds, sets.probe, log, "HOG3D probe")
    G = _map(fn, ds, sets.gallery, log, "HOG3D gallery")
    if pair_rule == "mean":
        dist = stfv3d.euclidean([p.mean(0) for p in P], [g.mean(0) for g in G])
    elif pair_rule == "min":
        dist = stfv3d.cycle_set_distance(P, G)
    else:
        raise UserError("pair_rule=%r: use mean or min" % (pair_rule,))
    return _result(ds, sets, dist)


def _fitted_row(cls, key, name):
    def row(ds, trial, fast=False, seed=0, log=None):
        cfg = configs(fast, seed)[key]
        sets = trial_sets(ds, trial)
        if log:
            log("  %s: fitting on %d training sequences" % (name, len(sets.train)))
        model = cls(cfg).fit([ds.frames(i) for i in sets.train])
        P = _map(model.transform, ds, sets.probe, log, name + " probe")
        G = _map(model.transform, ds, sets.gallery, log, name + " gallery")
        return _result(ds, sets, stfv3d.euclidean(P, G))
    row.__name__ = key + "_row"
    row.__doc__ = "%s: fitted on the training people, Euclidean distance of the descriptors." % name
    return row


fv2d_row = _fitted_row(fv2d.FV2D, "fv2d", "FV2D")
fv3d_row = _fitted_row(fv3d.FV3D, "fv3d", "FV3D")


def stfv3d_row(ds, trial, fast=False, seed=0, log=None):
    """STFV3D: cycle descriptors; a pair's distance is the best (smallest) over cycle pairs."""
    cfg = configs(fast, seed)["stfv3d"]
    sets = trial_sets(ds, trial)
    model = stfv3d.STFV3D(cfg).fit([ds.frames(i) for i in sets.train])
    P = _map(model.transform_cycles, ds, sets.probe, log, "STFV3D probe")
    G = _map(model.transform_cycles, ds, sets.gallery, log, "STFV3D gallery")
    return _result(ds, sets, stfv3d.cycle_set_distance(P, G))


# ----------------------------------------------------------------------------------------------
# Table 5

def gei_rsvm_row(ds, trial, fast=False, seed=0, log=None):
    """GEI+RSVM: gait energy images matched by a RankSVM trained on the training people."""
    c = configs(fast, seed)
    sets = trial_sets(ds, trial)
    fn = lambda fr: gei.gait_energy_image(fr, c["gei"])    # noqa: E731
    ta, tb = _cross_camera(ds, sets.train)
    Xa, Xb = _map(fn, ds, ta, log, "GEI train a"), _map(fn, ds, tb, log, "GEI train b")
    svm = ranking.PairRankSVM(c["ranksvm"], seed=seed).fit(Xa, ds.person[ta], Xb, ds.person[tb])
    P = _map(fn, ds, sets.probe, log, "GEI probe")
    G = _map(fn, ds, sets.gallery, log, "GEI gallery")
    return _result(ds, sets, svm.pairwise_distance(P, G))


def hog3d_dvr_row(ds, trial, fast=False, seed=0, log=None):
    """HOG3D+DVR: multiple-instance ranking over HOG3D fragment bags."""
    c = configs(fast, seed)
    sets = trial_sets(ds, trial)
    fn = lambda fr: hog3d.hog3d_fragments(fr, c["hog3d"])    # noqa: E731
    ta, tb = _cross_camera(ds, sets.train)
    model = dvr.DVR(c["dvr"], seed=seed, log=log).fit(
        _map(fn, ds, ta, log, "DVR train a"), _map(fn, ds, tb, log, "DVR train b"))
    P = _map(fn, ds, sets.probe, log, "DVR probe")
    G = _map(fn, ds, sets.gallery, log, "DVR gallery")
    return _result(ds, sets, model.pairwise_distance(P, G))


def metric_distance(method, X_train, y_train, cam_train, X_probe, X_gallery, pca_dim=128,
                    seed=0):
    """PCA to ``pca_dim`` (Sec. 5.5) then LFDA or KISSME, fitted on the training sequences only;
    the (n_probe, n_gallery) distances of the learnt metric
    (:func:`rcnreid.metric.pipeline.evaluate_metric`)."""
    from rcnreid.metric.pipeline import evaluate_metric
    return evaluate_metric(X_train, y_train, X_probe, X_gallery, method=method.lower(),
                           pca_dim=pca_dim, train_cameras=cam_train)


def _vectors_metric_row(name, method, features):
    """A Table 5 row: one vector per sequence from ``features(fast, seed, train_frames)`` (which
    returns a sequence -> vector function), then PCA + ``method``."""
    def row(ds, trial, fast=False, seed=0, log=None):
        sets = trial_sets(ds, trial)
        fn = features(fast, seed, [ds.frames(i) for i in sets.train], log)
        Xt = np.asarray(_map(fn, ds, sets.train, log, name + " train"))
        P = np.asarray(_map(fn, ds, sets.probe, log, name + " probe"))
        G = np.asarray(_map(fn, ds, sets.gallery, log, name + " gallery"))
        dist = metric_distance(method, Xt, ds.person[sets.train], ds.camera[sets.train], P, G,
                               seed=seed)
        return _result(ds, sets, dist)
    row.__name__ = name.replace("+", "_").lower() + "_row"
    row.__doc__ = "%s: PCA to 128 dimensions and %s on the training people." % (name, method)
    return row


def _stfv3d_features(fast, seed, train_frames, log):
    """STFV3D's sequence vector for metric learning: the mean of its cycle descriptors."""
    if log:
        log("  STFV3D: fitting on %d training sequences" % len(train_frames))
    return stfv3d.STFV3D(configs(fast, seed)["stfv3d"]).fit(train_frames).transform


def _colour_features(fast, seed, train_frames, log):
    """The colour-histogram descriptor of :mod:`rcnreid.baselines.color` (per-frame
    descriptors, if returned as a matrix, are averaged over the sequence)."""
    from rcnreid.baselines.color import color_descriptor
    cfg = configs(fast, seed)["color"]

    def fn(frames):
        v = np.asarray(color_descriptor(frames, cfg), np.float64)
        return v.mean(axis=0) if v.ndim == 2 else v
    return fn


stfv3d_lfda_row = _vectors_metric_row("STFV3D+LFDA", "LFDA", _stfv3d_features)
stfv3d_kissme_row = _vectors_metric_row("STFV3D+KISSME", "KISSME", _stfv3d_features)
color_lfda_row = _vectors_metric_row("Color+LFDA", "LFDA", _colour_features)


ROWS = {
    "HOG3D": hog3d_row,
    "FV2D": fv2d_row,
    "FV3D": fv3d_row,
    "STFV3D": stfv3d_row,
    "GEI+RSVM": gei_rsvm_row,
    "HOG3D+DVR": hog3d_dvr_row,
    "Color+LFDA": color_lfda_row,
    "STFV3D+LFDA": stfv3d_lfda_row,
    "STFV3D+KISSME": stfv3d_kissme_row,
}
#: Which table each row belongs to.
TABLE4 = ("HOG3D", "FV2D", "FV3D", "STFV3D")
TABLE5 = ("GEI+RSVM", "HOG3D+DVR", "Color+LFDA", "STFV3D+LFDA", "STFV3D+KISSME")


def run_row(name, ds, trial, fast=False, seed=0, log=None):
    """Run the row ``name`` (a key of :data:`ROWS`) on trial ``trial`` of ``ds``."""
    if name not in ROWS:
        raise UserError("row %r: unknown; choose from %s" % (name, ", ".join(ROWS)))
    return ROWS[name](ds, trial, fast=fast, seed=seed, log=log)


#: The runner's profile whose rows use the papers' settings; the others use ``fast=True``.
PAPER_PROFILE = "paper"


def _path_row(name):
    def row(data_path, trial, seed=0, profile=PAPER_PROFILE, log=None):
        from rcnreid.data.reader import ReIDDataset
        return run_row(name, ReIDDataset(data_path), int(trial),
                       fast=str(profile) != PAPER_PROFILE, seed=int(seed), log=log)
    row.__name__ = "row_" + name.replace("+", "_").lower()
    row.__doc__ = ("%s on trial ``trial`` of the dataset file ``data_path``: (distance, probe "
                   "ids, gallery ids); ``profile`` other than %r uses the fast settings."
                   % (name, PAPER_PROFILE))
    return row


#: Row name -> ``fn(data_path, trial, seed=0, profile="paper", log=None)`` (the interface the
#: experiments runner calls, see the module docstring).
REGISTRY = {name: _path_row(name) for name in ROWS}
