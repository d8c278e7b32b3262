"""The 10 train/test person splits (Section 5.3: 50% of the persons train, 50% test, 10 trials).

Three sources, recorded in the HDF5 file (``splits`` attributes ``source_kind`` and ``source``):

- ``official-mat``: ``train_test_splits_ilidsvid.mat`` / ``train_test_splits_prid.mat``, variable
  ``ls_set`` of shape (10, P): 1-based indices into the protocol's persons sorted by folder name;
  the first P/2 columns of a row are the test persons, the last P/2 the training persons.
- ``json``: a list of 10 objects ``{"train": [folder names], "test": [folder names]}`` as other
  re-identification toolkits publish them.
- ``seed``: 10 random 50/50 person splits drawn from a recorded seed.

Trials are numbered 0..9 (row k of ``ls_set`` / item k of the JSON list is trial k).
"""
import json
import os

import numpy as np

from rcnreid.data.splits import NUM_TRIALS, Splits, random_splits  # noqa: F401  (the library's)
from rcnreid.errors import UserError


def _load_mat_variable(path, name):
    import scipy.io
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:          # MATLAB v7.3 files are HDF5
        import h5py
        try:
            with h5py.File(path, "r") as f:
                if name not in f:
                    raise UserError("%s: no variable %r; expected the official splits file with "
                                    "ls_set (10 x P)" % (path, name))
                return np.asarray(f[name]).T
        except OSError as exc:
            raise UserError("%s: cannot read the .mat file (%s)" % (path, exc))
    except (OSError, ValueError, TypeError) as exc:
        raise UserError("%s: cannot read the .mat file (%s); pass the official splits file"
                        % (path, exc))
    if name not in mat:
        raise UserError("%s: no variable %r; expected the official splits file with ls_set "
                        "(10 x P)" % (path, name))
    return np.asarray(mat[name])


def splits_from_mat(path, ordered_persons, num_trials=NUM_TRIALS, variable="ls_set"):
    """Read the official ``ls_set`` splits; ``ordered_persons`` are the protocol's person ids in
    sorted-folder order (the 1-based indices of ``ls_set`` point into it)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError("%s: splits file not found; check --splits-mat" % path)
    ordered = np.asarray(ordered_persons, dtype=np.int64)
    ls = _load_mat_variable(path, variable)
    if ls.ndim != 2:
        raise UserError("%s: %s has shape %s, expected (%d, %d)"
                        % (path, variable, ls.shape, num_trials, len(ordered)))
    if ls.shape[0] != num_trials and ls.shape[1] == num_trials:
        ls = ls.T
    if ls.shape != (num_trials, len(ordered)):
        raise UserError("%s: %s has shape %s but the protocol has %d trials x %d people; use the "
                        "splits file of this dataset and protocol (--protocol)"
                        % (path, variable, ls.shape, num_trials, len(ordered)))
    if not np.all(np.equal(np.mod(ls, 1), 0)):
        raise UserError("%s: %s holds non-integer indices" % (path, variable))
    idx = ls.astype(np.int64)
    bad = idx[(idx < 1) | (idx > len(ordered))]
    if bad.size:
        raise UserError("%s: %s names unknown people (index %d; valid 1..%d)"
                        % (path, variable, int(bad[0]), len(ordered)))
    for k, row in enumerate(idx):
        if len(np.unique(row)) != len(row):
            raise UserError("%s: %s row %d repeats a person" % (path, variable, k + 1))
    n_test = len(ordered) // 2 if len(ordered) % 2 == 0 else (len(ordered) + 1) // 2
    persons = ordered[idx - 1]
    test = np.sort(persons[:, :n_test], axis=1)
    train = np.sort(persons[:, n_test:], axis=1)
    return Splits(train, test, "official-mat", path)


def splits_from_json(path, name_to_person, num_trials=NUM_TRIALS):
    """Read JSON splits: a list of ``num_trials`` objects ``{"train": [...], "test": [...]}`` whose
    entries are person folder names (keys of ``name_to_person``) or integer person ids."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UserError("%s: splits file not found; check --splits-json" % path)
    except (OSError, ValueError) as exc:
        raise UserError("%s: not a readable JSON file (%s)" % (path, exc))
    if not isinstance(data, list) or len(data) != num_trials:
        raise UserError("%s: expected a list of %d objects {\"train\": [...], \"test\": [...]}, "
                        "found %s" % (path, num_trials, "a list of %d" % len(data)
                                      if isinstance(data, list) else type(data).__name__))
    known_ids = set(int(v) for v in name_to_person.values())

    def resolve(entry, k, key):
        if isinstance(entry, str) and entry in name_to_person:
            return int(name_to_person[entry])
        if isinstance(entry, int) and not isinstance(entry, bool) and entry in known_ids:
            return int(entry)
        raise UserError("%s: trial %d %r names unknown person %r (not in the converted "
                        "dataset/protocol)" % (path, k, key, entry))

    train, test = [], []
    for k, item in enumerate(data):
        if not isinstance(item, dict) or "train" not in item or "test" not in item:
            raise UserError("%s: item %d is not an object with \"train\" and \"test\"" % (path, k))
        tr = [resolve(e, k, "train") for e in item["train"]]
        te = [resolve(e, k, "test") for e in item["test"]]
        if len(set(tr)) != len(tr) or len(set(te)) != len(te):
            raise UserError("%s: trial %d lists a person twice" % (path, k))
        if set(tr) & set(te):
            raise UserError("%s: trial %d has person %d in both train and test"
                            % (path, k, sorted(set(tr) & set(te))[0]))
        train.append(sorted(tr))
        test.append(sorted(te))
    if len({len(t) for t in train}) != 1 or len({len(t) for t in test}) != 1:
        raise UserError("%s: trials differ in their train/test counts (%s / %s); every trial "
                        "must split the same number of people"
                        % (path, sorted({len(t) for t in train}), sorted({len(t) for t in test})))
    return Splits(np.array(train, dtype=np.int64), np.array(test, dtype=np.int64), "json", path)


def check_against(splits, persons, what):
    """Check that every trial splits exactly ``persons`` (the people converted) into two halves."""
    persons = set(int(p) for p in persons)
    for k in range(splits.num_trials):
        tr, te = set(splits.train[k].tolist()), set(splits.test[k].tolist())
        if tr | te != persons:
            missing = sorted(persons - (tr | te))
            extra = sorted((tr | te) - persons)
            raise UserError("%s: trial %d covers %d of the %d converted people (missing %s, "
                            "unknown %s); use the splits file of this dataset and protocol"
                            % (what, k, len(tr | te), len(persons), missing[:5], extra[:5]))


def split_label(splits, official_name):
    """The file attribute ``split_source``: ``official`` (the dataset's own splits file, by its
    published name), ``mat`` (another .mat file), ``json`` or ``random`` (drawn from a seed)."""
    if splits.kind == "official-mat":
        same = os.path.basename(splits.source) == os.path.basename(official_name)
        return "official" if same else "mat"
    from rcnreid.data.writer import SPLIT_SOURCE_OF_KIND
    return SPLIT_SOURCE_OF_KIND.get(splits.kind, splits.kind)


def load_splits(splits_mat, splits_json, ordered_persons, name_to_person, seed):
    """The splits from the .mat file, the JSON file, or the seed (at most one file)."""
    if splits_mat and splits_json:
        raise UserError("--splits-mat and --splits-json: give at most one splits file")
    if splits_mat:
        s = splits_from_mat(splits_mat, ordered_persons)
    elif splits_json:
        s = splits_from_json(splits_json, name_to_person)
    else:
        return random_splits(ordered_persons, seed=seed)
    check_against(s, ordered_persons, splits_mat or splits_json)
    return s
