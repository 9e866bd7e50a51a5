"""``python -m reports merge OUT IN [IN ...]``: one results.json from the results of several shard runs.

A long profile (the paper profile: hours on 2 cores) can run as shards, one pytest run per test file or group, on
one machine or many (each shard: ``pytest FILES --proofcheck-profile paper --evidence-out SHARD/results.json``).
The merge concatenates the shards' evidence, copies their figures, and redoes what depends on the whole run:
the family-wise (Holm) control over every statistical test (a shard's own, smaller family is undone first), the
claim verdicts and the not-run list. Render it with ``python -m reports --render-only --out OUT``.

Refused (exit 2, before anything is written): a shard that is missing or not a results.json of this schema,
shards of different profiles or schema versions, the same check id in two shards, or two figures of one name.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from constructions.errors import ProofCheckError
from verify.timings import unique

HOLM_PREFIX = "fails the family-wise (Holm) control"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reports merge",
                                description="Merge the results.json of several shard runs into OUT/results.json "
                                            "(Holm and claim verdicts redone over the whole run).")
    p.add_argument("out", help="the report folder to write (OUT/results.json, OUT/figures)")
    p.add_argument("shards", nargs="+", help="shard results.json files (or folders holding one)")
    return p


def _load(path: str) -> tuple[Path, dict]:
    from reports import render

    p = Path(path)
    p = p / "results.json" if p.is_dir() else p
    if not p.is_file():
        raise ProofCheckError(f"no results.json at {path}")
    return p, render.load_results(p)


def merge(shards: list[dict]) -> dict:
    """The merged results (a new dict): evidence concatenated in shard order, Holm and verdicts redone."""
    from verify.plugin import claim_verdicts, family_control

    first = shards[0]
    for key in ("profile", "schema_version"):
        values = {s.get(key) for s in shards}
        if len(values) > 1:
            raise ProofCheckError(f"shards differ in {key}: {sorted(map(str, values))}")
    records, seen = [], set()
    for shard in shards:
        for rec in shard["evidence"]:
            if rec["check"] in seen:
                raise ProofCheckError(f"check {rec['check']} is in two shards")
            seen.add(rec["check"])
            rec = json.loads(json.dumps(rec))
            if rec["verdict"] == "fail" and str(rec.get("message") or "").startswith(HOLM_PREFIX):
                rec["verdict"], rec["message"] = "pass", None  # the shard's own family: redone below
            for t in rec.get("stat_tests") or []:
                t.pop("holm", None)
            records.append(rec)
    ran = {r["check"] for r in records}
    not_run = {n["check"]: n for s in shards for n in s.get("not_run") or [] if n["check"] not in ran}
    claims = {cid: {k: v for k, v in c.items() if k not in ("verdict", "known_failure", "records")}
              for cid, c in first["claims"].items()}
    family = family_control(records)
    for cid, verdict in claim_verdicts(records, claims).items():
        claims[cid].update(verdict)
    timings = unique([t for s in shards for t in s.get("timings") or []])
    return {**first, "claims": claims, "family": family, "evidence": records,
            "not_run": sorted(not_run.values(), key=lambda n: n["check"]), "timings": timings,
            "command": "python -m reports merge (" + "; ".join(s.get("command", "?") for s in shards) + ")",
            "only": None}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        loaded = [_load(s) for s in args.shards]
        figures: dict[str, Path] = {}
        for path, res in loaded:
            for rec in res["evidence"]:
                for key in ("figure", "figure_svg"):
                    if rec.get(key):
                        src = path.parent / rec[key]
                        if rec[key] in figures and figures[rec[key]] != src:
                            raise ProofCheckError(f"two shards have a figure {rec[key]}")
                        figures[rec[key]] = src
        merged = merge([res for _, res in loaded])
    except ProofCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for rel, src in figures.items():
        if src.is_file():
            shutil.copyfile(src, out / rel)
    (out / "results.json").write_text(json.dumps(merged, indent=1, allow_nan=False))
    fam = merged["family"]
    print(f"merged {len(loaded)} shard(s): {len(merged['evidence'])} records, Holm over {fam['size']} tests "
          f"({len(fam['failed'])} fail family-wise); render with: python -m reports --render-only --out {out}")
    return 0
