"""The statistics layer (verify/stats.py): directions, p-values consistent with the per-check verdict, Holm,
Clopper-Pearson for 0 of n, confident rejections for near misses, and the family-wise control in the plugin."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from verify import stats

REPO = Path(__file__).resolve().parents[1]
ALPHA = 1 - stats.CONFIDENCE


@pytest.mark.parametrize("shift", [-0.5, -0.05, 0.0, 0.05, 0.5])
def test_one_sided_pass_iff_p_below_alpha(shift):
    x = np.random.default_rng(1).normal(1.0 + shift, 1.0, 400)
    le, ge = stats.mean_le(x, 1.0), stats.mean_ge(x, 1.0)
    assert le.passed == (le.p_value <= ALPHA) and ge.passed == (ge.p_value <= ALPHA)
    assert le.high > le.estimate > le.opposite and ge.low < ge.estimate < ge.opposite


def test_band_pass_iff_p_below_alpha():
    rng = np.random.default_rng(2)
    for centre in (0.0, 0.08, 0.2):
        b = stats.mean_in_band(rng.normal(centre, 0.3, 200), -0.1, 0.1)
        assert b.passed == (b.p_value <= ALPHA + 1e-12)


def test_le_rejects_a_true_mean_at_the_tolerance_with_the_stated_probability():
    """Resolution: a true mean equal to the tolerance fails with probability >= ~confidence (t vs normal data)."""
    rng = np.random.default_rng(3)
    passes = sum(stats.mean_le(rng.normal(1.0, 1.0, 50), 1.0).passed for _ in range(2000))
    # binomial(2000, 0.01): mean 20, sd 4.4; 40 is 4.5 sd above, so a correct level essentially never exceeds it
    assert passes <= 40


def test_passes_below_is_where_a_correct_model_passes():
    rng = np.random.default_rng(4)
    t = stats.mean_le(rng.normal(0.0, 1.0, 100), 1.0)
    true_mean = t.extra["passes_below"]
    passes = sum(stats.mean_le(rng.normal(true_mean, 1.0, 100), 1.0).passed for _ in range(1000))
    assert passes >= 970  # ~99% expected; binomial sd ~3


def test_ratio_of_means_is_paired_and_fieller():
    rng = np.random.default_rng(5)
    den = rng.exponential(1.0, 5000)
    num = 0.2 * den + rng.normal(0, 0.01, den.size)  # strongly paired: ratio 0.2 to high precision
    le = stats.ratio_of_means_le(num, den, 0.21)
    assert le.passed and le.high < 0.21
    assert stats.ratio_of_means_le(num, den, 0.19).rejected  # a near miss on the other side is rejected
    assert stats.ratio_of_means_ge(num, den, 0.19).passed


def test_clopper_pearson_zero_of_n():
    t = stats.rate_le(0, 1000, 0.01)
    # exact one-sided upper bound for 0 of n at 99%: 1 - 0.01^(1/n)
    assert t.high == pytest.approx(1 - 0.01 ** (1 / 1000), rel=1e-9)
    assert t.passed and not stats.rate_le(8, 1000, 0.01).passed
    # exact power: with at most 3 errors passing at n = 1000, a true rate of ~0.0085 already fails w.p. 0.99
    assert 0.005 <= t.resolution <= 0.01


def test_fit_line_t_interval_and_band():
    x = np.arange(6.0)
    y = 2.0 * x + np.array([0.1, -0.1, 0.05, -0.05, 0.02, 0.0])
    f = stats.fit_line(x, y)
    assert f.low < 2.0 < f.high
    band = stats.slope_in_band(x, y, 1.5, 2.5)
    assert band.passed and not stats.slope_in_band(x, y, 2.2, 3.0).passed
    assert stats.slope_in_band(x, y, 2.2, 3.0).rejected


def test_fit_with_covariate_matches_ols_and_t_quantile():
    # y = 2 x + 3 c + 1 + noise: the covariate's term is estimated, not left in the residuals
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 1.0, 8)
    c = x**2
    y = 2.0 * x + 3.0 * c + 1.0 + 0.01 * rng.standard_normal(8)
    f = stats.fit_line(x, y, covariates=c)
    A = np.column_stack([x, c, np.ones(8)])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    resid = y - A @ coef
    se = np.sqrt(resid @ resid / 5 * np.linalg.inv(A.T @ A)[0, 0])
    assert f.slope == pytest.approx(coef[0]) and f.stderr == pytest.approx(se)
    from scipy.stats import t as student
    assert f.high - f.slope == pytest.approx(student.ppf(0.995, 5) * se)  # n - 3 degrees of freedom
    assert f.low < 2.0 < f.high
    # without the covariate the slope is biased away from 2 (the quadratic term leaks into it)
    assert not stats.slope_in_band(x, y, 1.9, 2.1).passed
    assert stats.slope_in_band(x, y, 1.5, 2.5, covariates=c).passed
    # the existing API is unchanged: no covariates is linregress
    assert stats.fit_line(x, 2 * x + 1).slope == pytest.approx(2.0)


def test_one_sided_slope_checks():
    x = np.arange(6.0)
    y = 2.0 * x + np.array([0.1, -0.1, 0.05, -0.05, 0.02, 0.0])
    up, down = stats.slope_le(x, y, 2.2), stats.slope_ge(x, y, 1.8)
    assert up.passed and down.passed and up.direction == "le" and down.direction == "ge"
    assert stats.slope_ge(x, y, 2.5).rejected and stats.slope_le(x, y, 1.5).rejected
    # one-sided bound: t_{0.99, n-2}, tighter than the two-sided band's t_{0.995, n-2}
    band = stats.slope_in_band(x, y, -10, 10)
    assert up.high < band.high and down.low > band.low
    assert 0 < up.p_value < 0.01


def test_bootstrap_median():
    x = np.random.default_rng(6).exponential(1.0, 400)
    t = stats.bootstrap_le(x, np.median, 1.0)
    assert t.passed and t.estimate == pytest.approx(np.median(x))


def test_holm_textbook_example():
    assert stats.holm([0.01, 0.04, 0.03, 0.005], alpha=0.05).tolist() == [True, False, False, True]
    assert stats.holm([0.004, 0.006, 0.009], alpha=0.01).tolist() == [False, False, False]
    assert stats.holm([0.001, 0.004, 0.009], alpha=0.01).tolist() == [True, True, True]


CHECKS = '''
import numpy as np
import pytest
from verify import stats

pytestmark = pytest.mark.claim("gd_cot.theorem3_2")

def _with_p(p):
    # a sample whose one-sided t test of mean <= 0 has p-value close to p
    from scipy import stats as st
    n = 50
    t = st.t.ppf(p, n - 1)
    x = np.random.default_rng(0).normal(size=n); x = (x - x.mean()) / x.std(ddof=1)
    return x + t / np.sqrt(n)

@pytest.mark.parametrize("p", [0.004, 0.006, 0.009])
def test_marginal(evidence, p):
    evidence.describe("passes individually")
    evidence.check_stat(stats.mean_le(_with_p(p), 0.0))

def test_near_miss(evidence):
    evidence.describe("rejects", role="negative_control")
    evidence.check_stat(stats.mean_le(np.random.default_rng(1).normal(1.0, 0.1, 50), 0.5), expect="reject")
'''


def test_family_wise_control_fails_marginal_checks(pytester):
    pytester.makepyfile(test_checks=CHECKS)
    out = pytester.path / "out" / "results.json"
    os.environ.update({"PYTHONPATH": str(REPO)})
    result = pytester.runpytest_subprocess("-p", "verify.plugin", "-p", "no:cacheprovider", f"--evidence-out={out}",
                                           "--rootdir", str(pytester.path))
    data = json.loads(out.read_text())
    assert result.ret == 1  # each passes at 99%, none survives Holm over 3
    assert data["family"]["size"] == 3 and len(data["family"]["failed"]) == 3
    verdicts = {e["nodeid"].split("::")[1]: e["verdict"] for e in data["evidence"]}
    assert verdicts["test_near_miss"] == "pass"
    assert all(v == "fail" for k, v in verdicts.items() if k.startswith("test_marginal"))
    result.stdout.fnmatch_lines(["*Holm over 3 statistical tests*3 record(s) fail family-wise*"])
