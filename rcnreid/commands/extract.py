"""``rcnreid extract``: write each sequence's representation h-bar to HDF5 (Table 5 rows)."""
NAME = "extract"
HELP = "write every sequence's representation (or frame outputs) of a trained model to HDF5"


def add_arguments(p):
    from rcnreid.data.augment import TEST_AUG_SETS
    from rcnreid.evaluation.extract import LEVELS
    p.add_argument("--data", required=True, help="dataset HDF5 file")
    p.add_argument("--model", required=True, help="checkpoint (checkpoint-final.h5)")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--level", default="sequence", choices=LEVELS,
                   help="sequence: h-bar (N, D); frame: frame-level outputs (Table 3)")
    p.add_argument("--test-augs", default=None, choices=sorted(TEST_AUG_SETS),
                   help="augmentations averaged (default: the run's configuration)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output file that is not one rcnreid wrote (never an "
                        "input)")


def run(args):
    from rcnreid.evaluation.extract import extract_features
    extract_features(args.data, args.model, args.out, level=args.level, augs=args.test_augs,
                     force=args.force)
    return 0
