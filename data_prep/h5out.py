"""Writing rcnreid's HDF5 dataset file: re-exported from :mod:`rcnreid.data.writer` (the library
owns the schema; ``data_prep`` depends on ``rcnreid``, never the reverse). Output-path rules are
:func:`rcnreid.store.atomic.check_out_path`'s; a converter's output must be a dataset file or
absent."""
from rcnreid.store import atomic
from rcnreid.data.writer import (  # noqa: F401
    CHUNK_FRAMES, SCHEMA_VERSION, SequenceSource, creation_time, format_summary, sequence_table,
    write_dataset)


def check_out_path(out_path, option="--out", example="dataset.h5", **rules):
    """:func:`rcnreid.store.atomic.check_out_path` for a dataset output (``kind="dataset"``)."""
    rules.setdefault("kind", "dataset")
    atomic.check_out_path(out_path, option, example, **rules)
