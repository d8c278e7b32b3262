"""The model's layer table: output shapes, parameter counts and multiply-accumulates per frame.

ConvGRU parameter counts follow Section 4.3: 3*k1*k2*(Cx*Ch + Ch^2) for the six kernels of Eq. 2
(written 3*(k_in^2*Cx*Ch + k_hid^2*Ch^2) when the two kernel sizes differ), plus the terms this
implementation adds and states separately: Eq. 3's cross-layer kernels W_zl, W_rl
(2*kc^2*C_{l-1}*Ch) and the biases (3*Ch).
"""
from rcnreid.nn.convgru import convgru_param_counts
from rcnreid.nn.encoder import encoder_layers, level_shapes
from rcnreid.nn.fcgru import fcgru_param_counts
from rcnreid.nn.model import build_param_arrays
from rcnreid.nn.pooling import fused_dim


def layer_table(cfg):
    """List of dict(name, type, out_shape, params, macs_per_frame, note) and the totals.

    ``macs_per_frame`` counts the multiply-accumulates of the convolutions / matrix products for
    one frame of one sequence (elementwise gate arithmetic is not counted).
    """
    rows = []
    if cfg.kind == "convgru":
        for r in encoder_layers(cfg):
            rows.append(dict(name=r["name"], type=r["type"], out_shape=list(r["out_shape"]),
                             params=r["params"], macs_per_frame=r["macs"], note=""))
        shapes = level_shapes(cfg)
        for c in convgru_param_counts(cfg):
            l, ch = c["level"], c["ch"]
            _, h, w = shapes[l]
            macs = (3 * cfg.input_kernel ** 2 * c["cx"] * ch
                    + 3 * cfg.hidden_kernel ** 2 * ch * ch) * h * w
            if c["cross"]:
                macs += 2 * cfg.cross_k ** 2 * cfg.hidden_channels[l - 1] * ch * h * w
            note = "Sec. 4.3: 3*(%d*%d*%d + %d*%d*%d) = %d" % (
                cfg.input_kernel ** 2, c["cx"], ch, cfg.hidden_kernel ** 2, ch, ch, c["section43"])
            if c["cross"]:
                note += "; + cross-layer (Eq. 3) 2*%d*%d*%d = %d" % (
                    cfg.cross_k ** 2, cfg.hidden_channels[l - 1], ch, c["cross"])
            if c["bias"]:
                note += "; + bias 3*%d = %d" % (ch, c["bias"])
            rows.append(dict(name="convgru%d" % l,
                             type="ConvGRU %dx%d in, %dx%d hidden%s" % (
                                 cfg.input_kernel, cfg.input_kernel, cfg.hidden_kernel,
                                 cfg.hidden_kernel, ", stacked" if cfg.stacked and l else ""),
                             out_shape=[ch, h, w], params=c["total"], macs_per_frame=macs,
                             note=note))
    else:
        for c in fcgru_param_counts(cfg):
            note = "Eq. 1: 3*(%d*%d + %d*%d) = %d" % (c["cx"], c["ch"], c["ch"], c["ch"],
                                                     c["section43"])
            if c["bias"]:
                note += "; + bias 3*%d = %d" % (c["ch"], c["bias"])
            rows.append(dict(name="fcgru%d" % c["level"], type="FC-GRU", out_shape=[c["ch"]],
                             params=c["total"], macs_per_frame=c["section43"], note=note))
    d = fused_dim(cfg)
    fuse_params = sum(cfg.hidden_channels) * d if cfg.level_fusion == "project" else 0
    rows.append(dict(name="pool+fuse", type="pool %s/%s/%s" % (
        cfg.spatial_pooling, cfg.level_fusion, cfg.temporal_pooling), out_shape=[d],
        params=fuse_params, macs_per_frame=fuse_params, note="Eq. 4: spatial pooling / level fusion / temporal pooling"))
    if cfg.fc_head_dim:
        n = d * cfg.fc_head_dim + cfg.fc_head_dim
        rows.append(dict(name="fc_head", type="fc + tanh", out_shape=[cfg.fc_head_dim], params=n,
                         macs_per_frame=0, note="optional (Sec. 4.1)"))
        d = cfg.fc_head_dim
    rows.append(dict(name="similarity", type="sigmoid(v.(ha*hb)+c)", out_shape=[1],
                     params=d + 1, macs_per_frame=0, note="Eq. 5"))
    total = sum(r["params"] for r in rows)
    # cross-check against the arrays the model really allocates
    actual = sum(v.size for v in build_param_arrays(cfg, 0).values())
    assert total == actual, (total, actual)
    return dict(layers=rows, total_params=total,
                macs_per_frame=sum(r["macs_per_frame"] for r in rows))


def gflop_per_sequence(cfg, t_len=20):
    """Forward floating-point operations (2 per multiply-accumulate) for one sequence, in GFLOP."""
    return 2.0 * layer_table(cfg)["macs_per_frame"] * t_len / 1e9


def format_table(cfg, name=""):
    """The layer table as text."""
    tab = layer_table(cfg)
    lines = ["model %s: input %s" % (name, ("(T, B, %d, %d, %d)" % ((cfg.input_channels,)
                                                                  + tuple(cfg.input_hw)))
                                     if cfg.kind == "convgru" else "(T, B, %d)" % cfg.fc_input_dim)]
    head = "%-11s %-40s %-15s %12s %14s" % ("layer", "type", "output", "params", "MACs/frame")
    lines += [head, "-" * len(head)]
    for r in tab["layers"]:
        lines.append("%-11s %-40s %-15s %12d %14d" % (
            r["name"], r["type"][:40], "x".join(str(s) for s in r["out_shape"]), r["params"],
            r["macs_per_frame"]))
        if r["note"]:
            lines.append("%11s   %s" % ("", r["note"]))
    lines.append("-" * len(head))
    lines.append("total parameters: %d; forward MACs per frame: %d (%.3f GFLOP per 20-frame "
                 "sequence)" % (tab["total_params"], tab["macs_per_frame"],
                                gflop_per_sequence(cfg, 20)))
    return "\n".join(lines)
