"""Checkpoints and results written before the package layout of issue 26 still load.

tests/data/run-before-layout/ is a finished tiny run written by the code of commit 5d7f8c4
(its README says how); these tests read it with today's code.
"""
import dataclasses
import json
import os

import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "run-before-layout")
CKPT = os.path.join(HERE, "checkpoint-final.h5")
#: checksum() of the stored checkpoint when it was written (names, dtypes, shapes, bytes, attrs)
CHECKSUM = "sha256:a0087fdf3de87379a4e9cd01d2fc7ee3262a088689e978eed7a62826b12a750d"


def _json(d):
    """``d`` as JSON reads it back (tuples become lists)."""
    return json.loads(json.dumps(d, sort_keys=True))


def test_old_checkpoint_loads_with_its_contents_unchanged():
    from rcnreid.engine import checkpoint as ckptlib
    ckpt = ckptlib.load_checkpoint(CKPT)
    assert ckptlib.checksum(ckpt) == CHECKSUM
    assert ckpt.finished and ckpt.epoch == 3
    assert ckpt.attrs["trial"] == 0 and ckpt.attrs["seed"] == 0
    assert ckpt.params and all(a.dtype == np.float32 for a in ckpt.params.values())


def test_old_checkpoint_config_reads_as_todays_run_config():
    from rcnreid.engine import checkpoint as ckptlib
    from rcnreid.configs.registry import RunConfig
    ckpt = ckptlib.load_checkpoint(CKPT)
    cfg = ckpt.run_config()
    assert isinstance(cfg, RunConfig)
    # nothing lost or renamed on the way; fields added since (train.checkpoint_every_s and
    # train.prefetch, run-time settings that do not change the numbers) come at their defaults
    added = {"train": {"checkpoint_every_s": 300.0, "prefetch": True}}
    today = cfg.to_dict()
    for section, fields in added.items():
        for key, default in fields.items():
            assert key not in ckpt.config[section] and today[section].pop(key) == default
    assert _json(today) == _json(ckpt.config)
    with open(os.path.join(HERE, "config.json"), encoding="utf-8") as f:
        stored = json.load(f)
    assert RunConfig.from_dict(stored) == cfg      # the run folder's config.json too


def test_old_checkpoint_builds_the_model_with_its_parameters():
    from rcnreid.engine import checkpoint as ckptlib
    from rcnreid.engine.trained_model import load_model
    ckpt = ckptlib.load_checkpoint(CKPT)
    model = load_model(CKPT, ckpt)
    got = model.get_params()
    assert list(got) == list(ckpt.params)
    for name, a in ckpt.params.items():
        np.testing.assert_array_equal(got[name], a)
    assert _json(dataclasses.asdict(model.run_config.model)) == _json(ckpt.config["model"])


def test_old_evaluation_result_reads_as_a_table_row():
    from experiments.cache import as_percent_cmc
    with open(os.path.join(HERE, "eval-trial0.json"), encoding="utf-8") as f:
        res = json.load(f)
    cmc = as_percent_cmc(res["cmc"])
    assert cmc[0] == res["rank1"] and cmc[4] == res["rank5"]
