"""reports/render.py: schema checks, verdict aggregation, Markdown and PDF output on synthetic results."""

from __future__ import annotations

import json
import math

import pytest

from constructions.errors import ProofCheckError
from reports import render
from tests import report_fixture as fx


def rec(verdict, role="check", margin=None):
    return {"verdict": verdict, "role": role, "margin": margin}


# --- aggregation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("records, relation, expected", [
    ([rec("pass"), rec("pass", "negative_control")], "same", "holds"),
    ([rec("pass"), rec("pass", "negative_control")], "stronger", "holds"),
    ([rec("pass")], "weaker", "holds (weaker)"),
    ([rec("pass")], "different", "holds (weaker)"),
    ([rec("pass"), rec("skipped")], "same", "holds (weaker)"),  # a skipped check: less was shown
    ([rec("skipped"), rec("skipped")], "same", "not run"),      # skipped never counts as pass
    ([], "same", "not run"),
    ([rec("skipped"), rec("pass", "probe")], "same", "not run"),  # a probe does not make a claim hold
    ([rec("pass", "probe"), rec("pass", "probe")], "different", "finding"),  # a probe claim reports findings
    ([rec("pass", "probe"), rec("error", "probe")], "same", "error"),
    ([rec("pass"), rec("fail", "probe")], "same", "holds"),       # nor fail
    ([rec("pass"), rec("error", "probe")], "same", "holds"),
    ([rec("pass"), rec("known_failure")], "same", "known failure"),
    ([rec("pass"), rec("not_reproduced"), rec("known_failure")], "weaker", "not reproduced"),
    ([rec("pass"), rec("fail")], "same", "fail"),
    ([rec("fail", "negative_control"), rec("pass"), rec("known_failure")], "same", "fail"),
    ([rec("fail"), rec("error"), rec("pass")], "same", "error"),  # error beats fail
    ([rec("skipped"), rec("error")], "same", "error"),
])
def test_claim_verdict(records, relation, expected):
    assert render.claim_verdict(records, relation) == expected


def test_probe_claims_read_finding():
    """A probe claim (``<paper>.probe_*``) reports findings even when its records have the role 'check'."""
    from verify.evidence import is_probe_claim

    assert is_probe_claim("tree_paths.probe_depth") and not is_probe_claim("gd_cot.theorem4_1")
    assert render.claim_verdict([rec("pass"), rec("pass", "negative_control")], "different", probe=True) == "finding"
    assert render.claim_verdict([rec("pass"), rec("fail")], "different", probe=True) == "fail"
    assert render.claim_verdict([rec("skipped")], "different", probe=True) == "not run"


@pytest.mark.parametrize("verdict, role, label", [
    ("pass", "check", "pass"), ("pass", "probe", "finding"), ("fail", "probe", "finding: not met"),
    ("error", "probe", "error"), ("known_failure", "check", "known failure"),
    ("not_reproduced", "check", "not reproduced"), ("skipped", "check", "not run"),
])
def test_record_label_never_shows_a_probe_as_pass(verdict, role, label):
    assert render.record_label(rec(verdict, role)) == label


def test_claim_margin_is_min_over_counted_numeric_margins():
    records = [rec("pass", margin=5.0), rec("pass", "negative_control", margin="inf"), rec("pass", margin=None),
               rec("fail", "probe", margin=0.01), rec("pass", margin=2)]
    assert render.claim_margin(records) == 2.0
    assert render.claim_margin([rec("pass", margin="inf")]) == math.inf
    assert render.claim_margin([rec("pass"), rec("pass", "probe", margin=3.0)]) is None
    assert render.claim_margin([rec("known_failure", margin=0.3), rec("pass", margin=2.0)]) == 2.0


def test_deterministic_and_statistical_margins_are_kept_apart():
    records = [dict(rec("pass", margin=50.0), margin_kind="deterministic"),
               dict(rec("pass", margin=1.3), margin_kind="statistical"), dict(rec("pass"), margin_kind="exact")]
    assert render.claim_margin(records, "deterministic") == 50.0
    assert render.claim_margin(records, "statistical") == 1.3
    assert render._margins_text(50.0, 1.3, records) == "bound ×50, stat ×1.3"
    assert render._margins_text(None, None, records[2:]) == "exact"


@pytest.mark.parametrize("margin, verdict, text", [
    (3200.0, "pass", "×3.2e+03"), (1.0699, "pass", "×1.07"), (0.5, "fail", "×0.5"), (1e-4, "fail", "×1.0e-04"),
    (math.inf, "pass", "×∞"), (None, "pass", "exact"), (None, "fail", "exact"), (None, "skipped", "—"),
    (None, "error", "—"),
])
def test_format_margin(margin, verdict, text):
    assert render.format_margin(margin, verdict) == text


def test_short_values():
    assert render.short(None) == "—"
    assert render.short("n/(n+d+1)") == "n/(n+d+1)"
    assert render.short([0.1234567891, 2]) == "[0.123457, 2]"
    long = render.short(list(range(100)))
    assert len(long) == 80 and long.endswith("…")


def test_summarize_counts_and_reconstruction():
    s = render.summarize(fx.results())
    assert list(s["claims"]) == ["demo.theorem1", "demo.lemma2", "demo.corollary3"]  # no evidence: not shown
    assert s["counts"] == {"holds": 2, "holds (weaker)": 0, "not reproduced": 0, "known failure": 0, "fail": 1,
                           "error": 0, "not run": 0, "finding": 0}
    assert s["line"] == "3 claims: 2 holds, 1 fail"
    assert s["reconstructed"] == ["demo.lemma2", "demo.corollary3"]  # reconstructed and derived; not 'paper'
    assert s["reconstructed_line"].startswith("2 of 3 claims rest on formulas not read in the paper")
    assert s["claims"]["demo.corollary3"]["warning"].startswith("Derived here, not read in the paper")
    assert s["claims"]["demo.theorem1"]["warning"] is None
    t1, l2 = s["claims"]["demo.theorem1"], s["claims"]["demo.lemma2"]
    assert (t1["verdict"], t1["margin_text"], t1["checks_text"]) == ("holds", "bound ×3.2e+03", "2/2")  # no probe
    assert (l2["verdict"], l2["checks_text"]) == ("fail", "0/2")
    assert t1["tested"] == "Tested vs stated: same."
    assert l2["warning"] == "Reconstructed, not read in the paper: the constant 1 in n+d+1 is re-pinnable"
    assert t1["warning"] is None
    assert s["claims"]["demo.corollary3"]["margin_text"] == "exact"


def test_skipped_only_claim_is_skipped_not_pass():
    data = fx.results()
    data["evidence"] = [r for r in data["evidence"] if r["check"].endswith("eta_skipped")]
    s = render.summarize(data)
    assert s["claims"]["demo.lemma2"]["verdict"] == "not run"
    assert s["line"] == "1 claim: 1 not run"


# --- validation --------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, needle", [
    ({"schema_version": 1}, "schema_version is 1"),
    ({"schema_version": None}, "schema_version is None"),
])
def test_wrong_schema_version(tmp_path, change, needle):
    fx.write(tmp_path, fx.results(**change), figure=False)
    with pytest.raises(ProofCheckError, match=needle):
        render.load_results(tmp_path / "results.json")


def test_missing_keys_are_named(tmp_path):
    data = fx.results()
    del data["evidence"]
    with pytest.raises(ProofCheckError, match="missing key.*evidence"):
        render.validate(data)
    data = fx.results()
    del data["evidence"][0]["verdict"]
    with pytest.raises(ProofCheckError, match=r"evidence\[0\].*verdict"):
        render.validate(data)
    data = fx.results()
    data["evidence"][0]["claim"] = "demo.nope"
    with pytest.raises(ProofCheckError, match="demo.nope"):
        render.validate(data)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ProofCheckError, match="not readable JSON"):
        render.load_results(tmp_path / "results.json")


# --- outputs -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    fx.write(out)
    summary = render.write_report(out)
    return out, summary


def test_markdown_has_summary_sections_and_figures(rendered):
    out, _ = rendered
    md = (out / "proof-check.md").read_text()
    head = md[: md.index("## Summary")]
    assert "# cot-proofcheck proof-check report" in head
    assert "2 of 3 claims rest on formulas not read in the paper" in head
    assert "3 claims: 2 holds, 1 fail" in head
    assert "Python 3.11.7" in head and "torch 2.13.0" in head and "Profile: `quick`" in head
    assert "| [`demo.lemma2`](#demo.lemma2) | Optimal step size | Tested vs stated: same. | reconstructed ⚠ | **fail** | bound ×0.5 | 0/2 |" in md
    assert "**finding: not met**" in md and "**PASS**" not in md  # the probe row
    assert "## A Demo Paper on Chain of Thought" in md and "Demo Conference 2026" in md
    for cid in ("demo.theorem1", "demo.lemma2", "demo.corollary3"):
        assert f"### `{cid}`" in md
    assert "demo.unrun4" not in md  # a claim without evidence is not shown
    assert "$$\n\\eta^{\\ast} = \\frac{n}{n + d + 1}\n$$" in md and "```text" not in md  # pandoc's LaTeX
    assert "> **Warning.** Reconstructed, not read in the paper: the constant 1 in n+d+1 is re-pinnable" in md
    assert "exceeds the bound 0.25" in md and "test_eta_fail reason" in md
    assert "## What the suite does not check" in md and "- The rate of Theorem 9. *Why not:* not known." in md
    assert "](figures/convergence.png)" in md
    assert "## Not run in this profile" in md and "demo.theorem1/big" in md
    assert "| 40 values, 0 … 39 | loss 12 values, 0.1235 … 0.1235 |" in md  # summarised, never raw JSON
    assert '{"' not in md and "| 0.001 (test_eta_fail reason) |" in md  # the tolerance's reason in its row
    assert "## Contents" in md and "- [A Demo Paper on Chain of Thought](#paper-demo)" in md
    assert '<a id="demo.lemma2"></a>' in md and '<a id="paper-demo"></a>' in md
    assert "Git commit: `0123456789ab`" in md and "Partial run" not in md
    assert md.index("## Appendix: training in this run") > md.index("## Not run in this profile")
    assert "Training in this run" not in head  # timings are in the appendix, not the header


def test_partial_run_has_a_banner(tmp_path):
    fx.write(tmp_path, fx.results(only="demo.theorem*"))
    summary = render.write_report(tmp_path)
    assert summary["partial"] and summary["only"] == "demo.theorem*"
    assert "**Partial run** (`--only demo.theorem*`)" in (tmp_path / "proof-check.md").read_text()


def test_figures_are_vector_and_sized_by_aspect(tmp_path):
    """save_figure writes PNG (Markdown) and SVG (PDF); the PDF width follows the aspect ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from verify.evidence import Evidence

    ev = Evidence(claim="demo.theorem1", paper="demo", statement="", provenance="paper", check="demo.theorem1/x",
                  figures_dir=tmp_path / "figures")
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.5))
    ev.save_figure(fig, "demo_wide")
    assert ev.figure == "figures/demo_wide.png" and ev.to_json()["figure_svg"] == "figures/demo_wide.svg"
    assert (tmp_path / "figures" / "demo_wide.svg").read_text().lstrip().startswith("<?xml")
    assert render.figure_width(tmp_path, ev.figure) == 1.0
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ev.save_figure(fig, "demo_single")
    assert render.figure_width(tmp_path, "figures/demo_single.png") == 0.62
    assert render.figure_width(tmp_path, "figures/missing.png") == 0.75


@pytest.mark.parametrize("value, text", [
    (3200.0, "3200"), (0.0123456, "0.01235"), ({"nonfinite": "-inf"}, "-∞"), ([1, 2.5], "[1, 2.5]"),
    ({"estimate": 0.5, "interval": [0.25, {"nonfinite": "inf"}]}, "estimate 0.5; interval [0.25, ∞]"),
    (list(range(100)), "100 values, 0 … 99"), (None, "—"), ("d*(d+1)", "d*(d+1)"),
])
def test_values_are_formatted_for_people(value, text):
    assert render.human(value) == text


def test_pdf_is_written(rendered):
    out, summary = rendered
    assert (out / "proof-check.pdf").read_bytes().startswith(b"%PDF")
    assert all(c["formula_ok"] for c in summary["claims"].values())
    assert json.loads((out / "summary.json").read_text())["line"] == summary["line"]


def test_pdf_survives_bad_formula_and_missing_figure(tmp_path):
    data = fx.results()
    data["claims"]["demo.theorem1"]["formula_typst"] = "loss(w) = #"
    data["claims"]["demo.corollary3"]["title"] = 'Tricky "text" with $math$, #hash, *stars* and ] brackets'
    fx.write(tmp_path, data, figure=False)
    summary = render.write_report(tmp_path)
    row = summary["claims"]["demo.theorem1"]
    assert row["formula_ok"] is False and row["formula_error"]
    assert row["checks"][0]["figure_ok"] is False
    assert (tmp_path / "proof-check.pdf").read_bytes().startswith(b"%PDF")
    assert "Figure `figures/convergence.png` is missing" in (tmp_path / "proof-check.md").read_text()


def test_quality_lines_quote_family_and_mutation_score():
    from reports.render import quality_lines

    results = {"family": {"size": 12, "alpha": 0.01, "per_check_confidence": 0.99, "failed": ["x"]},
               "benchmarks": {"mutants": {"created": "today", "score": {
                   "caught": 19, "total": 20, "equivalent": 1, "per_paper": {"gd_cot": {"caught": 7, "total": 7}}}}}}
    lines = quality_lines(results)
    assert "Holm over 12 statistical tests" in lines[0] and "1 record(s) fail only family-wise" in lines[0]
    assert "19 of 20" in lines[1] and "gd_cot 7/7" in lines[1]
    assert "not measured yet" in quality_lines({})[-1]


def test_seed_margin_text_summarises_the_seeds():
    from reports.render import seed_margin_text

    rec = {"stat_tests": [{"seed": s, "margin": m, "resolution": 0.5} for s, m in ((0, 2.0), (1, 3.0), (2, 1.5))]}
    text = seed_margin_text(rec)
    assert "3 seeds" in text and "min ×1.5" in text and "median ×2" in text and "max ×3" in text
    assert "resolution 0.5" in text
    assert seed_margin_text({"stat_tests": []}) == "" and seed_margin_text({}) == ""


# --- the results.json contract (reports/results.schema.json) -----------------------------------------
def test_fixture_validates_against_the_schema():
    assert render.schema_errors(fx.results()) == []
    assert render.schema()["properties"]["schema_version"]["const"] == render.SCHEMA_VERSION


@pytest.mark.parametrize("path, value, where", [
    (("evidence", 1, "margin"), "inf", "evidence/1/margin"),            # schema 2's string form
    (("evidence", 0, "check"), "verify/demo/test_demo.py::test_step_pass", "evidence/0/check"),  # a node id
    (("claims", "demo.lemma2", "verdict"), "passes", "claims/demo.lemma2/verdict"),
    (("git", "dirty"), "yes", "git/dirty"),
])
def test_schema_violations_are_named(tmp_path, path, value, where):
    data = fx.results()
    obj = data
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value
    assert any(f": {where}: " in line for line in render.schema_errors(data))
    fx.write(tmp_path, data, figure=False)
    with pytest.raises(ProofCheckError, match=where):
        render.load_results(tmp_path / "results.json")


def test_nonfinite_numbers_read_back():
    from verify.evidence import nonfinite, number_value, to_jsonable

    assert to_jsonable([math.inf, -math.inf, math.nan, 1.5]) == [
        {"nonfinite": "inf"}, {"nonfinite": "-inf"}, {"nonfinite": "nan"}, 1.5]
    assert number_value(nonfinite(-math.inf)) == -math.inf and math.isnan(number_value({"nonfinite": "nan"}))
    assert number_value(True) is None and number_value({"nonfinite": "inf", "x": 1}) is None
    assert render.margin_value({"nonfinite": "nan"}) is None and render.margin_value({"nonfinite": "inf"}) == math.inf


def test_summary_json_is_versioned():
    s = render.summarize(fx.results())
    assert s["summary_version"] == render.SUMMARY_VERSION and s["results_schema_version"] == 3
    assert s["git"] == "0123456789ab"
