"""ReIDDataset and the augmentations: runs of T frames, short sequences, crops, mirrors,
resizing, normalisation, determinism under a seed (Section 5.2)."""

import h5py
import numpy as np
import pytest

from data_prep.synth import SynthConfig, make_synthetic_h5
from rcnreid.data import augment
from rcnreid.data.reader import ReIDDataset
from rcnreid.errors import UserError


@pytest.fixture(scope="module")
def h5(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data_reader") / "syn.h5")
    make_synthetic_h5(path, layout="ilidsvid", persons=4, seed=5,
                      config=SynthConfig(min_len=6, max_len=30))
    return path


@pytest.fixture(scope="module")
def ds(h5):
    d = ReIDDataset(h5)
    yield d
    d.close()


def test_table_and_lookup(ds):
    assert ds.num_sequences == 8 and ds.num_trials == 10 and ds.frame_hw == (176, 66)
    assert ds.name == "synthetic-ilidsvid"
    for i in range(ds.num_sequences):
        assert ds.sequence_index(ds.person[i], ds.camera[i]) == i
        assert ds.frames(i).shape == (ds.length[i], 176, 66, 3)
    assert np.all(ds.start[1:] == ds.start[:-1] + ds.length[:-1])
    with pytest.raises(UserError):
        ds.sequence_index(10 ** 6, 1)
    with pytest.raises(UserError):
        ds.split(10)


def test_random_run_is_a_consecutive_slice_and_covers_all_starts(ds):
    i = int(np.argmax(ds.length))
    L, T = int(ds.length[i]), 5
    full = ds.frames(i)
    rng = np.random.RandomState(0)
    starts = set()
    for _ in range(300):
        run = ds.random_run(i, T, rng)
        assert run.shape == (T, 176, 66, 3)
        hits = [s for s in range(L - T + 1) if np.array_equal(run, full[s:s + T])]
        assert len(hits) >= 1
        starts.add(hits[0])
    assert starts == set(range(L - T + 1))


def test_random_run_is_repeatable_under_a_seed(ds):
    a = [ds.random_run(k % 8, 4, np.random.RandomState(7)) for k in range(3)]
    b = [ds.random_run(k % 8, 4, np.random.RandomState(7)) for k in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_short_sequences_loop_or_hold_the_last_frame(h5, ds):
    i = int(np.argmin(ds.length))
    L = int(ds.length[i])
    T = L + 7
    full = ds.frames(i)
    run = ds.random_run(i, T, np.random.RandomState(0))
    assert np.array_equal(run, full[np.arange(T) % L])
    with ReIDDataset(h5, preload=False, short="repeat_last") as d2:
        run2 = d2.random_run(i, T, np.random.RandomState(0))
        assert np.array_equal(run2[:L], full) and np.all(run2[L:] == full[-1])


def test_bad_files(tmp_path, h5):
    with pytest.raises(UserError, match="not found"):
        ReIDDataset(str(tmp_path / "missing.h5"))
    data = open(h5, "rb").read()
    cut = str(tmp_path / "cut.h5")
    with open(cut, "wb") as f:
        f.write(data[:len(data) // 3])
    with pytest.raises(UserError, match="cut.h5"):
        ReIDDataset(cut)
    other = str(tmp_path / "other.h5")
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(UserError, match="schema"):
        ReIDDataset(other)


# ---------------------------------------------------------------------------------------------
# augmentation

def _frames(T=3, H=176, W=66, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (T, H, W, 3)).astype(np.uint8)


def _reference(frames, top, left, mirror, ch=160, cw=60):
    c = frames[:, top:top + ch, left:left + cw].astype(np.float64)
    if mirror:
        c = c[:, :, ::-1]
    return (c / 127.5 - 1.0).transpose(0, 3, 1, 2)


def test_train_augment_is_one_crop_and_mirror_for_the_whole_sequence():
    fr = _frames(T=2)
    cands = [(t, l, m) for t in range(17) for l in range(7) for m in (False, True)]
    refs = np.stack([_reference(fr, t, l, m) for t, l, m in cands]).astype(np.float32)
    rng = np.random.RandomState(1)
    seen = set()
    for _ in range(60):
        x = augment.train_augment(fr, rng)
        assert x.shape == (2, 3, 160, 60) and x.dtype == np.float32
        err = np.abs(refs - x[None]).reshape(len(cands), -1).max(axis=1)
        matches = np.flatnonzero(err < 1e-6)
        assert len(matches) == 1
        seen.add(cands[matches[0]])
    assert {m for _, _, m in seen} == {False, True}
    assert len({(t, l) for t, l, _ in seen}) > 20
    a = augment.train_augment(fr, np.random.RandomState(3), out_hw=(80, 30))
    b = augment.train_augment(fr, np.random.RandomState(3), out_hw=(80, 30))
    assert a.shape == (2, 3, 80, 30) and np.array_equal(a, b)


def test_test_augmentations_are_fixed_corner_and_centre_crops():
    fr = _frames()
    augs = augment.test_augmentations()
    assert len(augs) == 10 and len(set(augs)) == 10
    where = {"center": (8, 3), "top_left": (0, 0), "top_right": (0, 6), "bottom_left": (16, 0),
             "bottom_right": (16, 6)}
    for aug in augs:
        t, l = where[aug.anchor]
        np.testing.assert_allclose(augment.apply(fr, aug), _reference(fr, t, l, aug.mirror),
                                   atol=1e-6)
    assert len(augment.test_augmentations("center")) == 1
    with pytest.raises(UserError):
        augment.test_augmentations("nine_crops")


def test_resize_to_half_size_averages_pixel_blocks():
    fr = _frames(T=2)
    aug = augment.Aug("bottom_right", True)
    x = augment.apply(fr, aug, out_hw=(80, 30))
    ref = _reference(fr, 16, 6, True)
    ref = ref.reshape(2, 3, 80, 2, 30, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(x, ref, atol=1e-5)
    y = augment.apply(fr, aug, out_hw=(64, 24))         # non-integer factor: OpenCV area
    assert y.shape == (2, 3, 64, 24) and -1.0 <= y.min() and y.max() <= 1.0
    np.testing.assert_allclose(y.mean(axis=(2, 3)), ref.mean(axis=(2, 3)), atol=0.02)


def test_normalisation_maps_0_and_255_to_minus_one_and_one():
    fr = np.zeros((1, 176, 66, 3), dtype=np.uint8)
    fr[..., 1] = 255
    x = augment.apply(fr, augment.Aug())
    assert np.all(x[:, 0] == -1.0) and np.all(x[:, 1] == 1.0)


def test_stack_time_major():
    seqs = [np.random.RandomState(k).rand(4, 3, 8, 5).astype(np.float32) for k in range(3)]
    out = augment.stack_time_major(seqs)
    assert out.shape == (4, 3, 3, 8, 5) and out.dtype == np.float32
    for b in range(3):
        for t in range(4):
            assert np.array_equal(out[t, b], seqs[b][t])
    with pytest.raises(ValueError):
        augment.stack_time_major([seqs[0], seqs[1][:2]])
