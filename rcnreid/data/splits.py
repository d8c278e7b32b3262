"""The train/test person splits stored in a dataset file, and random 50/50 splits from a seed
(Section 5.3: 50% of the persons train, 50% test, 10 trials; trials are numbered 0..9).

The converters (:mod:`data_prep.splits`) add the official ``.mat`` and JSON sources; the synthetic
data (:mod:`rcnreid.data.synthetic`) uses :func:`random_splits`.
"""
import dataclasses

import numpy as np

#: Trials of the evaluation protocol.
NUM_TRIALS = 10
#: PRID 2011's 178-person protocol keeps the pairs with more than 21 frames in both cameras.
PRID178_MIN_FRAMES = 22


@dataclasses.dataclass
class Splits:
    """Train/test person ids per trial: ``train`` (trials, n_train), ``test`` (trials, n_test)."""
    train: np.ndarray
    test: np.ndarray
    kind: str      # "official-mat" | "json" | "seed"
    source: str    # the file it came from, or "seed=S"

    @property
    def num_trials(self):
        return int(self.train.shape[0])


def random_splits(persons, seed=0, num_trials=NUM_TRIALS):
    """``num_trials`` random 50/50 splits of ``persons`` (sorted ids); train gets floor(P/2)."""
    persons = np.sort(np.asarray(persons, dtype=np.int64))
    rng = np.random.RandomState(seed)
    n_train = len(persons) // 2
    train, test = [], []
    for _ in range(num_trials):
        perm = persons[rng.permutation(len(persons))]
        train.append(np.sort(perm[:n_train]))
        test.append(np.sort(perm[n_train:]))
    return Splits(np.array(train), np.array(test), "seed", "seed=%d" % seed)
