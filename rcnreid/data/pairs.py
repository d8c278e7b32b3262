"""Training pairs for the Siamese loss (Eq. 6): balanced similar / dissimilar pairs per epoch.

Section 5.2: "we define similar video sequence to be those from the same person and dissimilar
ones to be those from different persons"; S = {(a, b): y_a = y_b}, D = {(a, b): y_a != y_b}
(Section 4.5). The paper does not say how many pairs make an epoch or how D (far larger than S)
is sampled. Choice (docs/REPRODUCTION.md §3): every epoch, each training person with sequences in
both cameras gives one similar pair (camera-1 sequence, camera-2 sequence) and
``dissimilar_per_similar`` dissimilar pairs (their camera-1 sequence with the camera-2 sequence
of another training person drawn uniformly, ``pair_mode="cross_camera"``; with ``"any_camera"``
the other sequence is drawn from any camera of another person). The pairs are then shuffled.
"""
import numpy as np

from rcnreid.errors import UserError


class PairSampler:
    """Draws an epoch's list of (row_a, row_b, label) from the training people of a trial.

    ``person``, ``camera``: the dataset's per-sequence arrays; ``train_persons``: the trial's
    training person ids. All randomness comes from the ``rng`` passed to :meth:`epoch_pairs`.
    """

    def __init__(self, person, camera, train_persons, dissimilar_per_similar=1,
                 pair_mode="cross_camera"):
        person = np.asarray(person)
        camera = np.asarray(camera)
        self.dissimilar_per_similar = int(dissimilar_per_similar)
        self.pair_mode = pair_mode
        rows = {}
        train = set_of(train_persons)
        for i, (p, c) in enumerate(zip(person, camera)):
            if int(p) in train:
                rows.setdefault(int(p), {}).setdefault(int(c), i)
        self.pos_persons = sorted(p for p, cams in rows.items() if 1 in cams and 2 in cams)
        if len(self.pos_persons) < 2:
            raise UserError("training split: %d training people have sequences in both cameras; "
                            "need at least 2 for similar and dissimilar pairs"
                            % len(self.pos_persons))
        self.rows = rows
        self.all_rows = np.asarray(sorted(i for cams in rows.values() for i in cams.values()))
        self.row_person = {i: p for p, cams in rows.items() for i in cams.values()}

    def epoch_pairs(self, rng):
        """A shuffled int array (N, 3) of (row_a, row_b, label), label 1 = same person."""
        pairs = []
        persons = self.pos_persons
        for p in persons:
            a = self.rows[p][1]
            pairs.append((a, self.rows[p][2], 1))
            for _ in range(self.dissimilar_per_similar):
                if self.pair_mode == "cross_camera":
                    others = [q for q in persons if q != p]
                    q = others[int(rng.randint(len(others)))]
                    b = self.rows[q][2]
                else:
                    others = [i for i in self.all_rows if self.row_person[int(i)] != p]
                    b = int(others[int(rng.randint(len(others)))])
                pairs.append((a, b, 0))
        pairs = np.asarray(pairs, dtype=np.int64)
        return pairs[rng.permutation(len(pairs))]


def set_of(ids):
    return {int(v) for v in np.asarray(ids).reshape(-1)}


def batches(pairs, batch_pairs):
    """Consecutive mini-batches of ``batch_pairs`` pairs (the last one may be smaller)."""
    return [pairs[i:i + batch_pairs] for i in range(0, len(pairs), batch_pairs)]
