"""Converters from the raw re-identification datasets to rcnreid's HDF5 file (docs/DATA.md).

Converters of ``rcnreid prepare CONVERTER`` (old spelling: ``python -m data_prep CONVERTER``) are
the modules of this package that define ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int`` (see :mod:`data_prep.command`):

- ``ilidsvid``  iLIDS-VID (``i-LIDS-VID/sequences/cam{1,2}/personNNN/*.png``)
- ``prid2011``  PRID 2011 multi-shot (``prid_2011/multi_shot/cam_{a,b}/person_NNNN/*.png``)
- ``synth``     a seeded synthetic raw tree in either layout (for the demo and the tests)

Shared helpers: :mod:`data_prep.check` (the copy against its published description, before
anything is written), :mod:`data_prep.images` (loading and resizing frames, frame order),
:mod:`data_prep.h5out` (writing the HDF5 file), :mod:`data_prep.splits` (the 10 trials).
"""
