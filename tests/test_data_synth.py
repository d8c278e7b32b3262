"""The synthetic dataset: raw trees both converters read unchanged, repeatable output, and a
difficulty between chance and perfect for a colour-histogram baseline (issue 4)."""
import glob
import os

import numpy as np
import pytest

from data_prep.__main__ import main as data_prep_main
from data_prep.ilidsvid import convert_ilidsvid
from data_prep.prid2011 import convert_prid2011
from data_prep.synth import SynthConfig, make_synthetic_h5, write_synthetic_tree
from rcnreid.data.reader import ReIDDataset

QUIET = dict(log=lambda *a: None, published=None)   # synthetic trees: no published copy
SMALL = SynthConfig(min_len=5, max_len=9, distractors=2)


def _count_tree(pattern):
    """{folder relative to the camera's parent: number of png files}, counted independently."""
    out = {}
    for d in glob.glob(pattern):
        out["/".join(d.rstrip("/").split(os.sep)[-2:])] = len(glob.glob(os.path.join(d, "*.png")))
    return out


def test_synth_cli_writes_an_ilidsvid_tree_the_converter_reads(tmp_path, capsys):
    rc = data_prep_main(["synth", "--layout", "ilidsvid", "--out", str(tmp_path / "raw"),
                         "--persons", "5", "--seed", "2", "--min-len", "4", "--max-len", "8"])
    assert rc == 0 and "rcnreid prepare ilidsvid" in capsys.readouterr().out
    counts = _count_tree(str(tmp_path / "raw" / "i-LIDS-VID" / "sequences" / "cam*" / "person*"))
    assert len(counts) == 10 and all(4 <= n <= 8 for n in counts.values())
    s = convert_ilidsvid(str(tmp_path / "raw"), str(tmp_path / "i.h5"), **QUIET)
    assert s["people"] == 5 and s["frames"] == sum(counts.values()) and not s["skipped"]
    with ReIDDataset(str(tmp_path / "i.h5")) as ds:
        assert {f: int(n) for f, n in zip(ds.folder, ds.length)} == counts
        assert sorted(set(ds.camera.tolist())) == [1, 2]


def test_prid_layout_round_trip_with_distractors_and_short_pairs(tmp_path):
    cfg = SynthConfig(min_len=22, max_len=26, short_fraction=0.3, distractors=2)
    write_synthetic_tree(str(tmp_path), layout="prid2011", persons=10, seed=1, config=cfg)
    base = str(tmp_path / "prid_2011" / "multi_shot")
    a = _count_tree(os.path.join(base, "cam_a", "person_*"))
    b = _count_tree(os.path.join(base, "cam_b", "person_*"))
    assert len(a) == len(b) == 12
    s = convert_prid2011(str(tmp_path), str(tmp_path / "p.h5"), **QUIET)
    assert s["people"] == 10
    assert s["skipped"] == {"person in cam_a only (not a pair)": 2,
                            "person in cam_b only (not a pair)": 2}
    pairs = {int(k.split("_")[-1]): (n, b["cam_b/" + k.split("/")[1]]) for k, n in a.items()
             if "cam_b/" + k.split("/")[1] in b}
    keep = sorted(p for p, (na, nb) in pairs.items() if min(na, nb) > 21)
    assert 0 < len(keep) < 10                   # the 178-style protocol has something to drop
    convert_prid2011(str(tmp_path), str(tmp_path / "q.h5"), protocol="178", **QUIET)
    with ReIDDataset(str(tmp_path / "q.h5")) as ds:
        assert ds.persons.tolist() == keep


def test_make_synthetic_h5_is_repeatable_and_seeded(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    paths = [str(tmp_path / n) for n in ("a.h5", "b.h5", "c.h5")]
    for p, seed in zip(paths, (4, 4, 5)):
        make_synthetic_h5(p, layout="prid2011", persons=4, seed=seed, config=SMALL)
    data = [open(p, "rb").read() for p in paths]
    assert data[0] == data[1] and data[0] != data[2]
    with ReIDDataset(paths[0]) as ds:
        assert ds.name == "synthetic-prid2011" and ds.num_trials == 10


def _histogram(frames, bins=8):
    q = frames.astype(np.int64) * bins // 256
    code = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    h = np.bincount(code.ravel(), minlength=bins ** 3).astype(np.float64)
    return h / h.sum()


@pytest.mark.parametrize("layout", ["ilidsvid", "prid2011"])
def test_colour_histogram_baseline_beats_chance_but_is_not_perfect(tmp_path, layout):
    path = str(tmp_path / "h.h5")
    make_synthetic_h5(path, layout=layout, persons=24, seed=0,
                      config=SynthConfig(min_len=8, max_len=12, short_fraction=0.0))
    with ReIDDataset(path) as ds:
        people = ds.persons
        probe = np.array([_histogram(ds.frames(ds.sequence_index(p, 1))) for p in people])
        gallery = np.array([_histogram(ds.frames(ds.sequence_index(p, 2))) for p in people])
    dist = ((probe[:, None, :] - gallery[None, :, :]) ** 2).sum(-1)
    rank = (dist < dist[np.arange(len(people)), np.arange(len(people))][:, None]).sum(1)
    rank1 = np.mean(rank == 0)
    chance = 1.0 / len(people)
    assert rank1 >= 2 * chance, rank1
    assert rank1 < 0.9, rank1
    assert rank.mean() < 0.45 * (len(people) - 1), rank.mean()  # chance: (P - 1) / 2


def test_synth_refuses_an_existing_tree_and_leaves_no_temporary_folder(tmp_path, capsys):
    out = str(tmp_path / "raw")
    args = ["synth", "--layout", "prid2011", "--out", out, "--persons", "2", "--min-len", "2",
            "--max-len", "3", "--seed", "3"]
    assert data_prep_main(args) == 0
    assert sorted(os.listdir(out)) == ["prid_2011"]              # no .synth-* left behind
    before = _count_tree(os.path.join(out, "prid_2011", "multi_shot", "cam_*", "person_*"))
    capsys.readouterr()
    assert data_prep_main(args[:-1] + ["4"]) == 2               # another seed, same folder
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and os.path.join(out, "prid_2011") in err
    assert _count_tree(os.path.join(out, "prid_2011", "multi_shot", "cam_*", "person_*")) == before
    assert sorted(os.listdir(out)) == ["prid_2011"]
    # the other layout can share the folder
    assert data_prep_main(["synth", "--layout", "ilidsvid", "--out", out, "--persons", "2",
                           "--min-len", "2", "--max-len", "3"]) == 0
    assert sorted(os.listdir(out)) == ["i-LIDS-VID", "prid_2011"]


def test_synthetic_people_differ_and_cameras_change_their_look(tmp_path):
    """Per person: own clothing colours; per camera: own illumination/colour cast, so the same
    person's mean colour moves between cameras but stays closer to itself than to others on
    average (learnable, not trivial)."""
    path = str(tmp_path / "s.h5")
    make_synthetic_h5(path, layout="ilidsvid", persons=12, seed=3,
                      config=SynthConfig(min_len=6, max_len=20))
    with ReIDDataset(path) as ds:
        people = ds.persons
        lengths = ds.length.copy()
        mean = {(p, c): ds.frames(ds.sequence_index(p, c)).reshape(-1, 3).mean(0)
                for p in people for c in (1, 2)}
    assert lengths.min() >= 6 and lengths.max() <= 20 and len(set(lengths.tolist())) > 4
    same = np.mean([np.linalg.norm(mean[p, 1] - mean[p, 2]) for p in people])
    diff = np.mean([np.linalg.norm(mean[p, 1] - mean[q, 2]) for p in people for q in people
                    if p != q])
    assert 0 < same < diff
