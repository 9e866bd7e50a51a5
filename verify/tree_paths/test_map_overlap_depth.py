"""tree_paths.theorem4, assumption map (probe, beyond the paper): where the SGD-trained backward model decodes
exact paths on unseen random trees, over the embedding overlap rho (the paper assumes orthonormal: rho = 0) and
the goal depth (the paper trains on depth-4 perfect trees). sweeps/maps.py; python -m sweeps tree_paths."""

from __future__ import annotations

import pytest

from sweeps.probe import region_holds_and_far_corner_fails, run_probe_map

pytestmark = pytest.mark.claim("tree_paths.theorem4")


def test_probe_map_overlap_depth(evidence, profile):
    evidence.describe("assumption map (probe, beyond the paper): per cell (rho, depth) and seed, B trained by SGD from "
                      "0 (m = 4, S = 31, lr 1, batch 256, 2000 steps) with equicorrelated embeddings of overlap rho "
                      "(trained and tested with them: the assumption relaxed, not an embedding swap) decodes the exact "
                      "goal-to-root path (argmax feedback) on 1024 unseen random trees (<= 3 children, n ~ U[depth + 1, "
                      "31]) with the goal at that depth; a seed passes when the one-sided 99% Clopper-Pearson upper "
                      "bound of the wrong-path rate is <= 1% (the pre-registered accuracy >= 0.99; margin = 0.01 / "
                      "bound, 2.2 at 0 wrong paths); a cell's verdict is over its seeds. Finding: the boundary table "
                      "in params; expectation: the paper's region (rho = 0, depth <= 4) holds on every seed and the "
                      "largest rho fails at the largest depth", role="probe")
    run, boundary = run_probe_map(evidence, "tree_paths", profile)
    ok, seen = region_holds_and_far_corner_fails(run, (max(run.xs), max(run.ys)))
    evidence.check_exact(ok, measured={**seen, "boundary": boundary},
                         predicted="region holds, far corner fails", reason="finding: the map's region and far corner",
                         what="map region and corner")


@pytest.mark.slow
def test_probe_map_embeddings_swapped_at_test(evidence, profile):
    evidence.describe("assumption map (probe): the same criterion for the paper's model (trained one-hot, rho = 0) "
                      "tested with overlap-rho embeddings (an embedding swap: for a symmetric B the value margin shrinks "
                      "by 1 - rho); finding: the boundary table in params", role="probe")
    run, boundary = run_probe_map(evidence, "tree_paths_swap", profile)
    evidence.check_exact(len(run.cells) == len(run.xs) * len(run.ys), measured={"boundary": boundary},
                         predicted="every cell evaluated", reason="finding: reported, no threshold")
