"""pattern_cot.theorem2, assumption map (probe, beyond the paper): where the trained model's CoT error is the
oracle's, over the overlap of the test patterns (the paper's are orthonormal: 0) and alpha', the fraction of
examples sharing the query's pattern (the theorem needs l_ts >= l*(alpha')). sweeps/maps.py; python -m sweeps
pattern_cot."""

from __future__ import annotations

import pytest

from sweeps.probe import region_holds_and_far_corner_fails, run_probe_map

pytestmark = pytest.mark.claim("pattern_cot.theorem2")


def test_probe_map_overlap_alpha(evidence, profile):
    evidence.describe("assumption map (probe, beyond the paper): per cell (overlap eps, alpha') and seed, the main "
                      "one-layer model (SGD, M = 8, K = 2, l_tr = 10, alpha = 0.3) on 1000 noisy prompts of the worked "
                      "example with l_ts = 100 and test patterns of pairwise overlap eps: the per-prompt excess "
                      "(trained CoT error - the hard-attention oracle's on the same prompts) has a one-sided 99% t "
                      "upper bound <= 0.05 (theorem2's tolerance; margin = 0.05 / bound, capped at 100); the trained "
                      "and oracle ICL errors are in the cell details (Condition 1 fails: ICL stays near 0.4). Region: "
                      "eps = 0 and l_ts = 100 >= l*(alpha') (exact oracle error <= 0.05: alpha' >= ~0.81). Finding: "
                      "the boundary table in params; expectation: the region holds on every seed and the largest "
                      "overlap fails at the smallest alpha'", role="probe")
    run, boundary = run_probe_map(evidence, "pattern_cot", profile)
    ok, seen = region_holds_and_far_corner_fails(run, (max(run.xs), min(run.ys)))
    evidence.check_exact(ok, measured={**seen, "boundary": boundary},
                         predicted="region holds, far corner fails", reason="finding: the map's region and far corner",
                         what="map region and corner")
