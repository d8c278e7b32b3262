"""``rcnreid prepare ilidsvid``: convert iLIDS-VID (Section 5.1) to rcnreid's HDF5 file.

Raw layout: ``i-LIDS-VID/sequences/cam1/personNNN/cam1_personNNN_FFFFF.png`` and ``cam2/...``;
300 people, one sequence per camera, 23-192 frames of 64x128 (WxH). Camera 1 is the probe,
camera 2 the gallery (Section 5.2). Every person must appear in both cameras: a person folder in
one camera only is an error, as is an empty sequence folder. Official splits:
``train-test people splits/train_test_splits_ilidsvid.mat`` (``ls_set``, 10 x 300, 1-based indices
into the sorted cam1 person folders, first 150 columns test, last 150 train). The dataset ships
that folder beside ``i-LIDS-VID/``; when it is found under ``--root`` (:func:`find_official_splits`)
it is used by default, and the HDF5 file records it (``splits`` attributes ``source_kind`` =
``official-mat`` and ``source``; file attribute ``split_source`` = ``official``).
``--splits-random SEED`` draws 10 random 50/50 splits instead (``split_source`` = ``random``,
``split_seed`` = SEED), as do files converted without the official splits (seed ``--seed``).
"""
import os

from data_prep import h5out, images, layout, splits as splits_mod
from data_prep.cliargs import add_common_arguments, make_log
from rcnreid.errors import UserError

NAME = "ilidsvid"
HELP = "convert iLIDS-VID (i-LIDS-VID/sequences/cam1|cam2/personNNN/*.png) to HDF5"

#: Where the camera folders may sit under --root.
BASE_CANDIDATES = ("sequences", os.path.join("i-LIDS-VID", "sequences"), "")
CAMERAS = (("cam1", 1), ("cam2", 2))
PERSON_PATTERN = r"person(\d+)"
OFFICIAL_SPLITS = os.path.join("train-test people splits", "train_test_splits_ilidsvid.mat")


def collect_sequences(root, skipped, name="ilidsvid"):
    """Scan the tree: (list of SequenceSource ordered by person then camera, sorted person ids,
    {folder name: person id})."""
    base = layout.find_base(root, BASE_CANDIDATES, tuple(c for c, _ in CAMERAS), "iLIDS-VID "
                            "(i-LIDS-VID/sequences/cam1, cam2)")
    cams = {}
    for cam, num in CAMERAS:
        cams[num] = layout.scan_camera(os.path.join(base, cam), PERSON_PATTERN, skipped)
    only = sorted(set(cams[1]) ^ set(cams[2]))
    if only:
        pid = only[0]
        cam = "cam1" if pid in cams[1] else "cam2"
        folder = os.path.join(base, cam, cams[1].get(pid) or cams[2].get(pid))
        raise UserError("%s: person %d appears in %s only (%d such %s in all); iLIDS-VID pairs "
                        "every person across both cameras, restore the other camera's folder or "
                        "remove this one" % (folder, pid, cam, len(only),
                                             "person" if len(only) == 1 else "people"))
    persons = sorted(cams[1], key=lambda p: cams[1][p])      # sorted cam1 folder names
    seqs = []
    for pid in persons:
        for cam, num in CAMERAS:
            folder = cams[num][pid]
            paths = images.list_frames(os.path.join(base, cam, folder), skipped)
            seqs.append(h5out.SequenceSource(pid, num, "%s/%s" % (cam, folder), paths))
    return seqs, persons, {cams[1][p]: p for p in persons}, base


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
                     splits_random=None):
    """Convert an iLIDS-VID tree at ``root`` into ``out`` (HDF5); returns the summary dict.

    Splits: ``splits_mat`` / ``splits_json`` when given; else ``splits_random`` (a seed: random
    splits); else the official splits file when :func:`find_official_splits` finds it; else
    random splits from ``seed``.
    """
    h5out.check_out_path(out)
    if splits_random is not None and (splits_mat or splits_json):
        raise UserError("--splits-random: give it alone, not with --splits-mat or --splits-json")
    skipped = images.new_counter()
    seqs, persons, by_name, base = collect_sequences(root, skipped, name)
    if splits_random is not None:
        seed = splits_random
    elif not (splits_mat or splits_json):
        splits_mat = find_official_splits(os.fspath(root), base)
        if splits_mat:
            log("using the official splits %s (--splits-random SEED for random ones)"
                % splits_mat)
        else:
            log("note: no %s under %s; drawing 10 random splits with seed %d"
                % (OFFICIAL_SPLITS, root, seed))
    sp = splits_mod.load_splits(splits_mat, splits_json, persons, by_name, seed)
    if sp.kind == "official-mat":
        label = ("official" if os.path.basename(splits_mat) == os.path.basename(OFFICIAL_SPLITS)
                 else "mat")
    else:
        label = {"seed": "random"}.get(sp.kind, sp.kind)
    extra = {"source_root": source_label or os.path.abspath(os.fspath(root)),
             "split_source": label}
    if sp.kind == "seed":
        extra["split_seed"] = int(seed)
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
                               any_size=args.any_size, convert_modes=args.convert_modes,
                               log=make_log(args))
    print(h5out.format_summary(summary))
    return 0
