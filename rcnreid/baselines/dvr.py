"""Discriminative Video Ranking (DVR; Wang, Gong, Zhu, Wang, ECCV 2014) on HOG3D fragments.

Each sequence is a bag of fragments (HOG3D of the fragments around its FEP landmarks,
:mod:`rcnreid.baselines.hog3d`). DVR learns a ranking function on absolute differences of
fragment descriptors so that, for every training person, *the best* pair of fragments of their
two sequences is ranked above the pairs of fragments from different people (multiple-instance
ranking). It alternates (Wang et al., Sec. 3.3):

1. with the current ``w``, pick for every training person the positive fragment pair with the
   smallest distance ``w . |x_a - x_b|``;
2. re-solve the primal RankSVM (:mod:`rcnreid.baselines.ranking`) with the constraints "the
   selected positive pair is closer than each sampled negative fragment pair".

It starts from ``w = 1/d`` (the L1 distance) and stops when the selection no longer changes or
after ``n_iter`` rounds. A sequence pair's distance is the smallest over its fragment pairs.
"""
import dataclasses

import numpy as np

from rcnreid.baselines.ranking import RankSVMConfig, solve_ranksvm, weighted_l1


@dataclasses.dataclass
class DVRConfig:
    """DVR options (defaults from Wang et al. 2014 where stated, else documented choices)."""
    n_iter: int = 5                    # alternations (selection, RankSVM)
    negatives_per_person: int = 40     # negative fragment pairs sampled per training person
    ranksvm: RankSVMConfig = dataclasses.field(default_factory=RankSVMConfig)


class DVR:
    """Multiple-instance ranking over fragment bags: ``fit(bags_a, bags_b, persons)``.

    ``bags_a[k]`` / ``bags_b[k]`` are (n_fragments, d) arrays of training person ``persons[k]``
    in camera a / b.
    """

    def __init__(self, cfg=None, seed=0, log=None):
        self.cfg = cfg or DVRConfig()
        self.seed = seed
        self.log = log
        self.w_ = None
        self.selection_history_ = []

    def fit(self, bags_a, bags_b, persons=None):
        cfg = self.cfg
        rng = np.random.RandomState(self.seed)
        n = len(bags_a)
        if n < 2:
            raise ValueError("DVR needs at least two training people")
        d = bags_a[0].shape[1]
        # sampled negatives: (person k, fragment i of k in cam a, other person q, fragment j)
        neg = []
        for k in range(n):
            for _ in range(cfg.negatives_per_person):
                q = rng.randint(n - 1)
                q = q + (q >= k)
                neg.append(np.abs(bags_a[k][rng.randint(len(bags_a[k]))]
                                  - bags_b[q][rng.randint(len(bags_b[q]))]))
        neg = np.asarray(neg)
        cons = np.asarray([(k, k * cfg.negatives_per_person + j) for k in range(n)
                           for j in range(cfg.negatives_per_person)], dtype=np.int64)
        w = np.full(d, 1.0 / d)
        prev = None
        for it in range(max(int(cfg.n_iter), 1)):
            sel = [np.unravel_index(np.argmin(weighted_l1(w, a, b)), (len(a), len(b)))
                   for a, b in zip(bags_a, bags_b)]
            self.selection_history_.append(sel)
            if prev is not None and sel == prev:
                break
            pos = np.asarray([np.abs(a[i] - b[j]) for (i, j), a, b in zip(sel, bags_a, bags_b)])
            w = solve_ranksvm(pos, neg, cons, cfg.ranksvm, w0=w)
            prev = sel
            if self.log:
                self.log("  DVR round %d: ranking violations %.3f"
                         % (it + 1, float(np.mean(neg[cons[:, 1]] @ w - pos[cons[:, 0]] @ w < 1))))
        self.w_ = w
        return self

    def pairwise_distance(self, bags_a, bags_b):
        """(len(bags_a), len(bags_b)): the smallest fragment-pair distance of each sequence pair."""
        A = np.concatenate(bags_a)
        B = np.concatenate(bags_b)
        ia = np.repeat(np.arange(len(bags_a)), [len(b) for b in bags_a])
        ib = np.repeat(np.arange(len(bags_b)), [len(b) for b in bags_b])
        return min_over_bags(weighted_l1(self.w_, A, B), ia, ib, len(bags_a), len(bags_b))


def min_over_bags(frag_dist, ia, ib, na, nb):
    """Reduce a fragment-level distance matrix to bag level by the minimum."""
    out = np.full((na, nb), np.inf)
    rows = np.full((na, frag_dist.shape[1]), np.inf)
    np.minimum.at(rows, ia, frag_dist)
    np.minimum.at(out.T, ib, rows.T)
    return out
