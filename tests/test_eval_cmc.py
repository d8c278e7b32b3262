"""CMC, mAP and trial aggregation on small hand-made matrices (answers worked out by hand)."""
import numpy as np
import pytest

from rcnreid.evaluation.cmc import (aggregate_trials, cmc_curve, evaluate_scores,
                                    mean_average_precision)
from rcnreid.errors import UserError


def test_cmc_and_map_on_a_hand_made_similarity_matrix():
    # probe ids 1,2,3; gallery ids 1,2,3 (diagonal = true match)
    S = np.array([[0.9, 0.1, 0.2],    # probe 1: match best            -> rank 1
                  [0.8, 0.3, 0.5],    # probe 2: 0.3 < 0.8, 0.5         -> rank 3
                  [0.1, 0.7, 0.6]])   # probe 3: 0.6 < 0.7              -> rank 2
    cmc = cmc_curve(S, [1, 2, 3], [1, 2, 3], max_rank=4)
    assert np.allclose(cmc, [1 / 3, 2 / 3, 1.0, 1.0])
    assert mean_average_precision(S, [1, 2, 3], [1, 2, 3]) == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)


def test_distances_rank_smallest_first_and_ids_need_not_be_aligned():
    D = np.array([[5.0, 1.0, 3.0],    # probe 7 -> gallery order 9(1.0), 8(3.0), 7(5.0): rank 3
                  [0.5, 2.0, 0.1]])   # probe 9 -> gallery 8(0.1), 7(0.5), 9(2.0): rank 3
    cmc = cmc_curve(D, [7, 9], [7, 9, 8], max_rank=3, higher_is_better=False)
    assert np.allclose(cmc, [0.0, 0.0, 1.0])
    D2 = D.copy()
    D2[1, 1] = 0.0                    # probe 9 now ranks its match first
    assert np.allclose(cmc_curve(D2, [7, 9], [7, 9, 8], 3, higher_is_better=False),
                       [0.5, 0.5, 1.0])


def test_ties_are_pessimistic_by_default_and_optimistic_on_request():
    S = np.array([[0.5, 0.5, 0.5, 0.1],   # match tied with two wrong entries
                  [0.2, 0.9, 0.9, 0.9]])  # match (col 1) tied with two wrong entries
    probes, gallery = [1, 2], [1, 2, 3, 4]
    # pessimistic: probe 1 rank 3, probe 2 rank 3; optimistic: both rank 1
    assert np.allclose(cmc_curve(S, probes, gallery, 4), [0, 0, 1, 1])
    assert np.allclose(cmc_curve(S, probes, gallery, 4, ties="optimistic"), [1, 1, 1, 1])
    assert mean_average_precision(S, probes, gallery) == pytest.approx(1 / 3)
    # a constant score matrix gets no credit under the default rule (rank-1 = 0), never 100 %
    C = np.zeros((4, 4))
    assert cmc_curve(C, [1, 2, 3, 4], [1, 2, 3, 4], 4)[0] == 0.0
    with pytest.raises(UserError):
        cmc_curve(S, probes, gallery, ties="random")


def test_saturated_sigmoids_are_ranked_by_their_logits():
    from rcnreid.nn.similarity import pairwise_similarity
    # Eq. 5 with v = 1, c = 0: the probe's true match has logit 60, a wrong entry logit 40, both
    # above float64's saturation (~36.7), so both similarities are exactly 1.0
    ha = np.array([[1.0]])
    hb = np.array([[40.0], [60.0], [-3.0]])           # gallery ids 1, 2, 3; probe id 2
    S = pairwise_similarity(ha, hb, np.ones(1), 0.0)
    L = pairwise_similarity(ha, hb, np.ones(1), 0.0, logits=True)
    assert S[0, 0] == S[0, 1] == 1.0
    # without a tie-break the pessimistic rule calls the confident correct match wrong
    assert cmc_curve(S, [2], [1, 2, 3], 3)[0] == 0.0
    res = evaluate_scores(S, [2], [1, 2, 3], 3, tiebreak=L)
    assert res["cmc"] == [1.0, 1.0, 1.0] and res["map"] == 1.0 and res["tiebreak"]
    # the tie-break orders equal scores only: a better similarity still wins over a larger logit
    S2, L2 = np.array([[0.9, 0.8]]), np.array([[1.0, 5.0]])
    assert cmc_curve(S2, [2], [1, 2], 2, tiebreak=L2)[0] == 0.0
    # equal on both keys: the tie rule decides
    assert cmc_curve(np.ones((1, 2)), [2], [1, 2], 2, tiebreak=np.ones((1, 2)))[0] == 0.0
    assert cmc_curve(np.ones((1, 2)), [2], [1, 2], 2, tiebreak=np.ones((1, 2)),
                     ties="optimistic")[0] == 1.0
    # distances: the tie-break is read the same way round as the scores (smaller = better)
    assert cmc_curve(np.zeros((1, 2)), [2], [1, 2], 2, higher_is_better=False,
                     tiebreak=np.array([[1.0, 0.5]]))[0] == 1.0
    with pytest.raises(UserError, match="tie-break"):
        cmc_curve(S, [2], [1, 2, 3], 3, tiebreak=L[:, :2])


def test_several_matches_and_probes_without_match():
    # probe 1 has matches at gallery cols 0 and 2; probe 5 has none (left out)
    S = np.array([[0.8, 0.9, 0.7, 0.1],
                  [0.3, 0.2, 0.1, 0.0]])
    probes, gallery = [1, 5], [1, 2, 1, 3]
    # order for probe 1: col1 (wrong), col0 (match, pos 2), col2 (match, pos 3), col3
    assert np.allclose(cmc_curve(S, probes, gallery, 3), [0, 1, 1])
    assert mean_average_precision(S, probes, gallery) == pytest.approx((1 / 2 + 2 / 3) / 2)
    res = evaluate_scores(S, probes, gallery, max_rank=3)
    assert res["num_probes"] == 1 and res["num_probes_without_match"] == 1
    assert res["rank1"] == 0.0
    with pytest.raises(UserError):
        cmc_curve(S, [8, 9], gallery)
    with pytest.raises(UserError):
        cmc_curve(np.array([[np.nan]]), [1], [1])


def test_cmc_matches_an_independent_sort_based_count_on_random_scores():
    rng = np.random.RandomState(3)
    S = rng.randn(15, 15)
    ids = rng.permutation(15)
    cmc = cmc_curve(S, ids, ids, max_rank=15)
    ranks = []
    for i in range(15):
        order = np.argsort(-S[i])                     # no ties in random floats
        ranks.append(int(np.flatnonzero(ids[order] == ids[i])[0]) + 1)
    expect = [np.mean(np.asarray(ranks) <= r) for r in range(1, 16)]
    assert np.allclose(cmc, expect)
    assert mean_average_precision(S, ids, ids) == pytest.approx(np.mean(1.0 / np.asarray(ranks)))


def test_aggregation_over_two_trials_gives_mean_and_std():
    a = {"cmc": [0.2, 0.5, 1.0], "map": 0.4, "trial": 0}
    b = {"cmc": [0.4, 0.5, 0.8], "map": 0.6, "trial": 1}
    agg = aggregate_trials([a, b])
    assert np.allclose(agg["cmc"], [0.3, 0.5, 0.9])
    assert np.allclose(agg["cmc_std"], [0.1, 0.0, 0.1])          # population std
    assert agg["rank1"] == pytest.approx(30.0) and agg["rank1_std"] == pytest.approx(10.0)
    assert agg["map"] == pytest.approx(0.5) and agg["map_std"] == pytest.approx(0.1)
    assert agg["num_trials"] == 2 and agg["trials"] == [0, 1]
    sample = aggregate_trials([a["cmc"], b["cmc"]], ddof=1)
    assert np.allclose(sample["cmc_std"], [0.1 * np.sqrt(2), 0.0, 0.1 * np.sqrt(2)])
    with pytest.raises(UserError):
        aggregate_trials([])


def test_augmentation_pairings_average_the_documented_pairs():
    from rcnreid.configs.registry import TrainConfig
    from rcnreid.evaluation.evaluate import augmented_similarity
    from rcnreid.nn.similarity import pairwise_similarity as eq5

    class Stub:                                   # Eq. 5 with a fixed v, c
        v, c = np.array([0.5, -1.0, 2.0]), 0.1

        def similarity(self, ha, hb, logits=False):
            return eq5(ha, hb, self.v, self.c, logits=logits)

    rng = np.random.RandomState(0)
    Hp, Hg = rng.randn(3, 2, 3), rng.randn(3, 4, 3)    # 3 conditions, 2 probes, 4 gallery
    sig = lambda u: 1 / (1 + np.exp(-u))              # noqa: E731
    u = lambda a, b: (Hp[a] * Stub.v) @ Hg[b].T + Stub.c   # noqa: E731
    matched = np.mean([sig(u(a, a)) for a in range(3)], axis=0)
    every = np.mean([sig(u(a, b)) for a in range(3) for b in range(3)], axis=0)
    np.testing.assert_allclose(augmented_similarity(Stub(), Hp, Hg), matched)
    np.testing.assert_allclose(augmented_similarity(Stub(), Hp, Hg, pairing="all"), every)
    np.testing.assert_allclose(augmented_similarity(Stub(), Hp, Hg, logits=True, pairing="all"),
                               np.mean([u(a, b) for a in range(3) for b in range(3)], axis=0))
    assert not np.allclose(matched, every)
    assert TrainConfig().aug_pairing == "matched"
    with pytest.raises(UserError, match="aug_pairing"):
        TrainConfig(aug_pairing="crossed")
