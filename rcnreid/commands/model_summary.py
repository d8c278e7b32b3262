"""``rcnreid model-summary --config NAME [--json]``: layer shapes and parameter counts."""
import json

NAME = "model-summary"
HELP = "print each layer's output shape, parameter count (Sec. 4.3 formula) and the total"


def add_arguments(p):
    from rcnreid.commands.options import add_set_option
    p.add_argument("--config", default="deep_rcn",
                   help="a configuration name of rcnreid.configs.registry (deep_rcn, "
                        "deep_rcn_9x9_1x1, rcn_ind, fc_gru, cpu, tiny, quick_rcn_ind, "
                        "deep_rcn_table1_exact, ...)")
    add_set_option(p, help="change one field, as for `rcnreid train` (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def resolve_model_config(name, overrides=()):
    """``rcnreid.configs.registry.get_config(NAME, overrides=...).model`` (UserError listing the
    names when NAME is unknown)."""
    from rcnreid.configs.registry import get_config
    return get_config(name, overrides=overrides).model


def run(args):
    from rcnreid.nn.summary import format_table, gflop_per_sequence, layer_table
    cfg = resolve_model_config(args.config, args.overrides)
    if args.json:
        tab = layer_table(cfg)
        tab["config"] = args.config
        tab["model"] = cfg.to_dict()
        tab["gflop_per_sequence_T20"] = gflop_per_sequence(cfg, 20)
        print(json.dumps(tab, sort_keys=True))
    else:
        print(format_table(cfg, args.config))
    return 0
