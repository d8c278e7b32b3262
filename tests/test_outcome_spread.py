"""The tools behind the learned-behaviour tests (issue 25): tests/learning.py's training budget
and tests/outcome_spread.py's float-rounding settings."""
import pytest

from tests.learning import spread_note, steps_until_learned
from tests.outcome_spread import MEASURES, default_settings, main, setting_env


def test_steps_until_learned_stops_at_the_criterion_or_the_budget():
    losses = iter([0.7, 0.7, 0.6, 0.3, 0.1, 0.05, 0.02, 0.01, 0.01, 0.0])
    steps, seen = steps_until_learned(lambda: next(losses), below=0.1, cap=10, window=3)
    assert steps == 7 and len(seen) == 7                  # mean(0.05, 0.02, 0.01) < 0.1
    steps, seen = steps_until_learned(lambda: 0.69, below=0.1, cap=20)
    assert steps is None and len(seen) == 20
    steps, _ = steps_until_learned(lambda: float("nan"), below=0.1, cap=20)
    assert steps is None                                   # a diverged run never "learns"
    assert spread_note([12, 40, None]) == "12..40 (never: 1)"
    assert spread_note([0.25, 0.5]) == "0.25..0.5"


def test_settings_change_what_they_name_and_leave_a_machines_openblas_alone():
    base = {"PATH": "/x"}
    env = setting_env("corrmm-2", base)
    assert (env["RCNREID_CPU_CONV"], env["OMP_NUM_THREADS"], env["OPENBLAS_NUM_THREADS"]) == (
        "corrmm", "2", "2")
    assert "OPENBLAS_CORETYPE" not in env
    env = setting_env("onednn-1-avx2", base)
    assert (env["OPENBLAS_CORETYPE"], env["ONEDNN_MAX_CPU_ISA"]) == ("Haswell", "AVX2")
    machine = dict(base, OPENBLAS_CORETYPE="Zen", OPENBLAS_L2_SIZE="524288")
    with pytest.raises(SystemExit, match="OPENBLAS_CORETYPE"):
        setting_env("onednn-1-avx2", machine)
    env = setting_env("onednn-2", machine)
    assert (env["OPENBLAS_CORETYPE"], env["OPENBLAS_L2_SIZE"]) == ("Zen", "524288")
    assert "avx2" not in default_settings(machine)
    assert "onednn-1-avx2" in default_settings(base).split(",")
    with pytest.raises(SystemExit, match="unknown setting"):
        setting_env("mkl-1", base)


def test_every_measurement_names_a_function_of_a_test_module():
    import importlib
    for name, (module, func, extra, keys, kw) in MEASURES.items():
        assert callable(getattr(importlib.import_module(module), func)), name
    with pytest.raises(SystemExit):
        main(["nonsense"])
