"""gd_cot.theorem4_1, assumption map (probe): where the two-stage and convergence criterion holds over the init
scale sigma and k, with the Assumption 4.1 init and beyond it (sweeps/maps.py; python -m sweeps gd_cot)."""

from __future__ import annotations

import pytest

from sweeps import plot
from sweeps.probe import run_map_in_run

pytestmark = pytest.mark.claim("gd_cot.theorem4_1")


def _map(evidence, name: str, profile: str):
    run = run_map_in_run(name, profile)  # paper: 160 tasks; in-process unless PROOFCHECK_DASK_ADDRESS is set
    boundary = plot.boundary_lines(run)
    evidence.params.update(executor=run.executor, xs=run.xs, ys=run.ys, seeds=run.seeds, boundary=boundary,
                           cells={f"sigma={c['x']:g}, k={c['y']}": f"{c['verdict']} ({sum(c['passed'])}/"
                                  f"{len(c['passed'])}, min margin {c['margin_min']:.3g})" for c in run.cells},
                           wall_seconds=round(run.wall_seconds, 1), task_seconds=round(run.task_seconds, 1))
    evidence.save_figure(plot.figure(run), f"gd_cot_theorem4_1_map_{name}")
    return run, boundary


def test_probe_map_assumption41(evidence, profile):
    evidence.describe("assumption map (probe, beyond the paper): per cell (sigma, k) and seed, the reduced eigenspace "
                      "flow from the Assumption 4.1 init must show two stages (V31 closes >= 90% of its stage-1 gap "
                      "before W13 moves 5%) and reach (-eta I, I) within 1e-3 by t = 2e5; each cell's verdict is over "
                      "its seeds (holds / mixed / fails). Finding: the boundary table in params; expectation: the "
                      "smallest sigma holds at every k and sigma = 1 fails at every k", role="probe")
    run, boundary = _map(evidence, "gd_cot", profile)
    small, large = min(run.xs), max(run.xs)
    ends = {y: (run.cell(small, y)["verdict"], run.cell(large, y)["verdict"]) for y in run.ys}
    evidence.check_exact(all(e == ("holds", "fails") for e in ends.values()), measured={"boundary": boundary},
                         predicted=f"sigma = {small:g} holds and sigma = {large:g} fails at every k",
                         reason="finding: the map's two ends", what="map ends")


@pytest.mark.slow
def test_probe_map_independent_eigenvalues(evidence, profile):
    evidence.describe("assumption map (probe, beyond Assumption 4.1): the same criterion when V31(0) and W13(0) have "
                      "independent eigenvalues; finding: the boundary table in params", role="probe")
    run, boundary = _map(evidence, "gd_cot_independent", profile)
    evidence.check_exact(len(run.cells) == len(run.xs) * len(run.ys), measured={"boundary": boundary},
                         predicted="every cell evaluated", reason="finding: reported, no threshold")
