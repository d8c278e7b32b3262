"""``rcnreid prepare ilidsvid``: convert iLIDS-VID (Section 5.1) to rcnreid's HDF5 file.

Raw layout: ``i-LIDS-VID/sequences/cam1/personNNN/cam1_personNNN_FFFFF.png`` and ``cam2/...``;
300 people, one sequence per camera, 23-192 frames of 64x128 (WxH). Camera 1 is the probe,
camera 2 the gallery (Section 5.2). Every person must appear in both cameras: a person folder in
one camera only or an empty sequence folder is a departure from the published copy. Official splits:
``train-test people splits/train_test_splits_ilidsvid.mat`` (``ls_set``, 10 x 300, 1-based indices
into the sorted cam1 person folders, first 150 columns test, last 150 train). The dataset ships
that folder beside ``i-LIDS-VID/``; when it is found under ``--root`` (:func:`find_official_splits`)
it is used by default, and the HDF5 file records it (``splits`` attributes ``source_kind`` =
``official-mat`` and ``source``; file attribute ``split_source`` = ``official``).
``--splits-random SEED`` draws 10 random 50/50 splits instead (``split_source`` = ``random``,
``split_seed`` = SEED), as do files converted without the official splits (seed ``--seed``),
unless ``--require-official-splits`` makes the missing file an error.

Before anything is written the copy is checked against the published description (300 people
in each camera, 600 sequences of 23-192 frames, every frame readable; :mod:`data_prep.check`);
a shortfall is one line unless ``--allow-incomplete``.
"""
import os

from data_prep import check, h5out, images, layout, splits as splits_mod
from data_prep.cliargs import add_common_arguments, make_log
from rcnreid.errors import UserError

NAME = "ilidsvid"
HELP = "convert iLIDS-VID (i-LIDS-VID/sequences/cam1|cam2/personNNN/*.png) to HDF5"

#: Where the camera folders may sit under --root.
BASE_CANDIDATES = ("sequences", os.path.join("i-LIDS-VID", "sequences"), "")
CAMERAS = (("cam1", 1), ("cam2", 2))
PERSON_PATTERN = r"person(\d+)"
OFFICIAL_SPLITS = os.path.join("train-test people splits", "train_test_splits_ilidsvid.mat")


def collect_sequences(root, skipped, name="ilidsvid", published=None, allow_incomplete=False,
                      log=None):
    """Scan the tree: (list of SequenceSource ordered by person then camera, sorted person ids,
    {folder name: person id}, base folder, :class:`data_prep.check.CheckResult` or None).

    With ``published`` (a :class:`data_prep.check.Published`) the copy is checked against it
    before anything is read for conversion; a departure is one UserError unless
    ``allow_incomplete``, which leaves out unreadable frames and the people without a usable
    sequence in both cameras. Without it, a person in one camera only or an empty sequence folder
    is an error.
    """
    base = layout.find_base(root, BASE_CANDIDATES, tuple(c for c, _ in CAMERAS), "iLIDS-VID "
                            "(i-LIDS-VID/sequences/cam1, cam2)")
    cams = {}
    for cam, num in CAMERAS:
        cams[num] = layout.scan_camera(os.path.join(base, cam), PERSON_PATTERN, skipped)
    only = sorted(set(cams[1]) ^ set(cams[2]))
    if only and published is None:
        pid = only[0]
        cam = "cam1" if pid in cams[1] else "cam2"
        folder = os.path.join(base, cam, cams[1].get(pid) or cams[2].get(pid))
        raise UserError("%s: person %d appears in %s only (%d such %s in all); iLIDS-VID pairs "
                        "every person across both cameras, restore the other camera's folder or "
                        "remove this one" % (folder, pid, cam, len(only),
                                             "person" if len(only) == 1 else "people"))
    pairs = sorted(set(cams[1]) & set(cams[2]), key=lambda p: cams[1][p])  # sorted cam1 folders
    result, scanned = check.scan_pairs(
        base, CAMERAS, cams, pairs, published, allow_incomplete, skipped,
        lambda p: cams[1].get(p) or cams[2].get(p) or "person%03d" % p, log)
    if result is not None:
        for cam, num in CAMERAS:
            n_only = len(set(cams[num]) - set(pairs))
            if n_only:
                skipped["person in %s only (incomplete copy)" % cam] += n_only
    persons, seqs = [], []
    for pid, two in scanned:
        if any(not paths for _, _, paths in two):
            skipped["person without a usable sequence in both cameras (incomplete copy)"] += 1
            continue
        persons.append(pid)
        seqs.extend(h5out.SequenceSource(pid, num, label, paths) for num, label, paths in two)
    if not persons:
        raise UserError("%s: no person with a usable sequence in both cameras" % base)
    return seqs, persons, {cams[1][p]: p for p in persons}, base, result


def find_official_splits(root, base):
    """The official splits file under ``root``: in ``root`` itself, beside ``i-LIDS-VID/`` (the
    dataset's own layout) or beside ``sequences/``; None when there is none."""
    for folder in (root, os.path.dirname(os.path.dirname(os.path.normpath(base))),
                   os.path.dirname(os.path.normpath(base))):
        path = os.path.join(folder, OFFICIAL_SPLITS)
        if os.path.isfile(path):
            return path
    return None


def convert_ilidsvid(root, out, splits_mat=None, splits_json=None, seed=0, any_size=False,
                     convert_modes=False, name="ilidsvid", source_label=None, log=print,
                     splits_random=None, published=check.ILIDSVID, allow_incomplete=False,
                     require_official_splits=False):
    """Convert an iLIDS-VID tree at ``root`` into ``out`` (HDF5); returns the summary dict.

    Splits: ``splits_mat`` / ``splits_json`` when given; else ``splits_random`` (a seed: random
    splits); else the official splits file when :func:`find_official_splits` finds it; else
    random splits from ``seed``, or, with ``require_official_splits``, a UserError.

    The copy is checked against ``published`` (:data:`data_prep.check.ILIDSVID`; None: no check)
    before anything is written; ``allow_incomplete`` converts a copy that falls short and records
    the shortfall (:mod:`data_prep.check`).
    """
    h5out.check_out_path(out)
    if splits_random is not None and (splits_mat or splits_json):
        raise UserError("--splits-random: give it alone, not with --splits-mat or --splits-json")
    if require_official_splits and splits_random is not None:
        raise UserError("--splits-random %d with --require-official-splits: random splits are "
                        "not the official ones; drop one of the two" % splits_random)
    if splits_random is None and not (splits_mat or splits_json):
        base = layout.find_base(root, BASE_CANDIDATES, tuple(c for c, _ in CAMERAS),
                                "iLIDS-VID (i-LIDS-VID/sequences/cam1, cam2)")
        splits_mat = find_official_splits(os.fspath(root), base)
        if splits_mat:
            log("using the official splits %s (--splits-random SEED for random ones)"
                % splits_mat)
        elif require_official_splits:
            raise UserError("%s: no official splits file '%s' beside i-LIDS-VID/ (searched "
                            "--root, beside i-LIDS-VID/ and beside sequences/) and none given; "
                            "pass --splits-mat PATH/train_test_splits_ilidsvid.mat (make: "
                            "ILIDSVID_SPLITS=PATH), or drop --require-official-splits for "
                            "random splits" % (os.fspath(root), OFFICIAL_SPLITS))
        else:
            log("note: no %s under %s; drawing 10 random splits with seed %d"
                % (OFFICIAL_SPLITS, root, seed))
    elif splits_random is not None:
        seed = splits_random
    skipped = images.new_counter()
    seqs, persons, by_name, base, checked = collect_sequences(
        root, skipped, name, published=published, allow_incomplete=allow_incomplete, log=log)
    sp = check.load_splits(checked, lambda: splits_mod.load_splits(
        splits_mat, splits_json, persons, by_name, seed), len(persons))
    extra = {"source_root": source_label or os.path.abspath(os.fspath(root)),
             "split_source": splits_mod.split_label(sp, OFFICIAL_SPLITS)}
    if sp.kind == "seed":
        extra["split_seed"] = int(seed)
    if checked is not None:
        extra.update(checked.attrs())
    log("%s: %d people, %d sequences, %d frames; splits from %s"
        % (name, len(persons), len(seqs), sum(len(s.paths) for s in seqs), sp.source))
    return h5out.write_dataset(
        out, seqs, sp, name=name, protocol="ilidsvid",
        extra_attrs=extra,
        load_kwargs={"expect_wh": None if any_size else images.RAW_WH,
                     "convert_modes": convert_modes},
        skipped=skipped, log=log)


def add_arguments(parser):
    add_common_arguments(parser)


def run(args):
    summary = convert_ilidsvid(args.root, args.out, splits_mat=args.splits_mat,
                               splits_json=args.splits_json, seed=args.seed,
                               splits_random=args.splits_random,
                               allow_incomplete=args.allow_incomplete,
                               require_official_splits=args.require_official_splits,
                               any_size=args.any_size, convert_modes=args.convert_modes,
                               log=make_log(args))
    print(h5out.format_summary(summary))
    return 0
