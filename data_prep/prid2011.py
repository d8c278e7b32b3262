"""``rcnreid prepare prid2011``: convert PRID 2011 multi-shot (Section 5.1) to HDF5.

Raw layout: ``prid_2011/multi_shot/cam_a/person_NNNN/NNNN.png`` and ``cam_b/...``; 64x128 (WxH)
frames, 5-675 per sequence. cam_a is the probe camera (1), cam_b the gallery camera (2).
Only the people with a folder in both cameras (persons 1-200 in the real data) form pairs; the
others (cam_a 201-385, cam_b 201-749) are distractors seen by one camera and are skipped and
counted. Two protocols (docs/REPRODUCTION.md §2):

- ``200`` (default, the paper's text, Section 5.1: "400 image sequences for 200 persons"):
  every pair, 100/100 person splits;
- ``178``: the common protocol of the iLIDS-VID/PRID literature: pairs whose sequences have more
  than 21 frames in both cameras (``min_frames`` = 22), 89/89 splits; the official
  ``train_test_splits_prid.mat`` has ``ls_set`` of 10 x 178 over these people sorted by folder.
"""
import os

from data_prep import h5out, images, layout, splits as splits_mod
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


def collect_sequences(root, protocol, skipped, min_frames=MIN_FRAMES_178):
    """Scan the tree for ``protocol``: (sequences, sorted person ids, {folder name: person id})."""
    if str(protocol) not in PROTOCOLS:
        raise UserError("--protocol %s: unknown PRID 2011 protocol; use 200 or 178" % protocol)
    base = layout.find_base(root, BASE_CANDIDATES, tuple(c for c, _ in CAMERAS),
                            "PRID 2011 (prid_2011/multi_shot/cam_a, cam_b)")
    cams = {num: layout.scan_camera(os.path.join(base, cam), PERSON_PATTERN, skipped)
            for cam, num in CAMERAS}
    for num, cam in ((1, "cam_a"), (2, "cam_b")):
        n_only = len(set(cams[num]) - set(cams[3 - num]))
        if n_only:
            skipped["person in %s only (not a pair)" % cam] += n_only
    pairs = sorted(set(cams[1]) & set(cams[2]), key=lambda p: cams[1][p])
    if not pairs:
        raise UserError("%s: no person appears in both cam_a and cam_b" % base)
    seqs, persons = [], []
    for pid in pairs:
        two = []
        for cam, num in CAMERAS:
            folder = cams[num][pid]
            paths = images.list_frames(os.path.join(base, cam, folder), skipped)
            two.append(h5out.SequenceSource(pid, num, "%s/%s" % (cam, folder), paths))
        if str(protocol) == "178" and min(len(s.paths) for s in two) < min_frames:
            skipped["pair with fewer than %d frames in a camera (178-person protocol)"
                    % min_frames] += 1
            continue
        seqs.extend(two)
        persons.append(pid)
    if not persons:
        raise UserError("%s: no pair left for protocol %s" % (base, protocol))
    return seqs, persons, {cams[1][p]: p for p in persons}, base


def convert_prid2011(root, out, protocol="200", splits_mat=None, splits_json=None, seed=0,
                     any_size=False, convert_modes=False, min_frames=MIN_FRAMES_178,
                     name="prid2011", source_label=None, log=print):
    """Convert a PRID 2011 tree at ``root`` into ``out`` (HDF5); returns the summary dict."""
    protocol = str(protocol)
    h5out.check_out_path(out)
    skipped = images.new_counter()
    seqs, persons, by_name, _ = collect_sequences(root, protocol, skipped, min_frames)
    sp = splits_mod.load_splits(splits_mat, splits_json, persons, by_name, seed)
    log("%s (protocol %s): %d people, %d sequences, %d frames; splits from %s"
        % (name, protocol, len(persons), len(seqs), sum(len(s.paths) for s in seqs), sp.source))
    return h5out.write_dataset(
        out, seqs, sp, name=name, protocol="prid2011-%s" % protocol,
        extra_attrs={"source_root": source_label or os.path.abspath(os.fspath(root)), "split_seed": int(seed),
                     "min_frames": int(min_frames) if protocol == "178" else 1},
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
                               log=make_log(args))
    print(h5out.format_summary(summary))
    return 0
