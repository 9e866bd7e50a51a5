"""Shared body of the assumption-map probes in verify/ (each map: quick 3 x 3, paper the full grid; in-process,
or on the Dask scheduler named by PROOFCHECK_DASK_ADDRESS): run the map through the engine with the run's disk
cache, record the cells, the boundary table and the timings in the evidence record, and save the figure."""

from __future__ import annotations

import os

from sweeps import engine, plot
from sweeps.maps import get


DASK_ADDRESS_ENV = "PROOFCHECK_DASK_ADDRESS"


def probe_executor(profile: str) -> tuple[str, str | None]:
    """(executor, address) of a map inside a pytest run: the paper maps go to the Dask scheduler named by
    $PROOFCHECK_DASK_ADDRESS when it is set; otherwise every map runs in-process. On one machine the test
    workers already keep every core busy, and a local cluster beside them only adds processes: a cold map cost
    181 s of CPU on a 2-worker local cluster against 143 s in-process (session 6, measured)."""
    address = os.environ.get(DASK_ADDRESS_ENV) or None
    return ("dask", address) if profile == "paper" and address else ("serial", None)


def run_map_in_run(name: str, profile: str):
    """engine.run_map for a probe: the run's disk cache, :func:`probe_executor`, no progress bar."""
    from verify import cache

    executor, address = probe_executor(profile)
    location = str(cache.default_location()) if cache.enabled() else None
    return engine.run_map(name, profile=profile, executor=executor, address=address, cache_location=location,
                          progress=False)


def run_probe_map(evidence, name: str, profile: str, fmt=lambda x, y: f"{x:g}, {y:g}"):
    run = run_map_in_run(name, profile)
    executor = run.executor
    boundary = plot.boundary_lines(run)
    m = get(name)
    evidence.params.update(
        map=name, executor=executor, axes=[m.x.name, m.y.name], xs=run.xs, ys=run.ys, seeds=run.seeds,
        criterion=m.criterion, region=m.region_text, boundary=boundary,
        cells={f"{m.x.name}={c['x']:g}, {m.y.name}={c['y']:g}": f"{c['verdict']} ({sum(c['passed'])}/"
               f"{len(c['passed'])}, min margin {c['margin_min']:.3g})" for c in run.cells},
        wall_seconds=round(run.wall_seconds, 1), task_seconds=round(run.task_seconds, 1))
    evidence.save_figure(plot.figure(run), f"map_{name}")
    return run, boundary


def region_holds_and_far_corner_fails(run, corner) -> tuple[bool, dict]:
    """(every cell inside the paper's region holds on every seed and the far corner fails on every seed, the
    verdicts looked at)."""
    inside = {f"{c['x']:g}, {c['y']:g}": c["verdict"] for c in run.cells if c["in_region"]}
    far = run.cell(*corner)["verdict"]
    ok = bool(inside) and all(v == "holds" for v in inside.values()) and far == "fails"
    return ok, {"inside the region": inside, f"far corner {corner}": far}
