"""Loading raw frames: file order, decoding, mode and size checks, resizing to the stored size.

Used by the converters (``rcnreid prepare``, through :mod:`data_prep.images`) and by
``rcnreid rank`` (folders of frames); the library owns it so that it never imports ``data_prep``.

Frames are ordered by the number in the file name (the last run of digits in the name without
its extension), never by directory-listing order: ``9.png < 10.png < 100.png`` and
``cam1_person001_00317.png`` is frame 317. A recurrent model depends on this order.

The stored frame size is :data:`STORED_HW` = 176 x 66 (H x W): the raw 128 x 64 frames of
iLIDS-VID and PRID 2011 are resized with PIL's bilinear filter so that the 160 x 60 network
input (Section 4.1) can be cropped at 17 x 7 positions (docs/DATA.md, docs/REPRODUCTION.md §2).
"""
import collections
import os
import re
import struct
import zlib

import numpy as np

from rcnreid.errors import UserError

#: (H, W) of the frames stored in the HDF5 file.
STORED_HW = (176, 66)
#: (W, H) of the raw frames of iLIDS-VID and PRID 2011.
RAW_WH = (64, 128)
#: File name extensions read as frames (case-insensitive); other files are skipped and counted.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
#: The resize filter (a PIL name), recorded in the HDF5 attributes.
RESIZE_METHOD = "PIL bilinear"

_DIGITS = re.compile(r"(\d+)")


def frame_number(path):
    """The frame number of ``path``: the last run of digits in its name (extension removed).

    Raises UserError naming the file when the name holds no digits.
    """
    stem = os.path.splitext(os.path.basename(path))[0]
    runs = _DIGITS.findall(stem)
    if not runs:
        raise UserError("%s: frame file name holds no frame number; frames are ordered by the "
                        "number in their name (e.g. 0001.png), rename the file" % path)
    return int(runs[-1])


def is_image_name(name):
    """True when ``name`` has an image extension and is not a hidden file."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def list_frames(folder, skipped=None):
    """The image files of one sequence folder in temporal order (by :func:`frame_number`).

    Files that are not images by name (``Thumbs.db``, ``.DS_Store``, sub-folders) are skipped and
    counted in the Counter ``skipped`` under a reason. Raises UserError naming the folder when it
    holds no image, and naming the files when two carry the same frame number.
    """
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise UserError("%s: cannot list the sequence folder (%s)" % (folder, exc.strerror))
    frames = []
    for name in names:
        path = os.path.join(folder, name)
        if is_image_name(name) and os.path.isfile(path):
            frames.append((frame_number(path), path))
        elif skipped is not None:
            skipped["non-image file in a sequence folder"] += 1
    if not frames:
        raise UserError("%s: empty sequence folder (no .png/.jpg/.bmp frames); remove the "
                        "folder or restore its frames" % folder)
    frames.sort()
    for (na, pa), (nb, pb) in zip(frames, frames[1:]):
        if na == nb:
            raise UserError("%s and %s: two frames with the same number %d; the order of the "
                            "sequence is ambiguous, rename or remove one" % (pa, pb, na))
    return [p for _, p in frames]


def load_rgb(path, size=None, expect_wh=None, convert_modes=False, notes=None):
    """Decode one frame as uint8 (H, W, 3) RGB, optionally resized to ``size`` = (H, W).

    Parameters
    ----------
    path : the image file.
    size : (H, W) to resize to with PIL bilinear, or None to keep the file's size.
    expect_wh : (W, H) the file must have (e.g. :data:`RAW_WH`), or None to accept any size.
    convert_modes : when False, a grayscale, RGBA or palette image is an error; when True it is
        converted to RGB and counted in ``notes``.
    notes : optional Counter receiving what was converted.

    Raises UserError naming ``path`` for a file that is not an image, is truncated, has an
    unexpected size or (without ``convert_modes``) is not RGB.
    """
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.load()
            mode, wh = im.mode, im.size
            if mode != "RGB":
                if not convert_modes:
                    raise UserError("%s: image mode %s, expected RGB colour frames; convert the "
                                    "file, or pass --convert-modes to convert such frames"
                                    % (path, mode))
                if notes is not None:
                    notes["frames converted from mode %s to RGB" % mode] += 1
                im = im.convert("RGB")
            else:
                im = im.copy()
    except UserError:
        raise
    except Image.DecompressionBombError as exc:
        raise UserError("%s: image too large to decode safely (%s); frames are small person "
                        "crops, replace or remove the file" % (path, str(exc).splitlines()[0]))
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
            IndexError) as exc:
        raise UserError("%s: not a readable image (%s); replace or remove the file"
                        % (path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    if expect_wh is not None and tuple(wh) != tuple(expect_wh):
        raise UserError("%s: image size %dx%d (WxH), expected %dx%d; pass --any-size to accept "
                        "and resize other sizes" % (path, wh[0], wh[1], expect_wh[0], expect_wh[1]))
    if size is not None and (im.size[1], im.size[0]) != tuple(size):
        im = im.resize((int(size[1]), int(size[0])), Image.BILINEAR)
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:  # pragma: no cover - PIL guarantees RGB here
        raise UserError("%s: decoded to shape %s, expected (H, W, 3)" % (path, arr.shape))
    return arr


def frame_problem(path):
    """Why ``path`` is not a readable frame (one phrase naming nothing but the fault), or None.

    A cheap check for the converters' look at a dataset copy before anything is written: PIL
    reads the header (format, size, the decompression-bomb limit) and ``verify()`` walks the file
    without decoding the pixels (for PNG: every chunk and its checksum, so a truncated or cut file
    is caught). It is about twice as fast as decoding; a file whose compressed pixels are damaged
    behind valid checksums still fails later, in :func:`load_rgb`, naming the file.
    """
    from PIL import Image
    try:
        if os.path.getsize(path) == 0:
            return "empty file"
        with Image.open(path) as im:
            im.verify()
    except Image.DecompressionBombError as exc:
        return "image too large to decode safely (%s)" % str(exc).splitlines()[0]
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
            IndexError) as exc:
        return "not a readable image (%s)" % (str(exc).splitlines()[0] if str(exc)
                                               else type(exc).__name__)
    return None


def new_counter():
    """A Counter for skip / conversion reasons (reported in the conversion summary)."""
    return collections.Counter()
