"""``rcnreid model-summary --config NAME [--json]``: layer shapes and parameter counts."""
import json

NAME = "model-summary"
HELP = "print each layer's output shape, parameter count (Sec. 4.3 formula) and the total"


def add_arguments(p):
    p.add_argument("--config", default="deep_rcn",
                   help="a run configuration (rcnreid.configs) or a model preset name "
                        "(deep_rcn, deep_rcn_9x9_1x1, rcn_ind, fc_gru, cpu, tiny, ...)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def resolve_model_config(name):
    """``rcnreid.configs.get_config(NAME).model`` when that run config exists, else the model
    preset NAME (UserError listing the presets when neither exists)."""
    from rcnreid.errors import UserError
    from rcnreid.model_config import get_model_config
    try:
        from rcnreid.configs import get_config
    except ImportError:
        get_config = None
    if get_config is not None:
        try:
            return get_config(name).model
        except (UserError, KeyError, ValueError):
            pass
    return get_model_config(name)


def run(args):
    from rcnreid.summary import format_table, gflop_per_sequence, layer_table
    cfg = resolve_model_config(args.config)
    if args.json:
        tab = layer_table(cfg)
        tab["config"] = args.config
        tab["model"] = cfg.to_dict()
        tab["gflop_per_sequence_T20"] = gflop_per_sequence(cfg, 20)
        print(json.dumps(tab, sort_keys=True))
    else:
        print(format_table(cfg, args.config))
    return 0
