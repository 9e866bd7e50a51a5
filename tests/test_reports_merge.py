"""``python -m reports merge``: shard results merged into one run, Holm and claim verdicts redone."""

from __future__ import annotations

import copy
import json

import pytest

from reports import cli, render
from tests import report_fixture as fx


def _shards(tmp_path, data):
    """Two shard folders from ``data``: the first two records (and the figure) in shard a, the rest in b."""
    a, b = copy.deepcopy(data), copy.deepcopy(data)
    a["evidence"], b["evidence"] = data["evidence"][:2], data["evidence"][2:]
    b["not_run"] = []
    return fx.write(tmp_path / "a", fx._with_verdicts(a)), fx.write(tmp_path / "b", fx._with_verdicts(b), figure=False)


def _stat(name: str, p: float) -> dict:
    rec = fx._record("demo.lemma2", name, "pass", margin=1.5)
    rec["margin_kind"] = "statistical"
    rec["stat_tests"] = [{"expect": "pass", "margin": 1.5, "p_value": p}]
    return rec


def test_merged_shards_equal_the_whole_run(tmp_path, capsys):
    whole = fx.results()
    a, b = _shards(tmp_path, whole)
    assert cli.main(["merge", str(tmp_path / "out"), str(a), str(b.parent)]) == 0
    merged = render.load_results(tmp_path / "out" / "results.json")
    assert [r["check"] for r in merged["evidence"]] == [r["check"] for r in whole["evidence"]]
    assert {c: v["verdict"] for c, v in merged["claims"].items()} == {c: v["verdict"] for c, v in whole["claims"].items()}
    assert (tmp_path / "out" / fx.FIGURE).is_file()
    assert [n["check"] for n in merged["not_run"]] == [n["check"] for n in whole["not_run"]]
    assert "merged 2 shard(s)" in capsys.readouterr().out


def test_holm_is_redone_over_the_whole_run(tmp_path):
    """Each shard alone: one test at p = 0.006 passes at alpha = 0.01. Together (Holm over 2): 0.006 > 0.005, so
    the smaller p fails and, Holm being step-down, so does the other. A shard's own Holm failure is undone first."""
    data = fx.results(evidence=[_stat("test_a", 0.006), _stat("test_b", 0.006)])
    a, b = _shards(tmp_path, data)  # a: both records; b: none
    a_data = json.loads(a.read_text())
    a_data["evidence"] = a_data["evidence"][:1]
    b_data = json.loads(b.read_text())
    b_data["evidence"] = [_stat("test_b", 0.006)]
    b_data["evidence"][0]["verdict"] = "fail"
    b_data["evidence"][0]["message"] = "fails the family-wise (Holm) control over 1 statistical tests: p = 0.006"
    a.write_text(json.dumps(a_data))
    b.write_text(json.dumps(b_data))
    assert cli.main(["merge", str(tmp_path / "out"), str(a), str(b)]) == 0
    merged = json.loads((tmp_path / "out" / "results.json").read_text())
    assert merged["family"]["size"] == 2 and len(merged["family"]["failed"]) == 2
    assert all(r["verdict"] == "fail" for r in merged["evidence"])
    # near miss: at p = 0.004 both pass family-wise (0.004 <= 0.005, then 0.004 <= 0.01)
    for path in (a, b):
        d = json.loads(path.read_text())
        d["evidence"][0]["stat_tests"][0]["p_value"] = 0.004
        path.write_text(json.dumps(d))
    assert cli.main(["merge", str(tmp_path / "out2"), str(a), str(b)]) == 0
    merged = json.loads((tmp_path / "out2" / "results.json").read_text())
    assert merged["family"]["failed"] == [] and all(r["verdict"] == "pass" for r in merged["evidence"])


@pytest.mark.parametrize("case", ["duplicate", "profile", "missing"])
def test_bad_shards_are_one_line_exit_2(tmp_path, capsys, case):
    a, b = _shards(tmp_path, fx.results())
    if case == "duplicate":
        b = a
    elif case == "profile":
        d = json.loads(b.read_text())
        d["profile"] = "paper"
        b.write_text(json.dumps(d))
    else:
        b = tmp_path / "nowhere"
    assert cli.main(["merge", str(tmp_path / "out"), str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
