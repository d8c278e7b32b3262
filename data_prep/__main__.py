"""``python -m data_prep CONVERTER ...``: the old spelling of ``rcnreid prepare CONVERTER ...``
(:mod:`data_prep.command`), kept because the documentation of earlier versions gives it."""
import sys

from rcnreid.cli import main as rcnreid_main


def main(argv=None):
    return rcnreid_main(["prepare"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
