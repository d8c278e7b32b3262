"""Outputs are written atomically: a failure never leaves a half-written file."""
import os

import pytest

from rcnreid.atomic import atomic_path, write_json


def test_atomic_path_renames_on_success(tmp_path):
    out = tmp_path / "sub" / "result.txt"
    with atomic_path(out) as tmp:
        assert not out.exists()
        with open(tmp, "w") as f:
            f.write("done")
    assert out.read_text() == "done"
    assert os.listdir(out.parent) == ["result.txt"]


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "result.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("interrupted")
    assert out.read_text() == "old"
    assert os.listdir(tmp_path) == ["result.txt"]


def test_write_json_round_trip(tmp_path):
    import json
    write_json(tmp_path / "a.json", {"b": [1, 2]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"b": [1, 2]}
