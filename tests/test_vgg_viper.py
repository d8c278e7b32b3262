"""``python -m data_prep viper`` on a synthetic VIPeR tree: contents, splits and errors."""
import os

import numpy as np
import pytest
from PIL import Image

from rcnreid.errors import UserError

COLOURS = [(220, 30, 30), (30, 200, 40), (40, 40, 220), (230, 220, 30), (200, 40, 210),
           (30, 210, 220), (120, 120, 120), (250, 150, 60)]


def viper_image(person, camera, rng):
    """A 48x128 (WxH) picture: the person's colour as torso, legs darker, camera-dependent
    brightness and noise."""
    img = np.zeros((128, 48, 3), np.float32)
    c = np.array(COLOURS[person % len(COLOURS)], np.float32)
    light = 1.0 if camera == 1 else 0.8
    img[20:70, 10:38] = c * light
    img[70:120, 14:34] = c * 0.5 * light
    img += rng.normal(0, 5, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_viper_tree(root, persons=6, seed=0, skip=()):
    """cam_a/NNN_0.bmp and cam_b/NNN_90.bmp; ``skip`` = {(person, camera)} left out."""
    rng = np.random.RandomState(seed)
    for cam, num, angle in (("cam_a", 1, 0), ("cam_b", 2, 90)):
        os.makedirs(os.path.join(root, cam), exist_ok=True)
        for p in range(persons):
            if (p, num) in skip:
                continue
            Image.fromarray(viper_image(p, num, rng)).save(
                os.path.join(root, cam, "%03d_%d.bmp" % (p, angle)))
    with open(os.path.join(root, "cam_a", "Thumbs.db"), "w") as f:
        f.write("junk")
    return root


def test_viper_converts_to_a_readable_single_shot_dataset(tmp_path):
    from data_prep.__main__ import main
    from rcnreid.data.reader import ReIDDataset
    root = make_viper_tree(str(tmp_path / "VIPeR"), persons=6)
    out = str(tmp_path / "viper.h5")
    assert main(["viper", "--root", str(tmp_path), "--out", out, "--quiet"]) == 0
    ds = ReIDDataset(out)
    assert ds.protocol == "viper" and ds.frame_hw == (128, 48)
    assert ds.num_sequences == 12 and sorted(ds.persons) == list(range(6))
    assert np.all(ds.length == 1) and ds.num_trials == 10
    for p in range(6):
        for cam, angle, name in ((1, 0, "cam_a"), (2, 90, "cam_b")):
            row = ds.sequence_index(p, cam)
            raw = np.asarray(Image.open(os.path.join(root, name, "%03d_%d.bmp" % (p, angle))))
            np.testing.assert_array_equal(ds.frames(row)[0], raw)
    tr, te = ds.split(3)
    assert len(tr) == 3 and len(te) == 3 and not set(tr) & set(te)


def test_viper_errors_name_the_file_or_are_counted(tmp_path, capsys):
    from data_prep.__main__ import main
    from data_prep.viper import convert_viper
    out = str(tmp_path / "v.h5")
    with pytest.raises(UserError, match="cam_a: camera folder missing"):
        convert_viper(str(tmp_path), out, log=None)
    root = make_viper_tree(str(tmp_path / "one"), persons=5, skip={(4, 2)})
    with pytest.raises(UserError, match=r"004_0\.bmp: person 4 appears in cam_a only"):
        convert_viper(root, out, log=lambda *a: None)
    summary = convert_viper(root, out, allow_unpaired=True, log=lambda *a: None)
    assert summary["people"] == 4 and summary["sequences"] == 8
    assert summary["skipped"]["person in one camera only (skipped)"] == 1
    assert summary["skipped"]["non-image file in a camera folder"] == 1
    # a truncated image: one line naming it, exit status 2, no output file
    bad = str(tmp_path / "bad")
    make_viper_tree(bad, persons=3)
    path = os.path.join(bad, "cam_b", "001_90.bmp")
    with open(path, "r+b") as f:
        f.truncate(60)
    out2 = str(tmp_path / "bad.h5")
    assert main(["viper", "--root", bad, "--out", out2, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "001_90.bmp" in err and len(err.splitlines()) == 1
    assert not os.path.exists(out2)
    # a file name without the person number
    noname = str(tmp_path / "noname")
    make_viper_tree(noname, persons=2)
    Image.new("RGB", (48, 128)).save(os.path.join(noname, "cam_a", "person.bmp"))
    with pytest.raises(UserError, match=r"person\.bmp: VIPeR file names start with"):
        convert_viper(noname, out, log=None)
    # wrong size without --any-size
    odd = str(tmp_path / "odd")
    make_viper_tree(odd, persons=2)
    Image.new("RGB", (64, 128)).save(os.path.join(odd, "cam_a", "000_0.bmp"))
    with pytest.raises(UserError, match=r"000_0\.bmp: image size 64x128"):
        convert_viper(odd, out, log=None)
    assert convert_viper(odd, out, any_size=True, log=None)["people"] == 2
