"""``rcnreid evaluate``: CMC (ranks 1-20) and mAP of a checkpoint on the test people of a trial."""
NAME = "evaluate"
HELP = "CMC at ranks 1-20 and mAP of a trained model on trial K (probe = camera 1) as JSON"


def add_arguments(p):
    from rcnreid.evaluation.cmc import TIE_RULES
    from rcnreid.data.augment import TEST_AUG_SETS
    p.add_argument("--data", required=True, help="dataset HDF5 file")
    p.add_argument("--model", required=True, help="checkpoint (checkpoint-final.h5)")
    p.add_argument("--trial", type=int, default=0, help="train/test split 0..9 (default 0)")
    p.add_argument("--out", default=None, help="result JSON (default: print only)")
    p.add_argument("--scores", default=None, help="also write the similarity matrix (.npz)")
    p.add_argument("--test-augs", default=None, choices=sorted(TEST_AUG_SETS),
                   help="test-time augmentations (default: the run's configuration)")
    p.add_argument("--ties", default="pessimistic", choices=TIE_RULES,
                   help="how equal scores are ranked (default pessimistic)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output file that is not one rcnreid wrote (never an "
                        "input)")


def run(args):
    import json
    import sys
    from rcnreid.evaluation.evaluate import evaluate
    # Progress goes to stderr so that, without --out, stdout holds the result JSON alone.
    res = evaluate(args.data, args.model, args.trial, test_augs=args.test_augs,
                   out_path=args.out, ties=args.ties, scores_path=args.scores, force=args.force,
                   log=lambda m: print(m, file=sys.stderr, flush=True))
    if not args.out:
        print(json.dumps(res, indent=2, sort_keys=True))
    return 0
