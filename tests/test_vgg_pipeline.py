"""The VGG 16 + FC-GRU row end to end with a small random network: fine-tuning on a synthetic
VIPeR (learns, resumes exactly), fc7 extraction (matches an independent numpy forward pass,
aligned with the dataset's frame rows), and the FC-GRU trained and evaluated on the features
through rcnreid.engine.train / rcnreid.evaluation.evaluate."""
import dataclasses
import json
import os

import numpy as np
import pytest

from rcnreid.errors import UserError
from tests.test_vgg_viper import make_viper_tree
from tests.test_vgg_weights import TINY, numpy_forward_nhwc, tf_layout_arrays, write_keras1_h5


def make_files(d):
    """A tiny random VGG 16 in Keras 1's layout, a 6-person synthetic VIPeR and an 8-person
    synthetic iLIDS-VID file, in folder ``d``."""
    from data_prep.synth import make_synthetic_h5
    from data_prep.viper import convert_viper
    layers = tf_layout_arrays(TINY, seed=7)
    weights = os.path.join(str(d), "tiny_vgg16.h5")
    write_keras1_h5(weights, layers)
    viper = os.path.join(str(d), "viper.h5")
    convert_viper(make_viper_tree(os.path.join(str(d), "VIPeR"), persons=6, seed=1), viper,
                  log=None)
    data = os.path.join(str(d), "synth.h5")
    make_synthetic_h5(data, layout="ilidsvid", persons=8, seed=2)
    return {"dir": d, "layers": layers, "weights": weights, "viper": viper, "data": data}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp("vgg"))


def _ft_cfg(**kw):
    """Full-batch steps on the 12 images, no augmentation: the random tiny network's fc7 is a
    poor feature, so learning is only visible without the crop / mirror noise."""
    from rcnreid.vgg.finetune import FinetuneConfig
    base = dict(epochs=20, batch_size=12, learning_rate=1e-4, lr_drop_epochs=(15,), dropout=0.0,
                frozen_blocks=3, crop_frac=1.0, mirror=False)
    base.update(kw)
    return FinetuneConfig(**base)


def measure_finetune(seed, files, out_dir):
    """Fine-tune the tiny VGG on the 6 VIPeR identities (20 full-batch epochs, seed ``seed``):
    the last epoch's loss over the first's, and the fc8 identity accuracy on the 12 images."""
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.vgg.finetune import LOG_NAME, finetune
    from rcnreid.engine.trainlog import read_log
    from rcnreid.vgg.vgg16 import VGG16, preprocess
    from rcnreid.vgg.weights import load_weights
    full = finetune(files["viper"], files["weights"], out_dir, _ft_cfg(), seed=seed,
                    log=lambda *a: None, vgg_cfg=TINY)
    rows = read_log(os.path.join(out_dir, LOG_NAME))
    tuned = load_weights(full)
    ds = ReIDDataset(files["viper"])
    images = np.stack([ds.frames(r)[0] for r in range(ds.num_sequences)])
    net = VGG16(tuned.config, params=tuned.arrays)
    pred = net.build_features("fc8")(preprocess(images, tuned.config)).argmax(axis=1)
    return dict(epochs=[r["epoch"] for r in rows], loss_ratio=rows[-1]["loss"] / rows[0]["loss"],
                accuracy=float(np.mean(pred == np.searchsorted(ds.persons, ds.person))),
                tuned=tuned)


@pytest.mark.outcome
def test_finetune_learns_identities_and_resumes_exactly(files, tmp_path):
    """Thresholds (issue 25; seeds 0-4 under the rounding settings of docs/DEVELOPING.md): loss
    ratio last/first epoch 0.31-0.48, fc8 accuracy on the 12 images 0.50-0.75 (the same to 1e-5
    under onednn-1 and corrmm-1);
    asserted ratio < 0.75 and accuracy >= 4/12, twice chance (1/6)."""
    from rcnreid.vgg.finetune import finetune
    from rcnreid.vgg.weights import load_weights
    quiet = lambda *a: None
    cfg = _ft_cfg()
    r = measure_finetune(0, files, str(tmp_path / "full"))
    tuned = r["tuned"]
    assert r["epochs"] == list(range(1, 21))
    assert r["loss_ratio"] < 0.75, r["loss_ratio"]         # it learns the 6 identities
    assert r["accuracy"] >= 4 / 12 - 1e-9, r["accuracy"]   # chance: 1/6
    base = load_weights(files["weights"], TINY)
    assert tuned.config.num_classes == 6 and tuned.meta["finetune_info"]
    np.testing.assert_array_equal(tuned.arrays["conv3_3_W"], base.arrays["conv3_3_W"])  # frozen
    assert not np.allclose(tuned.arrays["conv4_1_W"], base.arrays["conv4_1_W"])          # trained
    # interrupted after 12 epochs (before the rate drop), resumed: the same parameters as the uninterrupted run
    part = str(tmp_path / "part")
    finetune(files["viper"], files["weights"], part, cfg, seed=0, log=quiet, max_epochs=12,
             vgg_cfg=TINY)
    with pytest.raises(UserError, match="--resume"):
        finetune(files["viper"], files["weights"], part, cfg, seed=0, log=quiet, vgg_cfg=TINY)
    # resumed with the other runtime settings (checkpoint every epoch, no prefetch): accepted,
    # and the same run
    runtime = dataclasses.replace(cfg, checkpoint_every_s=0.0, prefetch=False)
    resumed = finetune(files["viper"], files["weights"], part, runtime, seed=0, log=quiet,
                       resume=True, vgg_cfg=TINY)
    again = load_weights(resumed)
    for name in tuned.arrays:
        np.testing.assert_allclose(again.arrays[name], tuned.arrays[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    with pytest.raises(UserError, match="another fine-tuning configuration"):
        finetune(files["viper"], files["weights"], part, dataclasses.replace(cfg, epochs=7),
                 seed=0, log=quiet, resume=True, vgg_cfg=TINY)
    with pytest.raises(UserError, match="--fc6-mode"):        # another network geometry
        finetune(files["viper"], files["weights"], part, cfg, seed=0, log=quiet, resume=True,
                 vgg_cfg=TINY, fc6_mode="conv_avg")
    # bad inputs are reported before the run folder is created
    never = tmp_path / "never"
    with pytest.raises(UserError, match="weights file not found"):
        finetune(files["viper"], str(tmp_path / "missing.h5"), str(never), cfg, log=quiet)
    with pytest.raises(UserError, match="dataset file not found"):
        finetune(str(tmp_path / "missing_viper.h5"), files["weights"], str(never), cfg,
                 log=quiet)
    assert not never.exists()


def test_vgg_graphs_are_float32_only():
    """No float64 variable anywhere in the fc7 extractor or the fine-tuning step (GPU-clean):
    Theano's warn_float64=raise turns any float64 node into an exception."""
    from rcnreid.vgg.finetune import ClassifierTrainer
    from rcnreid.backend.theano_env import theano, T
    from rcnreid.vgg.vgg16 import VGG16
    with theano.config.change_flags(warn_float64="raise"):
        for mode in ("resize", "conv_avg"):
            net = VGG16(TINY.replace(fc6_mode=mode), seed=1)
            x = T.tensor4("x")
            outs = net.graph(x)
            assert all(v.dtype == "float32" for v in outs.values())
        trainer = ClassifierTrainer(net, _ft_cfg(dropout=0.5), seed=0)
        loss, acc = trainer.step(np.zeros((2, 3, 64, 32), np.float32), [0, 1], 1e-4)
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0


def test_fc7_extraction_matches_numpy_and_the_frame_rows(files):
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.data.features import FrameFeatures
    from rcnreid.vgg.fc7 import extract_fc7
    from rcnreid.vgg.vgg16 import preprocess
    out = str(files["dir"] / "synth.fc7.h5")
    extract_fc7(files["data"], files["weights"], out, vgg_cfg=TINY, batch=16, log=None)
    ff = FrameFeatures(out)
    ds = ReIDDataset(files["data"])
    n = int((ds.start + ds.length).max())
    assert ff.features.shape == (n, 12) and ff.mirror.shape == (n, 12)
    for row in (0, ds.num_sequences - 1):
        frames = ds.frames(row)[:5]
        s = int(ds.start[row])
        for flip, stored in ((False, ff.features), (True, ff.mirror)):
            x = preprocess(frames, TINY, mirror=flip).transpose(0, 2, 3, 1)
            ref = numpy_forward_nhwc(files["layers"], x, "fc7")
            np.testing.assert_allclose(stored[s:s + 5], ref, rtol=1e-3,
                                       atol=1e-3 * np.abs(ref).max())
    assert not np.allclose(ff.features, ff.mirror)


def test_fcgru_trains_and_evaluates_on_fc7_features(files, tmp_path):
    from rcnreid.configs.registry import get_config
    from rcnreid.data.reader import ReIDDataset
    from rcnreid.evaluation.evaluate import evaluate
    from rcnreid.data.features import FeatureInputs, default_features_path, make_feature_inputs
    from rcnreid.vgg.fc7 import extract_fc7
    feat = default_features_path(files["data"])
    if not os.path.isfile(feat):
        extract_fc7(files["data"], files["weights"], feat, vgg_cfg=TINY, log=None)
    ds = ReIDDataset(files["data"])
    cfg = get_config("fc_gru", "test")
    assert cfg.model.kind == "fcgru" and cfg.model.fc_input_dim == 12
    inputs = make_feature_inputs(ds, cfg)
    rng = np.random.RandomState(0)
    xb = inputs.train_batch([0, 3], 4, rng)
    assert xb.shape == (4, 2, 12) and xb.dtype == np.float32
    # the ordinary command lines: a kind="fcgru" config reads the fc7 file beside the dataset
    from rcnreid.cli import main
    run = str(tmp_path / "run")
    assert main(["train", "--data", files["data"], "--trial", "0", "--config", "fc_gru",
                 "--profile", "test", "--out", run]) == 0
    final = os.path.join(run, "checkpoint-final.h5")
    out = str(tmp_path / "res.json")
    assert main(["evaluate", "--data", files["data"], "--model", final, "--trial", "0",
                 "--out", out]) == 0
    with open(out) as f:
        res = json.load(f)
    # the Python entry point with explicit inputs gives the same CMC
    assert evaluate(files["data"], final, 0, log=None, inputs=inputs)["cmc"] == res["cmc"]
    cmc = np.asarray(res["cmc"])
    n_test = len(ds.split(0)[1])
    assert len(cmc) == 20 and np.all(np.diff(cmc) >= 0) and cmc[n_test - 1] == 1.0
    # features of another dataset, or of another dimension, are refused
    with pytest.raises(UserError, match="fc_input_dim=4096"):
        make_feature_inputs(ds, get_config("fc_gru", "paper"))
    other = str(tmp_path / "other.h5")
    from data_prep.synth import make_synthetic_h5
    make_synthetic_h5(other, layout="ilidsvid", persons=4, seed=5)
    with pytest.raises(UserError, match="do not match"):
        FeatureInputs(ReIDDataset(other), feat)


def test_run_vgg_trial_and_commands(files, tmp_path, monkeypatch):
    """Table 2's entry point: ImageNet weights -> fine-tune on VIPeR -> fc7 -> FC-GRU -> CMC."""
    from rcnreid.cli import main
    from experiments.trials import run_vgg_trial
    from rcnreid.vgg.finetune import FINETUNE_PROFILES
    from rcnreid.vgg.weights import save_npz, load_weights
    # a weights file carrying its own (small) configuration, as a converted file would
    w = str(tmp_path / "tiny.npz")
    save_npz(w, load_weights(files["weights"], TINY).arrays, TINY)
    monkeypatch.delenv("VIPER_H5", raising=False)
    with pytest.raises(UserError, match="VIPER_H5"):
        run_vgg_trial(files["data"], 0, w, profile="test", out_dir=str(tmp_path / "t0"))
    monkeypatch.setenv("VIPER_H5", files["viper"])
    monkeypatch.setitem(FINETUNE_PROFILES, "test",
                        _ft_cfg(epochs=1, batch_size=5, crop_frac=0.9, mirror=True))
    res = run_vgg_trial(files["data"], 0, w, profile="test", seed=0, log=None,
                        out_dir=str(tmp_path / "runs" / "fc_gru" / "trial0"))
    assert len(res["cmc"]) == 20 and os.path.isfile(res["features"])
    assert res["weights"].endswith("vgg16-finetuned.npz")
    # the commands: extract-fc7 with the fine-tuned weights, and a bad weights file
    out = str(tmp_path / "cli.fc7.h5")
    assert main(["extract-fc7", "--data", files["data"], "--weights", res["weights"],
                 "--out", out, "--no-mirror"]) == 0
    from rcnreid.data.features import FrameFeatures
    assert FrameFeatures(out).mirror is None
    assert main(["extract-fc7", "--data", files["data"], "--weights",
                 str(tmp_path / "nope.h5")]) == 2


def test_table2_vgg_row_runs_with_a_weights_file(files, tmp_path, monkeypatch):
    """`make table2 VGG16_WEIGHTS=... VIPER_H5=...`: the row runs on both datasets, VGG-16 is
    fine-tuned once for both, and without VIPER_H5 the row is shown as not run with the reason."""
    from experiments.cli import main as table_main
    from experiments.table2 import ROWS
    from rcnreid.vgg.finetune import FINETUNE_PROFILES
    from rcnreid.vgg.weights import load_weights, save_npz
    w = str(tmp_path / "tiny.npz")
    save_npz(w, load_weights(files["weights"], TINY).arrays, TINY)
    monkeypatch.setitem(FINETUNE_PROFILES, "test", _ft_cfg(epochs=1, batch_size=6))
    res = str(tmp_path / "results")
    argv = ["--data", "synthetic", "--profile", "test", "--trials", "1", "--results", res,
            "--row", "VGG 16 + FC-GRU", "--vgg16-weights", w]
    monkeypatch.delenv("VIPER_H5", raising=False)
    assert table_main("table2", ROWS, argv) == 0
    with open(os.path.join(res, "table2.json")) as f:
        cell = [r for r in json.load(f)["rows"] if r["name"] == "VGG 16 + FC-GRU"][0]["ours"]
    assert all(cell[d]["status"] == "not run" and "VIPER_H5" in cell[d]["reason"]
               for d in ("ilidsvid", "prid2011"))
    monkeypatch.setenv("VIPER_H5", files["viper"])
    assert table_main("table2", ROWS, argv) == 0
    with open(os.path.join(res, "table2.json")) as f:
        cell = [r for r in json.load(f)["rows"] if r["name"] == "VGG 16 + FC-GRU"][0]["ours"]
    for d in ("ilidsvid", "prid2011"):
        assert cell[d]["status"] != "not run", cell[d]
        assert cell[d]["trials_done"] == [0] and len(cell[d]["mean_cmc"]) == 20
    shared = os.path.join(res, "runs", "synthetic-test", "vgg16_finetune")
    tuned = [n for n in os.listdir(shared) if n.endswith(".npz")]
    assert tuned == ["vgg16-finetuned.npz"]                   # one fine-tuning for both datasets
    assert sorted(n for n in os.listdir(shared) if n.endswith(".fc7.h5")) == [
        "synthetic-ilidsvid-8.fc7.h5", "synthetic-prid2011-8.fc7.h5"]
