"""The ``rcnreid`` command line: the one dispatcher of every command, a thin layer over library
functions.

A sub-command is a module that defines

- ``NAME``: the sub-command (e.g. ``"model-summary"``), ``HELP``: one line for ``--help``;
- ``add_arguments(parser)`` and ``run(args) -> int``.

They are discovered, so adding a command never edits this file: the modules under
:mod:`rcnreid.commands`, and the modules registered in the entry-point group
``rcnreid.commands`` (``setup.py``). The second way lets code outside the library join the one
command line without the library importing it: ``rcnreid prepare`` is :mod:`data_prep.command`
(the library never imports :mod:`data_prep`). A :class:`rcnreid.errors.UserError` becomes one
line on stderr and exit status 2.
"""
import argparse
import importlib
import pkgutil
import sys

from rcnreid.errors import exit_status

#: The entry-point group read for commands that live outside :mod:`rcnreid.commands`.
ENTRY_POINT_GROUP = "rcnreid.commands"


def _entry_point_modules():
    from importlib.metadata import entry_points
    mods = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            mods.append(ep.load())
        except ImportError:         # a registered module that is not importable here
            continue
    return mods


#: What a command module defines.
COMMAND_NAMES = ("NAME", "HELP", "add_arguments", "run")


def command_modules_in(pkg, skip=()):
    """The modules of package ``pkg`` that define :data:`COMMAND_NAMES`, sorted by module name
    (private ones and those named in ``skip`` left out): rcnreid's sub-commands, and the
    converters of ``rcnreid prepare`` (:mod:`data_prep.command`)."""
    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in skip:
            continue
        mod = importlib.import_module(pkg.__name__ + "." + info.name)
        if all(hasattr(mod, a) for a in COMMAND_NAMES):
            mods.append(mod)
    return mods


def _command_modules():
    import rcnreid.commands as pkg
    mods = command_modules_in(pkg)
    names = {m.NAME for m in mods}
    mods.extend(m for m in _entry_point_modules() if m.NAME not in names)
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


def _parse_and_run(argv):
    # Building the parser imports the command modules, some of which import Theano through
    # rcnreid.backend.theano_env: a GPU requested without pygpu is reported here, as one line.
    parser = build_parser()
    args = parser.parse_args(argv)
    return args._run(args)


def main(argv=None):
    return exit_status("rcnreid", lambda: _parse_and_run(argv))


if __name__ == "__main__":
    sys.exit(main())
