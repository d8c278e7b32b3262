"""The ``rcnreid`` command line: a thin layer over library functions.

Each sub-command lives in its own module under :mod:`rcnreid.commands` and defines

- ``NAME``: the sub-command (e.g. ``"model-summary"``), ``HELP``: one line for ``--help``;
- ``add_arguments(parser)`` and ``run(args) -> int``.

Modules are discovered automatically, so adding a command never edits this file. A
:class:`rcnreid.errors.UserError` becomes one line on stderr and exit status 2.
"""
import argparse
import importlib
import pkgutil
import sys

from rcnreid.errors import UserError


def _command_modules():
    import rcnreid.commands as pkg
    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module("rcnreid.commands." + info.name))
    return mods


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rcnreid",
        description="Deep recurrent convolutional networks for video-based person "
                    "re-identification (reproduction of arXiv 1606.01609).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None):
    try:
        # Building the parser imports the command modules, some of which import Theano through
        # rcnreid.theano_env: a GPU requested without pygpu is reported here, as one line.
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args._run(args) or 0)
    except UserError as exc:
        print("rcnreid: error: %s" % exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rcnreid: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
