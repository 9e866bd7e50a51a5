"""Command line of the benchmarks: one sub-command per benchmark, one-line errors, JSON and table output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from constructions.errors import ProofCheckError

BENCHMARKS = ("gd_cot_training", "mutants")  # mutants: bench/mutants.py, its own options


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description="Side-by-side benchmarks.")
    p.add_argument("name", choices=BENCHMARKS, help="which benchmark (mutants: see python -m bench mutants --help)")
    p.add_argument("--ks", default="10,20", help="CoT lengths, comma-separated (default 10,20)")
    p.add_argument("--dtypes", default="float32,float64", help="float32 and/or float64 (default both)")
    p.add_argument("--timing-steps", type=int, default=30, help="timed steps per implementation (default 30)")
    p.add_argument("--max-steps", type=int, default=3000, help="step limit when training to the criterion")
    p.add_argument("--json", default="bench/out/gd_cot_training.json", help="where to write the JSON result")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["mutants"]:  # the mutation harness has its own options (python -m bench mutants --help)
        from bench import mutants

        return mutants.main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        from bench import gd_cot_training

        ks = [int(k) for k in args.ks.split(",")]
        dtypes = args.dtypes.split(",")
        result = gd_cot_training.run(ks=ks, dtypes=dtypes, timing_steps=args.timing_steps, max_steps=args.max_steps)
        out = Path(args.json)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1))
        except OSError as exc:
            raise ProofCheckError(f"--json {out}: cannot write ({exc.strerror or exc})") from None
        print(gd_cot_training.table(result))
        print(f"JSON: {out}")
    except ValueError as exc:  # ProofCheckError is a ValueError; int() of a bad --ks too
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
