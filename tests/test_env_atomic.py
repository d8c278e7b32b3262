"""Outputs are written atomically: a failure never leaves a half-written file."""
import os

import pytest

from rcnreid.store.atomic import atomic_path, write_json


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


def test_atomic_output_gets_umask_permissions_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "a.json").st_mode & 0o777) == 0o644


def test_atomic_path_onto_a_folder_is_a_user_error(tmp_path):
    from rcnreid.errors import UserError
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        with atomic_path(tmp_path / "d"):
            pass
    assert os.listdir(tmp_path) == ["d"]
