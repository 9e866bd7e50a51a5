"""Shared body of the assumption-map probes in verify/ (each map: quick 3 x 3 serial, paper on a local Dask
cluster): run the map through the engine with the run's disk cache, record the cells, the boundary table and the
timings in the evidence record, and save the figure."""

from __future__ import annotations

from sweeps import engine, plot
from sweeps.maps import get


def run_probe_map(evidence, name: str, profile: str, fmt=lambda x, y: f"{x:g}, {y:g}"):
    from verify import cache

    executor = "serial" if profile == "quick" else "dask"  # the paper maps go to a local Dask cluster
    location = str(cache.default_location()) if cache.enabled() else None
    run = engine.run_map(name, profile=profile, executor=executor, cache_location=location, progress=False)
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
