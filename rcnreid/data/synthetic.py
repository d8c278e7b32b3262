"""The built-in synthetic dataset, importable from the library (see :mod:`data_prep.synth`)."""
from data_prep.synth import SynthConfig, make_synthetic_h5, write_synthetic_tree  # noqa: F401

__all__ = ["SynthConfig", "make_synthetic_h5", "write_synthetic_tree"]
