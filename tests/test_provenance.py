"""Provenance is resolvable from a clone: tags defined, section references existing, no outside paths (fast).

- every source tag used in ``verify/<paper>/claims.py``, in the docstrings and comments of ``constructions/`` and
  ``dynamics/``, in ``verify/unchecked.py`` and on the pages is defined in ``docs/provenance/README.md`` (in the
  section of its paper, where the file belongs to one paper);
- every reference ``docs/provenance/<paper>.md §N`` (with optional ``items i, j``) in tracked Python files names an
  existing page, heading and item, and every ``§`` in the claims is such a reference;
- ``Paper.digest`` is the paper's page;
- no tracked file points outside the repository for the theory material;
- ``verify/unchecked.py`` is well formed and names registered papers.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

from verify import claims as registry
from verify.unchecked import UNCHECKED

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "provenance"
README = DOCS / "README.md"

# A tag opens a bracket that does not follow a word, bracket or parenthesis (so x[None], E[SMS], list[Path] are
# not tags) and ends at "]", or inside a located bracket such as [P-2603 eq. A.1], [S-ICLR p.9; P] or
# [P-2603, their eq. 3.2]; math such as [X, x_q] or [V31 S u_x + ...] is not a tag. In a claim's title or
# statement (Typst markup) a tag is escaped: \[NF\].
TAG = re.compile(r"(?<![\w\]\)])\[([A-Z?][A-Za-z0-9?-]*)(?=\\?\]|;|,? (?:p\.|pp\.|eq\.|their|gives|Lemma))")
# Bracketed math notation that looks like a tag: the label set [S] = {1..S} and the step set [K] = {1..K}.
NOTATION = {"S", "K"}
DEFINED = re.compile(r"^\| \*\*\[([^\]]+)\]\*\*", re.M)

SECREF = r"§(\d+(?:\.\d+)*)(?: items? (\d+(?:(?:, |-)\d+)*))?"
PAGEREF = re.compile(rf"docs/provenance/(\w+)\.md((?:,? (?:and )?{SECREF})*)")
PAPERS = sorted(registry.papers())


def _tags(text: str) -> set[str]:
    return {t for t in TAG.findall(text) if t not in NOTATION}


def _defined() -> dict[str, set[str]]:
    """Tags defined in the README, per paper section (``### <paper> (...)``)."""
    out: dict[str, set[str]] = {}
    for block in re.split(r"^### ", README.read_text(encoding="utf-8"), flags=re.M)[1:]:
        out[block.split()[0]] = set(DEFINED.findall(block))
    return out


def _docs_and_comments(path: Path) -> str:
    src = path.read_text(encoding="utf-8")
    parts = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                parts.append(doc)
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            parts.append(tok.string)
    return "\n".join(parts)


def _claim_text(claim: registry.Claim) -> str:
    return "\n".join([claim.title, claim.statement, claim.formula, claim.notes, *claim.sources])


def _paper_of(path: Path) -> str | None:
    for pid in PAPERS:
        if pid in path.parts or path.stem == pid:
            return pid
    return None


def _code_files() -> list[Path]:
    return sorted([*(ROOT / "constructions").rglob("*.py"), *(ROOT / "dynamics").rglob("*.py")])


def test_readme_defines_tags_for_every_paper():
    defined = _defined()
    assert set(PAPERS) <= set(defined), f"README sections missing for {set(PAPERS) - set(defined)}"
    for pid in PAPERS:
        assert defined[pid], f"no tag defined for {pid}"


@pytest.mark.parametrize("pid", PAPERS)
def test_claim_tags_are_defined(pid):
    defined = _defined()[pid]
    for claim in registry.claims().values():
        if claim.paper == pid:
            missing = _tags(_claim_text(claim)) - defined
            assert not missing, f"{claim.id}: tags {sorted(missing)} not defined for {pid} in {README}"


def test_code_and_page_tags_are_defined():
    per_paper = _defined()
    union = set().union(*per_paper.values())
    sources = [(p, _docs_and_comments(p)) for p in _code_files()]
    sources.append((ROOT / "verify" / "unchecked.py", (ROOT / "verify" / "unchecked.py").read_text(encoding="utf-8")))
    sources += [(DOCS / f"{pid}.md", (DOCS / f"{pid}.md").read_text(encoding="utf-8")) for pid in PAPERS]
    bad = []
    for path, text in sources:
        pid = _paper_of(path)
        missing = _tags(text) - (per_paper[pid] if pid else union)
        if missing:
            bad.append(f"{path.relative_to(ROOT)}: {sorted(missing)}")
    assert not bad, "tags not defined in docs/provenance/README.md:\n" + "\n".join(bad)


def _sections(page: Path) -> dict[str, str]:
    """Numbered heading -> text of its section (down to the next heading of the same or a higher level)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    heads = [(i, len(m.group(1)), m.group(2)) for i, line in enumerate(lines)
             if (m := re.match(r"^(#{2,4}) (.*)$", line))]
    out = {}
    for j, (i, level, title) in enumerate(heads):
        num = re.match(r"(\d+(?:\.\d+)*)\.?\s", title)
        if not num:
            continue
        end = next((i2 for i2, l2, _ in heads[j + 1:] if l2 <= level), len(lines))
        out[num.group(1)] = "\n".join(lines[i + 1:end])
    return out


def _items(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(", "):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def _check_refs(text: str, where: str) -> list[str]:
    bad = []
    for m in PAGEREF.finditer(text):
        page = DOCS / f"{m.group(1)}.md"
        if not page.exists():
            bad.append(f"{where}: no page {page.relative_to(ROOT)}")
            continue
        sections = _sections(page)
        for sec, items in re.findall(SECREF, m.group(2)):
            if sec not in sections:
                bad.append(f"{where}: {page.name} has no section {sec}")
            elif items:
                present = {int(n) for n in re.findall(r"^\s*(\d+)\. ", sections[sec], re.M)}
                missing = [n for n in _items(items) if n not in present]
                if missing:
                    bad.append(f"{where}: {page.name} §{sec} has no items {missing}")
    return bad


def test_every_section_sign_in_claims_is_a_page_reference():
    bad = []
    for claim in registry.claims().values():
        text = _claim_text(claim)
        consumed = sum(m.group(0).count("§") for m in PAGEREF.finditer(text))
        if text.count("§") != consumed:
            bad.append(f"{claim.id}: a '§' not in the form 'docs/provenance/<paper>.md §N'")
    assert not bad, "\n".join(bad)


def test_claim_references_resolve():
    bad = []
    for claim in registry.claims().values():
        bad += _check_refs(_claim_text(claim), claim.id)
    assert not bad, "\n".join(bad)


def test_code_references_resolve():
    bad = []
    for path in sorted(p for d in ("constructions", "dynamics", "verify", "reports", "bench")
                       for p in (ROOT / d).rglob("*.py")):
        bad += _check_refs(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not bad, "\n".join(bad)


def test_paper_digest_is_its_page():
    for pid, paper in registry.papers().items():
        assert paper.digest == f"docs/provenance/{pid}.md", (pid, paper.digest)
        assert (ROOT / paper.digest).is_file(), paper.digest


def test_no_tracked_file_points_outside_the_repository():
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                               timeout=30).stdout.decode().split("\0")
    except (OSError, subprocess.SubprocessError):  # no git (e.g. an unpacked source archive): read the source tree
        skip = {".venv", ".git", ".proofcheck-cache", "__pycache__", ".hypothesis", "out", "build"}
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not skip.intersection(p.relative_to(ROOT).parts)]
    needles = ("shared" + "/theory", ".." + "/shared")  # split so this file does not match itself
    bad = []
    for name in filter(None, files):
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        bad += [f"{name}: {n}" for n in needles if n in text]
    assert not bad, "\n".join(bad)


def test_unchecked_entries():
    known = set(registry.papers())
    assert UNCHECKED and set(UNCHECKED) <= known, f"unknown paper ids {set(UNCHECKED) - known}"
    for pid, entries in UNCHECKED.items():
        assert entries, pid
        for entry in entries:
            assert isinstance(entry, tuple) and len(entry) == 2, (pid, entry)
            assert all(isinstance(s, str) and s.strip() for s in entry), (pid, entry)
        statements = [s for s, _ in entries]
        assert len(set(statements)) == len(statements), f"{pid}: duplicate statements"
    bad = []
    for pid, entries in UNCHECKED.items():
        for s, r in entries:
            bad += _check_refs(f"{s} {r}", f"unchecked {pid}")
    assert not bad, "\n".join(bad)


def test_every_claim_says_what_was_tested_against_what_is_stated():
    """Issue 13: each claim carries its tested-vs-stated line (relation and reason), shown in the report."""
    from verify.claims import RELATIONS, claims

    for cid, claim in claims().items():
        relation, why = claim.tested
        assert relation in RELATIONS and why.strip(), f"{cid}: tested = {claim.tested!r}"
