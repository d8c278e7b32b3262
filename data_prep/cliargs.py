"""Command-line options shared by the converters (``--root``, ``--out``, splits, checks)."""
import argparse
import sys


def seed_type(text):
    """argparse type of ``--seed``: an integer in 0 .. 2**32 - 1 (numpy's seed range)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not an integer" % text)
    if not 0 <= v < 2 ** 32:
        raise argparse.ArgumentTypeError("%d is outside 0 .. 2**32-1" % v)
    return v


def add_common_arguments(parser):
    """Options shared by the converters."""
    parser.add_argument("--root", required=True, help="the dataset folder you downloaded")
    parser.add_argument("--out", required=True, help="the HDF5 file to write")
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--splits-mat", help="official splits (.mat with ls_set, 10 x P)")
    g.add_argument("--splits-json", help='JSON splits: 10 objects {"train": [...], "test": [...]}')
    g.add_argument("--splits-random", type=seed_type, metavar="SEED",
                   help="10 random 50/50 splits from SEED, even where the dataset ships its "
                        "official splits (iLIDS-VID: used by default when found under --root)")
    parser.add_argument("--seed", type=seed_type, default=0,
                        help="seed of the 10 random 50/50 splits when no splits file is given")
    parser.add_argument("--require-official-splits", action="store_true",
                        help="stop unless the splits come from a file (--splits-mat/--splits-json,"
                             " or iLIDS-VID's official file found under --root); no random "
                             "splits (make: OFFICIAL_SPLITS=1)")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="convert a copy that falls short of the published description "
                             "(people, sequences, frame counts, unreadable frames), leaving out "
                             "what cannot be used and recording the shortfall in the file "
                             "(default: stop with one line naming what is missing)")
    parser.add_argument("--any-size", action="store_true",
                        help="accept frames of any size (default: 64x128 or an error)")
    parser.add_argument("--convert-modes", action="store_true",
                        help="convert grayscale/RGBA/palette frames to RGB (default: an error)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def make_log(args):
    """Progress printer for ``args.quiet`` (progress goes to stderr, the summary to stdout)."""
    return (lambda *a: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))


