"""Claim registry: every checkable statement of a paper, with a stable id ``<paper>.<kind><number>``.

Each paper folder ``verify/<paper>/`` has a ``claims.py`` that defines ``PAPER`` (a :class:`Paper`) and
``CLAIMS`` (a list of :class:`Claim`). They are discovered here, so a new paper needs no change elsewhere.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from constructions.errors import ProofCheckError

PROVENANCES = ("paper", "derived", "reconstructed")
# How the tested statement relates to the paper's: the first element of ``Claim.tested``.
RELATIONS = ("same", "weaker", "stronger", "different")


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    authors: str
    venue: str
    digest: str  # the paper's provenance page, relative to the repo root: docs/provenance/<paper>.md


@dataclass(frozen=True)
class Claim:
    """One checkable statement.

    ``formula`` is plain text; ``formula_typst`` is Typst math (the PDF typesets it, pandoc turns it into LaTeX
    for the Markdown). ``title`` and ``statement`` are Typst markup: prose with inline math ``$...$``, and
    ``# * _ @ < > ` \\ [ ]`` outside math escaped with a backslash (``plain_text`` gives them for a console).
    ``provenance``: ``paper`` (read in the paper or a close restatement), ``derived`` (follows from the
    paper's setup by a derivation this suite checks), ``reconstructed`` (a stand-in for a statement not
    known exactly). ``notes`` says what is reconstructed and which constants are re-pinnable.
    """

    id: str
    title: str
    statement: str
    provenance: str
    formula: str
    formula_typst: str
    notes: str = ""
    sources: tuple[str, ...] = field(default_factory=tuple)
    # (relation, why): what the checks test against what the paper states. relation in RELATIONS; "weaker"
    # names the missing part, and a claim whose checks all pass then reads "holds (weaker)".
    tested: tuple[str, str] = ("same", "")

    def __post_init__(self):
        if self.provenance not in PROVENANCES:
            raise ValueError(f"claim {self.id}: provenance must be one of {PROVENANCES}")
        if self.tested[0] not in RELATIONS:
            raise ValueError(f"claim {self.id}: tested[0] must be one of {RELATIONS}")

    @property
    def paper(self) -> str:
        return self.id.split(".", 1)[0]

    def to_json(self) -> dict:
        out = asdict(self)
        out["paper"] = self.paper
        out["sources"] = list(self.sources)
        return out


# Inline math in a title or statement: $...$ (an escaped \$ is a dollar sign).
INLINE_MATH = re.compile(r"(?<!\\)\$(.*?)(?<!\\)\$", re.S)


def plain_text(markup: str) -> str:
    """A title or statement as plain text: ``$`` delimiters, the quotes of text in math and backslash escapes
    dropped (``'no-CoT loss is $Theta(d^2\\/n)$'`` -> ``'no-CoT loss is Theta(d^2/n)'``)."""
    text = INLINE_MATH.sub(lambda m: m.group(1).replace('"', ""), markup)
    return re.sub(r"\\(.)", r"\1", text)


@lru_cache(maxsize=None)
def _registry() -> tuple[dict[str, Paper], dict[str, Claim]]:
    papers: dict[str, Paper] = {}
    claims: dict[str, Claim] = {}
    root = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(root)]), key=lambda m: m.name):
        if not info.ispkg or not (root / info.name / "claims.py").exists():
            continue
        mod = importlib.import_module(f"verify.{info.name}.claims")
        papers[mod.PAPER.id] = mod.PAPER
        for claim in mod.CLAIMS:
            if claim.id in claims:
                raise ValueError(f"duplicate claim id {claim.id}")
            claims[claim.id] = claim
    return papers, claims


def papers() -> dict[str, Paper]:
    return dict(_registry()[0])


def claims() -> dict[str, Claim]:
    return dict(_registry()[1])


def get(claim_id: str) -> Claim:
    table = _registry()[1]
    if claim_id not in table:
        raise ProofCheckError(f"unknown claim id {claim_id!r} (known: {', '.join(sorted(table))})")
    return table[claim_id]


def select(pattern: str | None) -> list[str]:
    """Claim ids matching a glob (comma-separated globs allowed); raise if a glob matches nothing."""
    ids = sorted(_registry()[1])
    if not pattern:
        return ids
    chosen: list[str] = []
    for glob in (g.strip() for g in pattern.split(",")):
        hits = fnmatch.filter(ids, glob)
        if not glob or not hits:
            raise ProofCheckError(f"--only {glob!r} matches no claim id (known: {', '.join(ids)})")
        chosen += [h for h in hits if h not in chosen]
    return sorted(chosen)
