"""Serving the HDF5 dataset files written by ``rcnreid prepare`` (schema: docs/DATA.md).

- :mod:`rcnreid.data.reader`: :class:`~rcnreid.data.reader.ReIDDataset` (sequences, splits,
  random runs of T consecutive frames);
- :mod:`rcnreid.data.augment`: the training crop-and-mirror and the fixed test-time
  augmentations (Section 5.2), resizing and normalisation to [-1, 1];
- :mod:`rcnreid.data.synthetic`: the built-in synthetic dataset;
- :mod:`rcnreid.data.frames` (reading frame files), :mod:`rcnreid.data.writer` (writing the
  dataset file) and :mod:`rcnreid.data.splits`, which ``data_prep``'s converters build on.
"""
