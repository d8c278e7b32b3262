"""VGG-16 weights files: Keras HDF5 and .npz layouts land in the right layers (checked by an
independent numpy forward pass in TensorFlow's channels-last conventions), mismatches are refused
naming the layer, and the network's output shapes at 224x224 and at the re-id input size."""
import os

import h5py
import numpy as np
import pytest

from rcnreid.errors import UserError
from rcnreid.vgg.vgg16 import BLOCKS, VGGConfig

#: A small configuration D: widths / 16, 64x32 input (pool5 2x1), fc6/fc7 of 12.
TINY = VGGConfig(input_hw=(64, 32), width_div=16, fc_dim=12, num_classes=5)


def tf_layout_arrays(cfg, seed=0):
    """Random weights in the Keras tf layout: ``{keras group: (kernel, bias)}``; kernels are
    (kh, kw, in, out), fc1's rows follow a channels-last (H, W, C) flattening of pool5."""
    rng = np.random.RandomState(seed)
    out = {}
    c_in = 3
    for b, n, c in BLOCKS:
        c //= cfg.width_div
        for i in range(n):
            out["block%d_conv%d" % (b, i + 1)] = (
                (rng.randn(3, 3, c_in, c) * np.sqrt(2.0 / (9 * c_in))).astype(np.float32),
                (rng.randn(c) * 0.1).astype(np.float32))
            c_in = c
    gh, gw = cfg.pool5_hw
    f = cfg.fc_width
    out["fc1"] = ((rng.randn(gh * gw * c_in, f) * np.sqrt(2.0 / (gh * gw * c_in))).astype(
        np.float32), (rng.randn(f) * 0.1).astype(np.float32))
    out["fc2"] = ((rng.randn(f, f) * np.sqrt(2.0 / f)).astype(np.float32),
                  (rng.randn(f) * 0.1).astype(np.float32))
    out["predictions"] = ((rng.randn(f, cfg.num_classes) * 0.3).astype(np.float32),
                          (rng.randn(cfg.num_classes) * 0.1).astype(np.float32))
    return out


def write_keras1_h5(path, layers):
    """The layout of Keras' published vgg16_weights_tf_dim_ordering_tf_kernels.h5."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([k.encode() for k in layers])
        for name, (k, b) in layers.items():
            g = f.create_group(name)
            names = ["%s_W_1:0" % name, "%s_b_1:0" % name]
            g.attrs["weight_names"] = np.array([n.encode() for n in names])
            g.create_dataset(names[0], data=k)
            g.create_dataset(names[1], data=b)


def numpy_forward_nhwc(layers, x_nhwc, upto="fc7"):
    """VGG-16 forward pass written independently, channels-last, with tf-layout weights."""
    h = x_nhwc.astype(np.float64)
    for b, n, _ in BLOCKS:
        for i in range(n):
            k, bias = layers["block%d_conv%d" % (b, i + 1)]
            N, H, W, _ = h.shape
            p = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
            acc = np.zeros((N, H, W, k.shape[3]))
            for dy in range(3):
                for dx in range(3):
                    acc += p[:, dy:dy + H, dx:dx + W, :] @ k[dy, dx]
            h = np.maximum(acc + bias, 0)
        N, H, W, C = h.shape
        h = h[:, :H // 2 * 2, :W // 2 * 2].reshape(N, H // 2, 2, W // 2, 2, C).max(axis=(2, 4))
    h = h.reshape(h.shape[0], -1)
    for name, out in (("fc1", "fc6"), ("fc2", "fc7"), ("predictions", "fc8")):
        k, bias = layers[name]
        h = h @ k + bias
        if out != "fc8":                # fc8 is the logits, no ReLU
            h = np.maximum(h, 0)
        if out == upto:
            return h
    return h


def test_keras_h5_values_land_in_the_right_layers(tmp_path):
    from rcnreid.vgg.vgg16 import VGG16
    from rcnreid.vgg.weights import load_weights
    layers = tf_layout_arrays(TINY, seed=3)
    path = str(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    write_keras1_h5(path, layers)
    w = load_weights(path, TINY)
    assert w.layout == "tf" and w.config.num_classes == TINY.num_classes
    # biases are copied verbatim; one kernel entry checked by hand: tf [dy, dx, in, out]
    np.testing.assert_array_equal(w.arrays["conv3_2_b"], layers["block3_conv2"][1])
    k = layers["block2_conv1"][0]
    assert w.arrays["conv2_1_W"][5, 1, 0, 2] == k[0, 2, 1, 5]
    net = VGG16(w.config, params=w.params_for(w.config))
    rng = np.random.RandomState(0)
    x = rng.uniform(-100, 100, size=(2, 64, 32, 3)).astype(np.float32)
    ref7 = numpy_forward_nhwc(layers, x, "fc7")
    ref8 = numpy_forward_nhwc(layers, x, "fc8")
    from rcnreid.backend.theano_env import T, theano
    xs = T.tensor4("x")
    outs = net.graph(xs)
    f = theano.function([xs], [outs["fc7"], outs["fc8"]])
    got7, got8 = f(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    assert np.abs(ref7).max() > 0
    np.testing.assert_allclose(got7, ref7, rtol=1e-3, atol=1e-3 * np.abs(ref7).max())
    np.testing.assert_allclose(got8, ref8, rtol=1e-3, atol=1e-3 * np.abs(ref8).max())


def write_keras2_h5(path, layers, whole_model=False):
    """The layout of Keras 2's ``save_weights`` (``<layer>/<layer>/kernel:0``), or of a whole
    model saved with ``model.save`` (the same under ``model_weights/``)."""
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if whole_model else f
        root.attrs["layer_names"] = np.array([b"input_1"] + [k.encode() for k in layers])
        root.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for name, (k, b) in layers.items():
            g = root.create_group(name)
            g.attrs["weight_names"] = np.array([("%s/kernel:0" % name).encode(),
                                                ("%s/bias:0" % name).encode()])
            sub = g.create_group(name)
            sub.create_dataset("bias:0", data=b)          # stored order does not matter
            sub.create_dataset("kernel:0", data=k)


def test_keras2_and_whole_model_files_read_like_the_keras1_file(tmp_path):
    from rcnreid.vgg.weights import load_weights
    layers = tf_layout_arrays(TINY, seed=6)
    k1 = str(tmp_path / "k1.h5")
    write_keras1_h5(k1, layers)
    ref = load_weights(k1, TINY).arrays
    for whole in (False, True):
        p = str(tmp_path / ("k2_model.h5" if whole else "k2.h5"))
        write_keras2_h5(p, layers, whole_model=whole)
        got = load_weights(p, TINY)
        assert got.layout == "tf" and list(got.arrays) == list(ref)
        for name in ref:
            np.testing.assert_array_equal(got.arrays[name], ref[name], err_msg=name)
    # an .npz without one array names the layer and the array
    flat = {k: v for k, v in ref.items() if k != "conv4_2_b"}
    p = str(tmp_path / "partial.npz")
    np.savez(p, layout=np.array("rcnreid"), **flat)
    with pytest.raises(UserError, match=r"partial\.npz: layer conv4_2 \(conv4_2_b\) is missing"):
        load_weights(p, TINY)


def test_th_ordering_npz_and_roundtrip_agree_with_tf(tmp_path):
    from rcnreid.vgg.weights import load_weights, save_npz
    layers = tf_layout_arrays(TINY, seed=4)
    tf_path = str(tmp_path / "tf.h5")
    write_keras1_h5(tf_path, layers)
    ref = load_weights(tf_path, TINY).arrays
    # Theano ordering: (out, in, kh, kw) kernels flipped for true convolution, fc1 rows (C,H,W)
    th = {}
    gh, gw = TINY.pool5_hw
    for name, (k, b) in layers.items():
        if k.ndim == 4:
            k = k.transpose(3, 2, 0, 1)[:, :, ::-1, ::-1]
        elif name == "fc1":
            k = k.reshape(gh, gw, -1, k.shape[1]).transpose(2, 0, 1, 3).reshape(k.shape)
        th[name] = (np.ascontiguousarray(k), b)
    th_path = str(tmp_path / "th.h5")
    write_keras1_h5(th_path, th)
    got = load_weights(th_path, TINY)
    assert got.layout == "th"
    # .npz with flat names in the tf layout
    npz_path = str(tmp_path / "vgg16.npz")
    flat = {}
    for b, n, _ in BLOCKS:
        for i in range(n):
            k, bias = layers["block%d_conv%d" % (b, i + 1)]
            flat["conv%d_%d_W" % (b, i + 1)], flat["conv%d_%d_b" % (b, i + 1)] = k, bias
    for keras, ours in (("fc1", "fc6"), ("fc2", "fc7"), ("predictions", "fc8")):
        flat[ours + "_W"], flat[ours + "_b"] = layers[keras]
    np.savez(npz_path, **flat)
    from_npz = load_weights(npz_path, TINY)
    saved = save_npz(str(tmp_path / "ours.npz"), ref, TINY.replace(channel_order="rgb"))
    back = load_weights(saved)          # config restored from the file
    assert back.config.width_div == 16 and back.config.channel_order == "rgb"
    for name in ref:
        np.testing.assert_array_equal(got.arrays[name], ref[name], err_msg=name)
        np.testing.assert_array_equal(from_npz.arrays[name], ref[name], err_msg=name)
        np.testing.assert_array_equal(back.arrays[name], ref[name], err_msg=name)


def test_mismatches_are_refused_naming_the_layer(tmp_path):
    from rcnreid.vgg.weights import load_weights
    layers = tf_layout_arrays(TINY)
    k, b = layers["block2_conv1"]
    bad = dict(layers, block2_conv1=(k[:, :, :, :-1], b))      # one output channel short
    p = str(tmp_path / "bad.h5")
    write_keras1_h5(p, bad)
    with pytest.raises(UserError, match=r"bad\.h5: layer conv2_1: conv2_1_W has shape"):
        load_weights(p, TINY)
    notop = {k: v for k, v in layers.items() if k not in ("fc1", "fc2", "predictions")}
    write_keras1_h5(p, notop)
    with pytest.raises(UserError, match=r"layer fc6 .*'fc1'.* is missing"):
        load_weights(p, TINY)
    # the full-size configuration refuses the small file at its first layer
    write_keras1_h5(p, layers)
    with pytest.raises(UserError, match=r"layer conv1_1: conv1_1_W has shape \(4, 3, 3, 3\), "
                                        r"expected \(64, 3, 3, 3\)"):
        load_weights(p)
    with pytest.raises(UserError, match="not found"):
        load_weights(str(tmp_path / "missing.h5"))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not weights")
    with pytest.raises(UserError, match="neither an HDF5"):
        load_weights(str(junk))


def test_output_shapes_at_224_and_at_the_reid_input():
    """Shape inference only (no convolution runs); full-width configuration D."""
    from rcnreid.vgg.vgg16 import VGG16
    zeros = lambda cfg: {k: np.zeros(s, np.float32) for layer, shapes in
                         cfg.param_shapes().items() for k, s in zip((layer + "_W", layer + "_b"),
                                                                    shapes)}
    cfg = VGGConfig()
    shapes = VGG16(cfg, params=zeros(cfg)).output_shapes(2, (224, 224))
    assert shapes == {"pool5": (2, 512, 7, 7), "fc6": (2, 4096), "fc7": (2, 4096),
                      "fc8": (2, 1000)}
    cfg = VGGConfig(fc6_mode="conv_avg", input_hw=(160, 60), num_classes=316)
    shapes = VGG16(cfg, params=zeros(cfg)).output_shapes(3, (160, 60))
    assert shapes == {"pool5": (3, 512, 5, 1), "fc6": (3, 4096), "fc7": (3, 4096),
                      "fc8": (3, 316)}


def test_preprocess_resizes_reorders_and_centres():
    from rcnreid.vgg.vgg16 import preprocess
    frames = np.zeros((2, 176, 66, 3), np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 200, 100, 10     # R, G, B
    frames[1, :, :33] = 0                                              # left half black
    x = preprocess(frames, VGGConfig())
    assert x.shape == (2, 3, 224, 224) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 100, 100], [10 - 103.939, 100 - 116.779, 200 - 123.68],
                               atol=1e-3)
    m = preprocess(frames, VGGConfig(), mirror=True)
    assert m[1, 0, 50, 5] > x[1, 0, 50, 5]          # the black half moved to the right
    np.testing.assert_allclose(m[1], x[1][:, :, ::-1], atol=1e-3)
    keep = preprocess(frames, VGGConfig(fc6_mode="conv_avg", channel_order="rgb",
                                        mean=(0, 0, 0)))
    assert keep.shape == (2, 3, 176, 66) and keep[0, 0, 0, 0] == 200


def test_conv_avg_fc6_is_the_dense_layer_slid_over_pool5_and_averaged():
    """fc6_mode="conv_avg": fc6's (C*7*7) rows as a 7x7 kernel, zero padding 3, pre-activations
    averaged over pool5's positions, then ReLU (checked against numpy at pool5 = 2x1)."""
    from rcnreid.backend.theano_env import T, theano
    from rcnreid.vgg.vgg16 import VGG16, random_params
    cfg = TINY.replace(fc6_mode="conv_avg")
    params = random_params(cfg, seed=2)
    params["fc6_b"] = np.linspace(-1, 1, cfg.fc_width).astype(np.float32)
    net = VGG16(cfg, params=params)
    x = T.tensor4("x")
    outs = net.graph(x, upto="fc6")
    f = theano.function([x], [outs["pool5"], outs["fc6"]])
    inp = np.random.RandomState(1).uniform(-50, 50, (2, 3, 64, 32)).astype(np.float32)
    p5, fc6 = f(inp)
    assert p5.shape == (2, 32, 2, 1)
    W = params["fc6_W"].reshape(32, 7, 7, cfg.fc_width)
    pad = np.pad(p5.astype(np.float64), ((0, 0), (0, 0), (3, 3), (3, 3)))
    acc = np.zeros((2, cfg.fc_width))
    for i in range(2):
        for j in range(1):
            acc += np.einsum("ncyx,cyxo->no", pad[:, :, i:i + 7, j:j + 7], W)
    ref = np.maximum(acc / 2 + params["fc6_b"], 0)
    np.testing.assert_allclose(fc6, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_conversion_command_writes_a_checked_npz(tmp_path):
    """``rcnreid convert-vgg-weights`` (and its old spelling, scripts/convert_vgg_weights.py)."""
    import subprocess
    import sys
    from rcnreid.cli import main
    from rcnreid.vgg.weights import load_weights
    layers = tf_layout_arrays(TINY, seed=5)
    src = str(tmp_path / "k.h5")
    write_keras1_h5(src, layers)
    # the command reads the default (full-size) configuration: the small file is refused
    assert main(["convert-vgg-weights", src, str(tmp_path / "x.npz")]) == 2
    from rcnreid.vgg.weights import save_npz
    ours = load_weights(src, TINY)
    mid = save_npz(str(tmp_path / "mid.npz"), ours.arrays, TINY)     # carries its config
    out = str(tmp_path / "tf.npz")
    assert main(["convert-vgg-weights", mid, out, "--layout", "tf"]) == 0
    z = np.load(out)
    np.testing.assert_array_equal(z["conv1_2_W"], layers["block1_conv2"][0])   # tf layout
    np.testing.assert_array_equal(z["fc6_W"], layers["fc1"][0])
    back = load_weights(out)
    for name in ours.arrays:
        np.testing.assert_array_equal(back.arrays[name], ours.arrays[name])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    old = subprocess.run([sys.executable, os.path.join(here, "scripts", "convert_vgg_weights.py"),
                          src, str(tmp_path / "y.npz")], capture_output=True, text=True)
    assert old.returncode == 2 and "rcnreid: error:" in old.stderr and "Traceback" not in old.stderr


def test_conversion_reads_a_lasagne_model_zoo_pickle(tmp_path):
    """The Lasagne model zoo's vgg16.pkl: {'param values': 32 arrays in network order, already
    our layout (cross-correlation kernels, fc6 rows (C, H, W)), 'mean value': BGR mean}."""
    import pickle
    from rcnreid.vgg.vgg16 import LAYERS, random_params
    from rcnreid.vgg.weights import load_weights
    from rcnreid.vgg.weights_convert import convert
    params = random_params(TINY, seed=9)
    values = [params[layer + s] for layer in LAYERS for s in ("_W", "_b")]
    src = str(tmp_path / "vgg16.pkl")
    with open(src, "wb") as f:
        pickle.dump({"param values": values, "mean value": np.array([100.0, 110.0, 120.0]),
                     "synset words": ["a"] * TINY.num_classes}, f, protocol=2)
    out = convert(src, str(tmp_path / "from_pkl.npz"), log=lambda *a: None,
                         base_cfg=TINY)
    w = load_weights(out)
    assert w.config.mean == (100.0, 110.0, 120.0) and w.config.channel_order == "bgr"
    for name in params:
        np.testing.assert_array_equal(w.arrays[name], params[name], err_msg=name)
    # a pickle for another network is refused naming the layer
    values[4] = values[4][:, :-1]                       # conv2_1_W: one input channel short
    with open(src, "wb") as f:
        pickle.dump({"param values": values}, f, protocol=2)
    with pytest.raises(UserError, match=r"vgg16\.pkl: layer conv2_1: conv2_1_W has shape"):
        convert(src, str(tmp_path / "x.npz"), log=lambda *a: None, base_cfg=TINY)
