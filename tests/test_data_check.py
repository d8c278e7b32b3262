"""A dataset copy is checked against its published description before anything is written
(issue 29, item 3), and the official splits can be required (item 2). Small fake trees that each
miss one thing; the published counts are shrunk through the converters' ``published`` argument.
"""
import dataclasses
import os
import shutil
import subprocess

import h5py
import numpy as np
import pytest

from data_prep import check
from data_prep.__main__ import main as data_prep_main
from data_prep.ilidsvid import convert_ilidsvid
from data_prep.prid2011 import convert_prid2011
from rcnreid.data.reader import ReIDDataset
from rcnreid.errors import UserError
from tests.test_data_convert import colour_frame, ilids_tree, prid_tree, seq_dir

LOG = dict(log=lambda *a: None)
#: iLIDS-VID shrunk to the fake tree of ilids_tree(): people 1, 2, 4, 5, 3 frames each.
ILIDS4 = dataclasses.replace(check.ILIDSVID, cameras=(("cam1", 4), ("cam2", 4)), both=4,
                             sequences=8, min_frames=2, max_frames=5)
#: PRID 2011 shrunk: cam_a persons 1-3, cam_b 1-5, persons 1-2 seen by both, 2-6 frames.
PRID = dataclasses.replace(check.PRID2011, cameras=(("cam_a", 3), ("cam_b", 5)), both=2,
                           sequences=4, min_frames=2, max_frames=6, id_ranges=((1, 3), (1, 5)),
                           pair_ids=(1, 2))


def prid_fake(root, drop=()):
    """The shrunk PRID copy: pairs 1, 2 (3 and 4 frames), cam_a 3 and cam_b 3-5 distractors
    (cam_a's person_0003 and cam_b's person_0003 are different people, as in the real set)."""
    base = prid_tree(root, {1: (3, 4), 2: (4, 3), 3: (2, 2)}, extra_b=(4, 5))
    for cam, pid in drop:
        shutil.rmtree(os.path.join(base, cam, "person_%04d" % pid))
    return base


def refused(tmp_path, convert, fragments, **kw):
    """The conversion stops with one line holding ``fragments``, before writing anything."""
    out = str(tmp_path / "out.h5")
    with pytest.raises(UserError) as err:
        convert(str(tmp_path), out, **LOG, **kw)
    msg = str(err.value)
    assert "\n" not in msg and "--allow-incomplete" in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".h5")]
    return msg


def converted(tmp_path, convert, **kw):
    out = str(tmp_path / "ok.h5")
    summary = convert(str(tmp_path), out, allow_incomplete=True, **LOG, **kw)
    return summary, ReIDDataset(out)


# ---------------------------------------------------------------------------------------------
# the published descriptions

def test_the_published_counts_are_the_papers_and_the_datasets():
    i, p = check.ILIDSVID, check.PRID2011
    assert (dict(i.cameras), i.both, i.sequences, i.min_frames, i.max_frames) == (
        {"cam1": 300, "cam2": 300}, 300, 600, 23, 192)
    assert (dict(p.cameras), p.both, p.sequences, p.min_frames, p.max_frames) == (
        {"cam_a": 385, "cam_b": 749}, 200, 400, 5, 675)
    assert p.pair_ids == (1, 200) and p.id_ranges == ((1, 385), (1, 749))
    assert "Section 5.1" in i.source and "Section 5.1" in p.source


def test_a_complete_copy_converts_and_says_so(tmp_path):
    ilids_tree(str(tmp_path))
    convert_ilidsvid(str(tmp_path), str(tmp_path / "i.h5"), published=ILIDS4, **LOG)
    with ReIDDataset(str(tmp_path / "i.h5")) as ds:
        assert ds.copy_check == "complete" and ds.shortfall == ""
        assert "cam1" in ds.published and ds.num_sequences == 8
        prov = ds.provenance()
        assert prov["copy_check"] == "complete" and prov["protocol"] == "ilidsvid"


# ---------------------------------------------------------------------------------------------
# iLIDS-VID trees that each miss one thing

def test_person_missing_from_one_camera_is_named(tmp_path):
    base = ilids_tree(str(tmp_path))
    shutil.rmtree(seq_dir(base, "cam2", 4))
    msg = refused(tmp_path, convert_ilidsvid, [
        os.path.join(base, "cam2") + ": 3 people, the published copy has 4 (missing person004)"],
        published=ILIDS4)
    assert "cam1:" not in msg
    s, ds = converted(tmp_path, convert_ilidsvid, published=ILIDS4)
    with ds:
        assert ds.persons.tolist() == [1, 2, 5] and ds.copy_check == "incomplete"
        assert "missing person004" in ds.shortfall and "--allow-incomplete" not in ds.shortfall
    assert s["skipped"]["person in cam1 only (incomplete copy)"] == 1


def test_person_missing_from_both_cameras_is_counted(tmp_path):
    base = ilids_tree(str(tmp_path))
    for cam in ("cam1", "cam2"):
        shutil.rmtree(seq_dir(base, cam, 2))
    refused(tmp_path, convert_ilidsvid, ["cam1: 3 people, the published copy has 4 (missing 1 "
                                         "absent from both cameras)", "cam2: 3 people"],
            published=ILIDS4)


def test_empty_sequence_folder_is_named_and_its_person_left_out(tmp_path):
    base = ilids_tree(str(tmp_path))
    d = seq_dir(base, "cam1", 5)
    for n in os.listdir(d):
        os.remove(os.path.join(d, n))
    refused(tmp_path, convert_ilidsvid, ["1 empty sequence folder: " + d], published=ILIDS4)
    _, ds = converted(tmp_path, convert_ilidsvid, published=ILIDS4)
    with ds:
        assert ds.persons.tolist() == [1, 2, 4] and d in ds.shortfall


def test_unreadable_frames_are_named_and_left_out(tmp_path):
    base = ilids_tree(str(tmp_path))
    cut = os.path.join(seq_dir(base, "cam2", 1), "cam2_person001_00301.png")
    data = open(cut, "rb").read()
    with open(cut, "wb") as f:
        f.write(data[:len(data) // 2])
    junk = os.path.join(seq_dir(base, "cam1", 4), "cam1_person004_00302.png")
    with open(junk, "w") as f:
        f.write("not a png")
    msg = refused(tmp_path, convert_ilidsvid, ["2 unreadable frames: ", cut, junk,
                                               "not a readable image"], published=ILIDS4)
    assert "people" not in msg
    s, ds = converted(tmp_path, convert_ilidsvid, published=ILIDS4)
    with ds:
        assert ds.length[ds.sequence_index(1, 2)] == 2 and ds.length[ds.sequence_index(4, 1)] == 2
        assert cut in ds.shortfall and junk in ds.shortfall
        # the frames kept are the readable ones, in order (red = 10 * person + frame)
        assert ds.frames(ds.sequence_index(1, 2))[:, 0, 0, 0].tolist() == [10, 12]
    assert s["skipped"]["unreadable frame left out (incomplete copy)"] == 2


def test_sequence_outside_the_published_frame_range_is_named_and_kept(tmp_path):
    base = ilids_tree(str(tmp_path))
    d = seq_dir(base, "cam2", 2)
    os.remove(os.path.join(d, "cam2_person002_00301.png"))
    os.remove(os.path.join(d, "cam2_person002_00302.png"))
    refused(tmp_path, convert_ilidsvid,
            ["1 sequence outside the published 2-5 frames: %s (1 frames)" % d], published=ILIDS4)
    _, ds = converted(tmp_path, convert_ilidsvid, published=ILIDS4)
    with ds:
        assert ds.persons.tolist() == [1, 2, 4, 5] and ds.length[ds.sequence_index(2, 2)] == 1


def test_the_check_runs_before_any_frame_is_decoded(tmp_path, monkeypatch):
    base = ilids_tree(str(tmp_path))
    shutil.rmtree(seq_dir(base, "cam1", 1))
    calls = []
    monkeypatch.setattr("rcnreid.data.writer.load_rgb", lambda *a, **k: calls.append(a))
    refused(tmp_path, convert_ilidsvid, ["missing person001"], published=ILIDS4)
    assert calls == []


# ---------------------------------------------------------------------------------------------
# PRID 2011

def test_prid_complete_copy_pairs_only_the_published_pair_ids(tmp_path):
    prid_fake(str(tmp_path))
    s = convert_prid2011(str(tmp_path), str(tmp_path / "p.h5"), published=PRID, **LOG)
    with ReIDDataset(str(tmp_path / "p.h5")) as ds:
        assert ds.persons.tolist() == [1, 2] and ds.copy_check == "complete"
    # person_0003 is in both camera folders but is two different people: not a pair
    assert s["skipped"] == {"person in cam_a only (not a pair)": 1,
                            "person in cam_b only (not a pair)": 3}


@pytest.mark.parametrize("drop, fragment", [
    ((("cam_b", 4),), "cam_b: 4 people, the published copy has 5 (missing person_0004)"),
    ((("cam_a", 3),), "cam_a: 2 people, the published copy has 3 (missing person_0003)"),
    ((("cam_b", 2),), "cam_b: 4 people, the published copy has 5 (missing person_0002)"),
])
def test_prid_missing_people_are_named(tmp_path, drop, fragment):
    prid_fake(str(tmp_path), drop)
    refused(tmp_path, convert_prid2011, [fragment], published=PRID)


def test_prid_pair_lost_to_a_renamed_folder_is_named(tmp_path):
    base = prid_fake(str(tmp_path))
    os.rename(os.path.join(base, "cam_b", "person_0002"), os.path.join(base, "cam_b",
                                                                      "person_0006"))
    msg = refused(tmp_path, convert_prid2011, [
        "cam_b: 5 people, the published copy has 5 (missing person_0002)",
        "cam_b holds folders the published copy lacks: person_0006"], published=PRID)
    assert msg.index("cam_b") < msg.index("--allow-incomplete")
    _, ds = converted(tmp_path, convert_prid2011, published=PRID)
    with ds:
        assert ds.persons.tolist() == [1] and "person_0002" in ds.shortfall


def test_prid_short_sequence_and_protocol_178(tmp_path):
    base = prid_fake(str(tmp_path))
    d = os.path.join(base, "cam_a", "person_0001")
    for n in ("0002.png", "0003.png"):
        os.remove(os.path.join(d, n))
    refused(tmp_path, convert_prid2011, ["outside the published 2-6 frames: %s (1 frames)" % d],
            published=PRID)
    s, ds = converted(tmp_path, convert_prid2011, published=PRID, protocol="178", min_frames=2)
    with ds:
        assert ds.persons.tolist() == [2] and ds.protocol == "prid2011-178"


# ---------------------------------------------------------------------------------------------
# the command line, with the real published counts

def test_cli_refuses_a_small_copy_in_one_line_and_converts_it_with_allow_incomplete(tmp_path,
                                                                                   capsys):
    base = ilids_tree(str(tmp_path))
    out = str(tmp_path / "i.h5")
    rc = data_prep_main(["ilidsvid", "--root", str(tmp_path), "--out", out, "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "Traceback" not in err
    assert os.path.join(base, "cam1") + ": 4 people, the published copy has 300" in err
    assert "--allow-incomplete" in err and not os.path.exists(out)
    rc = data_prep_main(["ilidsvid", "--root", str(tmp_path), "--out", out, "--quiet",
                         "--allow-incomplete"])
    assert rc == 0
    with h5py.File(out, "r") as f:
        assert f.attrs["copy_check"] == "incomplete" and "has 300" in f.attrs["shortfall"]
        assert "Section 5.1" in f.attrs["published"]


def test_files_without_the_check_read_as_unchecked(tmp_path):
    ilids_tree(str(tmp_path))
    convert_ilidsvid(str(tmp_path), str(tmp_path / "i.h5"), published=None, **LOG)
    with ReIDDataset(str(tmp_path / "i.h5")) as ds:
        assert (ds.copy_check, ds.shortfall, ds.published) == ("unchecked", "", "")
        assert ds.split_kind == "random"


# ---------------------------------------------------------------------------------------------
# official splits: required, recorded, no split_seed when they come from a file

def test_require_official_splits_ilidsvid(tmp_path):
    import scipy.io
    ilids_tree(str(tmp_path))
    with pytest.raises(UserError) as err:
        convert_ilidsvid(str(tmp_path), str(tmp_path / "i.h5"), published=None,
                         require_official_splits=True, **LOG)
    msg = str(err.value)
    assert "\n" not in msg and "train_test_splits_ilidsvid.mat" in msg and "--splits-mat" in msg
    assert not os.path.exists(tmp_path / "i.h5")
    with pytest.raises(UserError, match="--splits-random"):
        convert_ilidsvid(str(tmp_path), str(tmp_path / "i.h5"), published=None,
                         require_official_splits=True, splits_random=3, **LOG)
    folder = tmp_path / "train-test people splits"
    folder.mkdir()
    scipy.io.savemat(str(folder / "train_test_splits_ilidsvid.mat"),
                     {"ls_set": np.array([[3, 1, 2, 4]] * 10, dtype=np.float64)})
    convert_ilidsvid(str(tmp_path), str(tmp_path / "i.h5"), published=None,
                     require_official_splits=True, **LOG)
    with ReIDDataset(str(tmp_path / "i.h5")) as ds:
        assert ds.split_kind == "official" and ds.split_source.startswith("official-mat")
        assert "split_seed" not in ds.attrs


def test_require_official_splits_prid_and_split_attributes(tmp_path, capsys):
    import json
    import scipy.io
    prid_fake(str(tmp_path))
    out = str(tmp_path / "p.h5")
    rc = data_prep_main(["prid2011", "--root", str(tmp_path), "--out", out, "--quiet",
                         "--require-official-splits"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "train_test_splits_prid.mat" in err
    assert not os.path.exists(out)
    js = str(tmp_path / "s.json")
    with open(js, "w") as f:
        json.dump([{"train": ["person_0001"], "test": ["person_0002"]}] * 10, f)
    convert_prid2011(str(tmp_path), out, splits_json=js, require_official_splits=True, seed=9,
                     published=PRID, **LOG)
    with h5py.File(out, "r") as f:
        assert f.attrs["split_source"] == "json" and "split_seed" not in f.attrs
    mat = str(tmp_path / "train_test_splits_prid.mat")
    scipy.io.savemat(mat, {"ls_set": np.array([[2, 1]] * 10, dtype=np.float64)})
    convert_prid2011(str(tmp_path), out, splits_mat=mat, published=PRID, **LOG)
    with ReIDDataset(out) as ds:
        assert ds.split_kind == "official" and "split_seed" not in ds.attrs
        assert ds.split(0)[1].tolist() == [2]
    convert_prid2011(str(tmp_path), out, seed=4, published=PRID, **LOG)
    with ReIDDataset(out) as ds:
        assert ds.split_kind == "random" and int(ds.attrs["split_seed"]) == 4


# ---------------------------------------------------------------------------------------------
# make data: the splits files, the protocol, the requirement and the allowance reach the command

def test_make_data_passes_the_options(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("no make")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = ["make", "-n", "-C", repo, "data", "VENV=%s" % tmp_path, "ILIDSVID_ROOT=/d/iLIDS",
           "PRID_ROOT=/d/prid", "ILIDSVID_SPLITS=/s/ilids.mat", "PRID_SPLITS=/s/prid.json",
           "PRID_PROTOCOL=178", "OFFICIAL_SPLITS=1", "ALLOW_INCOMPLETE=1"]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    ilids = [ln for ln in text.splitlines() if "prepare ilidsvid" in ln][0]
    prid = [ln for ln in text.splitlines() if "prepare prid2011" in ln][0]
    assert "--splits-mat \"/s/ilids.mat\"" in ilids and "--require-official-splits" in ilids
    assert "--splits-json \"/s/prid.json\"" in prid and "--protocol 178" in prid
    assert "--allow-incomplete" in ilids and "--allow-incomplete" in prid
    plain = subprocess.run(cmd[:5] + ["ILIDSVID_ROOT=/d/iLIDS", "PRID_ROOT=/d/prid"],
                           capture_output=True, text=True, check=True).stdout
    assert "--splits" not in plain and "--require" not in plain and "--allow" not in plain
    assert "--protocol 200" in plain


def test_official_splits_of_the_published_people_do_not_fit_an_incomplete_copy(tmp_path):
    import scipy.io
    base = ilids_tree(str(tmp_path))
    folder = tmp_path / "train-test people splits"
    folder.mkdir()
    scipy.io.savemat(str(folder / "train_test_splits_ilidsvid.mat"),
                     {"ls_set": np.array([[3, 1, 2, 4]] * 10, dtype=np.float64)})
    for cam in ("cam1", "cam2"):
        shutil.rmtree(seq_dir(base, cam, 5))
    with pytest.raises(UserError) as err:
        convert_ilidsvid(str(tmp_path), str(tmp_path / "i.h5"), published=ILIDS4,
                         allow_incomplete=True, **LOG)
    msg = str(err.value)
    assert "\n" not in msg and "the copy is incomplete (3 people converted" in msg
    assert "--splits-random SEED" in msg and not os.path.exists(tmp_path / "i.h5")
    convert_ilidsvid(str(tmp_path), str(tmp_path / "i.h5"), published=ILIDS4,
                     allow_incomplete=True, splits_random=1, **LOG)


def test_missing_ids_are_named_in_runs():
    name = "person_%04d".__mod__
    assert check.name_runs([3, 5, 6, 7, 8, 10, 11], name) == [
        "person_0003", "person_0005 to person_0008", "person_0010", "person_0011"]


def test_the_summary_says_whether_the_copy_matched(tmp_path, capsys):
    prid_fake(str(tmp_path))
    rc = data_prep_main(["prid2011", "--root", str(tmp_path), "--out", str(tmp_path / "p.h5"),
                         "--quiet", "--allow-incomplete"])
    assert rc == 0 and "copy: incomplete, converted with --allow-incomplete" in \
        capsys.readouterr().out
    from data_prep.h5out import format_summary
    s = convert_prid2011(str(tmp_path), str(tmp_path / "q.h5"), published=PRID, **LOG)
    assert "copy: matches the published description" in format_summary(s)


def test_people_in_one_camera_each_are_named_when_the_counts_agree(tmp_path):
    base = ilids_tree(str(tmp_path))
    os.rename(seq_dir(base, "cam2", 5), seq_dir(base, "cam2", 7))
    refused(tmp_path, convert_ilidsvid, [
        "%s: 3 people in both cameras, the published copy has 4 (in one camera only: person005, "
        "person007)" % base], published=ILIDS4)
