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
a better convolution, a part far below it does.
"""
from collections import OrderedDict

CONV_FORWARD, CONV_GRAD_INPUTS, CONV_GRAD_WEIGHTS = "forward", "input gradient", "weight gradient"


def conv_kind(op_name):
    """``forward``, ``input gradient``, ``weight gradient`` or None for an op's class name."""
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


def format_split(rows, sgemm=None):
    """A Markdown table of :func:`split`'s rows (with the sgemm rate, each part's fraction of it)."""
    head = "| part of the step | s per step | share | GFLOP | GFLOP/s of its convolutions |"
    sep = "| --- | --- | --- | --- | --- |"
    if sgemm:
        head += " of sgemm (%.0f GFLOP/s) |" % sgemm
        sep += " --- |"
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
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
