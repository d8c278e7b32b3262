"""Learned-behaviour measurements for the tests that train (issue 25).

A short training on separable data sits on a plateau near chance before it learns, and how long
depends on the seed and on the CPU's float rounding (measured: 10 to 90 updates for the tiny
network, docs/DEVELOPING.md "Float rounding"). A test that trains a fixed number of steps and
asserts where the loss ended up therefore passes on one machine and fails on the next. These
tests instead train until the criterion is met and assert that it was met within a budget set
well above the slowest escape measured over seeds and rounding settings
(``python -m tests.outcome_spread``); a network that cannot learn never meets it.
"""
import numpy as np


def steps_until_learned(step, below, cap, window=5):
    """Call ``step()`` (returns the step's loss) until the mean loss of the last ``window``
    steps is below ``below``, at most ``cap`` times. Returns ``(steps, losses)``, ``steps`` being
    None when the budget ran out first."""
    losses = []
    for n in range(1, cap + 1):
        losses.append(float(step()))
        if not np.isfinite(losses[-1]):
            return None, losses
        if n >= window and np.mean(losses[-window:]) < below:
            return n, losses
    return None, losses


def spread_note(values):
    """'min..max' of measured values, None (budget exhausted) shown as 'never'."""
    vals = [v for v in values if v is not None]
    fmt = lambda v: "%d" % v if float(v).is_integer() else "%.3g" % v      # noqa: E731
    text = "%s..%s" % (fmt(min(vals)), fmt(max(vals))) if vals else "-"
    return text + (" (never: %d)" % (len(values) - len(vals)) if len(vals) < len(values) else "")
