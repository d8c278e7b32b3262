"""One command line: every command goes through the ``rcnreid`` dispatcher (rcnreid.cli), which
discovers rcnreid/commands/ and the entry-point group ``rcnreid.commands`` (how ``rcnreid
prepare``, defined in data_prep, joins it without the library importing data_prep); the old
spellings (``python -m data_prep``, ``python -m rcnreid.bench``,
``scripts/convert_vgg_weights.py``) are aliases of the same commands."""
import os
import subprocess
import sys

import pytest

from rcnreid.cli import ENTRY_POINT_GROUP, build_parser, main

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _commands():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return set(sub.choices)


def test_every_entry_point_style_is_a_sub_command():
    from importlib.metadata import entry_points
    assert {"prepare", "bench", "convert-vgg-weights", "rank", "train"} <= _commands()
    eps = {e.name: e.value for e in entry_points(group=ENTRY_POINT_GROUP)}
    assert eps.get("prepare") == "data_prep.command"


def test_prepare_runs_the_converters_through_the_one_dispatcher(tmp_path, capsys):
    from data_prep.__main__ import main as old_spelling
    raw = str(tmp_path / "raw")
    assert main(["prepare", "synth", "--layout", "prid2011", "--out", raw, "--persons", "3",
                 "--min-len", "4", "--max-len", "5"]) == 0
    assert os.path.isdir(os.path.join(raw, "prid_2011", "multi_shot", "cam_a"))
    out = str(tmp_path / "p.h5")
    # a 3-person tree is not the published dataset: refused in one line, converted on request
    assert old_spelling(["prid2011", "--root", raw, "--out", out]) == 2
    assert "--allow-incomplete" in capsys.readouterr().err and not os.path.exists(out)
    assert old_spelling(["prid2011", "--root", raw, "--out", out, "--allow-incomplete"]) == 0
    from rcnreid.data.reader import ReIDDataset
    with ReIDDataset(out) as ds:
        assert ds.num_sequences == 6 and ds.copy_check == "incomplete"
    capsys.readouterr()
    # a user error is one line with the one prefix, whichever spelling was used
    assert old_spelling(["ilidsvid", "--root", str(tmp_path / "nowhere"),
                         "--out", str(tmp_path / "i.h5")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rcnreid: error:") and err.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["prepare", "no-such-converter"])


def test_old_spellings_run_as_scripts():
    """``python -m data_prep`` and ``python -m rcnreid.bench`` from another folder, and
    ``python -m experiments.table2 --help`` from the checkout (no sys.path edits needed)."""
    for args, cwd in ((["-m", "data_prep", "--help"], "/"),
                      (["-m", "rcnreid.bench", "--help"], "/"),
                      (["-m", "experiments.table2", "--help"], HERE)):
        r = subprocess.run([sys.executable] + args, capture_output=True, text=True, cwd=cwd,
                           timeout=300)
        assert r.returncode == 0 and "usage:" in r.stdout, (args, r.stderr[-500:])
