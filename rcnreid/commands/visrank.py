"""``rcnreid visrank``: ranked-gallery pictures of a trained model on a dataset trial."""
NAME = "visrank"
HELP = "draw, for chosen probes, the top-K gallery sequences (true match green, wrong red)"


def add_arguments(p):
    p.add_argument("--model", required=True, help="checkpoint (checkpoint-final.h5)")
    p.add_argument("--data", required=True, help="the dataset HDF5 file")
    p.add_argument("--trial", type=int, default=0, help="trial 0..9 (its test people)")
    p.add_argument("--probes", default="6",
                   help="how many probes: N (the worst-ranked half plus random ones) or 'all'")
    p.add_argument("--top", type=int, default=10, help="gallery sequences shown per probe")
    p.add_argument("--frames", type=int, default=4, help="frames shown per sequence")
    p.add_argument("--seed", type=int, default=0, help="seed of the random probes")
    p.add_argument("--scores", default=None,
                   help="reuse the similarity matrix of `rcnreid evaluate --scores` "
                        "(default: compute it)")
    p.add_argument("--out", required=True, help="folder for the PNGs and index.json")


def run(args):
    import sys
    from rcnreid.viz.visrank import parse_probes, visrank
    visrank(args.data, args.model, args.out, trial=args.trial, probes=parse_probes(args.probes),
            top=args.top, frames=args.frames, seed=args.seed, scores_path=args.scores,
            log=lambda m: print(m, file=sys.stderr))
    return 0
