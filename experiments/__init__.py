"""Experiment scripts reproducing Tables 2-5 and Fig. 5 of arXiv 1606.01609 (docs/EXPERIMENTS.md)."""
