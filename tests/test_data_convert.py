"""Converters on small hand-made trees: frame order, split import, every bad-input case,
atomic output and repeatable output (issue 4)."""
import json
import os

import h5py
import numpy as np
import pytest
from PIL import Image

from data_prep import images
from data_prep.__main__ import main as data_prep_main
from data_prep.ilidsvid import convert_ilidsvid
from data_prep.prid2011 import convert_prid2011
from rcnreid.data.reader import ReIDDataset
from rcnreid.errors import UserError

#: No check against the published copy: these trees are tiny (tests/test_data_check.py checks).
QUIET = dict(log=lambda *a: None, published=None)


def colour_frame(value, size=(128, 64), mode="RGB"):
    """A flat frame whose red channel is ``value`` (so frames can be told apart)."""
    arr = np.zeros(size + (3,), dtype=np.uint8)
    arr[..., 0] = value
    arr[..., 1] = 50
    arr[..., 2] = 255 - value
    im = Image.fromarray(arr, "RGB")
    return im.convert(mode) if mode != "RGB" else im


def ilids_tree(root, persons=(1, 2, 4, 5), frames=3):
    """i-LIDS-VID/sequences/cam{1,2}/personNNN/camK_personNNN_FFFFF.png; red = 10*person+frame."""
    base = os.path.join(root, "i-LIDS-VID", "sequences")
    for cam in ("cam1", "cam2"):
        for p in persons:
            d = os.path.join(base, cam, "person%03d" % p)
            os.makedirs(d)
            for f in range(frames):
                colour_frame(10 * p + f).save(os.path.join(d, "%s_person%03d_%05d.png" % (cam, p, 300 + f)))
    return base


def prid_tree(root, lengths, extra_b=()):
    """prid_2011/multi_shot/cam_{a,b}/person_NNNN/NNNN.png; lengths = {person: (len_a, len_b)}."""
    base = os.path.join(root, "prid_2011", "multi_shot")
    for p, (la, lb) in lengths.items():
        for cam, n in (("cam_a", la), ("cam_b", lb)):
            d = os.path.join(base, cam, "person_%04d" % p)
            os.makedirs(d)
            for f in range(n):
                colour_frame(p + f).save(os.path.join(d, "%04d.png" % (f + 1)))
    for p in extra_b:
        d = os.path.join(base, "cam_b", "person_%04d" % p)
        os.makedirs(d)
        colour_frame(1).save(os.path.join(d, "0001.png"))
    return base


def seq_dir(base, cam, person):
    return os.path.join(base, cam, "person%03d" % person)


# ---------------------------------------------------------------------------------------------
# frame order, contents, splits

def test_frames_follow_the_number_in_the_name_not_listing_order(tmp_path):
    base = prid_tree(str(tmp_path), {1: (1, 1), 2: (1, 1)})
    d = os.path.join(base, "cam_a", "person_0001")
    os.remove(os.path.join(d, "0001.png"))
    numbers = [100, 9, 10, 2, 1000]             # digit counts differ: lexical order is wrong
    for n in numbers:
        colour_frame(n % 251).save(os.path.join(d, "%d.png" % n))
    assert [images.frame_number(p) for p in images.list_frames(d)] == sorted(numbers)
    out = str(tmp_path / "p.h5")
    convert_prid2011(str(tmp_path), out, **QUIET)
    with ReIDDataset(out) as ds:
        fr = ds.frames(ds.sequence_index(1, 1))
        assert list(fr[:, 5, 5, 0]) == [n % 251 for n in sorted(numbers)]


def test_ilidsvid_round_trip_contents(tmp_path):
    ilids_tree(str(tmp_path))
    out = str(tmp_path / "i.h5")
    summary = convert_ilidsvid(str(tmp_path), out, **QUIET)
    assert (summary["people"], summary["sequences"], summary["frames"]) == (4, 8, 24)
    with ReIDDataset(out) as ds:
        assert ds.frame_hw == images.STORED_HW and ds.name == "ilidsvid"
        assert sorted(ds.persons.tolist()) == [1, 2, 4, 5]
        i = ds.sequence_index(4, 2)
        assert ds.folder[i] == "cam2/person004" and ds.camera[i] == 2
        fr = ds.frames(i)
        assert fr.shape == (3, 176, 66, 3) and fr.dtype == np.uint8
        # flat frames survive the bilinear resize exactly
        assert np.all(fr[:, :, :, 0] == np.array([40, 41, 42])[:, None, None])
        with h5py.File(out, "r") as f:
            for key in ("dataset", "protocol", "schema_version", "frame_height", "frame_width",
                        "resize_method", "created"):
                assert key in f.attrs
            assert f["frames"].compression == "gzip" and f["frames"].chunks is not None
            assert f["splits"].attrs["source_kind"] == "seed"
        for k in range(10):
            tr, te = ds.split(k)
            assert len(tr) == len(te) == 2 and sorted(np.r_[tr, te].tolist()) == [1, 2, 4, 5]


def test_resize_is_pil_bilinear_of_the_raw_frame(tmp_path):
    ilids_tree(str(tmp_path), persons=(1, 2), frames=1)
    path = os.path.join(seq_dir(os.path.join(str(tmp_path), "i-LIDS-VID", "sequences"), "cam1", 1),
                        "cam1_person001_00300.png")
    rng = np.random.RandomState(0)
    raw = rng.randint(0, 256, (128, 64, 3)).astype(np.uint8)
    Image.fromarray(raw).save(path)
    out = str(tmp_path / "i.h5")
    convert_ilidsvid(str(tmp_path), out, **QUIET)
    expect = np.asarray(Image.fromarray(raw).resize((66, 176), Image.BILINEAR))
    with ReIDDataset(out) as ds:
        assert np.array_equal(ds.frames(ds.sequence_index(1, 1))[0], expect)


def test_official_mat_splits(tmp_path):
    import scipy.io
    ilids_tree(str(tmp_path))                  # sorted cam1 folders: person001, 002, 004, 005
    ls_set = np.array([[3, 1, 2, 4]] * 9 + [[4, 2, 1, 3]], dtype=np.float64)   # MATLAB doubles
    mat = str(tmp_path / "splits.mat")
    scipy.io.savemat(mat, {"ls_set": ls_set})
    out = str(tmp_path / "i.h5")
    convert_ilidsvid(str(tmp_path), out, splits_mat=mat, **QUIET)
    with ReIDDataset(out) as ds:
        te, tr = [4, 1], [2, 5]                # first half test, last half train
        assert ds.split(0)[0].tolist() == sorted(tr) and ds.split(0)[1].tolist() == sorted(te)
        assert ds.split(9)[1].tolist() == [2, 5] and ds.split(9)[0].tolist() == [1, 4]
        assert ds.split_source.startswith("official-mat")


def test_json_splits(tmp_path):
    prid_tree(str(tmp_path), {1: (2, 2), 2: (2, 2), 3: (2, 2), 7: (2, 2)})
    js = [{"train": ["person_0001", "person_0007"], "test": ["person_0002", "person_0003"]}] * 10
    path = str(tmp_path / "splits.json")
    with open(path, "w") as f:
        json.dump(js, f)
    out = str(tmp_path / "p.h5")
    convert_prid2011(str(tmp_path), out, splits_json=path, **QUIET)
    with ReIDDataset(out) as ds:
        assert ds.split(3)[0].tolist() == [1, 7] and ds.split(3)[1].tolist() == [2, 3]


@pytest.mark.parametrize("mutate, fragment", [
    (lambda js: js[:9], "list of 10"),
    (lambda js: [{"train": ["person_0001", "person_0099"], "test": ["person_0002", "person_0003"]}] * 10,
     "unknown person"),
    (lambda js: [{"train": ["person_0001"], "test": ["person_0002", "person_0003"]}] * 10, "covers"),
])
def test_bad_json_splits(tmp_path, mutate, fragment):
    prid_tree(str(tmp_path), {1: (2, 2), 2: (2, 2), 3: (2, 2), 7: (2, 2)})
    js = [{"train": ["person_0001", "person_0007"], "test": ["person_0002", "person_0003"]}] * 10
    path = str(tmp_path / "splits.json")
    with open(path, "w") as f:
        json.dump(mutate(js), f)
    with pytest.raises(UserError, match=fragment) as err:
        convert_prid2011(str(tmp_path), str(tmp_path / "p.h5"), splits_json=path, **QUIET)
    assert path in str(err.value)
    assert not os.path.exists(tmp_path / "p.h5")


@pytest.mark.parametrize("ls_set, fragment", [
    (np.array([[1, 2, 3, 5]] * 10), "unknown people"),
    (np.array([[1, 2, 3]] * 10), "shape"),
    (np.array([[1, 2, 3, 4]] * 8), "shape"),
])
def test_bad_mat_splits(tmp_path, ls_set, fragment):
    import scipy.io
    ilids_tree(str(tmp_path))
    mat = str(tmp_path / "splits.mat")
    scipy.io.savemat(mat, {"ls_set": ls_set})
    with pytest.raises(UserError, match=fragment) as err:
        convert_ilidsvid(str(tmp_path), str(tmp_path / "i.h5"), splits_mat=mat, **QUIET)
    assert mat in str(err.value)


# ---------------------------------------------------------------------------------------------
# PRID protocols

def test_prid_protocols_and_one_camera_people(tmp_path):
    lengths = {1: (30, 25), 2: (22, 40), 3: (21, 50), 4: (40, 5), 5: (23, 23)}
    prid_tree(str(tmp_path), lengths, extra_b=(201, 202, 203))
    s200 = convert_prid2011(str(tmp_path), str(tmp_path / "a.h5"), protocol="200", **QUIET)
    assert s200["people"] == 5 and s200["skipped"] == {"person in cam_b only (not a pair)": 3}
    s178 = convert_prid2011(str(tmp_path), str(tmp_path / "b.h5"), protocol="178", **QUIET)
    keep = sorted(p for p, (a, b) in lengths.items() if min(a, b) > 21)
    with ReIDDataset(str(tmp_path / "b.h5")) as ds:
        assert ds.persons.tolist() == keep and ds.protocol == "prid2011-178"
    assert sum(v for k, v in s178["skipped"].items() if "178" in k) == len(lengths) - len(keep)


# ---------------------------------------------------------------------------------------------
# bad input

def _expect_error(tmp_path, fragment, convert=convert_ilidsvid, **kw):
    out = str(tmp_path / "bad.h5")
    with pytest.raises(UserError) as err:
        convert(str(tmp_path), out, **QUIET, **kw)
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg
    assert not os.path.exists(out)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".bad.h5")]   # no temp left
    return msg


def test_missing_camera_folder(tmp_path):
    base = ilids_tree(str(tmp_path))
    import shutil
    shutil.rmtree(os.path.join(base, "cam2"))
    _expect_error(tmp_path, os.path.join(base, "cam2"))


def test_person_in_one_camera_only_ilidsvid(tmp_path):
    base = ilids_tree(str(tmp_path))
    import shutil
    shutil.rmtree(seq_dir(base, "cam2", 4))
    _expect_error(tmp_path, seq_dir(base, "cam1", 4))


def test_empty_sequence_folder(tmp_path):
    base = ilids_tree(str(tmp_path))
    d = seq_dir(base, "cam2", 5)
    for n in os.listdir(d):
        os.remove(os.path.join(d, n))
    _expect_error(tmp_path, d)


def test_not_an_image_and_truncated_image(tmp_path):
    base = ilids_tree(str(tmp_path))
    bad = os.path.join(seq_dir(base, "cam1", 2), "cam1_person002_00999.png")
    with open(bad, "w") as f:
        f.write("not a png")
    _expect_error(tmp_path, bad)
    good = os.path.join(seq_dir(base, "cam2", 5), "cam2_person005_00301.png")
    os.remove(bad)
    data = open(good, "rb").read()
    with open(good, "wb") as f:
        f.write(data[:len(data) // 2])
    _expect_error(tmp_path, good)


def test_non_image_files_are_skipped_and_counted(tmp_path):
    base = ilids_tree(str(tmp_path))
    for name in ("Thumbs.db", "notes.txt"):
        open(os.path.join(seq_dir(base, "cam1", 1), name), "w").close()
    s = convert_ilidsvid(str(tmp_path), str(tmp_path / "ok.h5"), **QUIET)
    assert s["skipped"] == {"non-image file in a sequence folder": 2} and s["frames"] == 24


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grayscale_and_rgba_frames(tmp_path, mode):
    base = ilids_tree(str(tmp_path))
    path = os.path.join(seq_dir(base, "cam1", 2), "cam1_person002_00301.png")
    colour_frame(77, mode=mode).save(path)
    msg = _expect_error(tmp_path, path)
    assert mode in msg and "--convert-modes" in msg
    s = convert_ilidsvid(str(tmp_path), str(tmp_path / "ok.h5"), convert_modes=True, **QUIET)
    assert s["skipped"] == {"frames converted from mode %s to RGB" % mode: 1}


def test_unexpected_image_size(tmp_path):
    base = ilids_tree(str(tmp_path))
    path = os.path.join(seq_dir(base, "cam2", 1), "cam2_person001_00300.png")
    colour_frame(10, size=(100, 50)).save(path)
    msg = _expect_error(tmp_path, path)
    assert "50x100" in msg
    convert_ilidsvid(str(tmp_path), str(tmp_path / "ok.h5"), any_size=True, **QUIET)
    with ReIDDataset(str(tmp_path / "ok.h5")) as ds:
        assert ds.frames(ds.sequence_index(1, 2)).shape[1:] == (176, 66, 3)


def test_failed_run_keeps_the_previous_output(tmp_path):
    base = ilids_tree(str(tmp_path))
    out = str(tmp_path / "bad.h5")
    convert_ilidsvid(str(tmp_path), out, **QUIET)
    before = open(out, "rb").read()
    with open(os.path.join(seq_dir(base, "cam2", 5), "cam2_person005_00302.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(UserError):
        convert_ilidsvid(str(tmp_path), out, **QUIET)
    assert open(out, "rb").read() == before


def test_second_run_gives_the_same_file(tmp_path, monkeypatch):
    ilids_tree(str(tmp_path))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a, b = str(tmp_path / "a.h5"), str(tmp_path / "b.h5")
    convert_ilidsvid(str(tmp_path), a, seed=3, **QUIET)
    convert_ilidsvid(str(tmp_path), b, seed=3, **QUIET)
    assert open(a, "rb").read() == open(b, "rb").read()
    convert_ilidsvid(str(tmp_path), b, seed=4, **QUIET)       # the check can fail
    assert open(a, "rb").read() != open(b, "rb").read()


def test_cli_reports_one_line_and_exit_2(tmp_path, capsys):
    rc = data_prep_main(["ilidsvid", "--root", str(tmp_path / "nowhere"), "--out",
                         str(tmp_path / "x.h5")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "nowhere" in err


def test_cli_converts_and_summarises(tmp_path, capsys):
    prid_tree(str(tmp_path), {1: (3, 4), 2: (2, 2)}, extra_b=(9,))
    rc = data_prep_main(["prid2011", "--root", str(tmp_path), "--out", str(tmp_path / "p.h5"),
                         "--quiet", "--allow-incomplete"])
    out = capsys.readouterr().out
    assert rc == 0 and "2 people, 4 sequences, 11 frames" in out and "cam_b only" in out


# ---------------------------------------------------------------------------------------------
# more bad input: which camera folder is missing, frame names, splits files, the output path

@pytest.mark.parametrize("layout, cam", [("ilids", "cam1"), ("ilids", "cam2"),
                                         ("prid", "cam_a"), ("prid", "cam_b")])
def test_missing_camera_folder_is_named_under_the_real_tree(tmp_path, layout, cam):
    import shutil
    if layout == "ilids":
        base, convert = ilids_tree(str(tmp_path)), convert_ilidsvid
    else:
        base, convert = prid_tree(str(tmp_path), {1: (2, 2), 2: (2, 2)}), convert_prid2011
    shutil.rmtree(os.path.join(base, cam))
    msg = _expect_error(tmp_path, os.path.join(base, cam) + ":", convert=convert)
    assert "camera folder missing" in msg


def test_no_camera_folder_at_all_names_the_expected_layout(tmp_path):
    os.makedirs(str(tmp_path / "i-LIDS-VID" / "sequences"))
    msg = _expect_error(tmp_path, os.path.join(str(tmp_path), "i-LIDS-VID", "sequences", "cam1"))
    assert "iLIDS-VID" in msg


def test_person_in_one_camera_only_names_the_count(tmp_path):
    import shutil
    base = ilids_tree(str(tmp_path))
    shutil.rmtree(seq_dir(base, "cam2", 4))
    shutil.rmtree(seq_dir(base, "cam1", 5))
    msg = _expect_error(tmp_path, seq_dir(base, "cam1", 4))
    assert "2 such people" in msg


def test_two_frames_with_the_same_number_and_a_name_without_digits(tmp_path):
    base = ilids_tree(str(tmp_path))
    d = seq_dir(base, "cam1", 2)
    dup = os.path.join(d, "cam1_person002_301.png")          # 301 == 00301
    colour_frame(3).save(dup)
    msg = _expect_error(tmp_path, dup)
    assert "same number 301" in msg and "cam1_person002_00301.png" in msg
    os.remove(dup)
    nodigit = os.path.join(d, "frame.png")
    colour_frame(3).save(nodigit)
    assert "frame number" in _expect_error(tmp_path, nodigit)


def test_palette_frames_are_refused_or_converted(tmp_path):
    base = ilids_tree(str(tmp_path))
    path = os.path.join(seq_dir(base, "cam2", 2), "cam2_person002_00300.png")
    colour_frame(90, mode="P").save(path)
    assert "mode P" in _expect_error(tmp_path, path)
    s = convert_ilidsvid(str(tmp_path), str(tmp_path / "ok.h5"), convert_modes=True, **QUIET)
    assert s["skipped"] == {"frames converted from mode P to RGB": 1}


def test_missing_and_malformed_splits_files(tmp_path):
    import scipy.io
    ilids_tree(str(tmp_path))
    missing = str(tmp_path / "none.mat")
    assert missing in _expect_error(tmp_path, "not found", splits_mat=missing)
    js = str(tmp_path / "s.json")
    with open(js, "w") as f:
        f.write("[{")
    assert js in _expect_error(tmp_path, "JSON", splits_json=js)
    rep = str(tmp_path / "rep.mat")                             # a person twice in a row
    scipy.io.savemat(rep, {"ls_set": np.array([[1, 1, 2, 3]] * 10)})
    assert rep in _expect_error(tmp_path, "repeats a person", splits_mat=rep)
    other = str(tmp_path / "other.mat")                         # no ls_set variable
    scipy.io.savemat(other, {"something": np.zeros((10, 4))})
    assert other in _expect_error(tmp_path, "ls_set", splits_mat=other)


@pytest.mark.parametrize("trials, fragment", [
    ([{"train": ["person001", "person002"], "test": ["person002", "person004"]}] * 10,
     "both train and test"),
    ([{"train": ["person001", "person002"], "test": ["person004", "person005"]}] * 9
     + [{"train": ["person001"], "test": ["person002", "person004", "person005"]}],
     "differ in their train/test counts"),
    ({"train": [], "test": []}, "list of 10"),
])
def test_json_splits_with_inconsistent_trials(tmp_path, trials, fragment):
    ilids_tree(str(tmp_path))
    js = str(tmp_path / "s.json")
    with open(js, "w") as f:
        json.dump(trials, f)
    assert js in _expect_error(tmp_path, fragment, splits_json=js)


def test_json_splits_accept_integer_person_ids(tmp_path):
    ilids_tree(str(tmp_path))
    js = str(tmp_path / "s.json")
    with open(js, "w") as f:
        json.dump([{"train": [5, 1], "test": ["person002", 4]}] * 10, f)
    convert_ilidsvid(str(tmp_path), str(tmp_path / "ok.h5"), splits_json=js, **QUIET)
    with ReIDDataset(str(tmp_path / "ok.h5")) as ds:
        assert ds.split(0)[0].tolist() == [1, 5] and ds.split(0)[1].tolist() == [2, 4]
        assert ds.split_source == "json: %s" % js


def test_matlab_v73_splits_file(tmp_path):
    """A MATLAB v7.3 file is HDF5 behind a 512-byte header; MATLAB stores arrays transposed."""
    ilids_tree(str(tmp_path))
    mat = str(tmp_path / "v73.mat")
    ls_set = np.array([[2, 4, 1, 3]] * 10, dtype=np.float64)    # test {2, 5}, train {1, 4}
    with h5py.File(mat, "w", userblock_size=512) as f:
        f.create_dataset("ls_set", data=ls_set.T)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(mat, "r+b") as f:
        f.write(header)
    convert_ilidsvid(str(tmp_path), str(tmp_path / "ok.h5"), splits_mat=mat, **QUIET)
    with ReIDDataset(str(tmp_path / "ok.h5")) as ds:
        assert ds.split(4)[0].tolist() == [1, 4] and ds.split(4)[1].tolist() == [2, 5]


def test_interrupted_conversion_leaves_no_file(tmp_path, monkeypatch):
    ilids_tree(str(tmp_path))
    real = images.load_rgb
    calls = []

    def interrupt_later(*a, **kw):
        calls.append(1)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr("rcnreid.data.writer.load_rgb", interrupt_later)
    with pytest.raises(KeyboardInterrupt):
        convert_ilidsvid(str(tmp_path), str(tmp_path / "out.h5"), **QUIET)
    assert len(calls) == 10
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".h5")]


def test_output_path_problems_are_one_line_errors(tmp_path, capsys):
    ilids_tree(str(tmp_path))
    folder = tmp_path / "adir"
    folder.mkdir()
    rc = data_prep_main(["ilidsvid", "--root", str(tmp_path), "--out", str(folder), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and str(folder) in err and "is a folder" in err
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    rc = data_prep_main(["ilidsvid", "--root", str(tmp_path), "--out",
                         str(blocker / "sub" / "x.h5"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "not a folder" in err


def test_output_file_gets_normal_permissions(tmp_path):
    ilids_tree(str(tmp_path))
    mask = os.umask(0o022)
    try:
        convert_ilidsvid(str(tmp_path), str(tmp_path / "ok.h5"), **QUIET)
    finally:
        os.umask(mask)
    assert os.stat(str(tmp_path / "ok.h5")).st_mode & 0o777 == 0o644


def test_schema_of_the_written_file(tmp_path):
    prid_tree(str(tmp_path), {1: (3, 2), 4: (2, 5)})
    out = str(tmp_path / "p.h5")
    convert_prid2011(str(tmp_path), out, seed=7, **QUIET)
    with h5py.File(out, "r") as f:
        fr = f["frames"]
        assert fr.dtype == np.uint8 and fr.shape == (12, 176, 66, 3)
        assert fr.chunks[1:] == (176, 66, 3) and fr.compression == "gzip" and fr.shuffle
        seq = f["sequences"][()]
        assert seq["person"].tolist() == [1, 1, 4, 4] and seq["camera"].tolist() == [1, 2, 1, 2]
        assert seq["start"].tolist() == [0, 3, 5, 7] and seq["length"].tolist() == [3, 2, 2, 5]
        assert [v.decode() for v in seq["folder"]] == ["cam_a/person_0001", "cam_b/person_0001",
                                                       "cam_a/person_0004", "cam_b/person_0004"]
        assert f["splits/train"].shape == (10, 1) and f["splits/test"].shape == (10, 1)
        assert f["splits"].attrs["source_kind"] == "seed"
        assert f["splits"].attrs["source"] == "seed=7"
        a = dict(f.attrs)
        assert a["dataset"] == "prid2011" and a["protocol"] == "prid2011-200"
        assert a["schema_version"] == 1 and (a["frame_height"], a["frame_width"]) == (176, 66)
        assert a["resize_method"] == "PIL bilinear" and a["created"].endswith("Z")
    # the frames of person 4, camera 2 are its 5 files in order (red = person + frame)
    with ReIDDataset(out) as ds:
        assert ds.frames(3)[:, 0, 0, 0].tolist() == [4, 5, 6, 7, 8]


def test_second_run_without_a_fixed_date_differs_only_in_the_creation_time(tmp_path,
                                                                           monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    prid_tree(str(tmp_path), {1: (3, 2), 2: (2, 4)}, extra_b=(7,))
    a, b = str(tmp_path / "a.h5"), str(tmp_path / "b.h5")
    convert_prid2011(str(tmp_path), a, **QUIET)
    convert_prid2011(str(tmp_path), b, **QUIET)

    def contents(path):
        items = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda k, o: items.__setitem__(k, o[()].tobytes()) if isinstance(
                o, h5py.Dataset) else None)
            for obj in ("/", "splits"):
                for k, v in f[obj].attrs.items():
                    if k != "created":
                        items["%s@%s" % (obj, k)] = str(v)
        return items

    ca, cb = contents(a), contents(b)
    assert set(ca) >= {"frames", "sequences", "splits/train", "splits/test", "/@dataset"}
    assert ca == cb


# ---------------------------------------------------------------------------------------------
# iLIDS-VID's official splits, found under --root (issue 16)

def _official_tree(tmp_path):
    """The dataset's own layout: i-LIDS-VID/sequences/... beside "train-test people splits/"
    with ls_set (10 x P, MATLAB doubles, 1-based into the sorted cam1 folders)."""
    import scipy.io
    ilids_tree(str(tmp_path))                  # sorted cam1 folders: person001, 002, 004, 005
    ls_set = np.array([[3, 1, 2, 4]] * 9 + [[4, 2, 1, 3]], dtype=np.float64)
    folder = tmp_path / "train-test people splits"
    folder.mkdir()
    path = folder / "train_test_splits_ilidsvid.mat"
    scipy.io.savemat(str(path), {"ls_set": ls_set})
    return str(path)


def test_official_ilidsvid_splits_are_used_by_default_and_recorded(tmp_path):
    mat = _official_tree(tmp_path)
    out = str(tmp_path / "i.h5")
    notes = []
    convert_ilidsvid(str(tmp_path), out, log=notes.append, published=None)
    with ReIDDataset(out) as ds:
        assert ds.split(0)[0].tolist() == [2, 5] and ds.split(0)[1].tolist() == [1, 4]
        assert ds.split(9)[0].tolist() == [1, 4] and ds.split(9)[1].tolist() == [2, 5]
        assert ds.split_source == "official-mat: %s" % os.path.abspath(mat)
    with h5py.File(out, "r") as f:
        assert f.attrs["split_source"] == "official" and "split_seed" not in f.attrs
    assert any("official splits" in n for n in notes)


def test_splits_random_keeps_random_splits_beside_the_official_file(tmp_path):
    _official_tree(tmp_path)
    a, b = str(tmp_path / "a.h5"), str(tmp_path / "b.h5")
    rc = data_prep_main(["ilidsvid", "--root", str(tmp_path), "--out", a, "--splits-random", "7",
                         "--quiet", "--allow-incomplete"])
    assert rc == 0
    convert_ilidsvid(str(tmp_path), b, splits_random=7, **QUIET)
    with ReIDDataset(a) as da, ReIDDataset(b) as db:
        assert da.split_source.startswith("seed")
        assert all(np.array_equal(da.split(k)[0], db.split(k)[0]) for k in range(10))
    with h5py.File(a, "r") as f:
        assert f.attrs["split_source"] == "random" and int(f.attrs["split_seed"]) == 7
    with pytest.raises(UserError, match="--splits-random"):
        convert_ilidsvid(str(tmp_path), str(tmp_path / "c.h5"), splits_random=7,
                         splits_mat="x.mat", **QUIET)


def test_without_the_official_file_splits_are_random_from_the_seed(tmp_path):
    ilids_tree(str(tmp_path))
    out = str(tmp_path / "i.h5")
    convert_ilidsvid(str(tmp_path), out, seed=5, **QUIET)
    with h5py.File(out, "r") as f:
        assert f.attrs["split_source"] == "random" and int(f.attrs["split_seed"]) == 5
