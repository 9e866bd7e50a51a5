"""``python -m sweeps <map>``: an assumption map over two axes, each cell a verdict over seeds.

Examples:
  python -m sweeps gd_cot                                   # quick 3 x 3 map on a local Dask cluster
  python -m sweeps gd_cot --profile paper --seeds 8         # the full map
  python -m sweeps gd_cot --grid sigma=0.1,0.3 --grid k=2,5 --executor serial
  python -m sweeps gd_cot --address tcp://scheduler:8786    # a running Dask cluster
  python -m sweeps tree_paths --grid rho=0,0.05 --grid depth=4,12   # theorem4: overlap rho x goal depth
  python -m sweeps pattern_cot --profile paper                      # theorem2: pattern overlap x alpha'
  python -m sweeps --list

Writes OUT/<map>.json, OUT/<map>.png and OUT/<map>.svg (default OUT: reports/maps). Exit status: 0 written; 2 bad
input (checked before any work starts). Cells are disk-cached (``--cache-dir``, ``--no-cache``): an interrupted
map resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from constructions.errors import ProofCheckError

REPO = Path(__file__).resolve().parents[1]


def _parser() -> argparse.ArgumentParser:
    from sweeps.engine import EXECUTORS
    from sweeps.maps import MAPS

    p = argparse.ArgumentParser(prog="python -m sweeps", description="Assumption maps over seeds (Dask).")
    p.add_argument("map", nargs="?", choices=sorted(MAPS), help="which map")
    p.add_argument("--list", action="store_true", help="list the maps and exit")
    p.add_argument("--profile", choices=("quick", "paper"), default="quick", help="grid and sizes (default quick)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 3 quick, 8 paper)")
    p.add_argument("--grid", action="append", default=None, metavar="AXIS=V1,V2,...", help="override an axis")
    p.add_argument("--executor", choices=EXECUTORS, default="dask", help="dask (default) or serial (debugging)")
    p.add_argument("--address", default=None, help="a running Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--workers", type=int, default=None, help="local cluster workers (default: one per CPU)")
    p.add_argument("--out", default=str(REPO / "reports" / "maps"), help="output folder (default reports/maps)")
    p.add_argument("--cache-dir", default=None, help="disk cache (default .proofcheck-cache)")
    p.add_argument("--no-cache", action="store_true", help="recompute every cell")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from sweeps.maps import MAPS

    if args.list:
        for name, m in MAPS.items():
            print(f"{name}: {m.title} (claim {m.claim}; axes {m.x.name} x {m.y.name})")
        return 0
    try:
        return _run(args)
    except ProofCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from verify import cache
    from sweeps import engine, plot
    from sweeps.maps import get

    if args.map is None:
        raise ProofCheckError("name a map (python -m sweeps --list)")
    m = get(args.map)
    grid = engine.parse_grid(args.grid, m)
    out = Path(args.out)
    _writable(out)
    location = None if args.no_cache else str(args.cache_dir or cache.default_location())
    run = engine.run_map(args.map, profile=args.profile, seeds=args.seeds, grid=grid, executor=args.executor,
                         address=args.address, workers=args.workers, cache_location=location,
                         measure_overhead=args.executor == "dask")
    payload = run.to_json()
    payload["boundary"] = plot.boundary_lines(run)
    (out / f"{args.map}.json").write_text(json.dumps(payload, indent=1))
    fig = plot.figure(run)
    for ext in ("png", "svg"):
        fig.savefig(out / f"{args.map}.{ext}", dpi=130, bbox_inches="tight")
    for line in payload["boundary"]:
        print(line)
    per_task = run.task_seconds / max(1, len(run.cells) * len(run.seeds))
    over = run.overhead_seconds_per_task
    print(f"{len(run.cells)} cells x {len(run.seeds)} seeds on {args.executor} ({run.workers} worker(s)): wall "
          f"{run.wall_seconds:.1f} s, {per_task:.2f} s per task"
          + (f", engine overhead {over * 1e3:.1f} ms per task ({over / per_task:.1%} of a task)" if over else "")
          + f"; written to {out}")
    return 0


def _writable(out: Path) -> None:
    """Fail before any work when OUT cannot be written."""
    if out.exists() and not out.is_dir():
        raise ProofCheckError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ProofCheckError(f"--out {out}: not writable ({exc.strerror or exc})") from None


if __name__ == "__main__":
    sys.exit(main())
