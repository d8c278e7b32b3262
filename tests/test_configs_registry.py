"""The one registry of named configurations (rcnreid.configs.registry) and its ``--set`` overrides,
as training, the benchmark and the experiments read them (no Theano graph is compiled here)."""
import json
import subprocess
import sys

import pytest

from rcnreid.configs import registry as configs
from rcnreid.configs.registry import (PROFILES, apply_overrides, get_config, parse_override,
                                      profile_of)
from rcnreid.errors import UserError


def test_names_users_know_resolve_to_one_registry():
    assert get_config("tiny") == get_config("deep_rcn", "test")
    assert get_config("cpu").model.hidden_channels == (16, 32, 32)
    assert get_config("cpu_rcn_ind").model == get_config("rcn_ind", "cpu").model
    assert get_config("cpu_rcn_ind").model.stacked is False
    assert profile_of("tiny") is PROFILES["test"]
    assert profile_of("quick_rcn_ind") is PROFILES["quick"]
    assert profile_of("deep_rcn", "cpu") is PROFILES["cpu"]
    # Table 1's encoder readings are rows of the registry too
    assert get_config("deep_rcn_table1_exact").model.encoder_kernel == 4
    assert get_config("deep_rcn_table1_valid").model.conv_padding == "valid"


def test_parse_override_reads_json_literals_else_strings():
    assert parse_override("train.optim.learning_rate=0.01") == (
        ("train", "optim", "learning_rate"), 0.01)
    assert parse_override("model.temporal_pooling=max") == (("model", "temporal_pooling"), "max")
    assert parse_override("model.stacked=false") == (("model", "stacked"), False)
    assert parse_override("model.hidden_channels=[8, 8, 8]") == (
        ("model", "hidden_channels"), [8, 8, 8])
    assert parse_override("train.eval_max_len=null") == (("train", "eval_max_len"), None)
    for bad in ("nothing", "=3", "train..epochs=3"):
        with pytest.raises(UserError, match="SECTION.FIELD=VALUE"):
            parse_override(bad)


def test_overrides_change_exactly_the_named_fields():
    base = get_config("quick_rcn_ind")
    cfg = apply_overrides(base, ["train.optim.learning_rate=0.05", "model.hidden_channels=[4,4,4]",
                                 "train.epochs=7", "model.stacked=true"])
    assert cfg.train.optim.learning_rate == 0.05 and cfg.train.epochs == 7
    assert cfg.model.hidden_channels == (4, 4, 4) and cfg.model.stacked is True
    d0, d1 = base.to_dict(), cfg.to_dict()
    changed = {(s, k) for s in ("model", "train") for k in d0[s] if d0[s][k] != d1[s][k]}
    assert changed == {("model", "hidden_channels"), ("model", "stacked"), ("train", "epochs"),
                       ("train", "optim")}
    assert get_config("quick_rcn_ind", overrides=[(("train", "epochs"), 7)]).train.epochs == 7
    assert apply_overrides(base, ()) is base


@pytest.mark.parametrize("bad, words", [
    ("train.nope=1", "train has no field 'nope'"),
    ("nope.x=1", "has no field 'nope'"),
    ("train.optim=3", "section"),
    ("train.epochs=abc", "train.epochs holds"),
    ("train.epochs=2.5", "train.epochs holds"),
    ("model.stacked=1", "model.stacked holds"),
    ("model.temporal_pooling=maxx", "temporal_pooling"),
    ("train.batch_pairs=0", "batch_pairs"),
])
def test_bad_overrides_are_one_line_user_errors(bad, words):
    with pytest.raises(UserError, match="--set") as exc:
        get_config("tiny", overrides=[bad])
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_train_command_records_set_and_reading_in_the_config(monkeypatch, tmp_path):
    from rcnreid import cli
    import rcnreid.engine.train as trainlib
    seen = {}

    def fake_train(data, trial, cfg, out, **kw):
        seen["cfg"] = cfg
        trainlib.write_json(str(tmp_path / "config.json"), cfg.to_dict())
        return "x"
    monkeypatch.setattr(trainlib, "train", fake_train)
    assert cli.main(["train", "--data", "d.h5", "--config", "tiny", "--out", str(tmp_path),
                     "--set", "train.optim.learning_rate=0.02", "--set", "model.stacked=false",
                     "--reading", "literal"]) == 0
    written = json.load(open(tmp_path / "config.json"))
    assert written["train"]["optim"]["learning_rate"] == 0.02
    assert written["model"]["stacked"] is False
    assert written["name"].endswith("+literal") and written["model"]["init"] == "uniform1"
    # a config.json written by a run, with one more override on top
    cfg = configs.load_config(str(tmp_path / "config.json"), overrides=["train.epochs=9"])
    assert cfg.train.epochs == 9 and cfg.train.optim.learning_rate == 0.02


def test_train_command_bad_set_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "rcnreid", "train", "--data", "d.h5", "--config",
                          "tiny", "--out", str(tmp_path / "run"), "--set", "train.optim.lr=1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "learning_rate" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
