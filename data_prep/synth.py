"""``rcnreid prepare synth``: a seeded synthetic raw tree that the converters read unchanged
(the generator is the library's, :mod:`rcnreid.data.synthetic`)."""
from rcnreid.data.synthetic import (  # noqa: F401
    DEFAULT_LENGTHS, LAYOUTS, RAW_H, RAW_W, SynthConfig, draw_camera, draw_person,
    make_synthetic_h5, render_sequence, write_synthetic_tree)

NAME = "synth"
HELP = "write a seeded synthetic raw tree in the iLIDS-VID or PRID 2011 layout"


def add_arguments(parser):
    from data_prep.cliargs import seed_type
    parser.add_argument("--layout", choices=LAYOUTS, default="ilidsvid")
    parser.add_argument("--out", required=True, help="folder to write the raw tree into")
    parser.add_argument("--persons", type=int, default=SynthConfig.persons)
    parser.add_argument("--seed", type=seed_type, default=0)
    parser.add_argument("--min-len", type=int, default=None,
                        help="shortest sequence (default: 12 iLIDS-VID layout, 22 PRID layout)")
    parser.add_argument("--max-len", type=int, default=None,
                        help="longest sequence (default: 40 iLIDS-VID layout, 48 PRID layout)")


def run(args):
    import sys
    cfg = SynthConfig(persons=args.persons, min_len=args.min_len, max_len=args.max_len)
    root = write_synthetic_tree(args.out, layout=args.layout, persons=args.persons,
                                seed=args.seed, config=cfg,
                                log=lambda m: print(m, file=sys.stderr, flush=True))
    cmd = "ilidsvid" if args.layout == "ilidsvid" else "prid2011"
    print("wrote a synthetic %s tree under %s; convert it with:\n  rcnreid prepare %s "
          "--root %s --out FILE.h5 --allow-incomplete\n(a synthetic tree is smaller than the "
          "published dataset: the file records the difference)" % (args.layout, root, cmd, root))
    return 0
