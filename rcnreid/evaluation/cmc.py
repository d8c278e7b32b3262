"""Cumulative Matching Characteristics, mean average precision and the average over trials.

Section 5.3: "The performance is evaluated by the average Cumulative Matching Characteristics
(CMC) curves after 10 trials with different train/test split." Probes are the camera-1 sequences
of the test people, the gallery their camera-2 sequences (Section 5.2).

For probe i with true matches M_i in the gallery, the *rank* of a match is its position when the
gallery is sorted by score (best first). CMC(r) is the fraction of probes whose best-ranked true
match is at rank <= r. Probes with no true match in the gallery are left out (and counted).

**Ties** (``ties=``): ``"pessimistic"`` (default) puts every wrong gallery entry whose score
equals the match's score *before* the match, so the rank is 1 + #(wrong entries scoring >= the
match); a network that outputs a constant gets no credit (rank-1 = 0), not 100 %.
``"optimistic"`` puts them after it: rank = 1 + #(wrong entries scoring strictly better).
Average precision uses the same order (ties between two true matches do not change AP).

**Tie-free key** (``tiebreak=``): a second (probes, gallery) matrix, higher = better, that orders
entries of equal score before the tie rule is used. Eq. 5 similarities are sigmoids: in float64
sigmoid(u) is exactly 1.0 for u above about 36.7, so two confident matches tie at 1.0 and the
pessimistic rule would count a confident correct match as wrong. The deep rows therefore rank by
the averaged sigmoid with ties broken by the averaged logit (:mod:`rcnreid.evaluation.evaluate`);
the tie rule only acts where both keys are equal.

Three probes against three gallery sequences (person ids 1, 2, 3): the first ranks its match
first, the second second, the third ties its match with a wrong entry:

>>> scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.4, 0.8], [0.5, 0.1, 0.5]])
>>> cmc_curve(scores, [1, 2, 3], [1, 2, 3], max_rank=3).round(3).tolist()
[0.333, 1.0, 1.0]
>>> cmc_curve(scores, [1, 2, 3], [1, 2, 3], max_rank=3, ties="optimistic").round(3).tolist()
[0.667, 1.0, 1.0]
>>> round(mean_average_precision(scores, [1, 2, 3], [1, 2, 3]), 4)     # (1 + 1/2 + 1/2) / 3
0.6667
>>> aggregate_trials([[0.5, 1.0], [1.0, 1.0]])["cmc"]                   # mean over trials
[0.75, 1.0]
"""
import numpy as np

from rcnreid.errors import UserError

TIE_RULES = ("pessimistic", "optimistic")
DEFAULT_MAX_RANK = 20


def _as_scores(matrix, higher_is_better):
    s = np.asarray(matrix, dtype=np.float64)
    if s.ndim != 2:
        raise UserError("score matrix: shape %s, expected (probes, gallery)" % (s.shape,))
    if not np.all(np.isfinite(s)):
        raise UserError("score matrix: holds NaN or infinite values; the model or features "
                        "that produced it are broken")
    return s if higher_is_better else -s


def _check(scores, probe_ids, gallery_ids, ties, tiebreak=None):
    if tiebreak is not None and np.shape(tiebreak) != scores.shape:
        raise UserError("tie-break matrix: shape %s, expected the score matrix's %s"
                        % (np.shape(tiebreak), scores.shape))
    probe_ids = np.asarray(probe_ids).reshape(-1)
    gallery_ids = np.asarray(gallery_ids).reshape(-1)
    if scores.shape != (len(probe_ids), len(gallery_ids)):
        raise UserError("score matrix: shape %s does not match %d probe ids x %d gallery ids"
                        % (scores.shape, len(probe_ids), len(gallery_ids)))
    if ties not in TIE_RULES:
        raise UserError("ties=%r: unknown tie rule; use %s" % (ties, " or ".join(TIE_RULES)))
    return probe_ids, gallery_ids


def match_positions(scores, probe_ids, gallery_ids, higher_is_better=True,
                    ties="pessimistic", tiebreak=None):
    """For each probe: the sorted 1-based positions of its true matches (empty: no match).

    The position of a match m is 1 + #(wrong entries ranked before m) + #(other matches ranked
    before m). Entries are ordered by score, then (when given) by ``tiebreak`` (same orientation
    as the scores); wrong entries equal to m on both keys go before ("pessimistic") or after
    ("optimistic") m.
    """
    s = _as_scores(scores, higher_is_better)
    probe_ids, gallery_ids = _check(s, probe_ids, gallery_ids, ties, tiebreak)
    tb = (np.zeros_like(s) if tiebreak is None
          else _as_scores(tiebreak, higher_is_better))
    out = []
    for i, pid in enumerate(probe_ids):
        match = gallery_ids == pid
        order = np.lexsort((-tb[i, match], -s[i, match]))     # matches, best first
        ms, mt = s[i, match][order], tb[i, match][order]
        wrong, wt = s[i, ~match], tb[i, ~match]
        pos = []
        for k, (v, t) in enumerate(zip(ms, mt)):
            better = (wrong > v) | ((wrong == v) & (wt > t))
            if ties == "pessimistic":
                better |= (wrong == v) & (wt == t)
            pos.append(1 + int(better.sum()) + k)
        out.append(np.asarray(pos, dtype=np.int64))
    return out


def cmc_curve(scores, probe_ids, gallery_ids, max_rank=DEFAULT_MAX_RANK, higher_is_better=True,
              ties="pessimistic", tiebreak=None):
    """CMC at ranks 1..max_rank as fractions in [0, 1] (numpy float64 array).

    ``scores`` is (probes, gallery): similarities (``higher_is_better=True``, e.g. Eq. 5) or
    distances (``False``). When the gallery is smaller than ``max_rank`` the curve stays at 1.0
    after rank G. UserError when no probe has a match in the gallery. ``tiebreak``: see
    :func:`match_positions`.
    """
    pos = match_positions(scores, probe_ids, gallery_ids, higher_is_better, ties, tiebreak)
    first = np.asarray([p[0] for p in pos if len(p)], dtype=np.int64)
    if first.size == 0:
        raise UserError("CMC: no probe has a true match in the gallery; check the person ids")
    ranks = np.arange(1, int(max_rank) + 1)
    return (first[None, :] <= ranks[:, None]).mean(axis=1)


def mean_average_precision(scores, probe_ids, gallery_ids, higher_is_better=True,
                           ties="pessimistic", tiebreak=None):
    """mAP over the probes that have a match: AP_i = mean_k k / position(k-th match).

    With one true match per probe (iLIDS-VID, PRID 2011) AP_i = 1 / rank_i.
    """
    pos = match_positions(scores, probe_ids, gallery_ids, higher_is_better, ties, tiebreak)
    aps = [np.mean(np.arange(1, len(p) + 1) / p.astype(np.float64)) for p in pos if len(p)]
    if not aps:
        raise UserError("mAP: no probe has a true match in the gallery; check the person ids")
    return float(np.mean(aps))


def evaluate_scores(scores, probe_ids, gallery_ids, max_rank=DEFAULT_MAX_RANK,
                    higher_is_better=True, ties="pessimistic", tiebreak=None):
    """A JSON-ready dict: ``cmc`` (fractions at ranks 1..max_rank), ``map``, ``rank1``/``rank5``/
    ``rank10``/``rank20`` (percent), counts, the tie rule and whether a tie-break key was used."""
    args = (higher_is_better, ties, tiebreak)
    cmc = cmc_curve(scores, probe_ids, gallery_ids, max_rank, *args)
    mAP = mean_average_precision(scores, probe_ids, gallery_ids, *args)
    pos = match_positions(scores, probe_ids, gallery_ids, *args)
    out = {"cmc": [float(v) for v in cmc], "map": mAP, "ties": ties,
           "tiebreak": tiebreak is not None,
           "num_probes": int(sum(1 for p in pos if len(p))),
           "num_probes_without_match": int(sum(1 for p in pos if not len(p))),
           "num_gallery": int(np.asarray(gallery_ids).size)}
    for r in (1, 5, 10, 20):
        if r <= len(cmc):
            out["rank%d" % r] = 100.0 * float(cmc[r - 1])
    return out


def _curve_of(item):
    if isinstance(item, dict):
        if "cmc" not in item:
            raise UserError("aggregate: a result has no 'cmc' entry (keys: %s)"
                            % ", ".join(sorted(item)))
        item = item["cmc"]
    return np.asarray(item, dtype=np.float64).reshape(-1)


def aggregate_trials(results, ddof=0):
    """Per-rank mean and standard deviation of several trials' CMC curves (Section 5.3).

    ``results``: CMC curves (sequences of fractions) or result dicts with ``cmc`` (and optionally
    ``map``). The standard deviation is numpy's with ``ddof`` (0: population, the default;
    1: sample). Curves of different lengths are cut to the shortest.
    """
    results = list(results)
    if not results:
        raise UserError("aggregate: no results to average")
    curves = [_curve_of(r) for r in results]
    n = min(len(c) for c in curves)
    C = np.stack([c[:n] for c in curves])
    mean = C.mean(axis=0)
    std = C.std(axis=0, ddof=ddof) if len(curves) > ddof else np.zeros(n)
    out = {"cmc": [float(v) for v in mean], "cmc_std": [float(v) for v in std],
           "num_trials": len(curves), "ddof": int(ddof)}
    for r in (1, 5, 10, 20):
        if r <= n:
            out["rank%d" % r] = 100.0 * float(mean[r - 1])
            out["rank%d_std" % r] = 100.0 * float(std[r - 1])
    maps = [r["map"] for r in results if isinstance(r, dict) and "map" in r]
    if len(maps) == len(results):
        out["map"] = float(np.mean(maps))
        out["map_std"] = float(np.std(maps, ddof=ddof)) if len(maps) > ddof else 0.0
    trials = [r.get("trial") for r in results if isinstance(r, dict)]
    if trials and all(t is not None for t in trials) and len(trials) == len(results):
        out["trials"] = trials
    return out


def aggregate_warnings(results, names=None):
    """Reasons to doubt an average over ``results`` (result dicts): the same trial twice,
    results of different datasets, configurations or tie rules, curves of different lengths.
    Returns a list of one-line messages (empty when the results look like one experiment)."""
    names = list(names) if names is not None else ["result %d" % k for k in range(len(results))]
    dicts = [(n, r) for n, r in zip(names, results) if isinstance(r, dict)]
    out = []
    seen = {}
    for n, r in dicts:
        t = r.get("trial")
        if t is not None:
            if t in seen:
                out.append("trial %s appears twice (%s and %s); each trial should be counted "
                           "once" % (t, seen[t], n))
            seen.setdefault(t, n)
    for key in ("dataset", "config_name", "ties", "test_augs"):
        values = sorted({str(r[key]) for _, r in dicts if key in r})
        if len(values) > 1:
            out.append("the results differ in %s (%s); they may not be trials of one experiment"
                       % (key, ", ".join(values)))
    lengths = sorted({len(_curve_of(r)) for r in results})
    if len(lengths) > 1:
        out.append("CMC curves of different lengths (%s); the average is cut to rank %d"
                   % (", ".join(map(str, lengths)), lengths[0]))
    return out
