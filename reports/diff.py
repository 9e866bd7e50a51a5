"""``python -m reports diff OLD NEW``: what changed between two results.json files (a CI gate).

Compares the claims' verdicts (results.json ``claims[*].verdict``) and, check by check (stable check ids),
the verdicts and margins. Exit status: 0 no claim got worse; 1 some claim got worse (e.g. holds -> fail, or
with ``--fail-on-margin F`` some check's margin shrank by more than a factor F); 2 bad input (a missing file, not
JSON, or not valid against reports/results.schema.json).

A claim that is "not run" on either side (a partial run, a profile without its checks) is listed as not
compared and never fails the gate.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from constructions.errors import ProofCheckError

# How bad a claim verdict is; a higher rank in NEW than in OLD is a regression. Expected failures rank between
# holding and failing: a claim that starts to fail unexpectedly is worse, one that becomes a known failure too.
RANK = {"holds": 0, "holds (weaker)": 1, "known failure": 2, "not reproduced": 2, "fail": 3, "error": 3}
NOT_COMPARED = "not run"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reports diff",
                                description="Compare two results.json files: claim verdict flips and margin "
                                            "changes. Exit 1 when a claim got worse (usable as a CI gate).")
    p.add_argument("old", help="the baseline results.json (or a report folder holding one)")
    p.add_argument("new", help="the results.json to compare with it (or a report folder)")
    p.add_argument("--margin-change", type=_factor, default=1.5, metavar="F",
                   help="list a check whose margin changed by more than a factor F (default 1.5)")
    p.add_argument("--fail-on-margin", type=_factor, default=None, metavar="F",
                   help="also exit 1 when a check's margin shrank by more than a factor F")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    return p


def _factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number greater than 1 (got {text!r})") from None
    if not (value > 1 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number greater than 1 (got {text!r})")
    return value


def _load(path: str, which: str) -> dict:
    from reports import render

    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        return render.load_results(p)
    except ProofCheckError as exc:
        raise ProofCheckError(f"{which}: {exc}") from None


def _margin(rec: dict | None) -> float | None:
    from reports.render import margin_value

    return None if rec is None or rec["role"] == "probe" else margin_value(rec["margin"])


def compare(old: dict, new: dict, margin_change: float = 1.5, fail_on_margin: float | None = None) -> dict:
    """The comparison as a dict: ``claims`` (one entry per claim id in either file, with ``change`` one of
    worse, better, changed, same, not compared, added, removed), ``checks`` (margin changes beyond
    ``margin_change`` and record verdict changes), ``worse`` (whether the gate fails)."""
    claims = []
    for cid in sorted(set(old["claims"]) | set(new["claims"])):
        a = (old["claims"].get(cid) or {}).get("verdict")
        b = (new["claims"].get(cid) or {}).get("verdict")
        if a is None or b is None:
            change = "added" if a is None else "removed"
        elif NOT_COMPARED in (a, b):
            change = "same" if a == b else "not compared"
        elif RANK[b] > RANK[a]:
            change = "worse"
        elif RANK[b] < RANK[a]:
            change = "better"
        else:
            change = "same" if a == b else "changed"
        claims.append({"claim": cid, "old": a, "new": b, "change": change})
    old_recs = {r["check"]: r for r in old["evidence"]}
    new_recs = {r["check"]: r for r in new["evidence"]}
    checks, shrunk = [], []
    for check in sorted(set(old_recs) & set(new_recs)):
        a, b = old_recs[check], new_recs[check]
        ma, mb = _margin(a), _margin(b)
        ratio = None
        if ma is not None and mb is not None and ma > 0 and mb > 0 and math.isfinite(ma) and math.isfinite(mb):
            ratio = mb / ma
        moved = ratio is not None and (ratio > margin_change or ratio < 1 / margin_change)
        infinite = ma is not None and mb is not None and (math.isinf(ma) != math.isinf(mb))
        if moved or infinite or a["verdict"] != b["verdict"]:
            checks.append({"check": check, "claim": b["claim"], "old_verdict": a["verdict"],
                           "new_verdict": b["verdict"], "old_margin": ma, "new_margin": mb, "ratio": ratio})
        if fail_on_margin is not None and ((ratio is not None and ratio < 1 / fail_on_margin)
                                           or (ma is not None and mb is not None and math.isinf(ma)
                                               and not math.isinf(mb))):
            shrunk.append(check)
    worse_claims = [c["claim"] for c in claims if c["change"] == "worse"]
    return {"old": {"created": old["created"], "git": old.get("git"), "profile": old["profile"]},
            "new": {"created": new["created"], "git": new.get("git"), "profile": new["profile"]},
            "claims": claims, "checks": checks,
            "added_checks": sorted(set(new_recs) - set(old_recs)),
            "removed_checks": sorted(set(old_recs) - set(new_recs)),
            "worse_claims": worse_claims, "shrunk_margins": shrunk,
            "worse": bool(worse_claims or shrunk)}


def _m(value: float | None) -> str:
    from reports.render import format_margin

    return format_margin(value, "pass") if value is not None else "—"


def text(result: dict) -> str:
    """The comparison for people: a count line, the claim changes, then the check changes."""
    counts: dict[str, int] = {}
    for c in result["claims"]:
        counts[c["change"]] = counts.get(c["change"], 0) + 1
    order = ("worse", "better", "changed", "not compared", "added", "removed", "same")
    lines = [f"{len(result['claims'])} claims: " + ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))]
    for c in result["claims"]:
        if c["change"] != "same":
            lines.append(f"  {c['change'].upper():<13} {c['claim']}: {c['old'] or '—'} -> {c['new'] or '—'}")
    if result["old"]["profile"] != result["new"]["profile"]:
        lines.append(f"note: profiles differ (old {result['old']['profile']}, new {result['new']['profile']}); "
                     "margins are not comparable")
    if result["checks"]:
        lines.append(f"{len(result['checks'])} check(s) changed verdict or margin:")
        for c in result["checks"]:
            verdict = (f"{c['old_verdict']} -> {c['new_verdict']}" if c["old_verdict"] != c["new_verdict"]
                       else c["new_verdict"])
            lines.append(f"  {c['check']}: margin {_m(c['old_margin'])} -> {_m(c['new_margin'])} ({verdict})")
    for key, word in (("added_checks", "new"), ("removed_checks", "gone")):
        if result[key]:
            lines.append(f"{len(result[key])} check(s) {word}: {', '.join(result[key][:10])}"
                         + (" …" if len(result[key]) > 10 else ""))
    if result["shrunk_margins"]:
        lines.append(f"{len(result['shrunk_margins'])} check margin(s) shrank beyond --fail-on-margin")
    lines.append("result: " + ("WORSE (exit 1)" if result["worse"] else "no claim got worse (exit 0)"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        old, new = _load(args.old, "OLD"), _load(args.new, "NEW")
    except ProofCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = compare(old, new, args.margin_change, args.fail_on_margin)
    if args.json:
        from verify.evidence import to_jsonable

        print(json.dumps(to_jsonable(result), indent=1, allow_nan=False))
    else:
        print(text(result))
    return 1 if result["worse"] else 0


if __name__ == "__main__":
    sys.exit(main())
