"""Assumption maps: where a theorem's criterion holds over two assumption axes, cell by cell, over seeds.

A map has two axes (each with quick and paper values), a cell function ``cell(x, y, seed, profile) -> dict`` that
evaluates the claim's own criterion for one seed and returns ``{"passed": bool, "margin": float, ...}`` (margin
> 1 passes; the factor by which the criterion holds), and the paper's assumption region (``in_region(x, y)``), which
the figure outlines. Cells are pure functions of their arguments (seeded), so every executor gives the same
verdicts, and they are disk-cached (``verify/cache.py``), so an interrupted map resumes without recomputing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from verify.cache import disk_cached

PROFILES = ("quick", "paper")


@dataclass(frozen=True)
class Axis:
    name: str
    label: str  # matplotlib mathtext allowed
    quick: tuple
    paper: tuple
    log: bool = False

    def values(self, profile: str) -> tuple:
        return self.quick if profile == "quick" else self.paper


@dataclass(frozen=True)
class AssumptionMap:
    name: str
    claim: str  # the claim whose criterion each cell evaluates
    title: str
    criterion: str  # one line: what a cell checks per seed
    x: Axis
    y: Axis
    cell: Callable[..., dict]
    in_region: Callable[[float, float], bool]  # the paper's assumption region (outlined on the figure)
    region_text: str
    seeds_quick: int = 3
    seeds_paper: int = 8

    def seeds(self, profile: str, n: int | None = None) -> tuple[int, ...]:
        return tuple(range(n if n is not None else (self.seeds_quick if profile == "quick" else self.seeds_paper)))


# ---------------------------------------------------------------------------------------------------------
# gd_cot: Theorem 4.1 (two stages and convergence of the reduced CoT flow) over init scale sigma x k
# ---------------------------------------------------------------------------------------------------------
GD_COT_SIZES = {  # t_max 2e5: at k = 2 the slowest Hessian rate is ~2e-4 (the flow needs ~1e5 to settle)
    "quick": dict(d=5, n=10, eta=0.1, t_max=2e5), "paper": dict(d=10, n=20, eta=0.1, t_max=2e5)}
CONVERGED = 1e-3  # distance of (a, b)(t_max) to (-eta, 1): the flow has reached the construction


@lru_cache(maxsize=None)
def _gd_cot_flow(profile: str, k: int):
    from dynamics.gd_cot import reduced_flow

    s = GD_COT_SIZES[profile]
    return reduced_flow(s["d"], s["n"], int(k), s["eta"], mode="eigenspace")


@disk_cached
def gd_cot_cell(init: str, sigma: float, k: int, seed: int, profile: str) -> dict:
    """One seed of the theorem4_1 criterion at init scale ``sigma`` and CoT length ``k``: the reduced eigenspace
    flow from the Assumption 4.1 init (``init="assumption41"``: shared eigenvalues) or beyond it
    (``"independent"``: independent eigenvalues of V31(0), W13(0)) must (i) show two stages (V31 closes >= 90% of
    its gap to the stage-1 target before W13 covers 5% of its way) and (ii) converge to (-eta I, I)."""
    from dynamics.gd_cot import (
        TWO_STAGE_A_LEFT, TWO_STAGE_B_MOVED, assumption41_init, independent_init, integrate_flow, time_grid,
        two_stage_measures,
    )

    flow = _gd_cot_flow(profile, int(k))
    t_max = GD_COT_SIZES[profile]["t_max"]
    start = (assumption41_init if init == "assumption41" else independent_init)(flow, float(sigma), int(seed))
    traj = integrate_flow(flow, start, t_max, t_eval=time_grid(t_max, 161))
    _, a_left, b_moved = two_stage_measures(flow, traj)
    dist = float(np.linalg.norm(np.concatenate([traj.a[-1], traj.b[-1]]) - flow.fixed_point()))
    margins = {"two stages (V31 gap left)": TWO_STAGE_A_LEFT / max(a_left, 1e-300),
               "two stages (W13 moved)": TWO_STAGE_B_MOVED / max(b_moved, 1e-300),
               "convergence": CONVERGED / max(dist, 1e-300)}
    margin = min(margins.values())
    return {"passed": bool(margin >= 1), "margin": float(margin), "margins": margins, "a_left": a_left,
            "b_moved": b_moved, "distance": dist}


def _gd_cot_cell(x, y, seed, profile, init="assumption41"):
    return gd_cot_cell(init, float(x), int(y), int(seed), profile)


def _gd_cot_independent(x, y, seed, profile):
    return _gd_cot_cell(x, y, seed, profile, init="independent")


_SIGMA = Axis("sigma", r"init scale $\sigma$", quick=(0.03, 0.3, 1.0), paper=(0.01, 0.1, 0.3, 0.5, 1.0), log=True)
_K = Axis("k", r"CoT steps $k$", quick=(2, 5, 10), paper=(2, 5, 10, 20))

MAPS: dict[str, AssumptionMap] = {
    "gd_cot": AssumptionMap(
        name="gd_cot", claim="gd_cot.theorem4_1",
        title="gd_cot Theorem 4.1: two stages and convergence, Assumption 4.1 init (shared eigenvalues)",
        criterion=("reduced eigenspace flow from sigma diag(u) (u ~ U(0.5, 1.5), seeded): two stages (V31 closes "
                   ">= 90% of its stage-1 gap before W13 moves 5%) and distance to (-eta I, I) <= 1e-3 at t_max"),
        x=_SIGMA, y=_K, cell=_gd_cot_cell, in_region=lambda sigma, k: sigma < 0.5 and k >= 2,
        region_text="small init (sigma < 1/2, Reviewer 1's reading of Assumption 4.1) and k >= 2"),
    "gd_cot_independent": AssumptionMap(
        name="gd_cot_independent", claim="gd_cot.theorem4_1",
        title="gd_cot Theorem 4.1 beyond Assumption 4.1: independent eigenvalues of V31(0) and W13(0)",
        criterion="as the gd_cot map, from sigma diag(u), sigma diag(v) with u, v independent",
        x=_SIGMA, y=_K, cell=_gd_cot_independent, in_region=lambda sigma, k: False,
        region_text="outside the assumption everywhere (the eigenvalues are not shared)"),
}


def get(name: str) -> AssumptionMap:
    try:
        return MAPS[name]
    except KeyError:
        from constructions.errors import ProofCheckError

        raise ProofCheckError(f"unknown map {name!r} (choose one of: {', '.join(MAPS)})") from None
