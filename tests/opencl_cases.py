"""Small graphs that each need one Theano-PyMC repair on the GPU backend (tests/test_gpu_opencl.py).

Run as ``python tests/opencl_cases.py CASE`` with ``THEANO_FLAGS=device=opencl0:0``; prints
``CASE ok`` and exits 0 when the graph compiled onto the device and gave numpy's numbers.
"""
import sys

import numpy as np


def _ops(fn):
    from rcnreid.diagnostics.gpu_check import _walk_ops
    return [type(n.op).__name__ for n in _walk_ops(fn.maker.fgraph)]


def case_init():
    from rcnreid.backend.theano_env import describe
    d = describe()
    assert d["gpu_active"] and d["device"].startswith("opencl"), d


def case_elemwise():
    """Elementwise work on a shared variable: moved by GraphToGPU, fused, compiled as a kernel."""
    from rcnreid.backend.theano_env import T, theano
    w = theano.shared(np.linspace(-1, 1, 6).astype("float32"), name="w")
    x = T.fvector("x")
    fn = theano.function([x], T.exp(w * x) * 2 + T.tanh(x))
    ops = _ops(fn)
    assert "GpuElemwise" in ops, ops
    assert not any(o == "Elemwise" for o in ops), ops
    fused = [n for n in fn.maker.fgraph.toposort() if type(n.op).__name__ == "GpuElemwise"
             and "Composite" in str(n.op)]
    assert fused, "elementwise fusion did not run: %s" % ops
    v = np.arange(6, dtype="float32") / 6
    want = np.exp(w.get_value() * v) * 2 + np.tanh(v)
    np.testing.assert_allclose(fn(v), want, rtol=1e-5)


def case_join():
    """Ops built on HideC (join, alloc, reshape) compile as GPU C code."""
    from rcnreid.backend.theano_env import T, theano
    a, b = T.fmatrix("a"), T.fmatrix("b")
    fn = theano.function([a, b], T.concatenate([a, b * 2], axis=1).reshape((-1,)))
    assert "GpuJoin" in _ops(fn), _ops(fn)
    va, vb = np.ones((2, 3), "float32"), np.arange(4, dtype="float32").reshape(2, 2)
    np.testing.assert_allclose(fn(va, vb), np.concatenate([va, vb * 2], axis=1).ravel())


def case_conv():
    """A convolution and both its gradients become GPU convolutions."""
    from rcnreid.backend.theano_env import T, theano
    rng = np.random.RandomState(0)
    w = theano.shared(rng.randn(4, 3, 3, 3).astype("float32"), name="w")
    x = T.tensor4("x")
    y = T.nnet.conv2d(x, w, border_mode="half")
    cost = (y ** 2).sum()
    fn = theano.function([x], [y] + T.grad(cost, [x, w]))
    ops = _ops(fn)
    assert any(o.startswith("GpuCorrMM") or o.startswith("GpuDnnConv") for o in ops), ops
    assert not any(o in ("CorrMM", "CorrMM_gradWeights", "CorrMM_gradInputs")
                   or o.startswith("OneDnnConv") for o in ops), ops
    xv = rng.randn(2, 3, 5, 4).astype("float32")
    yv, gx, gw = fn(xv)
    # numpy reference: cross-correlation with 'half' padding (Theano's conv2d flips the filter)
    wv = w.get_value()[:, :, ::-1, ::-1]
    pad = np.pad(xv, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros_like(yv)
    for i in range(5):
        for j in range(4):
            ref[:, :, i, j] = np.einsum("bchw,ochw->bo", pad[:, :, i:i + 3, j:j + 3], wv)
    np.testing.assert_allclose(yv, ref, rtol=1e-4, atol=1e-4)
    assert gx.shape == xv.shape and gw.shape == w.get_value().shape


def case_maxmin():
    """maximum/minimum kernels build in OpenCL C and propagate NaN like numpy."""
    from rcnreid.backend.theano_env import T, theano
    a, b = T.fvector("a"), T.fvector("b")
    fn = theano.function([a, b], [T.maximum(a, b), T.minimum(a, b)])
    assert "GpuElemwise" in _ops(fn), _ops(fn)
    va = np.array([1, np.nan, 3, -2], "float32")
    vb = np.array([2, 2, np.nan, -3], "float32")
    hi, lo = fn(va, vb)
    np.testing.assert_array_equal(hi, np.maximum(va, vb))
    np.testing.assert_array_equal(lo, np.minimum(va, vb))


def _scan_case(k, n):
    from rcnreid.backend.theano_env import T, theano
    x0 = T.fvector("x0")
    out, _ = theano.scan(lambda prev: prev * 1.5 + 1.0, outputs_info=[x0], n_steps=n)
    fn = theano.function([x0], out[-k:])
    ops = _ops(fn)
    assert "Scan" in ops and "GpuElemwise" in ops, ops
    cur, ref = np.ones(3, "float32"), []
    for _ in range(n):
        cur = cur * 1.5 + 1
        ref.append(cur)
    np.testing.assert_allclose(fn(np.ones(3, "float32")), np.array(ref[-k:]), rtol=1e-6)


def case_scan():
    """A scan runs on the device (its Python loop tells GPU buffers apart on OpenCL)."""
    _scan_case(1, 4)


def case_scan_rotation():
    """Three stored steps, six steps run: the buffer is rotated by one (pdx = S // 2)."""
    _scan_case(3, 6)


def case_gemv_beta0():
    """A matrix-vector product whose output buffer is recycled device memory holding NaN (how a
    full test-suite run once got NaN losses from gpu-check): the product must not read it."""
    from rcnreid.backend.theano_env import T, theano            # first: it configures Theano
    import pygpu
    from theano.gpuarray.type import get_context
    a, v = T.fmatrix("a"), T.fvector("v")
    fn = theano.function([a, v], T.dot(a, v))
    assert "GpuGemv" in _ops(fn), _ops(fn)
    rng = np.random.RandomState(0)
    av, vv = rng.rand(64, 32).astype("float32"), rng.rand(32).astype("float32")
    want = av.dot(vv)
    for _ in range(40):
        junk = pygpu.gpuarray.array(np.full(64, np.nan, "float32"), context=get_context(None))
        del junk                                   # its block goes back to the allocator
        np.testing.assert_allclose(fn(av, vv), want, rtol=1e-5)


def case_op_profile():
    """`rcnreid bench --ops` on a GPU: the profile's GPU convolutions (GpuCorrMM and both
    gradients) are split into their parts with the FLOP counted from their shapes, and the host
    <-> device copies are a part of their own (issue 28 item 6)."""
    from rcnreid.backend.theano_env import T, theano
    from rcnreid.diagnostics import op_profile
    from theano.compile import profiling
    from rcnreid.diagnostics.bench import check_op_timing
    from rcnreid.backend.theano_env import describe
    import os
    check_op_timing(describe(), os.environ)       # what `bench --ops` does before profiling
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(x, w, border_mode="valid", filter_flip=False)
    cost = (T.tanh(y) ** 2).sum()
    theano.config.profile, theano.config.profile_memory = True, True
    try:
        f = theano.function([x, w], [cost] + T.grad(cost, [x, w]))
        rng = np.random.RandomState(0)
        xv, wv = rng.rand(6, 3, 12, 10).astype("float32"), rng.rand(4, 3, 3, 3).astype("float32")
        f(xv, wv)
        f(xv, wv)
    finally:
        theano.config.profile = theano.config.profile_memory = False
        del profiling._atexit_print_list[:]
    names = _ops(f)
    for op in ("GpuCorrMM", "GpuCorrMM_gradWeights", "GpuCorrMM_gradInputs"):
        assert op in names, names
    rows = {r["part"]: r for r in op_profile.split(f)}
    want = 2.0 * 6 * 4 * 10 * 8 * 3 * 3 * 3 / 1e9        # N K Ho Wo C kh kw, x2
    for kind in ("forward", "weight gradient", "input gradient"):
        row = rows["convolutions outside the scans: " + kind]
        assert abs(row["gflop"] - want) < 1e-12 and row["gflops"] > 0, (kind, row)
    assert "host <-> device copies outside the scans" in rows, sorted(rows)
    assert "elementwise outside the scans" in rows, sorted(rows)


def case_same_seed():
    """Issue 28 item 2 in the suite: a few training updates of a convolution inside a scan (the
    ConvGRU's shape of work: GpuCorrMM and both gradients, the scan's backward pass, BLAS) run
    twice from the same starting values give the same bits. `rcnreid gpu-check` makes the
    same check on the real model in two fresh processes."""
    from rcnreid.backend.theano_env import T, theano
    rng = np.random.RandomState(0)
    w0 = (rng.randn(3, 3, 3, 3) * 0.3).astype("float32")
    v0 = (rng.randn(3 * 4 * 4) * 0.1).astype("float32")
    w = theano.shared(w0, name="w")
    v = theano.shared(v0, name="v")
    xs = T.TensorType("float32", (False,) * 5)("xs")       # time, batch, channel, h, w
    y = T.fvector("y")                                      # same (1) / different (0)

    def step(x_t, h):
        return T.tanh(T.nnet.conv2d(h, w, border_mode="half") + x_t)

    hs, _ = theano.scan(step, sequences=[xs], outputs_info=[T.zeros_like(xs[0])])
    logit = T.dot(hs.mean(axis=0).flatten(2), v)
    cost = (T.nnet.softplus(logit) - y * logit).mean()     # binary cross-entropy, as Eq. 6
    gw, gv = T.grad(cost, [w, v])
    fn = theano.function([xs, y], cost, updates=[(w, w - 0.1 * gw), (v, v - 0.1 * gv)])
    ops = _ops(fn)
    assert "Scan" in ops and any(o.startswith("Gpu") for o in ops), ops
    data = [(rng.randn(5, 4, 3, 4, 4).astype("float32"), rng.randint(0, 2, 4).astype("float32"))
             for _ in range(4)]

    def run():
        w.set_value(w0)
        v.set_value(v0)
        losses = [fn(x, t) for x, t in data]
        return np.array(losses), w.get_value(), v.get_value()

    first, second = run(), run()
    assert np.isfinite(first[0]).all() and not np.array_equal(first[1], w0), first[0]
    for a, b in zip(first, second):
        assert np.array_equal(a, b), np.abs(np.asarray(a) - np.asarray(b)).max()


CASES = {name[5:]: fn for name, fn in list(globals().items()) if name.startswith("case_")}

if __name__ == "__main__":
    name = sys.argv[1]
    CASES[name]()
    print("%s ok" % name)
