"""Evaluation, extraction, ranking and the command line on a tiny trained model.

The similarity matrix is checked against an independent computation: every sequence represented
alone (batch of one) under every augmentation, Eq. 5 written out in numpy per pair, averaged over
the augmentations.
"""
import json
import os

import numpy as np
import pytest

from rcnreid.engine.trained_model import load_model
from rcnreid.evaluation.cmc import cmc_curve
from rcnreid.configs.registry import get_config
from rcnreid.errors import UserError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from data_prep.synth import make_synthetic_h5
    from rcnreid.engine.train import train
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
    from rcnreid.evaluation.evaluate import evaluate
    data, ckpt, _ = trained
    out, scores = str(tmp_path / "res.json"), str(tmp_path / "s.npz")
    res = evaluate(data, ckpt, 0, test_augs="center_mirror", out_path=out, scores_path=scores,
                   log=None)
    with open(out) as f:
        assert json.load(f)["cmc"] == res["cmc"]
    S = np.load(scores)["similarity"]

    model = load_model(ckpt)
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


class _CountingModel:
    """Wraps a SiameseRCN and records every network pass of evaluation."""

    def __init__(self, model):
        self._m = model
        self.passes = []            # batch size of every call of the representation function
        self.similarity_shapes = []

    def build_represent(self):
        rep = self._m.build_represent()

        def counted(x):
            self.passes.append(int(x.shape[1]))
            return rep(x)
        return counted

    def similarity(self, a, b, logits=False):
        self.similarity_shapes.append((len(a), len(b), logits))
        return self._m.similarity(a, b, logits=logits)

    def __getattr__(self, name):
        return getattr(self._m, name)


def test_each_sequence_is_represented_once_per_augmentation(trained):
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.evaluation.evaluate import evaluate
    data, ckpt, _ = trained
    ds = ReIDDataset(data)
    _, test_p = ds.split(0)
    counting = _CountingModel(load_model(ckpt))
    res = evaluate(data, ckpt, 0, test_augs="center_mirror", model=counting, log=None)
    P = G = len(test_p)
    A = 2
    assert sum(counting.passes) == A * (P + G)        # not A * P * G: no pass per pair
    # Eq. 5 once per augmentation, and its logits once (the ranking's tie-break key)
    assert sorted(counting.similarity_shapes) == [(P, G, False)] * A + [(P, G, True)] * A
    plain = evaluate(data, ckpt, 0, test_augs="center_mirror", log=None)
    assert res["cmc"] == plain["cmc"] and res["map"] == plain["map"]


def test_extract_writes_representations_in_dataset_order(trained, tmp_path):
    import h5py
    from rcnreid.data import augment
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.evaluation.extract import extract_features
    data, ckpt, _ = trained
    ds = ReIDDataset(data)
    path = extract_features(data, ckpt, str(tmp_path / "f.h5"), augs="center", log=None)
    model = load_model(ckpt)
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
    from rcnreid.evaluation.rank_folders import rank_folders
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
    os.makedirs(str(gal / "empty"))                             # no frames at all
    _write_sequence(str(gal / "twice"), ds.frames(0)[:2])        # two frames numbered 1
    from PIL import Image
    Image.fromarray(ds.frames(0)[2]).save(str(gal / "twice" / "1.png"))
    msgs = []
    res = rank_folders(ckpt, probe_dir, str(gal), top=2, log=msgs.append)
    skipped = sorted(res["skipped"])
    assert len(skipped) == 3 and all(m in msgs for m in skipped)
    assert all(m.count("\n") == 0 for m in skipped)
    assert os.path.join(str(gal), "broken", "0001.png") in skipped[0]
    assert os.path.join(str(gal), "empty") in skipped[1]
    assert os.path.join(str(gal), "twice") in skipped[2] and "same number 1" in skipped[2]
    assert any("3 folders skipped" in m for m in msgs)
    (p,) = res["probes"]
    sims = [g["similarity"] for g in p["ranking"]]
    assert len(sims) == 2 and sims[0] >= sims[1]
    full = rank_folders(ckpt, probe_dir, str(gal), log=None)["probes"][0]["ranking"]
    assert [g["gallery"] for g in full[:2]] == [g["gallery"] for g in p["ranking"]]
    assert sorted(g["gallery"] for g in full) == sorted("person%03d" % q for q in test_p[:3])
    with pytest.raises(UserError):
        rank_folders(ckpt, str(tmp_path / "nowhere"), str(gal), log=None)
    with pytest.raises(UserError, match="--top"):
        rank_folders(ckpt, probe_dir, str(gal), top=0, log=None)
    only_bad = tmp_path / "only_bad" / "seq"
    only_bad.mkdir(parents=True)
    (only_bad / "0001.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="no readable gallery sequence .1 skipped"):
        rank_folders(ckpt, probe_dir, str(tmp_path / "only_bad"), log=None)


def test_rank_command_prints_the_ranking_and_reports_skips(trained, tmp_path, capsys):
    from rcnreid.cli import main
    from rcnreid.data.reader import ReIDDataset
    data, ckpt, _ = trained
    ds = ReIDDataset(data)
    _, test_p = ds.split(0)
    probes = tmp_path / "probes"
    for p in test_p[:2]:
        _write_sequence(str(probes / ("p%03d" % p)), ds.frames(ds.sequence_index(p, 1))[:5])
    gal = tmp_path / "gallery"
    for p in test_p[:3]:
        _write_sequence(str(gal / ("g%03d" % p)), ds.frames(ds.sequence_index(p, 2))[:5])
    (gal / "junk").mkdir()
    (gal / "junk" / "0001.jpg").write_bytes(b"\xff\xd8 truncated")
    capsys.readouterr()
    out_json = str(tmp_path / "rank.json")
    assert main(["rank", "--model", ckpt, "--probe", str(probes), "--gallery", str(gal),
                 "--top", "2", "--json", out_json]) == 0
    cap = capsys.readouterr()
    assert cap.out.count("probe ") == 2 and cap.out.count("  1  ") == 2
    assert "junk" in cap.err and "Traceback" not in cap.err
    with open(out_json) as f:
        res = json.load(f)
    assert [len(p["ranking"]) for p in res["probes"]] == [2, 2] and len(res["skipped"]) == 1
    assert main(["rank", "--model", ckpt, "--probe", str(probes), "--gallery",
                 str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0]


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
    # without --out, stdout is the result JSON alone (progress goes to stderr)
    assert main(["evaluate", "--data", data, "--model", ckpt, "--test-augs", "center"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["cmc"] == cmcs[0] and "rank-1" in cap.err
    assert main(["aggregate"] + outs) == 0
    cap = capsys.readouterr()
    assert np.allclose(json.loads(cap.out)["cmc"], a["cmc"])
    assert main(["aggregate", outs[0], outs[0]]) == 0                # the same trial twice
    assert "trial 0 appears twice" in capsys.readouterr().err
    for cmd in (["extract", "--data", data, "--model", ckpt, "--out", str(tmp_path)],
                ["evaluate", "--data", data, "--model", ckpt, "--out", str(tmp_path)],
                ["plot-cmc", agg, "--out", str(tmp_path)],
                ["aggregate", agg, "--out", str(tmp_path)]):
        assert main(cmd) == 2, cmd
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "is a folder" in err, err
