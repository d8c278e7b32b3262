"""The library's synthetic dataset (rcnreid.data.synthetic) is exactly what the converters of
``data_prep`` make of the same synthetic raw tree: one dataset, whichever way it is built."""
import h5py
import numpy as np
import pytest

from rcnreid.data.synthetic import SynthConfig, make_synthetic_h5, write_synthetic_tree

SMALL = SynthConfig(min_len=3, max_len=40)


def _same(a, b):
    assert sorted(a) == sorted(b)
    assert {k: a.attrs[k] for k in a.attrs} == {k: b.attrs[k] for k in b.attrs}
    for k in a:
        if isinstance(a[k], h5py.Group):
            _same(a[k], b[k])
        else:
            assert np.array_equal(a[k][()], b[k][()]), k


@pytest.mark.parametrize("layout,protocol", [("ilidsvid", "200"), ("prid2011", "200"),
                                             ("prid2011", "178")])
def test_make_synthetic_h5_equals_converting_the_synthetic_tree(tmp_path, monkeypatch, layout,
                                                                protocol):
    from data_prep.ilidsvid import convert_ilidsvid
    from data_prep.prid2011 import convert_prid2011
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000")
    lib = str(tmp_path / "lib.h5")
    make_synthetic_h5(lib, layout=layout, persons=6, seed=3, config=SMALL, protocol=protocol)
    root = write_synthetic_tree(str(tmp_path / "raw"), layout=layout, persons=6, seed=3,
                                config=SMALL)
    conv = str(tmp_path / "conv.h5")
    label = "synthetic(layout=%s, persons=%d, seed=%d)" % (layout, 6, 3)
    quiet = dict(seed=3, source_label=label, log=lambda *a: None, published=None)
    if layout == "ilidsvid":
        convert_ilidsvid(root, conv, name="synthetic-ilidsvid", **quiet)
    else:
        convert_prid2011(root, conv, protocol=protocol, name="synthetic-prid2011", **quiet)
    with h5py.File(lib, "r") as a, h5py.File(conv, "r") as b:
        _same(a, b)
