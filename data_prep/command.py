"""``rcnreid prepare CONVERTER ...``: the converters of :mod:`data_prep` as one sub-command of the
``rcnreid`` command line.

``setup.py`` registers this module in the entry-point group ``rcnreid.commands``, which
:mod:`rcnreid.cli` reads besides ``rcnreid/commands/``: the library never imports
:mod:`data_prep`, yet ``rcnreid prepare ilidsvid|prid2011|viper|synth`` goes through the same
dispatcher (one-line errors, exit 2). ``python -m data_prep CONVERTER`` is the old spelling of
the same thing.

A converter is a module of this package that defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; adding one never edits this file.
"""
from rcnreid.cli import command_modules_in

NAME = "prepare"
HELP = "convert a raw dataset (iLIDS-VID, PRID 2011, VIPeR, synthetic) to rcnreid's HDF5 file"


def command_modules():
    """The converter modules of :mod:`data_prep`, sorted by module name."""
    import data_prep as pkg
    return command_modules_in(pkg, skip=("command",))


def add_arguments(parser):
    sub = parser.add_subparsers(dest="converter", metavar="CONVERTER")
    sub.required = True
    for mod in command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_convert=mod.run)


def run(args):
    return args._convert(args)
