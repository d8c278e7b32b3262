"""Reports name where their numbers came from (issue 29): the protocol, the split source and,
for a dataset copy converted with --allow-incomplete, the shortfall."""
from experiments.fig5 import _source_note
from experiments.table_report import describe_source


def _info(**kw):
    info = {"path": "/d/prid2011.h5", "dataset": "prid2011", "protocol": "prid2011-200",
            "persons": 200, "split_source": "random: seed=0", "split_kind": "random",
            "copy_check": "complete", "shortfall": ""}
    info.update(kw)
    return info


def test_table_lines_name_the_protocol_split_source_and_an_incomplete_copy():
    line = describe_source(dict(_info(), paper="200 people, random halves"))
    assert "protocol prid2011-200, 200 persons, splits from random: seed=0" in line
    assert "INCOMPLETE" not in line and "Paper: 200 people" in line
    short = "cam_b: 748 people, the published copy has 749 (missing person_0007)"
    line = describe_source(_info(copy_check="incomplete", shortfall=short))
    assert "INCOMPLETE dataset copy (%s)" % short in line
    assert "not recorded (file not found)" in describe_source({"error": "file not found"})


def test_fig5_footer_names_them_too():
    assert _source_note(_info()) == "prid2011-200, splits random: seed=0"
    assert _source_note(_info(copy_check="incomplete")).endswith("INCOMPLETE copy")
    assert _source_note({"error": "x"}) == "data not recorded"
