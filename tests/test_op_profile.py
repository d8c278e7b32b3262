"""rcnreid.diagnostics.op_profile: the split of a profiled function's time into parts, and the FLOP
count of each convolution from the shapes Theano recorded (issue 18's "profile of the step")."""
import numpy as np

from rcnreid.diagnostics import op_profile
from rcnreid.backend.theano_env import T, theano


def _direct_conv_flop(n, c, h, w, k, kh, kw):
    """Multiply-adds of a valid correlation counted by walking the loops' extents (x2)."""
    ho, wo = h - kh + 1, w - kw + 1
    macs = 0
    for _ in range(kh * kw):            # every tap ...
        macs += n * k * ho * wo * c     # ... for every output and input channel
    return 2 * macs


def test_conv_flop_of_each_kind_matches_the_direct_count():
    n, c, h, w, k, kh, kw = 3, 4, 9, 7, 5, 3, 2
    want = _direct_conv_flop(n, c, h, w, k, kh, kw)
    out = (n, k, h - kh + 1, w - kw + 1)
    assert op_profile.conv_flop("forward", [(n, c, h, w), (k, c, kh, kw)], [out]) == want
    assert op_profile.conv_flop("weight gradient", [(n, c, h, w), out], [(k, c, kh, kw)]) == want
    assert op_profile.conv_flop("input gradient", [(k, c, kh, kw), out], [(n, c, h, w)]) == want
    assert op_profile.conv_flop("forward", [None, None], [None]) is None
    assert [op_profile.conv_kind(n) for n in ("CorrMM", "CorrMM_gradWeights",
                                               "CorrMM_gradInputs", "GpuDnnConvGradW",
                                               "GpuCorrMM", "Elemwise")] == \
        ["forward", "weight gradient", "input gradient", "weight gradient", "forward", None]


def test_split_counts_a_profiled_convolution_and_its_gradients():
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(x, w, border_mode="valid", filter_flip=False)
    cost = (T.tanh(y) ** 2).sum()
    old = theano.config.profile, theano.config.profile_memory
    theano.config.profile, theano.config.profile_memory = True, True
    try:
        f = theano.function([x, w], [cost] + T.grad(cost, [x, w]))
        rng = np.random.RandomState(0)
        xv = rng.rand(6, 3, 12, 10).astype("float32")
        wv = rng.rand(4, 3, 3, 3).astype("float32")
        f(xv, wv)
        f(xv, wv)
    finally:
        theano.config.profile, theano.config.profile_memory = old
        from theano.compile import profiling
        del profiling._atexit_print_list[:]
    rows = {r["part"]: r for r in op_profile.split(f)}
    want = _direct_conv_flop(6, 3, 12, 10, 4, 3, 3) / 1e9
    for kind in ("forward", "weight gradient", "input gradient"):
        row = rows["convolutions outside the scans: " + kind]
        assert abs(row["gflop"] - want) < 1e-12, (kind, row)
        assert row["seconds"] > 0 and row["gflops"] > 0
    assert abs(sum(r["share"] for r in rows.values()) - 1.0) < 1e-9
    assert "elementwise outside the scans" in rows
    table = op_profile.format_split(list(rows.values()), sgemm=50.0)
    assert table.count("\n") == len(rows) + 1 and "of sgemm (50 GFLOP/s)" in table
