"""Named run configurations: the one registry of rows x profiles with ``--set`` overrides
(``registry``) and the readings of the paper (``readings``)."""
