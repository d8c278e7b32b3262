"""Ranked-gallery pictures (``rcnreid visrank``, ``rank --montage``) and the trainer's curves.

The rank labels are checked against the pessimistic CMC of :mod:`rcnreid.evaluation.cmc`, the panels
and their green/red frames by reading the PNG's pixels, and the frames shown against the network
input that evaluation computes (:func:`rcnreid.data.augment.apply`, de-normalised).
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rcnreid.viz import visrank as V
from tests.tiny_run import tiny_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return tiny_run(tmp_path_factory)


def _pessimistic_rank(s, t, j):
    """1 + the wrong entries scored >= entry j (by score, then tie-break key)."""
    wrong = np.arange(len(s)) != j
    ahead = (s > s[j]) | ((s == s[j]) & (t >= t[j]))
    return 1 + int(np.sum(ahead & wrong))


@pytest.mark.parametrize("with_tiebreak", [False, True])
def test_ranking_counts_ties_like_the_pessimistic_cmc(with_tiebreak):
    from rcnreid.evaluation.cmc import cmc_curve
    rng = np.random.RandomState(0)
    S = np.round(rng.rand(7, 9), 1)             # many ties
    L = np.round(rng.rand(7, 9), 1) if with_tiebreak else None
    pid = np.arange(7)
    gid = np.array([3, 0, 1, 2, 4, 5, 6, 7, 8])
    ranks = V.ranking(S, pid, gid, tiebreak=L)
    T = np.zeros_like(S) if L is None else L
    for i, r in enumerate(ranks):
        j = int(np.flatnonzero(gid == pid[i])[0])
        assert r["true_rank"] == _pessimistic_rank(S[i], T[i], j)
        assert list(gid[r["order"]]).index(pid[i]) + 1 == r["true_rank"]
        keys = list(zip(S[i][r["order"]], T[i][r["order"]]))
        assert keys == sorted(keys, reverse=True)
    cmc = cmc_curve(S, pid, gid, max_rank=9, tiebreak=L)
    got = [np.mean([r["true_rank"] <= k for r in ranks]) for k in range(1, 10)]
    assert np.allclose(got, cmc)


def test_probe_choice_worst_first_then_seeded_random():
    ranks = [1, 9, 3, 9, 2, 5, 1, 7, 4, 1]
    a = V.choose_probes(ranks, 5, seed=3)
    assert a[:3] == [1, 3, 7]                    # the three worst, worst first
    assert len(set(a)) == 5 and a == V.choose_probes(ranks, 5, seed=3)
    assert any(V.choose_probes(ranks, 5, seed=s)[3:] != a[3:] for s in range(10))
    assert V.choose_probes(ranks, "all") == list(range(10))
    assert sorted(V.choose_probes(ranks, 50)) == list(range(10))
    assert V.parse_probes("all") == "all" and V.parse_probes("4") == 4
    for bad in ("0", "x", "-2"):
        with pytest.raises(V.UserError, match="--probes"):
            V.parse_probes(bad)


def _border_ok(img, box, colour):
    x0, y0, x1, y1 = box
    a = np.asarray(img)
    for sl in (a[y0:y0 + V.BORDER, x0:x1], a[y1 - V.BORDER:y1, x0:x1],
               a[y0:y1, x0:x0 + V.BORDER], a[y0:y1, x1 - V.BORDER:x1]):
        if not np.all(sl == np.array(colour, dtype=np.uint8)):
            return False
    return True


def test_visrank_pictures_show_the_ranking_and_the_frames_compared(trained, tmp_path, capsys):
    from rcnreid.engine import checkpoint as ckptlib
    from rcnreid.cli import main
    from rcnreid.data import augment
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.evaluation.evaluate import evaluate
    data, ckpt, _ = trained
    scores = str(tmp_path / "s.npz")
    evaluate(data, ckpt, 0, scores_path=scores, log=None)
    z = np.load(scores)
    S, pid, gid = z["similarity"], z["probe_ids"], z["gallery_ids"]
    T = z["logits"] if "logits" in z.files else np.zeros_like(S)
    out = tmp_path / "vis"
    top = 2
    assert main(["visrank", "--model", ckpt, "--data", data, "--probes", "3", "--top", str(top),
                 "--scores", scores, "--out", str(out)]) == 0
    idx = json.loads((out / "index.json").read_text())
    pics = idx["pictures"]
    assert len(pics) == 3 and len(os.listdir(str(out))) == 4
    true_ranks = []
    for i in range(len(pid)):
        j = int(np.flatnonzero(gid == pid[i])[0])
        true_ranks.append(_pessimistic_rank(S[i], T[i], j))
    assert pics[0]["true_rank"] == max(true_ranks)          # the hardest probe comes first
    cfg = ckptlib.load_checkpoint(ckpt).run_config()
    ds = ReIDDataset(data)
    for p in pics:
        i = p["probe"]
        assert p["true_rank"] == true_ranks[i] and p["person"] == pid[i]
        g = p["gallery"]
        beyond = p["true_rank"] > top
        assert len(g) == top + (1 if beyond else 0)
        assert [e["rank"] for e in g[:top]] == list(range(1, top + 1))
        assert all(np.isclose(e["similarity"], S[i][gid == e["person"]][0]) for e in g)
        assert np.all(np.diff([e["similarity"] for e in g]) <= 1e-12)
        assert [e["correct"] for e in g] == [e["person"] == pid[i] for e in g]
        assert sum(e["correct"] for e in g) == (1 if beyond or p["true_rank"] <= top else 0)
        if beyond:
            assert g[-1]["rank"] == p["true_rank"] and g[-1]["correct"]
        img = Image.open(str(out / p["file"])).convert("RGB")
        assert list(img.size) == p["size"]
        assert _border_ok(img, p["probe_box"], V.PROBE)
        for e in g:
            assert _border_ok(img, e["box"], V.GREEN if e["correct"] else V.RED)
        a = np.asarray(img)
        n_green = int(np.all(a == np.array(V.GREEN, dtype=np.uint8), axis=2).sum())
        x0, y0, x1, y1 = g[0]["box"]
        frame_area = (x1 - x0) * (y1 - y0) - (x1 - x0 - 2 * V.BORDER) * (y1 - y0 - 2 * V.BORDER)
        assert n_green == frame_area * sum(e["correct"] for e in g)     # one green frame at most
        # the probe's first frame as shown = the network input of evaluation, de-normalised
        x = augment.apply(ds.frames(p["probe_row"])[:1], augment.Aug("center", False),
                          out_hw=cfg.model.input_hw, crop_hw=cfg.train.crop_hw)
        seen = np.round((x[0].transpose(1, 2, 0) + 1.0) * 127.5)
        s, (px, py) = p["scale"], p["probe_box"][:2]
        h, w = seen.shape[:2]
        shown = a[py + V.BORDER:py + V.BORDER + h * s:s, px + V.BORDER:px + V.BORDER + w * s:s]
        assert np.abs(shown.astype(np.float64) - seen).max() <= 1.0
    # a second run into the folder replaces its own pictures, never a file of the user's
    (out / "notes.png").write_bytes(b"mine")
    assert main(["visrank", "--model", ckpt, "--data", data, "--probes", "1", "--top", "1",
                 "--scores", scores, "--out", str(out)]) == 0
    again = json.loads((out / "index.json").read_text())["pictures"]
    assert sorted(os.listdir(str(out))) == sorted(["index.json", "notes.png", again[0]["file"]])
    assert again[0]["file"] == pics[0]["file"]                  # the worst probe again
    capsys.readouterr()
    assert main(["visrank", "--model", ckpt, "--data", data, "--probes", "none",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--probes none" in err[0]
    (tmp_path / "file").write_text("x")
    assert main(["visrank", "--model", ckpt, "--data", data, "--out",
                 str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_rank_montage_draws_the_folder_ranking(trained, tmp_path, capsys):
    from rcnreid.cli import main
    from rcnreid.data.reader import ReIDDataset
    data, ckpt, _ = trained
    ds = ReIDDataset(data)
    _, test_p = ds.split(0)
    probe, gal = tmp_path / "probe", tmp_path / "gallery"
    for folder, row in [(probe / "p", ds.sequence_index(test_p[0], 1))] + [
            (gal / ("g%d" % k), ds.sequence_index(q, 2)) for k, q in enumerate(test_p[:3])]:
        folder.mkdir(parents=True)
        for k, fr in enumerate(ds.frames(row)[:6]):
            Image.fromarray(fr).save(str(folder / ("%04d.png" % (k + 1))))
    out = str(tmp_path / "m.png")
    assert main(["rank", "--model", ckpt, "--probe", str(probe), "--gallery", str(gal),
                 "--top", "2", "--montage", out]) == 0
    a = np.asarray(Image.open(out).convert("RGB"))
    n_probe = np.all(a == np.array(V.PROBE, dtype=np.uint8), axis=2).sum()
    n_grey = np.all(a == np.array(V.NEUTRAL, dtype=np.uint8), axis=2).sum()
    assert n_probe > 0 and n_grey == 2 * n_probe         # two gallery panels, same frame size
    capsys.readouterr()
    (tmp_path / "mine.png").write_text("not a picture")
    assert main(["rank", "--model", ckpt, "--probe", str(probe), "--gallery", str(gal),
                 "--montage", str(tmp_path / "mine.png")]) == 2
    assert "is not a PNG image" in capsys.readouterr().err
    assert (tmp_path / "mine.png").read_text() == "not a picture"
    assert main(["rank", "--model", ckpt, "--probe", str(gal), "--gallery", str(gal),
                 "--montage", str(tmp_path / "one.png")]) == 2
    assert "give a folder" in capsys.readouterr().err
    assert main(["rank", "--model", ckpt, "--probe", str(gal), "--gallery", str(gal),
                 "--top", "1", "--montage", str(tmp_path / "many")]) == 0
    assert sorted(os.listdir(str(tmp_path / "many"))) == ["g0.png", "g1.png", "g2.png"]


def test_a_finished_trial_has_its_training_curves(trained):
    from rcnreid.engine.trainlog import read_log
    run = Path(trained[2])
    assert (run / "training.png").is_file() and (run / "training.pdf").is_file()
    assert (run / "training.pdf").read_bytes()[:5] == b"%PDF-"
    rows = read_log(str(run / "train_log.jsonl"))
    assert len(rows) >= 2
    img = Image.open(str(run / "training.png"))
    assert img.size[0] > 400 and img.size[1] > 200
