"""Math in the report: every claim's title, statement and formula typesets in Typst (PDF) and converts to LaTeX with
pandoc (Markdown, $...$ and $$...$$); what does not falls back to plain text with a one-line note."""

from __future__ import annotations

import copy
import re
from dataclasses import asdict

import pytest

from reports import render
from tests import report_fixture as fx
from verify import claims

CLAIMS = claims.claims()
# Outside $...$ these are Typst markup syntax (strong, emphasis, labels, references, code, escapes, content,
# non-breaking space, comments) and must be escaped with a backslash.
MARKUP_SPECIAL = re.compile(r"(?<!\\)(?:\\\\)*([#*_@<>`\[\]~]|//|/\*)")


def _items(cid: str) -> list[tuple[str, str]]:
    claim = CLAIMS[cid]
    return [(claim.title, "markup"), (claim.statement, "markup"), (claim.formula_typst, "math")]


def registry_results() -> dict:
    """results.json with every registered claim (one passing record each), as the plugin writes it."""
    data = fx.results()
    data["papers"] = {pid: asdict(p) for pid, p in claims.papers().items()}
    data["claims"] = {cid: dict(c.to_json(), verdict="not run", known_failure=False, records=0)
                      for cid, c in CLAIMS.items()}
    data["evidence"] = [fx._record(cid, "test_check", "pass") for cid in CLAIMS]
    data["not_run"], data["unchecked"] = [], {}
    return fx._with_verdicts(data)


@pytest.fixture(scope="module")
def converted():
    """pandoc's Markdown for every claim's title, statement and formula, in one call."""
    items = [item for cid in sorted(CLAIMS) for item in _items(cid)]
    return dict(zip([(cid, key) for cid in sorted(CLAIMS) for key in ("title", "statement", "formula")],
                    render.to_markdown(items)))


@pytest.mark.parametrize("cid", sorted(CLAIMS))
def test_title_and_statement_typeset_in_markup_mode(cid):
    for key in ("title", "statement"):
        [error] = render.typst_errors([(getattr(CLAIMS[cid], key), "markup")])
        assert error is None, f"{cid}: its {key} does not typeset alone in Typst markup: {error}"


@pytest.mark.parametrize("cid", sorted(CLAIMS))
def test_markup_outside_math_is_escaped(cid):
    """Typst markup syntax outside $...$ would typeset as something else (strong text, a label, a comment)."""
    for key in ("title", "statement"):
        text = getattr(CLAIMS[cid], key)
        assert text.count("$") - text.count("\\$") == 2 * len(claims.INLINE_MATH.findall(text))
        prose = claims.INLINE_MATH.sub(" ", text)
        assert not MARKUP_SPECIAL.search(prose), f"{cid} {key}: unescaped {MARKUP_SPECIAL.search(prose)[1]!r}"


@pytest.mark.parametrize("cid", sorted(CLAIMS))
def test_pandoc_converts_every_claim(converted, cid):
    for key in ("title", "statement", "formula"):
        markdown, why = converted[(cid, key)]
        assert why is None and markdown, f"{cid} {key}: {why}"
        assert "\n" not in markdown and "PROOFCHECKITEM" not in markdown
        source = getattr(CLAIMS[cid], "formula_typst" if key == "formula" else key)
        if key == "formula":
            assert render.latex_balanced(markdown) and "$" not in markdown, f"{cid}: {markdown}"
        else:
            math = claims.INLINE_MATH.findall(markdown)
            assert len(math) == len(claims.INLINE_MATH.findall(source)), f"{cid} {key}: {markdown}"
            assert all(render.latex_balanced(m) for m in math), f"{cid} {key}: {markdown}"
            assert "$$" not in markdown


def test_plain_text_for_the_console():
    assert claims.plain_text(r'no-CoT loss is $Theta(d^2\/n)$, $l_"ts"$ and \[NF\]') == \
        "no-CoT loss is Theta(d^2/n), l_ts and [NF]"
    for claim in CLAIMS.values():
        assert "$" not in claims.plain_text(claim.title) and "\\" not in claims.plain_text(claim.title)


def test_registry_report_has_math_and_no_text_blocks(tmp_path):
    fx.write(tmp_path, registry_results(), figure=False)
    summary = render.write_report(tmp_path)
    md = (tmp_path / "proof-check.md").read_text()
    assert md.count("\n$$\n") == 2 * len(CLAIMS) and "```text" not in md and "did not convert" not in md
    assert all(row["formula_ok"] and row["title_ok"] and row["statement_ok"] and row["formula_latex"]
               for row in summary["claims"].values())
    assert r"### `gd_cot.corollary3_1`: Corollary 3.1 (no-CoT loss is $\Theta(d^{2}/n)$)" in md
    assert r"| [`gd_cot.corollary3_1`](#gd_cot.corollary3_1) | Corollary 3.1 (no-CoT loss is $\Theta(d^{2}/n)$) |" in md
    assert r"$l_{\text{ts}} \geq" in md  # pandoc's trailing space in \text{ts } removed
    assert (tmp_path / "proof-check.pdf").read_bytes().startswith(b"%PDF")


def test_table_cells_escape_pipes_once():
    assert render._md_cell(r"a | b \| c $\left| x \right|$") == r"a \| b \| c $\left\| x \right\|$"
    assert render._md_cell(r"norm $\left\| x \right\|$") == r"norm $\left\Vert  x \right\Vert $"
    assert render._md_cell("two\nlines") == "two lines"


def test_near_miss_formula_falls_back_alone(tmp_path):
    """A formula that typesets in Typst but that pandoc cannot read (a near miss of demo.lemma2's) makes the batched
    call fail; each item is then converted alone and only that formula shows its plain text, with a one-line note."""
    data = fx.results()
    good = data["claims"]["demo.lemma2"]["formula_typst"]
    data["claims"]["demo.lemma2"]["formula_typst"] = "eta^* = n/(n+d+#calc.div-euclid(3, 2))"
    fx.write(tmp_path, data, figure=False)
    summary = render.write_report(tmp_path)
    row = summary["claims"]["demo.lemma2"]
    assert row["formula_ok"] and row["formula_latex"] is None and row["formula_md_error"].startswith("pandoc failed")
    md = (tmp_path / "proof-check.md").read_text()
    section = md[md.index('<a id="demo.lemma2">'):md.index('<a id="demo.corollary3">')]
    assert "```text\neta* = n/(n+d+1)\n```" in section
    note = [line for line in section.splitlines() if "did not convert to LaTeX" in line]
    assert len(note) == 1 and "Traceback" not in md and note[0].startswith("*The formula is shown as plain text")
    assert md.count("\n$$\n") == 2 * 2  # the other two formulas still convert
    assert render.to_markdown([(good, "math")]) == [(r"\eta^{\ast} = \frac{n}{n + d + 1}", None)]


def test_formula_that_does_not_typeset_is_not_converted(tmp_path):
    data = fx.results()
    data["claims"]["demo.theorem1"]["formula_typst"] = "loss(w) = #"
    fx.write(tmp_path, data, figure=False)
    row = render.write_report(tmp_path)["claims"]["demo.theorem1"]
    assert not row["formula_ok"] and row["formula_latex"] is None
    assert row["formula_md_error"].startswith("it does not typeset: ") and "\n" not in row["formula_md_error"]
    assert "```text\nw_{i+1} = w_i - eta S (w_i - w*)\n```" in (tmp_path / "proof-check.md").read_text()


def test_markup_that_does_not_typeset_falls_back_to_plain_text(tmp_path):
    data = fx.results()
    data["claims"]["demo.corollary3"]["title"] = r"Bound with $d^2\/n$ and *unclosed strong"
    data["claims"]["demo.corollary3"]["statement"] = "Uses @nowhere, a reference to no label."
    fx.write(tmp_path, data, figure=False)
    row = render.write_report(tmp_path)["claims"]["demo.corollary3"]
    assert not row["title_ok"] and not row["statement_ok"]
    assert row["title_plain"] == "Bound with d^2/n and *unclosed strong"
    md = (tmp_path / "proof-check.md").read_text()
    assert r"### `demo.corollary3`: Bound with d^2/n and \*unclosed strong" in md
    assert "\nUses @nowhere, a reference to no label.\n" in md
    assert (tmp_path / "proof-check.pdf").read_bytes().startswith(b"%PDF")


def test_without_pandoc_the_report_is_plain_text(tmp_path, monkeypatch):
    def missing():
        raise OSError("No pandoc was found")

    monkeypatch.setattr(render, "pandoc_path", missing)
    fx.write(tmp_path, fx.results(), figure=False)
    summary = render.write_report(tmp_path)
    md = (tmp_path / "proof-check.md").read_text()
    assert "$$" not in md and md.count("```text") == 3
    assert md.count("did not convert to LaTeX (pandoc is not available: No pandoc was found)") == 3
    assert all(row["title_md"] == render.md_escape(row["title_plain"]) for row in summary["claims"].values())


def test_batched_conversion_is_one_pandoc_call(monkeypatch):
    calls = []
    real = render._pandoc
    monkeypatch.setattr(render, "_pandoc", lambda pandoc, items: calls.append(len(items)) or real(pandoc, items))
    items = [item for cid in sorted(CLAIMS)[:5] for item in _items(cid)]
    assert all(why is None for _, why in render.to_markdown(copy.deepcopy(items)))
    assert calls == [15]
