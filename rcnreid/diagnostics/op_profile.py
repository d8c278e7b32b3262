"""Where a compiled training step's time goes, by part, and how fast its convolutions run.

:func:`split` reads the profile Theano keeps for a function compiled under
``profile=True, profile_memory=True`` (``rcnreid bench --ops`` sets both) and sums the time of
every node into a *part*: the convolutions (forward ``CorrMM``, input gradient
``CorrMM_gradInputs``, weight gradient ``CorrMM_gradWeights``; ``Gpu*`` and ``*Dnn*`` forms
alike) outside the recurrence, each scan (with the share of its inner time spent in
convolutions), elementwise work, and the rest. For every convolution it counts the arithmetic
from the shapes the profile recorded, 2 * N * K * Ho * Wo * C * kh * kw FLOP (one multiply-add
per kernel tap per output, for the forward product and each gradient alike), so each part
gets a GFLOP/s that can be set beside the machine's sgemm rate
(:func:`rcnreid.diagnostics.bench.sgemm_gflops`): a part near that rate has little left to gain from
a better convolution, a part far below it does. On a GPU the same parts are read from the GPU
ops (``GpuCorrMM*``, ``GpuDnnConv*``, ``GpuElemwise``, host <-> device copies), and each part's
rate is also set beside the device's float32 and TF32 peaks (:func:`device_peak`). GPU ops run
asynchronously: their times mean something only when each kernel is waited for
(``CUDA_LAUNCH_BLOCKING=1``, which ``rcnreid bench --ops`` asks for on CUDA).

>>> conv_kind("GpuDnnConvGradW"), conv_kind("GpuCorrMM_gradInputs"), conv_kind("GpuDnnConvDesc")
('weight gradient', 'input gradient', None)
"""
from collections import OrderedDict

CONV_FORWARD, CONV_GRAD_INPUTS, CONV_GRAD_WEIGHTS = "forward", "input gradient", "weight gradient"


def conv_kind(op_name):
    """``forward``, ``input gradient``, ``weight gradient`` or None for an op's class name (CPU
    ``CorrMM*`` and oneDNN ops, GPU ``GpuCorrMM*`` and cuDNN ``GpuDnnConv*`` alike; cuDNN's
    descriptor op ``GpuDnnConvDesc`` is not a convolution)."""
    if op_name.endswith("Desc"):
        return None
    if "gradWeights" in op_name or "GradW" in op_name:
        return CONV_GRAD_WEIGHTS
    if "gradInputs" in op_name or "GradI" in op_name:
        return CONV_GRAD_INPUTS
    if "CorrMM" in op_name or "DnnConv" in op_name or op_name.startswith("Corr"):
        return CONV_FORWARD
    return None


def conv_flop(kind, in_shapes, out_shapes):
    """FLOP of one call of a 2-D convolution node from its recorded shapes, or None.

    forward: inputs (image N,C,H,W; kernel K,C,kh,kw), output N,K,Ho,Wo.
    weight gradient: inputs (image N,C,H,W; output gradient N,K,Ho,Wo), output K,C,kh,kw.
    input gradient: inputs (kernel K,C,kh,kw; output gradient N,K,Ho,Wo), output N,C,H,W.
    """
    try:
        if kind == CONV_FORWARD:
            kern, big = in_shapes[1], out_shapes[0]
        elif kind == CONV_GRAD_WEIGHTS:
            kern, big = out_shapes[0], in_shapes[1]
        else:
            kern, big = in_shapes[0], in_shapes[1]
        if len(kern) != 4 or len(big) != 4:
            return None
        n, k, ho, wo = big
        return 2.0 * n * k * ho * wo * kern[1] * kern[2] * kern[3]
    except (TypeError, IndexError, ValueError):
        return None


def _is_elementwise(op_name):
    return op_name.endswith("Elemwise") or op_name.startswith("Composite")


#: Ops that copy between host and device memory (their own part of a GPU step).
TRANSFER_OPS = ("GpuFromHost", "HostFromGpu", "GpuToGpu")

#: Peak float32 arithmetic of devices, TFLOP/s, by a piece of the name pygpu reports
#: (``devname``); first match wins. ``fp32``: the CUDA cores' FMA rate; ``tf32``: the dense TF32
#: tensor-core rate (what cuDNN's default math may use for float32 convolutions on Ampere and
#: newer), half the "with sparsity" figure of NVIDIA's datasheets.
DEVICE_PEAKS = (
    # (name piece, names it must not contain, fp32, tf32, source)
    ("H200", ("NVL",), 67.0, 494.5,
     "NVIDIA H200 Tensor Core GPU datasheet, H200 SXM: FP32 67 TFLOPS, TF32 Tensor Core 989 "
     "TFLOPS with sparsity"),
    ("H100", ("PCIe", "NVL"), 67.0, 494.5,
     "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM: FP32 67 TFLOPS, TF32 Tensor Core 989 "
     "TFLOPS with sparsity"),
    ("A100", (), 19.5, 156.0,
     "NVIDIA A100 Tensor Core GPU datasheet: FP32 19.5 TFLOPS, TF32 Tensor Core 156 TFLOPS "
     "(312 with sparsity)"),
)


def device_peak(devname):
    """``{"device", "fp32_tflops", "tf32_tflops", "source"}`` for a device name from
    :data:`DEVICE_PEAKS`, or None (unknown: the report then says so).

    >>> device_peak("NVIDIA H200")["fp32_tflops"], device_peak("NVIDIA H200 NVL")
    (67.0, None)
    """
    if not devname:
        return None
    for piece, unless, fp32, tf32, source in DEVICE_PEAKS:
        if piece in devname and not any(u in devname for u in unless):
            return {"device": devname, "fp32_tflops": fp32, "tf32_tflops": tf32,
                    "source": source}
    return None


def _nodes(profile):
    """(op class name, node, total seconds, calls, conv kind or None, FLOP per call or None)
    for every node of a profile."""
    for key, seconds in profile.apply_time.items():
        node = key[1]
        name = type(node.op).__name__
        kind = conv_kind(name)
        flop = None
        if kind is not None:
            flop = conv_flop(kind, [profile.variable_shape.get(v) for v in node.inputs],
                             [profile.variable_shape.get(v) for v in node.outputs])
        yield name, node, seconds, profile.apply_callcount.get(key, 0), kind, flop


def split(fn):
    """The parts of compiled function ``fn``'s time per call: an ordered list of dicts
    ``{part, seconds, share, gflop, gflops, conv_share}`` (``gflop``/``gflops`` for parts made of
    convolutions, ``conv_share`` for scans), largest first. ``fn`` must have been compiled with
    ``theano.config.profile`` (and ``profile_memory``, for the shapes) on and called at least once.
    """
    prof = getattr(fn, "profile", None)
    if not prof or not prof.fct_callcount:
        raise ValueError("the function has no profile: compile it under profile=True and call it")
    calls = float(prof.fct_callcount)
    parts = OrderedDict()

    def add(part, seconds, flop=None, conv_seconds=None):
        p = parts.setdefault(part, {"part": part, "seconds": 0.0, "gflop": 0.0, "_flop_known": True,
                                    "_conv_s": 0.0})
        p["seconds"] += seconds / calls
        if flop is None:
            p["_flop_known"] = False
        else:
            p["gflop"] += flop / 1e9
        if conv_seconds is not None:
            p["_conv_s"] += conv_seconds / calls

    scan_i = 0
    for name, node, seconds, count, kind, flop in _nodes(prof):
        if kind is not None:
            add("convolutions outside the scans: " + kind, seconds,
                None if flop is None else flop * count / calls)
        elif name == "Scan":
            scan_i += 1
            inner = getattr(getattr(node.op, "fn", None), "profile", None)
            conv_s, inner_flop, known = 0.0, 0.0, True
            if inner is not None:
                for _n, _node, s, c, k, f in _nodes(inner):
                    if k is not None:
                        conv_s += s
                        if f is None:
                            known = False
                        else:
                            inner_flop += f * c
            add("scan %s" % (getattr(node.op, "name", None) or scan_i), seconds,
                inner_flop / calls if known and inner is not None else None, conv_s)
        elif _is_elementwise(name):
            add("elementwise outside the scans", seconds)
        elif name in TRANSFER_OPS:
            add("host <-> device copies outside the scans", seconds)
        else:
            add("other (reshapes, subtensors, joins, pooling, reductions, ...)", seconds)
    total = sum(p["seconds"] for p in parts.values())
    rows = []
    for p in parts.values():
        row = {"part": p["part"], "seconds": p["seconds"],
               "share": p["seconds"] / total if total else 0.0}
        if p["_flop_known"] and p["gflop"] > 0:
            row["gflop"] = p["gflop"]
            row["gflops"] = p["gflop"] / p["seconds"] if p["seconds"] else None
        if p["part"].startswith("scan"):
            row["conv_share"] = p["_conv_s"] / p["seconds"] if p["seconds"] else 0.0
            if p["_conv_s"] and "gflop" in row:
                row["conv_gflops"] = row["gflop"] / p["_conv_s"]
        rows.append(row)
    rows.sort(key=lambda r: -r["seconds"])
    return rows


def format_split(rows, sgemm=None, peak=None):
    """A Markdown table of :func:`split`'s rows (with the sgemm rate, each part's fraction of it;
    with a device's ``peak`` from :func:`device_peak`, each part's TFLOP/s beside the device's
    float32 and TF32 peaks)."""
    head = "| part of the step | s per step | share | GFLOP | GFLOP/s of its convolutions |"
    sep = "| --- | --- | --- | --- | --- |"
    if sgemm:
        head += " of sgemm (%.0f GFLOP/s) |" % sgemm
        sep += " --- |"
    if peak:
        head += " of FP32 peak (%.1f TFLOP/s) | of TF32 peak (%.1f TFLOP/s) |" % (
            peak["fp32_tflops"], peak["tf32_tflops"])
        sep += " --- | --- |"
    lines = [head, sep]
    for r in rows:
        rate = r.get("conv_gflops", r.get("gflops"))
        part = r["part"]
        if "conv_share" in r:
            part += ", %d %% of it convolutions" % round(100 * r["conv_share"])
        cells = [part, "%.3f" % r["seconds"], "%.0f %%" % (100 * r["share"]),
                 "%.3g" % r["gflop"] if "gflop" in r else "-",
                 "%.3g" % rate if rate else "-"]
        if sgemm:
            cells.append("%.2f" % (rate / sgemm) if rate else "-")
        if peak:
            for key in ("fp32_tflops", "tf32_tflops"):
                cells.append("%.3f" % (rate / 1e3 / peak[key]) if rate else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
