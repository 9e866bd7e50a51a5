"""Order of the test files for pytest-xdist: heaviest first (longest-processing-time scheduling).

With ``--dist loadfile`` each file runs whole on one worker, and xdist hands files out in collection order. If a
two-minute file is handed out last, one worker runs it alone while the other idles: the run's wall time is the
imbalance. :data:`TABLE` (``verify/file_seconds.json``) holds each file's measured seconds per profile;
the plugin sorts the collection by it, heaviest first (a file not in the table counts as
:data:`UNKNOWN_SECONDS`). Only the order changes: every check runs as before.

Refresh the table from a run with ``--durations=0``::

    python -m pytest verify tests -n 2 --durations=0 --proofcheck-profile quick > log.txt
    python -m verify.schedule log.txt --profile quick
    python -m verify.schedule reports/out/results.json --profile quick --merge   # verify/ only: keep tests/ entries
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

TABLE = Path(__file__).with_name("file_seconds.json")
UNKNOWN_SECONDS = 1.0
_LINE = re.compile(r"^\s*([0-9.]+)s\s+(?:call|setup|teardown)\s+([^:\s]+\.py)::")


def file_seconds(profile: str) -> dict[str, float]:
    """Measured seconds per test file (path relative to the repository root) for ``profile``; {} without table."""
    try:
        return json.loads(TABLE.read_text()).get(profile, {})
    except (OSError, ValueError):
        return {}


def heaviest_first(paths: list[str], profile: str) -> dict[str, int]:
    """Rank of each distinct path: 0 for the heaviest (stable for ties: first seen first)."""
    table = file_seconds(profile)
    distinct = list(dict.fromkeys(paths))
    ordered = sorted(distinct, key=lambda p: -table.get(p, UNKNOWN_SECONDS))
    return {p: i for i, p in enumerate(ordered)}


def parse_durations(text: str) -> dict[str, float]:
    """Seconds per file summed over the setup, call and teardown lines of pytest's ``--durations=0`` output."""
    out: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out[m.group(2)] += float(m.group(1))
    return dict(out)


def results_seconds(data: dict) -> dict[str, float]:
    """Seconds per file summed over the evidence records of a results.json (each record's ``seconds``: its check's
    call, a training it triggers included)."""
    out: dict[str, float] = defaultdict(float)
    for rec in data.get("evidence", []):
        out[rec["nodeid"].split("::")[0]] += float(rec.get("seconds") or 0.0)
    return dict(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m verify.schedule", description=__doc__.split("\n\n")[0])
    ap.add_argument("log", help="pytest output with --durations=0, or a run's results.json")
    ap.add_argument("--profile", choices=("quick", "paper"), required=True)
    ap.add_argument("--merge", action="store_true",
                    help="update the files this log measured and keep the profile's other entries (e.g. a report's "
                         "verify/ run refreshing the quick table without dropping tests/)")
    args = ap.parse_args(argv)
    try:
        text = Path(args.log).read_text()
    except OSError as exc:
        print(f"error: cannot read {args.log}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    seconds = results_seconds(data) if isinstance(data, dict) else parse_durations(text)
    if not seconds:
        print(f"error: no duration lines or evidence records in {args.log} (run pytest with --durations=0)",
              file=sys.stderr)
        return 2
    table = json.loads(TABLE.read_text()) if TABLE.exists() else {}
    merged = dict(table.get(args.profile, {})) if args.merge else {}
    merged.update({p: round(s, 1) for p, s in seconds.items()})
    table[args.profile] = dict(sorted(merged.items(), key=lambda kv: -kv[1]))
    TABLE.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{TABLE}: {len(seconds)} files for the {args.profile} profile, {sum(seconds.values()):.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
