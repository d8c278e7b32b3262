"""``rcnreid prepare prid2011``: convert PRID 2011 multi-shot (Section 5.1) to HDF5.

Raw layout: ``prid_2011/multi_shot/cam_a/person_NNNN/NNNN.png`` and ``cam_b/...``; 64x128 (WxH)
frames, 5-675 per sequence. cam_a is the probe camera (1), cam_b the gallery camera (2).
The published copy has 385 people in cam_a and 749 in cam_b; persons 1-200 are seen by both and
form the pairs. The others are distractors seen by one camera and are skipped and counted; note
that ``person_0201`` to ``person_0385`` exist in *both* camera folders but are different people,
so pairs are the ids 1-200 (:data:`PAIR_IDS`), not every folder name the cameras share.
The copy is checked against that description before anything is written
(:mod:`data_prep.check`, ``--allow-incomplete``). Two protocols (docs/REPRODUCTION.md §2):

- ``200`` (default, the paper's text, Section 5.1: "400 image sequences for 200 persons"):
  every pair, 100/100 person splits;
- ``178``: the common protocol of the iLIDS-VID/PRID literature: pairs whose sequences have more
  than 21 frames in both cameras (``min_frames`` = 22), 89/89 splits; the official
  ``train_test_splits_prid.mat`` has ``ls_set`` of 10 x 178 over these people sorted by folder.

Splits: ``--splits-mat`` / ``--splits-json`` (file attribute ``split_source`` = ``official`` for
a file named ``train_test_splits_prid.mat``, else ``mat`` / ``json``; no ``split_seed``), or 10
random splits from ``--seed`` (``split_source`` = ``random``, ``split_seed`` = the seed);
``--require-official-splits`` refuses the random ones.
"""
import os

from data_prep import check, h5out, images, layout, splits as splits_mod
from data_prep.cliargs import add_common_arguments, make_log
from rcnreid.data.splits import PRID178_MIN_FRAMES
from rcnreid.errors import UserError

NAME = "prid2011"
HELP = "convert PRID 2011 multi-shot (prid_2011/multi_shot/cam_a|cam_b/person_NNNN/*.png) to HDF5"

BASE_CANDIDATES = ("multi_shot", os.path.join("prid_2011", "multi_shot"), "")
CAMERAS = (("cam_a", 1), ("cam_b", 2))
PERSON_PATTERN = r"person_(\d+)"
PROTOCOLS = ("200", "178")
#: The 178-person protocol keeps pairs with more than 21 frames in both cameras.
MIN_FRAMES_178 = PRID178_MIN_FRAMES
#: Ids of the people seen by both cameras in the published copy (Hirzer et al., SCIA 2011):
#: person_0001..person_0200; the folders 0201..0385 of cam_a and cam_b are different people.
PAIR_IDS = check.PRID2011.pair_ids
#: The published splits of the 178-person protocol (ls_set, 10 x 178).
OFFICIAL_SPLITS_NAME = "train_test_splits_prid.mat"


def collect_sequences(root, protocol, skipped, min_frames=MIN_FRAMES_178, published=None,
                      allow_incomplete=False, log=None):
    """Scan the tree for ``protocol``: (sequences, sorted person ids, {folder name: person id},
    base folder, :class:`data_prep.check.CheckResult` or None).

    Pairs are the people with a folder in both cameras whose id is in ``pair_ids`` of
    ``published`` (:data:`PAIR_IDS` without a check): in the published copy ``person_0201`` to
    ``person_0385`` exist in both camera folders but are different people. With ``published``
    the copy is checked first (:mod:`data_prep.check`); a departure is one UserError unless
    ``allow_incomplete``.
    """
    if str(protocol) not in PROTOCOLS:
        raise UserError("--protocol %s: unknown PRID 2011 protocol; use 200 or 178" % protocol)
    base = layout.find_base(root, BASE_CANDIDATES, tuple(c for c, _ in CAMERAS),
                            "PRID 2011 (prid_2011/multi_shot/cam_a, cam_b)")
    cams = {num: layout.scan_camera(os.path.join(base, cam), PERSON_PATTERN, skipped)
            for cam, num in CAMERAS}
    lo, hi = (published.pair_ids if published is not None and published.pair_ids
              else PAIR_IDS)
    pairs = sorted((p for p in set(cams[1]) & set(cams[2]) if lo <= p <= hi),
                   key=lambda p: cams[1][p])
    for num, cam in ((1, "cam_a"), (2, "cam_b")):
        n_only = len(set(cams[num]) - set(pairs))
        if n_only:
            skipped["person in %s only (not a pair)" % cam] += n_only
    if not pairs:
        raise UserError("%s: no person appears in both cam_a and cam_b" % base)
    result, scanned = check.scan_pairs(
        base, CAMERAS, cams, pairs, published, allow_incomplete, skipped,
        lambda p: cams[1].get(p) or cams[2].get(p) or "person_%04d" % p, log)
    seqs, persons = [], []
    for pid, two in scanned:
        if any(not paths for _, _, paths in two):
            skipped["pair without a usable sequence in both cameras (incomplete copy)"] += 1
            continue
        if str(protocol) == "178" and min(len(paths) for _, _, paths in two) < min_frames:
            skipped["pair with fewer than %d frames in a camera (178-person protocol)"
                    % min_frames] += 1
            continue
        seqs.extend(h5out.SequenceSource(pid, num, label, paths) for num, label, paths in two)
        persons.append(pid)
    if not persons:
        raise UserError("%s: no pair left for protocol %s" % (base, protocol))
    return seqs, persons, {cams[1][p]: p for p in persons}, base, result


def convert_prid2011(root, out, protocol="200", splits_mat=None, splits_json=None, seed=0,
                     any_size=False, convert_modes=False, min_frames=MIN_FRAMES_178,
                     name="prid2011", source_label=None, log=print, published=check.PRID2011,
                     allow_incomplete=False, require_official_splits=False):
    """Convert a PRID 2011 tree at ``root`` into ``out`` (HDF5); returns the summary dict.

    Splits: ``splits_mat`` / ``splits_json`` when given, else 10 random splits from ``seed``
    (``split_seed`` recorded), or, with ``require_official_splits``, a UserError. The copy is
    checked against ``published`` (:data:`data_prep.check.PRID2011`; None: no check) before
    anything is written; ``allow_incomplete`` converts a copy that falls short and records it.
    """
    protocol = str(protocol)
    h5out.check_out_path(out)
    if require_official_splits and not (splits_mat or splits_json):
        raise UserError("--require-official-splits: no splits file given for PRID 2011, which "
                        "ships none with the frames; pass --splits-mat PATH/%s (the published "
                        "10 x 178 splits, --protocol 178) or --splits-json FILE (make: "
                        "PRID_SPLITS=PATH)" % OFFICIAL_SPLITS_NAME)
    skipped = images.new_counter()
    seqs, persons, by_name, _, checked = collect_sequences(
        root, protocol, skipped, min_frames, published=published,
        allow_incomplete=allow_incomplete, log=log)
    sp = check.load_splits(checked, lambda: splits_mod.load_splits(
        splits_mat, splits_json, persons, by_name, seed), len(persons))
    extra = {"source_root": source_label or os.path.abspath(os.fspath(root)),
             "split_source": splits_mod.split_label(sp, OFFICIAL_SPLITS_NAME),
             "min_frames": int(min_frames) if protocol == "178" else 1}
    if sp.kind == "seed":
        extra["split_seed"] = int(seed)
    if checked is not None:
        extra.update(checked.attrs())
    log("%s (protocol %s): %d people, %d sequences, %d frames; splits from %s"
        % (name, protocol, len(persons), len(seqs), sum(len(s.paths) for s in seqs), sp.source))
    return h5out.write_dataset(
        out, seqs, sp, name=name, protocol="prid2011-%s" % protocol,
        extra_attrs=extra,
        load_kwargs={"expect_wh": None if any_size else images.RAW_WH,
                     "convert_modes": convert_modes},
        skipped=skipped, log=log)


def add_arguments(parser):
    add_common_arguments(parser)
    parser.add_argument("--protocol", choices=PROTOCOLS, default="200",
                        help="200: all pairs, 100/100 splits (the paper's text, default); "
                             "178: pairs with > 21 frames in both cameras, 89/89 splits")
    parser.add_argument("--min-frames", type=int, default=MIN_FRAMES_178,
                        help="protocol 178: least frames per camera a pair must have (default 22)")


def run(args):
    summary = convert_prid2011(args.root, args.out, protocol=args.protocol,
                               splits_mat=args.splits_mat, splits_json=args.splits_json,
                               seed=(args.seed if args.splits_random is None
                                     else args.splits_random), any_size=args.any_size,
                               convert_modes=args.convert_modes, min_frames=args.min_frames,
                               allow_incomplete=args.allow_incomplete,
                               require_official_splits=args.require_official_splits,
                               log=make_log(args))
    print(h5out.format_summary(summary))
    return 0
