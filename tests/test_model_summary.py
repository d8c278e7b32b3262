"""`rcnreid model-summary`: shapes and the Section 4.3 parameter counts."""
import json
import subprocess
import sys

import numpy as np
import pytest

from rcnreid.nn.model import build_param_arrays
from rcnreid.configs.registry import get_config
from rcnreid.nn.summary import layer_table


def _section43(k_in, k_hid, cx, ch):
    return 3 * (k_in * k_in * cx * ch + k_hid * k_hid * ch * ch)


@pytest.mark.parametrize("preset", ["deep_rcn", "deep_rcn_9x9_1x1", "rcn_ind", "cpu", "fc_gru"])
def test_counts_follow_section_4_3_and_the_arrays(preset):
    cfg = get_config(preset).model
    tab = layer_table(cfg)
    arrays = build_param_arrays(cfg, 0)
    assert tab["total_params"] == sum(a.size for a in arrays.values())
    grus = [r for r in tab["layers"] if "gru" in r["name"]]
    assert len(grus) == cfg.num_levels
    for l, r in enumerate(grus):
        ch = cfg.hidden_channels[l]
        if cfg.kind == "convgru":
            cx, kin, khid = 32, cfg.input_kernel, cfg.hidden_kernel
        else:
            cx = cfg.fc_input_dim if l == 0 else cfg.hidden_channels[l - 1]
            kin = khid = 1
        cross = 2 * cfg.cross_k ** 2 * cfg.hidden_channels[l - 1] * ch if (
            cfg.kind == "convgru" and cfg.stacked and l > 0) else 0
        assert r["params"] == _section43(kin, khid, cx, ch) + cross + 3 * ch
        assert str(_section43(kin, khid, cx, ch)) in r["note"]
        gru_arrays = sum(a.size for k, a in arrays.items()
                         if k.startswith(("gru%d_" % l, "fgru%d_" % l)))
        assert gru_arrays == r["params"]


def test_paper_model_counts():
    # 3 levels 128/256/256 on 32-channel maps, 5x5 kernels: Section 4.3's term of level 0
    tab = layer_table(get_config("deep_rcn").model)
    assert tab["layers"][6]["params"] == 3 * 25 * (32 * 128 + 128 * 128) + 3 * 128
    assert [r["out_shape"] for r in tab["layers"] if r["name"].startswith("convgru")] == \
        [[128, 80, 30], [256, 40, 15], [256, 20, 8]]


def test_cli_json_and_text():
    out = subprocess.run([sys.executable, "-m", "rcnreid", "model-summary", "--config", "rcn_ind",
                          "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["total_params"] == sum(
        a.size for a in build_param_arrays(get_config("rcn_ind").model, 0).values())
    assert {r["name"] for r in d["layers"]} >= {"conv0", "pool2", "convgru0", "convgru2"}
    txt = subprocess.run([sys.executable, "-m", "rcnreid", "model-summary", "--config", "cpu"],
                         capture_output=True, text=True, timeout=300)
    assert txt.returncode == 0 and "total parameters: %d" % layer_table(
        get_config("cpu").model)["total_params"] in txt.stdout
    bad = subprocess.run([sys.executable, "-m", "rcnreid", "model-summary", "--config", "nope"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "deep_rcn" in bad.stderr
    assert np.isfinite(d["gflop_per_sequence_T20"])
