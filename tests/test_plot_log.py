"""``rcnreid plot-log``: the drawn curves are the logs' numbers; PNG and PDF are written.

Logs are written here by hand (no training); tests/test_visrank.py checks that a real training
run draws its own curves when it ends.
"""
import json

import numpy as np
import pytest
from PIL import Image

from rcnreid.viz import training_plot as trainplot
from rcnreid.errors import UserError


def _run(folder, rows, config="tiny", trial=0):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"config_name": config, "trial": trial}))
    with open(str(folder / "train_log.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return str(folder)


def _rows(n, seed):
    rng = np.random.RandomState(seed)
    loss = np.sort(rng.rand(n))[::-1] + 0.1
    acc = np.sort(rng.rand(n))
    return [{"epoch": e + 1, "loss": float(loss[e]), "accuracy": float(acc[e]), "pairs": 8,
             "seconds": 0.1} for e in range(n)]


def test_drawn_curves_are_the_logged_numbers(tmp_path):
    a_rows, b_rows = _rows(6, 0), _rows(9, 1)
    a = _run(tmp_path / "a", a_rows[3:] + a_rows[:3], trial=0)  # out of order in the file
    b = _run(tmp_path / "b", b_rows, trial=1)
    runs = trainplot.read_runs([a, b])
    fig = trainplot.draw_training(runs)
    ax_loss, ax_acc = fig.axes[:2]
    for k, rows in enumerate((a_rows, b_rows)):
        xy = ax_loss.lines[k].get_xydata()
        assert np.allclose(xy[:, 0], [r["epoch"] for r in rows])      # sorted by epoch
        assert np.allclose(xy[:, 1], [r["loss"] for r in rows])
        xy = ax_acc.lines[k].get_xydata()
        assert np.allclose(xy[:, 1], [100 * r["accuracy"] for r in rows])
    labels = [t.get_text() for t in ax_acc.get_legend().get_texts()]
    assert labels == ["a (tiny, trial 0)", "b (tiny, trial 1)"]
    fig.clf()


def test_plot_log_command_writes_png_and_pdf(tmp_path, capsys):
    from rcnreid.cli import main
    a = _run(tmp_path / "a", _rows(5, 2))
    b = _run(tmp_path / "b", _rows(4, 3))
    assert main(["plot-log", a]) == 0                       # one run: into its folder
    assert (tmp_path / "a" / "training.png").is_file()
    assert (tmp_path / "a" / "training.pdf").read_bytes()[:5] == b"%PDF-"
    out = tmp_path / "both"
    assert main(["plot-log", a, b, "--out", str(out)]) == 0
    img = np.asarray(Image.open(str(out) + ".png").convert("RGB"))
    assert img.shape[0] > 200 and img.shape[1] > 400
    # two coloured curves (matplotlib's C0 blue and C1 orange) are on the picture
    for rgb in ((31, 119, 180), (255, 127, 14)):
        assert np.sum(np.all(np.abs(img.astype(int) - rgb) < 8, axis=2)) > 50
    assert (tmp_path / "both.pdf").is_file()
    capsys.readouterr()
    assert main(["plot-log", a, b]) == 2                    # several runs need --out
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0]
    (tmp_path / "empty").mkdir()
    assert main(["plot-log", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "train_log.jsonl" in err and "empty" in err
    assert main(["plot-log", a, "--out", str(tmp_path)]) == 2   # a folder as --out
    assert "is a folder" in capsys.readouterr().err
    (tmp_path / "notes.png").write_text("my notes")             # a user's file is kept
    assert main(["plot-log", a, "--out", str(tmp_path / "notes")]) == 2
    assert "is not a PNG image" in capsys.readouterr().err
    assert (tmp_path / "notes.png").read_text() == "my notes"
    assert not (tmp_path / "notes.pdf").exists()


def test_torn_last_line_is_ignored_and_missing_folder_named(tmp_path):
    a = _run(tmp_path / "a", _rows(3, 4))
    with open(a + "/train_log.jsonl", "a") as f:
        f.write('{"epoch": 4, "loss"')
    runs = trainplot.read_runs([a])
    assert runs[0][1]["epoch"] == [1, 2, 3]
    with pytest.raises(UserError, match="nowhere"):
        trainplot.read_runs([str(tmp_path / "nowhere")])
