"""Evaluation, extraction, ranking and the command line on a tiny trained model.

The similarity matrix is checked against an independent computation: every sequence represented
alone (batch of one) under every augmentation, Eq. 5 written out in numpy per pair, averaged over
the augmentations.
"""
import json
import os

import numpy as np
import pytest

from rcnreid import checkpoint as ckptlib
from rcnreid.cmc import cmc_curve
from rcnreid.configs import get_config
from rcnreid.errors import UserError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from data_prep.synth import make_synthetic_h5
    from rcnreid.train import train
    root = tmp_path_factory.mktemp("evalrun")
    data = str(root / "synth.h5")
    make_synthetic_h5(data, layout="ilidsvid", persons=10, seed=1)
    ckpt = train(data, 0, get_config("tiny"), str(root / "run"), seed=0, log=None)
    return data, ckpt, root


def _sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


def test_similarity_matrix_is_eq5_averaged_over_augmentations(trained, tmp_path):
    from rcnreid.data import augment
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.evaluate import evaluate
    data, ckpt, _ = trained
    out, scores = str(tmp_path / "res.json"), str(tmp_path / "s.npz")
    res = evaluate(data, ckpt, 0, test_augs="center_mirror", out_path=out, scores_path=scores,
                   log=None)
    with open(out) as f:
        assert json.load(f)["cmc"] == res["cmc"]
    S = np.load(scores)["similarity"]

    model = ckptlib.load_model(ckpt)
    cfg = model.run_config
    rep = model.build_represent()
    ds = ReIDDataset(data)
    _, test_p = ds.split(0)
    probe = [ds.sequence_index(p, 1) for p in test_p]
    gallery = [ds.sequence_index(p, 2) for p in test_p]
    v = model.get_params()["sim_v"].astype(np.float64)
    c = float(model.get_params()["sim_c"])
    augs = augment.test_augmentations("center_mirror")
    expect = np.zeros((len(probe), len(gallery)))
    for aug in augs:
        def h(row):
            frames = ds.frames(row)[:cfg.train.eval_max_len]
            x = augment.apply(frames, aug, out_hw=cfg.model.input_hw, crop_hw=cfg.train.crop_hw)
            return rep(x[:, None])[0].astype(np.float64)
        hp = [h(r) for r in probe]
        hg = [h(r) for r in gallery]
        for i in range(len(probe)):
            for j in range(len(gallery)):
                expect[i, j] += _sigmoid(np.sum(v * hp[i] * hg[j]) + c) / len(augs)
    assert S.shape == (len(test_p), len(test_p))
    assert np.allclose(S, expect, rtol=1e-4, atol=1e-5)
    cmc = cmc_curve(expect, test_p, test_p, max_rank=20)
    assert np.allclose(res["cmc"], cmc)
    assert res["trial"] == 0 and res["num_probes"] == len(test_p) and res["num_augs"] == 2
    assert len(res["cmc"]) == 20 and 0.0 <= res["map"] <= 1.0


def test_extract_writes_representations_in_dataset_order(trained, tmp_path):
    import h5py
    from rcnreid.data import augment
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.extract import extract_features
    data, ckpt, _ = trained
    ds = ReIDDataset(data)
    path = extract_features(data, ckpt, str(tmp_path / "f.h5"), augs="center", log=None)
    model = ckptlib.load_model(ckpt)
    cfg = model.run_config
    rep = model.build_represent()
    with h5py.File(path, "r") as f:
        F = f["features"][()]
        assert F.shape == (ds.num_sequences, model.repr_dim)
        assert np.array_equal(f["person"][()], ds.person)
        assert np.array_equal(f["camera"][()], ds.camera)
        assert f.attrs["level"] == "sequence"
    for row in (0, ds.num_sequences - 1):
        x = augment.apply(ds.frames(row)[:cfg.train.eval_max_len], augment.Aug("center", False),
                          out_hw=cfg.model.input_hw, crop_hw=cfg.train.crop_hw)
        assert np.allclose(F[row], rep(x[:, None])[0], atol=1e-5)
    path = extract_features(data, ckpt, str(tmp_path / "fr.h5"), level="frame", augs="center",
                            log=None)
    with h5py.File(path, "r") as f:
        offs = f["frame_offsets"][()]
        lengths = np.minimum(ds.length, cfg.train.eval_max_len)
        assert np.array_equal(np.diff(offs), lengths)
        assert f["frame_features"].shape == (offs[-1], model.repr_dim)


def _write_sequence(folder, frames):
    from PIL import Image
    os.makedirs(folder)
    for k, fr in enumerate(frames):
        Image.fromarray(fr).save(os.path.join(folder, "%04d.png" % (k + 1)))


def test_rank_folders_ranks_readable_folders_and_reports_broken_ones(trained, tmp_path):
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.rank import rank_folders
    data, ckpt, _ = trained
    ds = ReIDDataset(data)
    _, test_p = ds.split(0)
    probe_dir = str(tmp_path / "probe")
    _write_sequence(probe_dir, ds.frames(ds.sequence_index(test_p[0], 1))[:6])
    gal = tmp_path / "gallery"
    for p in test_p[:3]:
        _write_sequence(str(gal / ("person%03d" % p)), ds.frames(ds.sequence_index(p, 2))[:6])
    os.makedirs(str(gal / "broken"))
    (gal / "broken" / "0001.png").write_bytes(b"not a png")
    msgs = []
    res = rank_folders(ckpt, probe_dir, str(gal), top=2, log=msgs.append)
    assert len(res["skipped"]) == 1 and "broken" in res["skipped"][0] and msgs == res["skipped"]
    (p,) = res["probes"]
    sims = [g["similarity"] for g in p["ranking"]]
    assert len(sims) == 2 and sims[0] >= sims[1]
    full = rank_folders(ckpt, probe_dir, str(gal), log=None)["probes"][0]["ranking"]
    assert [g["gallery"] for g in full[:2]] == [g["gallery"] for g in p["ranking"]]
    assert sorted(g["gallery"] for g in full) == sorted("person%03d" % q for q in test_p[:3])
    with pytest.raises(UserError):
        rank_folders(ckpt, str(tmp_path / "nowhere"), str(gal), log=None)


def test_command_line_evaluate_aggregate_plot(trained, tmp_path, capsys):
    from rcnreid.cli import main
    data, ckpt, _ = trained
    outs = []
    for trial in (0, 1):
        out = str(tmp_path / ("t%d.json" % trial))
        assert main(["evaluate", "--data", data, "--model", ckpt, "--trial", str(trial),
                     "--out", out, "--test-augs", "center"]) == 0
        outs.append(out)
    agg = str(tmp_path / "agg.json")
    assert main(["aggregate"] + outs + ["--out", agg]) == 0
    with open(agg) as f:
        a = json.load(f)
    cmcs = []
    for o in outs:
        with open(o) as f:
            cmcs.append(json.load(f)["cmc"])
    assert np.allclose(a["cmc"], np.mean(cmcs, axis=0))
    assert np.allclose(a["cmc_std"], np.std(cmcs, axis=0))
    assert main(["plot-cmc", agg, "other=" + outs[0], "--out", str(tmp_path / "fig")]) == 0
    assert os.path.isfile(str(tmp_path / "fig.png")) and os.path.isfile(str(tmp_path / "fig.pdf"))
    assert main(["evaluate", "--data", data, "--model", str(tmp_path / "no.h5")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
