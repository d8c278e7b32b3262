"""CMC plots (PNG + PDF, rank-1 in the legend as in Fig. 5) and result loading."""
import json

import numpy as np
import pytest

from rcnreid.errors import UserError
from rcnreid.viz.cmc_plot import legend_label, load_result, plot_cmc


def test_plot_writes_png_and_pdf_with_rank1_labels(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps({"cmc": [0.25, 0.5, 0.75], "label": "Deep RCN"}))
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"cmc": [0.5, 0.6, 0.9], "cmc_std": [0.1, 0.1, 0.0]}))
    curves = [load_result(str(a)), load_result(str(b))]
    assert curves[0][0] == "Deep RCN" and curves[1][0] == "b"
    assert legend_label("Deep RCN", np.array([0.535])) == "[53.5%] Deep RCN"
    paths = plot_cmc(curves, str(tmp_path / "fig5"), max_rank=3)
    assert paths == [str(tmp_path / "fig5.png"), str(tmp_path / "fig5.pdf")]
    assert (tmp_path / "fig5.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "fig5.pdf").read_bytes()[:5] == b"%PDF-"
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(UserError):
        load_result(str(tmp_path / "c.json"))
