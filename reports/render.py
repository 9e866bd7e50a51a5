"""Render results.json (written by verify/plugin.py) as proof-check.md and proof-check.pdf.

Everything computed (per-claim verdicts, margins, shortened values) is done here, once, and written to
``summary.json`` next to results.json; the Markdown template and the Typst template only lay it out.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2

from constructions.errors import ProofCheckError
from verify.claims import INLINE_MATH, plain_text
from verify.evidence import (
    CLAIM_VERDICT_MEANING, CLAIM_VERDICTS, COUNTED_ROLES, ROLES, SCHEMA_VERSION, VERDICTS, claim_verdict,
    is_probe_claim, number_value, record_label, to_jsonable,
)

TITLE = "cot-proofcheck proof-check report"
TEMPLATES = Path(__file__).parent / "templates"
SCHEMA = Path(__file__).parent / "results.schema.json"  # the results.json contract (JSON Schema, draft 2020-12)
SUMMARY_VERSION = 1  # summary.json: the report's computed view of results.json (its own version)
SHORT = 80  # characters of a predicted/measured/tolerance value shown in a table cell

_TOP_KEYS = ("schema_version", "profile", "created", "environment", "command", "papers", "claims",
             "evidence", "not_run")
_CLAIM_KEYS = ("id", "title", "statement", "provenance", "formula", "formula_typst", "notes", "paper", "tested")
_RECORD_KEYS = ("claim", "check", "role", "description", "predicted", "measured", "tolerance",
                "tolerance_reason", "margin", "verdict", "message", "figure", "seconds")


# --- loading -----------------------------------------------------------------------------------------
def load_results(path: str | Path) -> dict:
    """Read and validate results.json; raise ProofCheckError naming what is wrong."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProofCheckError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise ProofCheckError(f"{path}: not readable JSON ({exc})") from None
    return validate(results, str(path))


def validate(results: Any, where: str = "results.json") -> dict:
    """Check the schema version and the keys the report uses; return ``results`` unchanged."""
    if not isinstance(results, dict):
        raise ProofCheckError(f"{where}: expected a JSON object at the top level")
    if results.get("schema_version") != SCHEMA_VERSION:
        raise ProofCheckError(f"{where}: schema_version is {results.get('schema_version')!r}, "
                              f"this report reads version {SCHEMA_VERSION}")
    _require(results, _TOP_KEYS, where)
    for cid, claim in results["claims"].items():
        _require(claim, _CLAIM_KEYS, f"{where}: claim {cid!r}")
    for i, rec in enumerate(results["evidence"]):
        _require(rec, _RECORD_KEYS, f"{where}: evidence[{i}]")
        if rec["claim"] not in results["claims"]:
            raise ProofCheckError(f"{where}: evidence[{i}] is for claim {rec['claim']!r}, which is not in 'claims'")
        if rec["verdict"] not in VERDICTS:
            raise ProofCheckError(f"{where}: evidence[{i}] has verdict {rec['verdict']!r} (one of {VERDICTS})")
        if rec["role"] not in ROLES:
            raise ProofCheckError(f"{where}: evidence[{i}] has role {rec['role']!r} (one of {ROLES})")
    schema_errors(results, where, raise_first=True)
    return results


def schema() -> dict:
    """The results.json JSON Schema (reports/results.schema.json)."""
    return json.loads(SCHEMA.read_text())


def schema_errors(results: Any, where: str = "results.json", raise_first: bool = False) -> list[str]:
    """Every violation of the JSON Schema, one line each ('where: evidence/3/margin: ...'); with
    ``raise_first``, raise ProofCheckError on the first one instead."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    lines = []
    for err in sorted(validator.iter_errors(results), key=lambda e: list(map(str, e.absolute_path))):
        at = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        line = f"{where}: {at}: {err.message[:300]} (schema: {'/'.join(map(str, err.absolute_schema_path))})"
        if raise_first:
            raise ProofCheckError(line)
        lines.append(line)
    return lines


def _require(obj: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(obj, dict):
        raise ProofCheckError(f"{where}: expected a JSON object")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise ProofCheckError(f"{where}: missing key(s) {', '.join(missing)}")


# --- aggregation (pure) ------------------------------------------------------------------------------
def margin_value(margin: Any) -> float | None:
    """A record's margin as a float (``{"nonfinite": "inf"}`` -> inf); None when absent, NaN or not a number."""
    value = number_value(margin)
    return None if value is None or math.isnan(value) else value


def claim_margin(records: list[dict], kind: str | None = None) -> float | None:
    """The smallest numeric margin over the counted records that ran (None if none is numeric); ``kind``
    ('deterministic' or 'statistical') keeps only records whose margin is of that kind. Expected failures
    (known failure, not reproduced) are shown by their verdict, not in the margin."""
    margins = [margin_value(r["margin"]) for r in records if r["role"] in COUNTED_ROLES
               and r["verdict"] in ("pass", "fail") and (kind is None or r.get("margin_kind") == kind)]
    margins = [m for m in margins if m is not None]
    return min(margins) if margins else None


def tested_line(claim: dict) -> str:
    """'Tested vs stated: weaker. <why>' from the claim's ``tested`` (relation, why)."""
    relation, why = (list(claim.get("tested") or ["same", ""]) + ["", ""])[:2]
    why = why.strip().rstrip(".")
    return f"Tested vs stated: {relation}" + (f". {why[:1].upper()}{why[1:]}." if why else ".")


def is_reconstructed(claim: dict) -> bool:
    """A claim rests on formulas not read in the paper when its provenance is 'derived' or 'reconstructed'."""
    return claim["provenance"] in ("derived", "reconstructed")


def provenance_warning(claim: dict) -> str | None:
    """The plain warning shown under a claim whose formulas were not read in the paper."""
    notes = (claim.get("notes") or "").strip() or "no notes given."
    if claim["provenance"] == "reconstructed":
        return f"Reconstructed, not read in the paper: {notes}"
    if claim["provenance"] == "derived":
        return f"Derived here, not read in the paper: {notes}"
    return f"Notes: {notes}" if claim.get("notes") else None


def format_margin(margin: float | None, verdict: str) -> str:
    """'×3.2e+03', '×1.04', '×∞'; 'exact' for a pass/fail without a number; '—' otherwise."""
    if margin is None:
        return "exact" if verdict in ("pass", "fail", "holds", "holds (weaker)") else "—"
    if math.isinf(margin):
        return "×∞" if margin > 0 else "×-∞"
    if margin == 0 or 0.01 <= abs(margin) < 1000:
        return f"×{margin:.3g}"
    return f"×{margin:.1e}"


def short(value: Any, width: int = SHORT) -> str:
    """A JSON value as one line of at most ``width`` characters (floats to 6 significant digits)."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(_round(value), ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def number_text(x: float) -> str:
    """A number for people: integers as they are, others to 4 significant digits ('0.0123', '3.2e+05'),
    non-finite ones as ∞, -∞, NaN."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.4g}"


def human(value: Any, width: int = SHORT) -> str:
    """A predicted/measured/tolerance value as a table cell for people, never raw JSON: numbers formatted
    (non-finite ones as ∞/NaN), short lists of numbers in full, long ones as 'n values, min … max', objects as
    'key value; key value' (nested values summarised the same way). The full value stays in results.json."""
    text = _human(value, 0)
    return text if len(text) <= width else text[: width - 1].rstrip(",; ") + " …"


def _human(value: Any, depth: int) -> str:
    num = number_value(value)
    if num is not None:
        return number_text(num)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        nums = [number_value(v) for v in value]
        if value and all(n is not None for n in nums):
            if len(nums) <= 4:
                return "[" + ", ".join(number_text(n) for n in nums) + "]"
            finite = [n for n in nums if not math.isnan(n)]
            span = f"{number_text(min(finite))} … {number_text(max(finite))}" if finite else "NaN"
            return f"{len(nums)} values, {span}"
        if len(value) <= 3 and depth < 2:
            return "[" + ", ".join(_human(v, depth + 1) for v in value) + "]"
        return f"{len(value)} entries"
    if isinstance(value, dict):
        if depth >= 2:
            return f"{len(value)} fields"
        return "; ".join(f"{k.replace('_', ' ')} {_human(v, depth + 1)}" for k, v in value.items())
    return str(value)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def _counts(verdicts: list[str]) -> dict[str, int]:
    return {v: verdicts.count(v) for v in CLAIM_VERDICTS}


def summary_line(summary: dict) -> str:
    """'12 claims: 9 holds, 2 holds (weaker), 1 known failure; 4 probes' (zero counts left out)."""
    counts = summary["counts"]
    n = sum(counts.values())
    parts = [f"{counts[v]} {v}" for v in CLAIM_VERDICTS if counts[v]]
    probes = summary.get("probes", 0)
    return (f"{n} claim{'s' if n != 1 else ''}" + (": " + ", ".join(parts) if parts else "")
            + (f"; {probes} probe{'s' if probes != 1 else ''} (findings, not counted)" if probes else ""))


def _figure_ok(out_dir: Path | None, figure: Any) -> bool:
    if not isinstance(figure, str) or not figure:
        return False
    rel = PurePosixPath(figure)
    if rel.is_absolute() or ".." in rel.parts:
        return False
    return out_dir is None or (out_dir / rel).is_file()


def attach_benchmarks(results_path: Path, *bench_dirs: Path) -> None:
    """Copy the benchmark JSONs into results.json: ``bench/results/*.json`` (committed, e.g. the mutation score,
    whose run takes half an hour) first, then ``bench/out/*.json`` (this machine's latest ``python -m bench``),
    a later folder's file replacing an earlier one of the same name."""
    files = [f for d in bench_dirs if d.is_dir() for f in sorted(d.glob("*.json"))]
    if not files:
        return
    results = json.loads(results_path.read_text())
    results["benchmarks"] = {f.stem: json.loads(f.read_text()) for f in files}
    results_path.write_text(json.dumps(results, indent=1))


def speed_lines(results: dict) -> list[str]:
    """One line per benchmark row: the measured speed-up of the suite's path over its baseline."""
    lines = []
    for name, bench in sorted((results.get("benchmarks") or {}).items()):
        if name == "gd_cot_seeds":
            for dtype, ratio in sorted((bench.get("ratio_max_S_to_solo") or {}).items()):
                rows = [r for r in bench.get("rows", []) if r["dtype"] == dtype and r["path"] == "seeded"]
                per_s = ", ".join(f"S={r['S']}: {r['ms_per_step']:.2f} ms" for r in rows)
                lines.append(f"{name} (run {bench.get('created', '?')}), k={bench.get('k', '?')} {dtype}: "
                             f"{max(r['S'] for r in rows) if rows else '?'} seeds in one batched step cost "
                             f"{ratio:.2f}x one seed ({per_s} per step; target at most 2x)")
            continue
        if name == "mutants":
            continue  # quoted under evidence quality
        for row in bench.get("rows", []):
            b, s = row["baseline"], row["suite"]
            crit = (f"{row['ratio_to_criterion']:.1f}x to the criterion ({s['seconds']:.1f} s vs {b['seconds']:.1f} s)"
                    if row.get("ratio_to_criterion") else "criterion not reached by both")
            lines.append(f"{name} (run {bench.get('created', '?')}), k={row['k']} {row['dtype']}: suite path "
                         f"{row['ratio_per_step']:.1f}x faster per step than the step-by-step baseline "
                         f"({s['ms_per_step']:.2f} ms vs {b['ms_per_step']:.2f} ms), {crit}")
    return lines or ["no benchmark run yet (python -m bench gd_cot_training)"]


def quality_lines(results: dict) -> list[str]:
    """How far the run's evidence can be trusted: the family-wise control and the suite's mutation score."""
    lines = []
    fam = results.get("family")
    if fam and fam.get("size"):
        lines.append(f"Family-wise control: Holm over {fam['size']} statistical tests of this run at alpha = "
                     f"{fam['alpha']:.2g} (each test at {fam['per_check_confidence']:.0%}); "
                     f"{len(fam.get('failed') or [])} record(s) fail only family-wise")
    elif fam is not None:
        lines.append("Family-wise control: no statistical test in this run")
    mut = (results.get("benchmarks") or {}).get("mutants")
    if mut and mut.get("score"):
        sc = mut["score"]
        per = ", ".join(f"{p} {v['caught']}/{v['total']}" for p, v in sorted((sc.get("per_paper") or {}).items()))
        lines.append(f"Mutation score (python -m bench mutants, run {mut.get('created', '?')}): {sc['caught']} of "
                     f"{sc['total']} wrong-theory mutants caught by the checks ({per}); "
                     f"{sc.get('equivalent', 0)} explained as equivalent")
    else:
        lines.append("Mutation score: not measured yet (python -m bench mutants)")
    return lines


def timing_lines(results: dict) -> list[str]:
    """One line per training measured during this run (results' "timings"): time per step and per sample."""
    lines = []
    for t in results.get("timings") or []:
        lines.append(f"{t['name']}: {t['ms_per_step']:.2f} ms per step, {t['us_per_sample']:.1f} us per sample "
                     f"({t['steps']} steps of {t['batch']} samples in {t['seconds']:.1f} s)")
    return lines or ["no training ran in this report"]


def summarize(results: dict, out_dir: Path | None = None, command: str | None = None) -> dict:
    """Per-claim aggregation and every formatted value the templates show (the content of summary.json).

    Only claims with at least one evidence record appear. ``out_dir`` (the report folder) is used to
    check that figures exist; ``command`` replaces results' command in the header when given.
    """
    by_claim: dict[str, list[int]] = {}
    for i, rec in enumerate(results["evidence"]):
        by_claim.setdefault(rec["claim"], []).append(i)
    claims: dict[str, dict] = {}
    for cid, claim in results["claims"].items():
        if cid not in by_claim:
            continue
        records = [results["evidence"][i] for i in by_claim[cid]]
        verdict = claim_verdict(records, (claim.get("tested") or ["same"])[0], probe=is_probe_claim(cid))
        det, stat = claim_margin(records, "deterministic"), claim_margin(records, "statistical")
        counted = [r for r in records if r["role"] in COUNTED_ROLES]
        claims[cid] = {
            "verdict": verdict,
            "color": _label_color(verdict),
            "probe": is_probe_claim(cid) or all(r["role"] == "probe" for r in records),
            "tested": tested_line(claim),
            "margin_deterministic": _finite_or_text(det),
            "margin_statistical": _finite_or_text(stat),
            "margin_text": _margins_text(det, stat, records),
            "passed": sum(r["verdict"] == "pass" for r in counted),
            "total": len(counted),
            "checks_text": f"{sum(r['verdict'] == 'pass' for r in counted)}/{len(counted)}",
            "reconstructed": is_reconstructed(claim),
            "warning": provenance_warning(claim),
            "formula_ok": True,
            "formula_error": None,
            "title_ok": True,
            "statement_ok": True,
            "title_plain": plain_text(claim["title"]),
            "statement_plain": plain_text(claim["statement"]),
            "title_md": md_escape(plain_text(claim["title"])),
            "statement_md": md_escape(plain_text(claim["statement"])),
            "formula_latex": None,
            "formula_md_error": "not converted (pandoc not run)",
            "checks": [_check_row(i, results["evidence"][i], out_dir) for i in by_claim[cid]],
        }
    papers: dict[str, dict] = {}
    for cid in claims:
        pid = results["claims"][cid]["paper"]
        info = results["papers"].get(pid) or {}
        paper = papers.setdefault(pid, {"id": pid, "title": info.get("title") or pid,
                                        "authors": info.get("authors") or "", "venue": info.get("venue") or "",
                                        "claims": []})
        paper["claims"].append(cid)
    recon = [cid for cid, c in claims.items() if c["reconstructed"]]
    env = results["environment"]
    summary = {
        "summary_version": SUMMARY_VERSION,
        "results_schema_version": results["schema_version"],
        "title": TITLE,
        "git": git_text(results.get("git")),
        "partial": bool(results.get("only")),
        "only": results.get("only") or "",
        "date": _date(results["created"]),
        "profile": results["profile"],
        "command": command or results["command"],
        "versions": [[label, str(env.get(key) or "—")] for label, key in
                     (("Python", "python"), ("torch", "torch"), ("sympy", "sympy"), ("scipy", "scipy"),
                      ("numpy", "numpy"))],
        "platform": f"{env.get('platform') or '—'} ({env.get('cpus') or '?'} CPUs)",
        "speed": speed_lines(results),
        "timings": timing_lines(results),
        "quality": quality_lines(results),
        "counts": _counts([c["verdict"] for c in claims.values() if not c["probe"]]),
        "probes": sum(c["probe"] for c in claims.values()),
        "verdict_meaning": [[v, CLAIM_VERDICT_MEANING[v]] for v in CLAIM_VERDICTS],
        "reconstructed": recon,
        "papers": list(papers.values()),
        "paper_titles": [f"{(p.get('title') or pid)}" + (f" ({p['authors']}" + (f", {p['venue']}" if p.get("venue") else "")
                         + ")" if p.get("authors") else "") for pid, p in results["papers"].items()],
        "claims": claims,
        "unchecked": [{"paper": pid, "title": (results["papers"].get(pid) or {}).get("title") or pid,
                       "entries": items} for pid, items in (results.get("unchecked") or {}).items() if items],
        "not_run": [{"check": str(n.get("check")), "claim": str(n.get("claim") or "—"),
                     "reason": str(n.get("reason") or "")} for n in results["not_run"]],
    }
    summary["line"] = summary_line(summary)
    summary["reconstructed_line"] = (
        f"{len(recon)} of {len(claims)} claims rest on formulas not read in the paper (derived here, or "
        f"reconstructed where the paper's statement is not known; each claim's notes say which parts)"
        + (f": {', '.join(recon)}." if recon else "."))
    return summary


def git_text(git: dict | None) -> str:
    """'3f2a9c1d0b7e (dirty: uncommitted changes)', or 'not a git checkout'."""
    if not git or not git.get("commit"):
        return "not a git checkout"
    return git["commit"][:12] + (" (dirty: uncommitted changes)" if git.get("dirty") else "")


def _finite_or_text(margin: float | None):
    return to_jsonable(margin)


def _margins_text(det: float | None, stat: float | None, records: list[dict]) -> str:
    """'bound ×3.2, stat ×1.4' (deterministic and statistical margins kept apart); 'exact' when every counted
    check is symbolic."""
    parts = []
    if det is not None:
        parts.append(f"bound {format_margin(det, 'pass')}")
    if stat is not None:
        parts.append(f"stat {format_margin(stat, 'pass')}")
    if parts:
        return ", ".join(parts)
    ran = [r for r in records if r["role"] in COUNTED_ROLES and r["verdict"] in ("pass", "fail")]
    return "exact" if ran else "—"


def figure_width(out_dir: Path | None, figure: Any) -> float:
    """The fraction of the text width at which the PDF shows a figure, from its PNG's aspect ratio: wide
    multi-panel figures (width at least 2.2 times the height) at the full width, wide ones at 0.85, others
    (single panels) at 0.62; 0.75 when the size is unknown."""
    size = png_size(out_dir / figure) if out_dir is not None and isinstance(figure, str) else None
    if size is None:
        return 0.75
    aspect = size[0] / max(size[1], 1)
    return 1.0 if aspect >= 2.2 else (0.85 if aspect >= 1.45 else 0.62)


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) in pixels from a PNG's header; None when it is not a readable PNG."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def tolerance_text(rec: dict) -> str:
    """The tolerance and why it is what it is, for the table row: '0.001 (float64 round-off …)'."""
    tol, why = rec.get("tolerance"), (rec.get("tolerance_reason") or "").strip()
    shown = human(tol, 40) if tol is not None else ""
    if shown and why:
        return f"{shown} ({why})"
    return shown or why or "—"


def _check_row(index: int, rec: dict, out_dir: Path | None) -> dict:
    label = record_label(rec)
    return {
        "label": label,
        "color": _label_color(label),
        "margin_kind": rec.get("margin_kind") or "deterministic",
        "index": index,
        "predicted": human(rec["predicted"]),
        "measured": human(rec["measured"]),
        "tolerance": tolerance_text(rec),
        "margin_text": ("—" if rec["role"] == "probe" else
                        format_margin(margin_value(rec["margin"]), rec["verdict"]) + seed_margin_text(rec)),
        "seconds": f"{float(rec['seconds'] or 0):.2f}",
        "figure_ok": _figure_ok(out_dir, rec["figure"]),
        "svg_ok": _figure_ok(out_dir, rec.get("figure_svg")),
        "figure_svg": rec.get("figure_svg") or "",
        "figure_width": figure_width(out_dir, rec["figure"]) if _figure_ok(out_dir, rec["figure"]) else 0.75,
    }


def _label_color(label: str) -> str:
    """A colour key for the templates: verdict labels and record labels share one palette."""
    return {"holds": "pass", "pass": "pass", "holds (weaker)": "weaker", "not reproduced": "notrep",
            "known failure": "known", "fail": "fail", "error": "error", "not run": "skipped",
            "finding": "finding", "finding: not met": "finding"}.get(label, "skipped")


def seed_margin_text(rec: dict) -> str:
    """The margin distribution over the seeds of a record's statistical tests, e.g. ' (3 seeds: min ×1.4, median
    ×2.1, max ×3.0; resolution 0.0005)'; empty when the record has no per-seed test."""
    tests = [t for t in rec.get("stat_tests") or [] if t.get("seed") is not None]
    margins = [m for m in (margin_value(t.get("margin")) for t in tests) if m is not None]
    if not margins:
        return ""
    seeds = sorted({t["seed"] for t in tests})
    res = sorted({f"{float(t['resolution']):.3g}" for t in tests if isinstance(t.get("resolution"), (int, float))})
    m = sorted(margins)
    return (f" ({len(seeds)} seeds, {len(m)} tests: min {format_margin(m[0], 'pass')}, median "
            f"{format_margin(m[len(m) // 2], 'pass')}, max {format_margin(m[-1], 'pass')}"
            + (f"; resolution {', '.join(res[:3])}{'…' if len(res) > 3 else ''}" if res else "") + ")")


def _date(created: str) -> str:
    try:
        return datetime.fromisoformat(created).strftime("%Y-%m-%d %H:%M %Z").strip()
    except (TypeError, ValueError):
        return str(created)


# --- Markdown ----------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(value if value is not None else "").split()).replace("|", "\\|")


def _md_cell(markdown: Any) -> str:
    """Markdown (pandoc's, or md_escape's) safe inside a table cell: one line, pipes not yet escaped escaped. A
    cell turns \\| into |, so in math \\| (a norm) becomes \\Vert and | becomes \\|."""
    text = INLINE_MATH.sub(lambda m: "$" + m.group(1).replace("\\|", "\\Vert ") + "$",
                           " ".join(str(markdown or "").split()))
    return re.sub(r"(?<!\\)((?:\\\\)*)\|", r"\1\\|", text)


def md_escape(text: str) -> str:
    """Plain text as Markdown that shows it literally (its Markdown and math characters escaped)."""
    return re.sub(r"([\\`*_\[\]<>#|$~])", r"\\\1", text)


def _code(value: Any) -> str:
    """Inline code, with a fence longer than any backtick run inside."""
    text = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["cell"] = _cell
    env.filters["mdcell"] = _md_cell
    env.filters["line"] = lambda v: " ".join(str(v or "").split())
    env.filters["code"] = _code
    return env


def render_markdown(results: dict, summary: dict) -> str:
    """proof-check.md as a string."""
    return _env().get_template("proof-check.md.j2").render(r=results, s=summary)


# --- math: Typst checks (PDF) and pandoc (Markdown) --------------------------------------------------
MD_FORMAT = "gfm-tex_math_gfm+tex_math_dollars"  # GitHub Markdown, math as $...$ and $$...$$
_TYPST_PROBE = (b'#for i in range(int(sys.inputs.n)) '
                b'{ eval(sys.inputs.at("t" + str(i)), mode: sys.inputs.at("m" + str(i))) }')
_SEP = "PROOFCHECKITEM"  # a paragraph between the items of the batched pandoc call


def typst_errors(items: list[tuple[str, str]]) -> list[str | None]:
    """Typeset each (text, mode) alone, mode 'math' or 'markup'; per item None, or why it does not typeset. One
    compile for all, then one per item only when that fails."""
    import typst

    def compile_(chunk: list[tuple[str, str]]) -> None:
        inputs = {"n": str(len(chunk))}
        for i, (text, mode) in enumerate(chunk):
            inputs[f"t{i}"], inputs[f"m{i}"] = text, mode
        typst.compile(_TYPST_PROBE, format="pdf", sys_inputs=inputs)

    def error(text: str, mode: str) -> str | None:
        if not isinstance(text, str) or (mode == "math" and not text.strip()):
            return "no formula_typst given" if mode == "math" else "not a string"
        try:
            compile_([(text, mode)])
        except typst.TypstError as exc:
            return _one_line(str(exc)) or type(exc).__name__
        return None

    if all(isinstance(t, str) and (m != "math" or t.strip()) for t, m in items):
        try:
            compile_(items)
            return [None] * len(items)
        except typst.TypstError:
            pass
    return [error(text, mode) for text, mode in items]


def check_formulas(results: dict, summary: dict) -> None:
    """Typeset each claim's formula_typst (math) and its title and statement (markup) alone; mark those that
    fail, so the PDF shows their plain text."""
    rows = list(summary["claims"].items())
    items = [(results["claims"][cid][key], mode) for cid, _ in rows
             for key, mode in (("formula_typst", "math"), ("title", "markup"), ("statement", "markup"))]
    errors = iter(typst_errors(items))
    for _, row in rows:
        formula, title, statement = next(errors), next(errors), next(errors)
        row["formula_ok"], row["formula_error"] = formula is None, formula
        row["title_ok"], row["statement_ok"] = title is None, statement is None


def pandoc_path() -> str:
    """The pandoc binary of the pypandoc_binary wheel (requirements.txt)."""
    import pypandoc

    return pypandoc.get_pandoc_path()


def to_markdown(items: list[tuple[str, str]]) -> list[tuple[str | None, str | None]]:
    """Typst to GitHub Markdown with pandoc, all items in one call: per (text, mode) either (Markdown, None), a
    paragraph on one line for 'markup' and the LaTeX of the formula for 'math', or (None, why not). When the
    call fails as a whole, each item is converted alone, so a bad item costs only itself."""
    try:
        pandoc = pandoc_path()
    except (ImportError, OSError) as exc:
        return [(None, f"pandoc is not available: {_one_line(str(exc))}")] * len(items)
    try:
        return _pandoc(pandoc, items)
    except ProofCheckError:
        pass
    out = []
    for item in items:
        try:
            out += _pandoc(pandoc, [item])
        except ProofCheckError as exc:
            out.append((None, str(exc)))
    return out


def _pandoc(pandoc: str, items: list[tuple[str, str]]) -> list[tuple[str | None, str | None]]:
    doc = "\n\n".join(f"{_SEP}{i}\n\n" + (f"$ {text} $" if mode == "math" else text)
                       for i, (text, mode) in enumerate(items))
    try:
        with subprocess.Popen([pandoc, "-f", "typst", "-t", MD_FORMAT, "--wrap=none"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8") as proc:
            try:
                stdout, stderr = proc.communicate(doc, timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProofCheckError(f"pandoc did not run: {_one_line(str(exc))}") from None
    if proc.returncode != 0:
        raise ProofCheckError(f"pandoc failed: {_one_line(stderr) or f'exit status {proc.returncode}'}")
    parts = re.split(rf"^{_SEP}(\d+)$", stdout, flags=re.M)
    if parts[1::2] != [str(i) for i in range(len(items))] or parts[0].strip():
        raise ProofCheckError("pandoc's output lost the item separators")
    return [_converted(body.strip(), mode) for body, (_, mode) in zip(parts[2::2], items)]


def _converted(body: str, mode: str) -> tuple[str | None, str | None]:
    body = re.sub(r"\\text\{(\S[^{}]*?) \}", r"\\text{\1}", body)  # pandoc's 'l_{\text{ts }}': no trailing space
    if mode == "math":
        found = re.fullmatch(r"\$\$(.+)\$\$", body, re.S)
        if not found:
            return None, "pandoc did not read it as one formula"
        latex = " ".join(found.group(1).split())
        return (latex, None) if latex_balanced(latex) else (None, "pandoc's LaTeX has unbalanced braces")
    if "\n\n" in body:
        return None, "pandoc read it as more than one paragraph"
    body = " ".join(body.split())
    if len(re.findall(r"(?<!\\)\$", body)) % 2 or not all(map(latex_balanced, INLINE_MATH.findall(body))):
        return None, "pandoc's inline math is unbalanced"
    return body, None


def latex_balanced(latex: str) -> bool:
    """Non-empty, braces balanced (escaped ones aside) and as many \\left as \\right."""
    depth = 0
    for brace in re.sub(r"\\.", "", latex):
        depth += {"{": 1, "}": -1}.get(brace, 0)
        if depth < 0:
            return False
    return bool(latex.strip()) and depth == 0 and len(re.findall(r"\\left\b", latex)) == len(
        re.findall(r"\\right\b", latex))


def convert_math(results: dict, summary: dict) -> None:
    """The Markdown of each claim's title, statement and formula, converted from Typst by pandoc in one call
    (after check_formulas: what does not typeset is not sent). A title or statement that does not convert keeps
    its escaped plain text; a formula keeps its plain ``formula`` and ``formula_md_error`` says why."""
    wanted = []
    for cid, row in summary["claims"].items():
        claim = results["claims"][cid]
        if row["title_ok"]:
            wanted.append((row, "title_md", claim["title"], "markup"))
        if row["statement_ok"]:
            wanted.append((row, "statement_md", claim["statement"], "markup"))
        if row["formula_ok"]:
            wanted.append((row, "formula_latex", claim["formula_typst"], "math"))
        else:
            row["formula_md_error"] = f"it does not typeset: {row['formula_error']}"
    converted = to_markdown([(text, mode) for _, _, text, mode in wanted])
    for (row, key, _, _), (markdown, why) in zip(wanted, converted):
        if markdown is not None:
            row[key] = markdown
        if key == "formula_latex":
            row["formula_md_error"] = why


def _one_line(text: str, width: int = 200) -> str:
    """An error message on one line of at most ``width`` characters (pandoc's position in its input dropped)."""
    line = re.sub(r"^\(line \d+, column \d+\):\s*", "", " ".join(str(text).split()))
    return line if len(line) <= width else line[: width - 1] + "…"


# --- PDF (Typst) -------------------------------------------------------------------------------------
def write_pdf(out_dir: Path) -> Path:
    """Compile proof-check.typ (a copy of templates/report.typ) in ``out_dir`` to proof-check.pdf."""
    import typst

    source = out_dir / "proof-check.typ"
    shutil.copyfile(TEMPLATES / "report.typ", source)
    pdf = out_dir / "proof-check.pdf"
    typst.compile(str(source), output=str(pdf), root=str(out_dir))
    return pdf


# --- all together ------------------------------------------------------------------------------------
def write_report(out_dir: str | Path, command: str | None = None) -> dict:
    """Render out_dir/results.json into summary.json, proof-check.md and proof-check.pdf; return the summary."""
    out_dir = Path(out_dir)
    results = load_results(out_dir / "results.json")
    summary = summarize(results, out_dir, command)
    check_formulas(results, summary)
    convert_math(results, summary)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    (out_dir / "proof-check.md").write_text(render_markdown(results, summary))
    write_pdf(out_dir)
    return summary
