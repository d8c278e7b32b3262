"""Which HDF5 file a table reads for a dataset, and what the report says about it.

DATA=real: the user's files from ``make data`` (``--ilidsvid``, ``--prid``); DATA=synthetic: the
built-in synthetic datasets, built once under ``<results>/data`` (sized by the profile's
``synthetic_persons``). :func:`describe_dataset` reads the protocol and split source that
``rcnreid prepare`` recorded in the file, which every report prints beside the paper's.
"""
import os

from experiments.options import RowNotRun
from rcnreid.errors import UserError

#: What the paper evaluated on (Section 5.1, 5.3), printed beside what a table ran on.
PAPER_PROTOCOLS = {
    "ilidsvid": "300 persons, 10 random 50/50 person splits (Sections 5.1, 5.3)",
    "prid2011": "200 persons as described (Section 5.1; the 178-person protocol of [50] is not "
                "named), 10 random 50/50 person splits (Section 5.3)",
}


def dataset_path(options, dataset):
    """The HDF5 file for ``dataset``: the user's file (DATA=real) or the built-in synthetic one."""
    if options.data == "synthetic":
        return synthetic_path(options, dataset)
    path = options.ilidsvid if dataset == "ilidsvid" else options.prid
    if not os.path.exists(path):
        opt = "ILIDSVID_H5" if dataset == "ilidsvid" else "PRID_H5"
        raise UserError("%s: %s file not found; build it with `make data` (see docs/DATA.md), "
                        "set %s=..., or use DATA=synthetic" % (path, dataset, opt))
    return path


def synthetic_path(options, dataset):
    persons = options.profile_spec.synthetic_persons
    return os.path.join(options.results, "data", "synthetic-%s-%s.h5"
                        % (dataset, persons if persons else "default"))


def ensure_synthetic(options, dataset, log=print):
    """Build the synthetic HDF5 file for ``dataset`` once (atomic; reused by every table)."""
    path = synthetic_path(options, dataset)
    if os.path.exists(path):
        return path
    try:
        from rcnreid.data.synthetic import make_synthetic_h5
    except ImportError as exc:
        raise RowNotRun("no synthetic data generator (rcnreid.data.synthetic): %s" % exc)
    persons = options.profile_spec.synthetic_persons
    kw = {"layout": dataset, "seed": 0}
    if persons:
        kw["persons"] = persons
    from rcnreid.store.locks import hold
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with hold(path, "synthetic dataset", wait=True, log=log):   # one builder; others wait
        if not os.path.exists(path):
            log("building synthetic %s dataset %s" % (dataset, path))
            make_synthetic_h5(path, **kw)                        # atomic
    return path


def describe_dataset(path):
    """``{"path", "dataset", "protocol", "persons", "split_source", "split_kind", "copy_check",
    "shortfall"}`` recorded in the HDF5 file
    ``path`` (the protocol, e.g. ``prid2011-178``, and the split source, e.g. ``official-mat:
    <file>``, ``seed: seed=0`` or ``json: <file>``, as ``rcnreid prepare`` wrote them), or
    ``{"path", "error"}`` when the file cannot be read."""
    import numpy as np
    from rcnreid.data.reader import ReIDDataset
    try:
        with ReIDDataset(path, preload=False) as ds:
            info = {"path": os.path.abspath(path), "persons": int(len(np.unique(ds.person)))}
            info.update(ds.provenance())    # dataset, protocol, split source, copy check
            return info
    except (UserError, OSError, KeyError, ValueError) as exc:
        return {"path": os.path.abspath(path), "error": str(exc).splitlines()[0]}
