"""``rcnreid aggregate``: per-rank mean and standard deviation of several trials' CMC curves."""
NAME = "aggregate"
HELP = "average the CMC curves of several trials' result files (mean and std per rank)"


def add_arguments(p):
    p.add_argument("results", nargs="+", help="JSON files from `rcnreid evaluate`")
    p.add_argument("--out", default=None, help="output JSON (default: print)")
    p.add_argument("--ddof", type=int, default=0,
                   help="standard deviation's delta degrees of freedom (0: population, 1: sample)")
    p.add_argument("--label", default=None, help="name of the curve in plots")


def run(args):
    import json
    import sys
    from rcnreid.store.atomic import check_out_path
    from rcnreid.store.atomic import write_json
    from rcnreid.evaluation.cmc import aggregate_trials, aggregate_warnings
    from rcnreid.errors import UserError
    if args.out:
        check_out_path(args.out, "--out", "aggregate.json", inputs=args.results, kind="json")
    if args.ddof < 0:
        raise UserError("--ddof %d: must be 0 (population) or 1 (sample)" % args.ddof)
    results = []
    for path in args.results:
        try:
            with open(path, encoding="utf-8") as f:
                results.append(json.load(f))
        except OSError as exc:
            raise UserError("%s: cannot read (%s)" % (path, exc.strerror or exc))
        except ValueError as exc:
            raise UserError("%s: not a JSON result file (%s); give files written by "
                            "`rcnreid evaluate --out`" % (path, exc))
        if not isinstance(results[-1], dict) or "cmc" not in results[-1]:
            raise UserError("%s: no 'cmc' entry; give files written by `rcnreid evaluate --out`"
                            % path)
    for msg in aggregate_warnings(results, args.results):
        print("warning: %s" % msg, file=sys.stderr)
    res = aggregate_trials(results, ddof=args.ddof)
    res["files"] = list(args.results)
    if args.label or results[0].get("label"):
        res["label"] = args.label or results[0].get("label")
    # The summary line goes to stderr when stdout carries the JSON.
    summary_to = sys.stdout if args.out else sys.stderr
    print("%d trials: rank-1 %.1f +- %.1f%%  rank-5 %.1f  rank-10 %.1f  rank-20 %.1f"
          % (res["num_trials"], res.get("rank1", 0), res.get("rank1_std", 0),
             res.get("rank5", 0), res.get("rank10", 0), res.get("rank20", 0)), file=summary_to)
    if args.out:
        write_json(args.out, res)
        print("wrote %s" % args.out)
    else:
        print(json.dumps(res, indent=2, sort_keys=True))
    return 0
