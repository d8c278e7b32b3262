"""``rcnreid rank``: rank gallery sequences (folders of frames) for probe sequences."""
NAME = "rank"
HELP = "rank gallery sequence folders against probe sequence folders with a trained model"


def add_arguments(p):
    p.add_argument("--model", required=True, help="checkpoint (checkpoint-final.h5)")
    p.add_argument("--probe", required=True,
                   help="a folder of frames, or a folder of sequence folders")
    p.add_argument("--gallery", required=True, help="a folder of sequence folders")
    p.add_argument("--top", type=int, default=None, help="show the K best gallery sequences")
    p.add_argument("--json", default=None, help="also write the ranking as JSON")
    p.add_argument("--montage", default=None, metavar="PATH",
                   help="also draw each probe and its top gallery sequences (--top, default 10): "
                        "PATH.png for one probe, else a folder with one PNG per probe")


def run(args):
    import sys
    from rcnreid.store.atomic import check_out_path
    from rcnreid.store.atomic import write_json
    from rcnreid.evaluation.rank_folders import format_ranking, rank_folders
    if args.json:
        check_out_path(args.json, "--json", "ranking.json", inputs=(args.model,), kind="json")
    if args.montage:
        from rcnreid.viz.visrank import check_montage_path
        check_montage_path(args.montage)
    res = rank_folders(args.model, args.probe, args.gallery, top=args.top,
                       log=lambda m: print(m, file=sys.stderr))
    print(format_ranking(res))
    if args.json:
        write_json(args.json, res)
    if args.montage:
        from rcnreid.viz.visrank import montage
        montage(args.model, res, args.montage, top=args.top or 10,
                log=lambda m: print(m, file=sys.stderr))
    return 0
