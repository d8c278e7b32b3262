"""``python -m data_prep SUBCOMMAND ...``: discovers the sub-command modules of this package.

A module is a sub-command when it defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int`` (the same convention as ``rcnreid/commands``). Adding a converter never
edits this file. A :class:`rcnreid.errors.UserError` becomes one line on stderr and exit 2.
"""
import argparse
import importlib
import pkgutil
import sys

from rcnreid.errors import UserError


def command_modules():
    """The sub-command modules of :mod:`data_prep`, sorted by module name."""
    import data_prep as pkg
    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module("data_prep." + info.name)
        if all(hasattr(mod, a) for a in ("NAME", "HELP", "add_arguments", "run")):
            mods.append(mod)
    return mods


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m data_prep",
        description="Convert raw re-identification datasets to rcnreid's HDF5 file (docs/DATA.md).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print("data_prep: error: %s" % exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("data_prep: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
