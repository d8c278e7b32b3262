"""``rcnreid prepare viper``: convert VIPeR (Gray et al. [20]) to rcnreid's HDF5 file.

VIPeR is the single-shot dataset on which Section 5.3 fine-tunes VGG-16 before extracting fc7 for
the "VGG 16 + FC-GRU" row of Table 2. Raw layout: ``VIPeR/cam_a/*.bmp`` and ``VIPeR/cam_b/*.bmp``,
632 people, one 48x128 (WxH) image per person and camera, named ``NNN_AAA.bmp`` (person number,
viewing angle). The person id is the leading number of the file name.

The output is the same HDF5 schema as the video datasets (docs/DATA.md): one sequence of length 1
per person and camera (camera 1 = cam_a, 2 = cam_b), frames stored at 128x48 (the raw size; no
resize), 10 random 50/50 person splits from ``--seed`` (or ``--splits-json``). So
:class:`rcnreid.data.reader.ReIDDataset` reads it like any other dataset.

Errors (as the other converters): a missing ``cam_a``/``cam_b`` folder, a file name without a
leading person number, two images of one person in a camera, an unreadable or truncated image, an
image of another size (without ``--any-size``) or mode (without ``--convert-modes``) are one-line
errors naming the file. A person in one camera only is an error too, unless
``--allow-unpaired`` skips such people (counted in the summary). Non-image files are skipped and
counted. The file is written atomically.
"""
import os
import re

from data_prep import h5out, images, layout, splits as splits_mod
from data_prep.cliargs import make_log
from rcnreid.errors import UserError

NAME = "viper"
HELP = "convert VIPeR (cam_a/*.bmp, cam_b/*.bmp; single-shot, for fine-tuning VGG-16) to HDF5"

CAMERAS = (("cam_a", 1), ("cam_b", 2))
BASE_CANDIDATES = ("", "VIPeR", "viper")
#: (W, H) of VIPeR's images.
RAW_WH = (48, 128)
#: (H, W) stored: VIPeR's own size.
STORED_HW = (128, 48)
_LEADING = re.compile(r"(\d+)")


def person_of(path):
    """The person number at the start of the file name (``000_45.bmp`` -> 0)."""
    m = _LEADING.match(os.path.basename(path))
    if not m:
        raise UserError("%s: VIPeR file names start with the person number (e.g. 000_45.bmp); "
                        "rename or remove the file" % path)
    return int(m.group(1))


def scan_camera(cam_dir, skipped):
    """``{person id: image path}`` of one camera folder."""
    if not os.path.isdir(cam_dir):
        raise UserError("%s: camera folder missing; VIPeR needs cam_a and cam_b under --root"
                        % cam_dir)
    found = {}
    for name in sorted(os.listdir(cam_dir)):
        path = os.path.join(cam_dir, name)
        if not (images.is_image_name(name) and os.path.isfile(path)):
            skipped["non-image file in a camera folder"] += 1
            continue
        pid = person_of(path)
        if pid in found:
            raise UserError("%s and %s: two images of person %d in one camera; VIPeR has one "
                            "per camera, remove one" % (found[pid], path, pid))
        found[pid] = path
    if not found:
        raise UserError("%s: no images (.bmp/.png/.jpg); point --root at the VIPeR folder"
                        % cam_dir)
    return found


def collect_sequences(root, skipped, allow_unpaired=False):
    """(list of SequenceSource, person by camera 1 then 2; sorted person ids)."""
    base = layout.find_base(root, BASE_CANDIDATES, "cam_a", "VIPeR (cam_a, cam_b)")
    cams = {num: scan_camera(os.path.join(base, cam), skipped) for cam, num in CAMERAS}
    only = sorted(set(cams[1]) ^ set(cams[2]))
    if only and not allow_unpaired:
        pid = only[0]
        cam, num = ("cam_a", 1) if pid in cams[1] else ("cam_b", 2)
        raise UserError("%s: person %d appears in %s only (%d such people); restore the other "
                        "image or pass --allow-unpaired to skip them"
                        % (cams[num][pid], pid, cam, len(only)))
    if only:
        skipped["person in one camera only (skipped)"] += len(only)
    persons = sorted(set(cams[1]) & set(cams[2]))
    if len(persons) < 2:
        raise UserError("%s: fewer than 2 people appear in both cam_a and cam_b" % base)
    seqs = []
    for pid in persons:
        for cam, num in CAMERAS:
            path = cams[num][pid]
            seqs.append(h5out.SequenceSource(pid, num, "%s/%s" % (cam, os.path.basename(path)),
                                             [path]))
    return seqs, persons, base


def convert_viper(root, out, splits_json=None, seed=0, any_size=False, convert_modes=False,
                  allow_unpaired=False, name="viper", log=print):
    """Convert the VIPeR tree at ``root`` into ``out`` (HDF5); returns the summary dict."""
    log = log or (lambda *a: None)
    skipped = images.new_counter()
    seqs, persons, base = collect_sequences(root, skipped, allow_unpaired)
    by_name = {str(p): p for p in persons}
    by_name.update({"%03d" % p: p for p in persons})
    sp = splits_mod.load_splits(None, splits_json, persons, by_name, seed)
    log("%s: %d people, %d images; splits from %s" % (name, len(persons), len(seqs), sp.source))
    return h5out.write_dataset(
        out, seqs, sp, name=name, protocol="viper", frame_hw=STORED_HW,
        extra_attrs={"source_root": os.path.abspath(os.fspath(root)), "split_seed": int(seed),
                     "single_shot": 1},
        load_kwargs={"expect_wh": None if any_size else RAW_WH, "convert_modes": convert_modes},
        skipped=skipped, log=log)


def add_arguments(parser):
    parser.add_argument("--root", required=True, help="the VIPeR folder (holding cam_a, cam_b)")
    parser.add_argument("--out", required=True, help="the HDF5 file to write")
    parser.add_argument("--splits-json", help='JSON splits: 10 objects {"train": [...], '
                                              '"test": [...]} of person numbers')
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the 10 random 50/50 splits when no splits file is given")
    parser.add_argument("--any-size", action="store_true",
                        help="accept images of any size, resized to 48x128 (default: an error)")
    parser.add_argument("--convert-modes", action="store_true",
                        help="convert grayscale/RGBA/palette images to RGB (default: an error)")
    parser.add_argument("--allow-unpaired", action="store_true",
                        help="skip people with an image in one camera only (default: an error)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args):
    summary = convert_viper(args.root, args.out, splits_json=args.splits_json, seed=args.seed,
                            any_size=args.any_size, convert_modes=args.convert_modes,
                            allow_unpaired=args.allow_unpaired, log=make_log(args))
    print(h5out.format_summary(summary))
    return 0
