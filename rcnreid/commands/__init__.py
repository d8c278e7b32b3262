"""Sub-commands of ``rcnreid``; one module each (see :mod:`rcnreid.cli`)."""
