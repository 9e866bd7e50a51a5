"""constructions.pattern_cot.oracle: exact and Monte-Carlo oracles agree; plurality probabilities; errors."""

import numpy as np
import pytest

from constructions import ProofCheckError
from constructions.pattern_cot import WORKED_EXAMPLE, oracle_error, step_matrix
from constructions.pattern_cot import oracle as o


@pytest.mark.parametrize("mode, l, alpha", [("cot", 7, 1.0), ("cot", 20, 0.5), ("icl", 9, 0.6)])
def test_exact_and_mc_agree(mode, l, alpha):
    ex = oracle_error(WORKED_EXAMPLE, l, alpha, mode=mode)
    mc = oracle_error(WORKED_EXAMPLE, l, alpha, mode=mode, method="mc", trials=20_000, seed=3)
    assert abs(ex.error - mc.error) <= 4.5 * mc.se  # Bonferroni-safe for three cases


def test_path_metric_bounds_step_metric():
    steps = o.cot_error_exact(WORKED_EXAMPLE, 15, 1.0)
    path = o.cot_error_exact(WORKED_EXAMPLE, 15, 1.0, metric="path")
    assert steps <= path <= 2 * steps + 1e-12  # (1/K) sum_k 1[v_k != z_k] <= 1[some step wrong] <= K * that


def test_plurality_three_patterns_against_mc():
    p = np.array([0.5, 0.3, 0.2])
    exact = o.plurality_win_prob(6, p, 0)
    rng = np.random.default_rng(0)
    counts = rng.multinomial(6, p, size=200_000)
    top = counts == counts.max(1, keepdims=True)
    mc = (top[:, 0] / top.sum(1)).mean()
    assert abs(exact - mc) < 4 * 0.5 / np.sqrt(200_000)
    assert o.plurality_win_prob(0, p, 2) == pytest.approx(1 / 3)


def test_bounds_hold_on_worked_example():
    for l in (5, 50, 200):
        assert o.cot_error_exact(WORKED_EXAMPLE, l, 0.7) <= o.cot_error_bound(WORKED_EXAMPLE, l, 0.7)


def test_threshold_bisection():
    assert o.threshold(lambda l: 1.0 / l, 0.1, 1000) == pytest.approx(10.0)
    assert o.threshold(lambda l: 1.0, 0.1, 50) == float("inf")


@pytest.mark.parametrize("call, fragment", [
    (lambda: oracle_error(WORKED_EXAMPLE, 0, 1.0), "l (the number of test examples) must be a positive integer"),
    (lambda: oracle_error(WORKED_EXAMPLE, 5, 1.5), "alpha (the fraction of examples"),
    (lambda: oracle_error(WORKED_EXAMPLE, 5, 1.0, mode="both"), "mode must be one of"),
    (lambda: oracle_error(WORKED_EXAMPLE, 5, 1.0, method="guess"), "method must be one of"),
    (lambda: oracle_error([step_matrix((1, 2, 0), 0.6)], 5, 1.0), "handles M'=2 patterns"),
])
def test_bad_input_names_the_value(call, fragment):
    with pytest.raises(ProofCheckError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        call()
