"""``rcnreid plot-cmc``: CMC curves of result files, rank-1 in the legend (Fig. 5)."""
NAME = "plot-cmc"
HELP = "plot the CMC curves of evaluate/aggregate JSON files to PNG and PDF (as Fig. 5)"


def add_arguments(p):
    p.add_argument("results", nargs="+", help="JSON files from `rcnreid evaluate`/`aggregate`; "
                   "LABEL=FILE names the curve")
    p.add_argument("--out", required=True, help="output path without extension (.png and .pdf)")
    p.add_argument("--title", default="CMC")
    p.add_argument("--max-rank", type=int, default=20)


def run(args):
    from rcnreid.viz.cmc_plot import load_result, plot_cmc
    curves = []
    for item in args.results:
        label = None
        if "=" in item:
            label, item = item.split("=", 1)
        name, cmc, std = load_result(item)
        curves.append((label or name, cmc, std))
    for path in plot_cmc(curves, args.out, title=args.title, max_rank=args.max_rank):
        print("wrote %s" % path)
    return 0
