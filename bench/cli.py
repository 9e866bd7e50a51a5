"""Command line of the benchmarks: one sub-command per benchmark, one-line errors, JSON and table output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from constructions.errors import ProofCheckError, writable_output

BENCHMARKS = ("gd_cot_training", "gd_cot_seeds", "mutants")  # mutants: bench/mutants.py, its own options
DEFAULT_JSON = {name: f"bench/out/{name}.json" for name in BENCHMARKS}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description="Side-by-side benchmarks.")
    p.add_argument("name", choices=BENCHMARKS, help="which benchmark (mutants: see python -m bench mutants --help)")
    p.add_argument("--ks", default="10,20", help="gd_cot_training: CoT lengths, comma-separated (default 10,20)")
    p.add_argument("--k", default="20", help="gd_cot_seeds: the CoT length (default 20)")
    p.add_argument("--seeds", default="1,4,8", help="gd_cot_seeds: numbers of seeds S, comma-separated (default 1,4,8)")
    p.add_argument("--dtypes", default="float32,float64", help="float32 and/or float64 (default both)")
    p.add_argument("--timing-steps", default="30", help="timed steps per run (default 30)")
    p.add_argument("--max-steps", default="3000", help="gd_cot_training: step limit when training to the criterion")
    p.add_argument("--json", default=None, help="where to write the JSON result (default bench/out/NAME.json)")
    return p


def _int(text: str, flag: str, meaning: str) -> int:
    """A positive integer option; the error names the flag, e.g. '--ks (CoT lengths) must be ... (got 'abc')'."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value <= 0:
        raise ProofCheckError(f"{flag} ({meaning}) must be a positive integer (got {text!r})")
    return value


def _ints(text: str, flag: str, meaning: str) -> list[int]:
    return [_int(part.strip(), flag, meaning) for part in text.split(",")]


def _check_output(out: Path) -> None:
    """Fail before the work starts if the JSON cannot be written there."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProofCheckError(f"--json {out}: cannot create its folder ({exc.strerror or exc})") from None
    writable_output(out, "--json")  # tries to create the file (os.access says yes to root everywhere)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["mutants"]:  # the mutation harness has its own options (python -m bench mutants --help)
        from bench import mutants

        return mutants.main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        dtypes = args.dtypes.split(",")
        timing_steps = _int(args.timing_steps, "--timing-steps", "the number of timed steps")
        out = Path(args.json or DEFAULT_JSON[args.name])
        if args.name == "gd_cot_training":
            from bench import gd_cot_training as bench

            ks = _ints(args.ks, "--ks", "CoT lengths")
            max_steps = _int(args.max_steps, "--max-steps", "the step limit")
            bench.run(ks=[], dtypes=dtypes)  # validates the dtypes before the work starts
            _check_output(out)
            result = bench.run(ks=ks, dtypes=dtypes, timing_steps=timing_steps, max_steps=max_steps)
        else:
            from bench import gd_cot_seeds as bench

            seeds = _ints(args.seeds, "--seeds", "numbers of seeds S")
            k = _int(args.k, "--k", "the number of CoT steps")
            bench.run(seed_counts=seeds, dtypes=dtypes, k=k, timing_steps=timing_steps, dry=True)
            _check_output(out)
            result = bench.run(seed_counts=seeds, dtypes=dtypes, k=k, timing_steps=timing_steps)
        try:
            out.write_text(json.dumps(result, indent=1))
        except OSError as exc:
            raise ProofCheckError(f"--json {out}: cannot write ({exc.strerror or exc})") from None
        print(bench.table(result))
        print(f"JSON: {out}")
    except ValueError as exc:  # ProofCheckError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
