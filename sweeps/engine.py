"""Run an assumption map cell by cell on an executor: ``serial`` (debugging) or ``dask`` (Dask distributed).

Each task is one (x, y, seed) of a map; a cell's verdict is taken over its seeds. With ``dask`` and no address a
``LocalCluster`` (one single-threaded worker process per core) is started and closed here; with ``address`` the
tasks go to a running scheduler (``dask scheduler`` + ``dask worker ADDR`` on the cluster's machines, each with
this package installed). Tasks are pure functions of their arguments, so every executor gives the same verdicts;
cells are disk-cached, so a rerun after an interruption recomputes only the unfinished ones.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from constructions.errors import ProofCheckError
from sweeps.maps import AssumptionMap, get

EXECUTORS = ("serial", "dask")


def run_task(map_name: str, x, y, seed: int, profile: str, cache_location: str | None) -> dict:
    """One (x, y, seed) of a map, in whatever process runs it: returns the cell function's dict plus the seconds
    it took there (to measure the engine's overhead)."""
    from verify import cache

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    saved = cache._state["memory"]  # a serial run inside pytest must not change the run's own cache
    cache.configure(cache_location, enabled=cache_location is not None)
    try:
        start = time.perf_counter()
        out = get(map_name).cell(x, y, seed, profile)
        return {**out, "seconds": time.perf_counter() - start}
    finally:
        cache._state["memory"] = saved


def _noop(i: int) -> int:
    return i


@dataclass
class MapRun:
    """The result of one map: per cell (x, y) the per-seed outcomes, the verdict over seeds, and the timings."""
    map: str
    claim: str
    profile: str
    executor: str
    xs: list
    ys: list
    seeds: list
    cells: list = field(default_factory=list)
    wall_seconds: float = 0.0
    task_seconds: float = 0.0
    workers: int = 1
    overhead_seconds_per_task: float | None = None

    def cell(self, x, y) -> dict:
        return next(c for c in self.cells if c["x"] == x and c["y"] == y)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("map", "claim", "profile", "executor", "xs", "ys", "seeds", "cells",
                                              "wall_seconds", "task_seconds", "workers",
                                              "overhead_seconds_per_task")}


def cell_verdict(passed: list[bool]) -> str:
    """'holds' (every seed passes), 'fails' (none), 'mixed'."""
    if all(passed):
        return "holds"
    return "fails" if not any(passed) else "mixed"


def _summarize_cell(m: AssumptionMap, x, y, outs: list[dict]) -> dict:
    margins = [float(o["margin"]) for o in outs]
    passed = [bool(o["passed"]) for o in outs]
    return {"x": x, "y": y, "verdict": cell_verdict(passed), "passed": passed, "margins": margins,
            "margin_min": min(margins), "margin_median": float(np.median(margins)), "margin_max": max(margins),
            "in_region": bool(m.in_region(x, y)), "seconds": [float(o["seconds"]) for o in outs],
            "details": [{k: v for k, v in o.items() if k not in ("passed", "margin", "seconds")} for o in outs]}


def parse_grid(specs: list[str] | None, m: AssumptionMap) -> dict[str, tuple]:
    """``["sigma=0.1,0.3", "k=2,5"]`` -> {"sigma": (0.1, 0.3), "k": (2, 5)}; names must be the map's axes."""
    out = {}
    for spec in specs or []:
        name, sep, values = spec.partition("=")
        if not sep or name not in (m.x.name, m.y.name):
            raise ProofCheckError(f"--grid {spec!r}: expected {m.x.name}=v1,v2,... or {m.y.name}=v1,v2,...")
        try:
            vals = tuple(float(v) for v in values.split(","))
        except ValueError:
            raise ProofCheckError(f"--grid {spec!r}: values must be numbers") from None
        axis = m.x if name == m.x.name else m.y
        if not vals or not all(math.isfinite(v) and (v > 0 or (axis.allow_zero and v == 0)) for v in vals):
            raise ProofCheckError(f"--grid {spec!r}: values must be "
                                  + ("non-negative numbers" if axis.allow_zero else "positive numbers"))
        if all(isinstance(v, int) for v in axis.quick):
            if not all(v == int(v) for v in vals):
                raise ProofCheckError(f"--grid {spec!r}: {name} takes integers")
            vals = tuple(int(v) for v in vals)
        out[name] = vals
    return out


def run_map(name: str, *, profile: str = "quick", seeds: int | None = None, grid: dict | None = None,
            executor: str = "serial", address: str | None = None, workers: int | None = None,
            cache_location: str | None = None, progress: bool = True, measure_overhead: bool = False) -> MapRun:
    """Evaluate every (x, y, seed) of map ``name``; return the :class:`MapRun`."""
    m = get(name)
    if profile not in ("quick", "paper"):
        raise ProofCheckError(f"unknown profile {profile!r} (quick or paper)")
    if executor not in EXECUTORS:
        raise ProofCheckError(f"unknown executor {executor!r} (choose one of: {', '.join(EXECUTORS)})")
    if address and executor != "dask":
        raise ProofCheckError("--address needs --executor dask")
    if seeds is not None and seeds < 1:
        raise ProofCheckError(f"--seeds must be at least 1 (got {seeds})")
    if workers is not None and workers < 1:
        raise ProofCheckError(f"--workers must be at least 1 (got {workers})")
    grid = grid or {}
    xs, ys = list(grid.get(m.x.name, m.x.values(profile))), list(grid.get(m.y.name, m.y.values(profile)))
    chosen = list(m.seeds(profile, seeds))
    tasks = [(x, y, s) for y in ys for x in xs for s in chosen]
    run = MapRun(map=name, claim=m.claim, profile=profile, executor=executor, xs=xs, ys=ys, seeds=chosen)
    bar = _progress(len(tasks), f"{name} ({executor})", progress)
    start = time.perf_counter()
    if executor == "serial":
        results = {}
        for t in tasks:
            results[t] = run_task(name, *t, profile, cache_location)
            bar.update(1)
    else:
        results, run.workers, run.overhead_seconds_per_task = _run_dask(name, tasks, profile, cache_location, address,
                                                                      workers, bar, measure_overhead)
    bar.close()
    run.wall_seconds = time.perf_counter() - start
    run.task_seconds = float(sum(r["seconds"] for r in results.values()))
    run.cells = [_summarize_cell(m, x, y, [results[(x, y, s)] for s in chosen]) for y in ys for x in xs]
    return run


def _progress(total: int, label: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="task", disable=not enabled, smoothing=0.1)


def _run_dask(name, tasks, profile, cache_location, address, workers, bar, measure_overhead):
    import logging

    from dask.distributed import Client, LocalCluster, as_completed

    logging.getLogger("distributed").setLevel(logging.ERROR)  # no nanny chatter when the local cluster closes
    cluster = None
    if address:
        try:
            client = Client(address, timeout="10s")
        except OSError as exc:
            raise ProofCheckError(f"--address {address}: no Dask scheduler reachable ({exc})") from None
    else:
        import dask

        n = workers or os.cpu_count() or 1
        # Dask's default worker environment sets MALLOC_TRIM_THRESHOLD_, which switches off glibc's dynamic mmap
        # threshold: every numpy/torch buffer over 128 KiB is then mmap'ed and page-faulted afresh, and a cell ran
        # 2.4x slower in a worker than in-process (0.83 s vs 0.34 s, measured; high system time). Keep the
        # one-thread BLAS settings, drop the trim threshold.
        env = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
        with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")  # any free port
        client = Client(cluster)
    try:
        n_workers = len(client.scheduler_info()["workers"])
        overhead = _task_overhead(client) if measure_overhead else None
        # priority = submission order (Dask runs higher first): tasks are row-major in y, so the first row holds
        # every training a map shares across y (e.g. one per (rho, seed)), and later rows find it in the cache
        # instead of retraining it concurrently on another worker
        futures = {client.submit(run_task, name, *t, profile, cache_location, pure=False, priority=-i): t
                   for i, t in enumerate(tasks)}
        results = {}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            bar.update(1)
        return results, n_workers, overhead
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _task_overhead(client, n: int = 40) -> float:
    """Mean seconds a no-op task takes through the scheduler (submit to result), measured sequentially."""
    client.submit(_noop, -1, pure=False).result()  # warm up
    start = time.perf_counter()
    for i in range(n):
        client.submit(_noop, i, pure=False).result()
    return (time.perf_counter() - start) / n
