"""Each Table 4 / 5 row runs end to end on the synthetic dataset and beats chance."""
import numpy as np
import pytest

from rcnreid.baselines.registry import ROWS, TABLE4, TABLE5, run_row
from rcnreid.evaluation.cmc import cmc_curve
from rcnreid.errors import UserError

TRIALS = (0, 1, 2)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from data_prep.synth import make_synthetic_h5
    from rcnreid.data.reader import ReIDDataset
    path = tmp_path_factory.mktemp("baselines") / "synthetic.h5"
    make_synthetic_h5(str(path), layout="ilidsvid", persons=30, seed=1)
    return ReIDDataset(str(path))


def test_registry_lists_every_row():
    assert set(ROWS) == set(TABLE4) | set(TABLE5)
    assert len(ROWS) == 9


@pytest.mark.outcome
@pytest.mark.parametrize("name", sorted(ROWS))
def test_row_end_to_end_beats_chance(synthetic, name):
    """Float64 features and metrics: a CPU's rounding moves distances by ~1e-12; the assertion
    is on the mean rank-1 of several trials (issue 25: not measured over other data draws)."""
    ds = synthetic
    rank1 = []
    for trial in TRIALS:
        dist, pid, gid = run_row(name, ds, trial, fast=True)
        _, test_people = ds.split(trial)
        assert dist.shape == (len(pid), len(gid))
        assert np.all(np.isfinite(dist))
        assert sorted(pid) == sorted(test_people) and sorted(gid) == sorted(test_people)
        rank1.append(cmc_curve(dist, pid, gid, higher_is_better=False)[0])
    chance = 1.0 / len(pid)
    assert np.mean(rank1) > 2.0 * chance, (name, rank1, chance)


def test_unknown_row_is_a_user_error(synthetic):
    with pytest.raises(UserError):
        run_row("SIFT", synthetic, 0)


def test_experiments_runner_reaches_the_rows_through_registry(synthetic, tmp_path):
    """experiments/units.py's ``baseline/<name>`` units find every row in REGISTRY and get the
    same CMC as run_row with the fast settings (the runner's test profile)."""
    from experiments import runner, units
    from rcnreid.baselines.registry import REGISTRY
    assert set(REGISTRY) == set(ROWS)
    opts = runner.Options(data="synthetic", profile="test", trials=(1,), results=str(tmp_path))
    ctx = runner.Context(options=opts, dataset="ilidsvid", data_path=synthetic.path, trial=1,
                         units=units.UNITS, log=lambda *a: None)
    got = units.UNITS["baseline/HOG3D"](ctx)["cmc"]
    dist, pid, gid = run_row("HOG3D", synthetic, 1, fast=True)
    np.testing.assert_allclose(got, units.cmc_from_distance(dist, pid, gid))
    assert got[0] > 2.0 / len(pid)
