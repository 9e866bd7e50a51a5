"""Formulas of gd_cot checked once against an independent computation (kills mutants of bench/mutants.py).

verify/gd_cot is being rewritten elsewhere; these unit tests pin the formulas that its claim checks use only as
references. Each test calls the function under test and compares it with a different derivation: exact sympy
equalities, so no tolerance is involved.
"""

import pytest
import sympy as sp

from constructions.gd_cot.symbolic import LOSS, no_cot_loss_along_eta, no_cot_ood_loss, no_cot_optimum
from constructions.gd_cot.wishart import expected_gd_error, looped_gd_loss, trace_moment


@pytest.mark.parametrize("n, d", [(20, 10), (7, 3), (5, 1)])
def test_ood_loss_in_distribution_is_the_theorem_3_1_minimum(n, d):
    """At Sigma = I the OOD loss of the no-CoT optimum is the in-distribution minimum LOSS d(d+1)/(n+d+1) of
    Theorem 3.1 (derived by no_cot_optimum through identity_cov_moments and a sympy solve; no_cot_ood_loss goes
    through expected_SMS). Exact rationals: equal or not."""
    assert no_cot_ood_loss(sp.eye(d), n) == no_cot_optimum(n, d)[1] == LOSS * sp.Rational(d * (d + 1), n + d + 1)


@pytest.mark.parametrize("n, d, eta", [(20, 10, "0.1"), (6, 2, "0.3"), (3, 5, "1")])
def test_one_step_gd_error_is_the_no_cot_loss_along_eta(n, d, eta):
    """k = 1: w_1 = eta S w*, so (1/2) E||w_1 - w*||^2 is the Theorem 3.1 loss along eta, built from E S and E S^2
    (symbolic.py). expected_gd_error builds it from exact Wishart moments (Stein recursion). Exact equality
    pins the loss factor 1/2 and the binomial expansion."""
    e = sp.Rational(eta)
    assert expected_gd_error(n, d, 1, e) == sp.nsimplify(no_cot_loss_along_eta(n, d, e))


@pytest.mark.parametrize("n, d", [(20, 10), (4, 3)])
def test_one_loop_is_one_gd_step_without_the_loss_factor(n, d):
    """L = 1 loop: E(y_hat - y_q)^2 = E tr (I - gamma S)^2 = (no-CoT loss along gamma) / LOSS, polynomially in
    gamma (the looped loss carries no factor 1/2: it is a squared prediction error)."""
    g = sp.Symbol("gamma")
    assert sp.expand(looped_gd_loss(n, d, 1, g) - no_cot_loss_along_eta(n, d, g) / LOSS) == 0


def test_wishart_moments_low_orders_closed_forms():
    """E tr W = nd, E tr W^2 = nd(n+d+1), E tr W^3 = nd(n^2+d^2+3nd+3n+3d+4) (classical Wishart moments) for
    symbolic n, d: the Stein recursion must reproduce them."""
    n, d = sp.symbols("n d", positive=True)
    assert sp.expand(trace_moment(1, n, d) - n * d) == 0
    assert sp.expand(trace_moment(2, n, d) - n * d * (n + d + 1)) == 0
    assert sp.expand(trace_moment(3, n, d) - n * d * (n**2 + d**2 + 3 * n * d + 3 * n + 3 * d + 4)) == 0


def test_corollary3_1_near_miss_inside_tolerance_exactly_where_step_error_below_tol():
    """The exact rule behind the near-miss control's scope: n/(n+d) is inside the tolerance iff 1/(n+d) <= STEP_TOL
    (eta* (1 + 1/(n+d)) = n/(n+d)), checked on both sides of n + d = 50."""
    from verify.gd_cot.helpers import STEP_TOL, near_miss_excess, no_cot_excess_tolerance

    for d, n in [(10, 39), (10, 40), (10, 41), (10, 60), (4, 24)]:
        assert (near_miss_excess(n, d) <= no_cot_excess_tolerance(n, d) * (1 + 1e-12)) == (1 / (n + d) <= STEP_TOL)


def _moment_z(lam, n, d, m):
    """z-score of the sample mean of tr S^m (rows of ``lam``: spectra) against the exact E tr S^m."""
    import numpy as np

    x = (lam ** m).sum(-1)
    exact = float(trace_moment(m, n, d)) / n ** m
    return (x.mean() - exact) / (x.std(ddof=1) / np.sqrt(x.size))


@pytest.mark.parametrize("n, d", [(16, 4), (8, 12), (20, 20)])
def test_sampled_spectra_match_the_exact_wishart_moments(n, d):
    """sample_spectra (Dumitriu-Edelman bidiagonal model) against the Stein-recursion moments E tr S^m, m = 1..4:
    each sample mean inside its 99.9% z interval (|z| < 3.29: a correct sampler fails one of the 12 comparisons with
    probability below 1.2%; the seed is fixed); d < n, d > n and d = n. Near miss: degrees off by one (the
    spectrum of n - 1 columns divided by n; E tr S = d (n - 1)/n: |z| = 52 to 131) must leave the interval."""
    from constructions.gd_cot.wishart import sample_spectra

    lam = sample_spectra(n, d, 20_000, seed=7)
    assert lam.shape == (20_000, d) and (lam >= -1e-12).all()
    for m in range(1, 5):
        assert abs(_moment_z(lam, n, d, m)) < 3.29, m
    wrong = sample_spectra(n - 1, d, 20_000, seed=7) * (n - 1) / n
    assert abs(_moment_z(wrong, n, d, 1)) > 3.29
