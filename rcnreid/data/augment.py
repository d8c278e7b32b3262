"""Data augmentation and network input (Section 5.2): crops and mirrors of whole sequences.

Training (:func:`train_augment`): one random crop of the network-input size and one random
horizontal mirror, the same for every frame of the sequence ("cropping and mirroring all frames
for a given sequence"). Test (:func:`test_augmentations` + :func:`apply`): a fixed list of crops x
mirror; evaluation averages the similarities over all of them ("the similarity scores between
sequences are computed and averaged over all augmentation conditions"). The paper does not list
the test crops; the default is the centre and the four corners, each mirrored and not (10
conditions); smaller sets are available by name (docs/REPRODUCTION.md §2).

The crop is :data:`NET_INPUT_HW` (160 x 60, Section 4.1) from the stored 176 x 66 frames. When
``out_hw`` differs (the cheap CPU configurations use e.g. 80 x 30), the crop is resized with
OpenCV: area averaging when shrinking (an integer factor averages blocks of pixels), bilinear
when enlarging. Pixels are normalised to [-1, 1]: x / 127.5 - 1. The output
is float32 (T, 3, h, w), channels first.

>>> frames = np.zeros((4, 176, 66, 3), dtype=np.uint8)          # T = 4 stored frames
>>> x = train_augment(frames, np.random.RandomState(0))
>>> x.shape, x.dtype.name, float(x.min())
((4, 3, 160, 60), 'float32', -1.0)
>>> augs = test_augmentations()                                  # 5 crops x mirror
>>> len(augs), augs[0]
(10, Aug(anchor='center', mirror=False))
>>> apply(frames, augs[1], out_hw=(80, 30)).shape
(4, 3, 80, 30)
>>> stack_time_major([x, x]).shape                               # (T, B, 3, H, W)
(4, 2, 3, 160, 60)
"""
import dataclasses

import numpy as np

from rcnreid.errors import UserError

#: (H, W) of the network input, Section 4.1 ("fixed-size 160x60 RGB images").
NET_INPUT_HW = (160, 60)
ANCHORS = ("center", "top_left", "top_right", "bottom_left", "bottom_right")
#: Named sets of test-time augmentations: crop anchors x mirror flags.
TEST_AUG_SETS = {
    "crops5_mirror": (ANCHORS, (False, True)),
    "crops5": (ANCHORS, (False,)),
    "center_mirror": (("center",), (False, True)),
    "center": (("center",), (False,)),
}
DEFAULT_TEST_AUGS = "crops5_mirror"


@dataclasses.dataclass(frozen=True)
class Aug:
    """One test-time augmentation: where the crop sits in the frame and whether to mirror."""
    anchor: str = "center"
    mirror: bool = False


def crop_origin(frame_hw, crop_hw, anchor):
    """(top, left) of a ``crop_hw`` crop at ``anchor`` in a frame of ``frame_hw``."""
    dy, dx = int(frame_hw[0]) - int(crop_hw[0]), int(frame_hw[1]) - int(crop_hw[1])
    origins = {"center": (dy // 2, dx // 2), "top_left": (0, 0), "top_right": (0, dx),
               "bottom_left": (dy, 0), "bottom_right": (dy, dx)}
    if anchor not in origins:
        raise UserError("crop anchor %r: unknown; use one of %s" % (anchor, ", ".join(ANCHORS)))
    return origins[anchor]


def _crop_hw(frames, crop_hw):
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError("frames must be (T, H, W, 3), got shape %s" % (frames.shape,))
    return (min(int(crop_hw[0]), frames.shape[1]), min(int(crop_hw[1]), frames.shape[2]))


def resize_frames(x, out_hw):
    """float32 (T, h, w, 3) -> float32 (T, oh, ow, 3) with OpenCV: INTER_AREA when shrinking
    (for an integer factor, the mean of each block of pixels), INTER_LINEAR when enlarging."""
    x = np.asarray(x, dtype=np.float32)
    T, h, w, c = x.shape
    oh, ow = int(out_hw[0]), int(out_hw[1])
    if (h, w) == (oh, ow):
        return x
    import cv2
    interp = cv2.INTER_AREA if (oh <= h and ow <= w) else cv2.INTER_LINEAR
    out = np.empty((T, oh, ow, c), dtype=np.float32)
    for t in range(T):   # OpenCV's area filter takes at most 4 channels per call
        out[t] = cv2.resize(x[t], (ow, oh), interpolation=interp).reshape(oh, ow, c)
    return out


def _finish(crop, mirror, out_hw):
    if mirror:
        crop = crop[:, :, ::-1]
    x = resize_frames(crop, out_hw)
    x = x * np.float32(1.0 / 127.5) - np.float32(1.0)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def train_augment(frames, rng, out_hw=NET_INPUT_HW, crop_hw=NET_INPUT_HW):
    """uint8 (T, H, W, 3) -> float32 (T, 3, h, w): one random ``crop_hw`` crop (uniform over the
    positions) and a random mirror (p = 0.5) for the whole sequence, resized to ``out_hw``,
    normalised to [-1, 1]. ``rng`` is a numpy RandomState."""
    frames = np.asarray(frames)
    ch, cw = _crop_hw(frames, crop_hw)
    top = int(rng.randint(0, frames.shape[1] - ch + 1))
    left = int(rng.randint(0, frames.shape[2] - cw + 1))
    mirror = bool(rng.randint(2))
    return _finish(frames[:, top:top + ch, left:left + cw], mirror, out_hw)


def test_augmentations(name=DEFAULT_TEST_AUGS):
    """The fixed list of test-time augmentations (:class:`Aug`), by set name (default: the centre
    and the four corner crops, each with and without mirror: 10 conditions)."""
    if name not in TEST_AUG_SETS:
        raise UserError("test augmentations %r: unknown; use one of %s"
                        % (name, ", ".join(sorted(TEST_AUG_SETS))))
    anchors, mirrors = TEST_AUG_SETS[name]
    return [Aug(a, m) for a in anchors for m in mirrors]


def apply(frames, aug, out_hw=NET_INPUT_HW, crop_hw=NET_INPUT_HW):
    """uint8 (T, H, W, 3) -> float32 (T, 3, h, w): the crop and mirror of ``aug``, resized to
    ``out_hw`` and normalised to [-1, 1] like :func:`train_augment`."""
    frames = np.asarray(frames)
    ch, cw = _crop_hw(frames, crop_hw)
    top, left = crop_origin(frames.shape[1:3], (ch, cw), aug.anchor)
    return _finish(frames[:, top:top + ch, left:left + cw], aug.mirror, out_hw)


def stack_time_major(seqs):
    """A list of B float32 (T, 3, h, w) sequences -> float32 (T, B, 3, h, w), the model's input."""
    seqs = [np.asarray(s, dtype=np.float32) for s in seqs]
    if not seqs:
        raise ValueError("stack_time_major needs at least one sequence")
    shapes = {s.shape for s in seqs}
    if len(shapes) != 1:
        raise ValueError("sequences differ in shape: %s" % sorted(shapes))
    return np.stack(seqs, axis=1)
