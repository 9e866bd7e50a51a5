"""The suite's statistics layer, thin over ``scipy.stats`` (see the evidence standard in the README).

Every statistical check of a trained model, a Monte-Carlo estimate or a fit goes through one of these functions
and records the returned :class:`StatTest` through ``evidence.check_stat``. Each test states:

- its **direction**: ``le`` (the estimate's upper confidence bound must stay at or below a tolerance fixed in
  advance: "the model reaches the optimum", excess >= 0 by definition), ``ge`` (the lower bound must reach a
  threshold: "far below", a ratio of at least x), or ``band`` (both confidence ends inside [lo, hi]: Theta-type
  claims, or "equal within a tolerance" with paired data);
- its **p-value** for the null hypothesis "the claim's inequality is violated" (a small p is strong evidence
  FOR the pass). The plugin applies Holm's step-down procedure to the p-values of all passing checks of a run
  (the family) and records the family size; see :func:`holm`;
- its **resolution**: the smallest true deviation from the prediction that the check detects with probability
  at least ``confidence``, computed from the test's own standard error (normal approximation for the power).

Intervals use t-quantiles (small-sample means and fits), Clopper-Pearson (0/1 error rates, also for 0 of n) and
the BCa bootstrap where no formula fits. Per-check level: ``CONFIDENCE`` (one-sided where the claim is
one-sided).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
from scipy import stats

CONFIDENCE = 0.99  # per-check confidence level; Holm controls the family-wise error over a run
DIRECTIONS = ("le", "ge", "band")


@dataclass(frozen=True)
class StatTest:
    """One statistical test: the estimate, its confidence end(s) and the criterion they are held to.

    ``low``/``high`` are the confidence bounds used (one-sided tests set the unused end to -inf / inf);
    ``lo``/``hi`` the tolerance or band (a one-sided ``le`` test has lo = -inf). ``passed`` says whether the
    confidence bound(s) lie inside the criterion. ``p_value`` is for H0: the criterion is violated.
    """

    direction: str
    estimate: float
    low: float
    high: float
    lo: float
    hi: float
    p_value: float
    resolution: float
    n: int
    confidence: float
    method: str
    what: str = ""
    extra: dict = field(default_factory=dict)
    opposite: float = math.nan  # the other one-sided bound at the same level (for confident rejections)

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS} (got {self.direction!r})")

    @property
    def passed(self) -> bool:
        return bool(self.low >= self.lo and self.high <= self.hi)

    @property
    def rejected(self) -> bool:
        """The criterion is violated with confidence: the whole interval lies beyond it (what a near-miss
        negative control must show; a noisy check must not reject a near miss by noise alone)."""
        if self.direction == "le":
            return bool(self.opposite > self.hi)
        if self.direction == "ge":
            return bool(self.opposite < self.lo)
        return bool(self.low > self.hi or self.high < self.lo)

    @property
    def bound(self) -> float:
        """The confidence end that is compared (``le``: upper, ``ge``: lower; ``band``: the end nearer its edge)."""
        if self.direction == "le":
            return self.high
        if self.direction == "ge":
            return self.low
        return self.high if (self.hi - self.high) < (self.low - self.lo) else self.low

    @property
    def threshold(self) -> float:
        if self.direction == "le":
            return self.hi
        if self.direction == "ge":
            return self.lo
        return self.hi if self.bound == self.high else self.lo

    def reason(self) -> str:
        side = {"le": "upper", "ge": "lower", "band": "two-sided"}[self.direction]
        return (f"{self.confidence:.0%} {side} {self.method} bound over n = {self.n}; resolution "
                f"{self.resolution:.3g} (a true value that far from the prediction fails w.p. >= "
                f"{self.confidence:.0%}); p = {self.p_value:.2g} for 'criterion violated', Holm over the run")

    def to_json(self) -> dict:
        out = asdict(self)
        out["passed"] = self.passed
        return out


def _t(confidence: float, df: int) -> float:
    return float(stats.t.ppf(confidence, df))


def _mean_se(samples) -> tuple[np.ndarray, float, float, int]:
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size < 2:
        raise ValueError(f"a t interval needs at least 2 samples (got {x.size})")
    if not np.all(np.isfinite(x)):
        return x, math.inf, math.inf, x.size
    return x, float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)), x.size


def _power_shift(se: float, df: int, confidence: float) -> float:
    """How far inside a one-sided criterion the true value must lie for the test to pass with probability
    ``confidence``: t_{conf, df} se (the bound's half-width) plus z_conf se (the estimate's own spread)."""
    return (_t(confidence, df) + float(stats.norm.ppf(confidence))) * se


def mean_le(samples, tolerance: float, *, confidence: float = CONFIDENCE, what: str = "",
            method: str = "t") -> StatTest:
    """One-sided: the upper t confidence bound of the mean of ``samples`` is at most ``tolerance``.

    For paired excesses (model minus reference on the same tasks, >= 0 by definition) with an a-priori
    tolerance. p-value: one-sample t test of H0 mean >= tolerance (scipy ``ttest_1samp``, alternative='less').
    Resolution: the tolerance itself (a true mean at or above it fails with probability >= confidence);
    ``extra['passes_below']`` = tolerance - (t + z) se, the true mean below which a correct model passes with
    probability >= confidence (the check's power to pass).
    """
    x, mean, se, n = _mean_se(samples)
    if not math.isfinite(mean):
        return StatTest("le", mean, -math.inf, math.inf, -math.inf, float(tolerance), 1.0, math.inf, n, confidence,
                        method, what)
    half = _t(confidence, n - 1) * se
    p = 1.0 if se == 0 and mean > tolerance else (
        0.0 if se == 0 else float(stats.ttest_1samp(x, tolerance, alternative="less").pvalue))
    return StatTest("le", mean, -math.inf, mean + half, -math.inf, float(tolerance), p, float(tolerance), n,
                    confidence, method, what,
                    {"se": se, "passes_below": float(tolerance) - _power_shift(se, n - 1, confidence)}, mean - half)


def mean_ge(samples, threshold: float, *, confidence: float = CONFIDENCE, what: str = "",
            method: str = "t") -> StatTest:
    """One-sided: the lower t confidence bound of the mean is at least ``threshold`` (p: H0 mean <= threshold).
    Resolution: the threshold (a true mean at or below it fails with probability >= confidence);
    ``extra['passes_above']`` = threshold + (t + z) se."""
    x, mean, se, n = _mean_se(samples)
    if not math.isfinite(mean):
        ok = mean == math.inf
        return StatTest("ge", mean, mean if ok else -math.inf, math.inf, float(threshold), math.inf,
                        0.0 if ok else 1.0, float(threshold), n, confidence, method, what)
    half = _t(confidence, n - 1) * se
    p = 1.0 if se == 0 and mean < threshold else (
        0.0 if se == 0 else float(stats.ttest_1samp(x, threshold, alternative="greater").pvalue))
    return StatTest("ge", mean, mean - half, math.inf, float(threshold), math.inf, p, float(threshold), n,
                    confidence, method, what,
                    {"se": se, "passes_above": float(threshold) + _power_shift(se, n - 1, confidence)}, mean + half)


def mean_in_band(samples, lo: float, hi: float, *, confidence: float = CONFIDENCE, what: str = "") -> StatTest:
    """Two-sided band: the (two-sided, level ``confidence``) t interval of the mean lies inside [lo, hi].

    For Theta-type claims, and for "equal to the reference within +-tol" on paired differences (an
    equivalence test: TOST, p = twice the larger one-sided p-value). Resolution: the band's half-width (a true
    mean on or beyond an edge fails with probability >= confidence); ``extra['passes_within']``: how far inside
    the edges the true mean must lie to pass with probability >= confidence.
    """
    x, mean, se, n = _mean_se(samples)
    if not math.isfinite(mean):
        return StatTest("band", mean, -math.inf, math.inf, lo, hi, 1.0, math.inf, n, confidence, "t", what)
    half = _t(1 - (1 - confidence) / 2, n - 1) * se
    if se == 0:
        p = 0.0 if lo <= mean <= hi else 1.0
    else:
        # TOST; doubled so that the individual pass (the two-sided interval inside) is p <= 1 - confidence
        p = min(1.0, 2 * max(float(stats.ttest_1samp(x, lo, alternative="greater").pvalue),
                             float(stats.ttest_1samp(x, hi, alternative="less").pvalue)))
    shift = half + float(stats.norm.ppf(confidence)) * se
    return StatTest("band", mean, mean - half, mean + half, float(lo), float(hi), p, (hi - lo) / 2, n, confidence,
                    "t (TOST)", what, {"se": se, "passes_within": shift})


def ratio_of_means_le(num, den, bound: float, *, confidence: float = CONFIDENCE, what: str = "") -> StatTest:
    """Paired one-sided: mean(num) / mean(den) <= bound, tested as mean(num - bound den) <= 0 on the same tasks
    (Fieller's construction; exact for the ratio's sign, no delta method). ``estimate`` is the ratio; the
    reported bounds are those of the paired linear combination divided by mean(den)."""
    num, den = np.asarray(num, float).ravel(), np.asarray(den, float).ravel()
    if num.shape != den.shape:
        raise ValueError("paired samples must have the same length")
    t = mean_le(num - bound * den, 0.0, confidence=confidence, what=what)
    scale = float(den.mean())
    return StatTest("le", float(num.mean() / scale), -math.inf, bound + t.high / scale, -math.inf, float(bound),
                    t.p_value, float(bound), t.n, confidence, "paired t (Fieller)", what,
                    {"mean_num": float(num.mean()), "mean_den": scale}, bound + t.opposite / scale)


def ratio_of_means_ge(num, den, bound: float, *, confidence: float = CONFIDENCE, what: str = "") -> StatTest:
    """Paired one-sided: mean(num) / mean(den) >= bound, as mean(num - bound den) >= 0 (see ratio_of_means_le)."""
    num, den = np.asarray(num, float).ravel(), np.asarray(den, float).ravel()
    t = mean_ge(num - bound * den, 0.0, confidence=confidence, what=what)
    scale = float(den.mean())
    return StatTest("ge", float(num.mean() / scale), bound + t.low / scale, math.inf, float(bound), math.inf,
                    t.p_value, float(bound), t.n, confidence, "paired t (Fieller)", what,
                    {"mean_num": float(num.mean()), "mean_den": scale}, bound + t.opposite / scale)


@dataclass(frozen=True)
class Fit:
    """Least-squares line y = intercept + slope x with a two-sided t interval for the slope."""
    slope: float
    intercept: float
    stderr: float
    low: float
    high: float
    n: int
    confidence: float
    rvalue: float


def fit_line(x, y, *, confidence: float = CONFIDENCE, covariates=None) -> Fit:
    """``scipy.stats.linregress`` with a t interval (n - 2 degrees of freedom) for the slope.

    ``covariates`` (optional; one array of length n, or a sequence of them): ordinary least squares of y on
    (x, covariates..., 1), the slope being x's coefficient, its standard error from the residuals and the t
    interval with n - p degrees of freedom (p = 2 + the number of covariates). For a fit whose known correction
    terms (e.g. a first-order finite-size term) are estimated alongside the slope, so that its interval is
    statistical only. ``rvalue`` is then the multiple correlation coefficient."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if covariates is None:
        if x.size < 3:
            raise ValueError(f"a fitted slope with an interval needs at least 3 points (got {x.size})")
        r = stats.linregress(x, y)
        half = _t(1 - (1 - confidence) / 2, x.size - 2) * r.stderr
        return Fit(float(r.slope), float(r.intercept), float(r.stderr), float(r.slope - half),
                   float(r.slope + half), x.size, confidence, float(r.rvalue))
    cov = np.asarray(covariates, float)
    cov = cov.reshape(1, -1) if cov.ndim == 1 else cov.reshape(cov.shape[0], -1)
    if cov.shape[1] != x.size or y.size != x.size:
        raise ValueError(f"x, y and every covariate need the same length (got {x.size}, {y.size}, {cov.shape[1]})")
    A = np.column_stack([x, *cov, np.ones_like(x)])
    dof = x.size - A.shape[1]
    if dof < 1:
        raise ValueError(f"a fit with {A.shape[1]} coefficients needs at least {A.shape[1] + 1} points (got {x.size})")
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    s2 = float(resid @ resid) / dof
    se = float(np.sqrt(s2 * np.linalg.inv(A.T @ A)[0, 0]))
    half = _t(1 - (1 - confidence) / 2, dof) * se
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    return Fit(float(coef[0]), float(coef[-1]), se, float(coef[0] - half), float(coef[0] + half), x.size,
               confidence, float(np.sqrt(max(r2, 0.0))))


def _fit_dof(f: Fit, covariates) -> int:
    extra = 0 if covariates is None else np.atleast_2d(np.asarray(covariates, float)).shape[0]
    return f.n - 2 - extra


def slope_in_band(x, y, lo: float, hi: float, *, confidence: float = CONFIDENCE, what: str = "",
                  covariates=None) -> StatTest:
    """Two-sided: the slope's t interval lies inside [lo, hi] (both sides of a Theta band are checked).
    ``covariates``: see :func:`fit_line`."""
    f = fit_line(x, y, confidence=confidence, covariates=covariates)
    df = _fit_dof(f, covariates)
    if f.stderr == 0:
        p = 0.0 if lo <= f.slope <= hi else 1.0
    else:
        p = min(1.0, 2 * max(float(stats.t.sf((f.slope - lo) / f.stderr, df)),
                             float(stats.t.cdf((f.slope - hi) / f.stderr, df))))
    shift = (f.high - f.slope) + float(stats.norm.ppf(confidence)) * f.stderr
    return StatTest("band", f.slope, f.low, f.high, float(lo), float(hi), p, (hi - lo) / 2, f.n, confidence,
                    "t (linregress)" if covariates is None else "t (OLS with covariates)", what,
                    {"intercept": f.intercept, "stderr": f.stderr, "rvalue": f.rvalue, "dof": df,
                     "passes_within": shift})


def _slope_one_sided(direction, x, y, bound, confidence, what, covariates) -> StatTest:
    f = fit_line(x, y, confidence=confidence, covariates=covariates)
    df = _fit_dof(f, covariates)
    half = _t(confidence, df) * f.stderr
    upper, lower = f.slope + half, f.slope - half
    if f.stderr == 0:
        p = 0.0 if (f.slope <= bound if direction == "le" else f.slope >= bound) else 1.0
    elif direction == "le":
        p = float(stats.t.cdf((f.slope - bound) / f.stderr, df))
    else:
        p = float(stats.t.sf((f.slope - bound) / f.stderr, df))
    extra = {"intercept": f.intercept, "stderr": f.stderr, "rvalue": f.rvalue, "dof": df,
             "passes_within": half + float(stats.norm.ppf(confidence)) * f.stderr}
    method = "one-sided t (linregress)" if covariates is None else "one-sided t (OLS with covariates)"
    if direction == "le":
        return StatTest("le", f.slope, -math.inf, upper, -math.inf, float(bound), p, float(bound), f.n, confidence,
                        method, what, extra, lower)
    return StatTest("ge", f.slope, lower, math.inf, float(bound), math.inf, p, float(bound), f.n, confidence, method,
                    what, extra, upper)


def slope_le(x, y, hi: float, *, confidence: float = CONFIDENCE, what: str = "", covariates=None) -> StatTest:
    """One-sided: the slope's upper t confidence bound (n - p degrees of freedom) is at most ``hi`` (the top of a
    band whose sides are checked separately, or a sufficiency bound). p: H0 slope >= hi. ``covariates``: see
    :func:`fit_line`. Resolution: ``hi`` (a true slope at or above it fails w.p. >= confidence);
    ``extra['passes_within']``: how far below ``hi`` the true slope must lie to pass w.p. >= confidence."""
    return _slope_one_sided("le", x, y, hi, confidence, what, covariates)


def slope_ge(x, y, lo: float, *, confidence: float = CONFIDENCE, what: str = "", covariates=None) -> StatTest:
    """One-sided: the slope's lower t confidence bound is at least ``lo`` (see :func:`slope_le`)."""
    return _slope_one_sided("ge", x, y, lo, confidence, what, covariates)


def rate_le(errors: int, trials: int, bound: float, *, confidence: float = CONFIDENCE, what: str = "") -> StatTest:
    """One-sided Clopper-Pearson: the upper confidence bound of an error rate is at most ``bound`` (also for 0
    errors). p-value: exact binomial test of H0 rate >= bound. Resolution: the true rate at which the check
    fails with probability >= confidence (exact binomial power, on a grid of step 1/2000)."""
    errors, trials = int(errors), int(trials)
    if trials < 1 or not 0 <= errors <= trials:
        raise ValueError(f"need 0 <= errors <= trials, trials >= 1 (got {errors} of {trials})")
    ci = stats.binomtest(errors, trials).proportion_ci(2 * confidence - 1, method="exact")
    high = float(ci.high)
    p = float(stats.binomtest(errors, trials, bound, alternative="less").pvalue) if bound > 0 else 1.0
    # largest error count that still passes at this n, then the rate at which that count is exceeded w.p. conf
    e = np.arange(trials)  # the one-sided Clopper-Pearson upper end for e errors is Beta(conf; e + 1, n - e)
    passing = np.flatnonzero(stats.beta.ppf(confidence, e + 1, trials - e) <= bound)
    if passing.size:
        e_max = int(passing.max())
        grid = np.linspace(0, 1, 2001)
        res = float(grid[np.argmax(stats.binom.sf(e_max, trials, grid) >= confidence)])
    else:
        res = 0.0
    return StatTest("le", errors / trials, 0.0, high, -math.inf, float(bound), p, res, trials, confidence,
                    "Clopper-Pearson", what, {"errors": errors}, float(ci.low))


def rate_ge(errors: int, trials: int, bound: float, *, confidence: float = CONFIDENCE, what: str = "") -> StatTest:
    """One-sided Clopper-Pearson: the LOWER confidence bound of an error rate is at least ``bound`` (a model that
    must fail). p-value: exact binomial test of H0 rate <= bound. Resolution: the true rate at or above which the
    check passes with probability >= confidence (exact binomial power, grid step 1/2000)."""
    errors, trials = int(errors), int(trials)
    if trials < 1 or not 0 <= errors <= trials:
        raise ValueError(f"need 0 <= errors <= trials, trials >= 1 (got {errors} of {trials})")
    ci = stats.binomtest(errors, trials).proportion_ci(2 * confidence - 1, method="exact")
    p = float(stats.binomtest(errors, trials, bound, alternative="greater").pvalue) if bound < 1 else 1.0
    e = np.arange(1, trials + 1)  # the one-sided lower end for e errors is Beta(1 - conf; e, n - e + 1)
    passing = np.flatnonzero(stats.beta.ppf(1 - confidence, e, trials - e + 1) >= bound)
    if passing.size:
        e_min = int(e[passing.min()])
        grid = np.linspace(0, 1, 2001)
        res = float(grid[np.argmax(stats.binom.sf(e_min - 1, trials, grid) >= confidence)])
    else:
        res = 1.0
    return StatTest("ge", errors / trials, float(ci.low), math.inf, float(bound), math.inf, p, res, trials,
                    confidence, "Clopper-Pearson", what, {"errors": errors}, float(ci.high))


def binomtest_ci(errors: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided Clopper-Pearson interval of a rate (for figures)."""
    ci = stats.binomtest(int(errors), int(trials)).proportion_ci(confidence, method="exact")
    return float(ci.low), float(ci.high)


def _paired_bounds(only_a: int, only_b: int, trials: int, level: float) -> tuple[float, float]:
    """(lower, upper) bounds on P(a wrong, b right) - P(a right, b wrong), each end from one-sided Clopper-Pearson
    bounds at ``level`` on the two discordant rates, split Bonferroni-wise (each at 1 - (1 - level)/2)."""
    half = 1 - (1 - level) / 2
    cp = lambda k: stats.binomtest(k, trials).proportion_ci(2 * half - 1, method="exact")
    a, b = cp(only_a), cp(only_b)
    return float(a.low - b.high), float(a.high - b.low)


def paired_rate_diff_ge(only_a: int, only_b: int, trials: int, threshold: float, *,
                        confidence: float = CONFIDENCE, what: str = "") -> StatTest:
    """Paired 0/1 outcomes of two models on the SAME tasks (common random numbers): the difference of their error
    rates, rate_a - rate_b = P(a wrong, b right) - P(a right, b wrong), has a lower confidence bound of at least
    ``threshold``. ``only_a`` / ``only_b`` count the tasks that only a / only b gets wrong (the concordant ones
    cancel). Exact and conservative: one-sided Clopper-Pearson bounds on the two discordant rates, Bonferroni over
    the two. p-value: for threshold 0 the exact McNemar (sign) test on the discordant tasks; otherwise the level at
    which the bound meets the threshold (bisection). Resolution: (t + z) times the paired standard error (normal
    approximation for the power, as for the means)."""
    n = int(trials)
    if n < 1 or only_a < 0 or only_b < 0 or only_a + only_b > n:
        raise ValueError(f"need 0 <= only_a + only_b <= trials (got {only_a}, {only_b} of {n})")
    low, high = _paired_bounds(only_a, only_b, n, confidence)
    pa, pb = only_a / n, only_b / n
    est = pa - pb
    if threshold == 0:
        d = only_a + only_b
        p = float(stats.binomtest(only_a, d, 0.5, alternative="greater").pvalue) if d else 1.0
    else:
        lo_l, hi_l = 0.5, 1 - 1e-12  # the bound falls as the level rises
        if _paired_bounds(only_a, only_b, n, lo_l)[0] < threshold:
            p = 1.0
        else:
            for _ in range(60):
                mid = (lo_l + hi_l) / 2
                lo_l, hi_l = (mid, hi_l) if _paired_bounds(only_a, only_b, n, mid)[0] >= threshold else (lo_l, mid)
            p = 1 - lo_l
    se = math.sqrt(max(pa + pb - est ** 2, 1.0 / n) / n)
    res = 2 * float(stats.norm.ppf(1 - (1 - confidence) / 2)) * se
    return StatTest("ge", est, low, math.inf, float(threshold), math.inf, p, res, n, confidence,
                    "paired Clopper-Pearson (Bonferroni over the discordant rates)", what,
                    {"only_a": int(only_a), "only_b": int(only_b)}, high)


def bootstrap_le(samples, statistic: Callable, tolerance: float, *, confidence: float = CONFIDENCE,
                 what: str = "", n_resamples: int = 2000, seed: int = 0) -> StatTest:
    """One-sided BCa bootstrap (``scipy.stats.bootstrap``): the upper bound of ``statistic`` is at most
    ``tolerance``. For statistics without a formula (medians, ratios of medians). The p-value is the bootstrap
    share of resamples above the tolerance (a percentile approximation)."""
    x = np.asarray(samples, float)
    res = stats.bootstrap((x,), statistic, confidence_level=2 * confidence - 1, method="BCa",
                          n_resamples=n_resamples, random_state=np.random.default_rng(seed), vectorized=False)
    est = float(statistic(x))
    dist = np.asarray(res.bootstrap_distribution, float)
    p = float(max(np.mean(dist >= tolerance), 1.0 / n_resamples))
    se = float(res.standard_error)
    return StatTest("le", est, -math.inf, float(res.confidence_interval.high), -math.inf, float(tolerance), p,
                    float(tolerance), x.size, confidence, "BCa bootstrap", what,
                    {"se": se, "passes_below": float(tolerance) - 2 * float(stats.norm.ppf(confidence)) * se},
                    float(res.confidence_interval.low))


def holm(p_values, alpha: float = 1 - CONFIDENCE) -> np.ndarray:
    """Holm's step-down procedure: which hypotheses are rejected with family-wise error at most ``alpha``.

    SciPy has no Holm routine (only Benjamini-Hochberg); this is the textbook algorithm: sort the p-values,
    reject p_(i) while p_(i) <= alpha / (m - i) (i = 0-based rank), stop at the first that is not.
    """
    p = np.asarray(p_values, float)
    order = np.argsort(p, kind="stable")
    rejected = np.zeros(p.size, bool)
    m = p.size
    for rank, idx in enumerate(order):
        if p[idx] > alpha / (m - rank):
            break
        rejected[idx] = True
    return rejected


# ------------------------------------------------------------------------------ kept for the older MC checks
def z_value(family_size: int = 1, confidence: float = CONFIDENCE) -> float:
    """Two-sided normal quantile for a family of ``family_size`` intervals at joint level ``confidence``."""
    return float(stats.norm.ppf(1 - (1 - confidence) / (2 * family_size)))


def mean_and_se(samples: np.ndarray) -> tuple[float, float]:
    """Sample mean and its standard error (ddof = 1)."""
    samples = np.asarray(samples, dtype=np.float64)
    return float(samples.mean()), float(samples.std(ddof=1) / np.sqrt(samples.size))


def ci_reason(family_size: int, n_samples: int, confidence: float = CONFIDENCE) -> str:
    return (f"{confidence:.0%} normal CI (Bonferroni over {family_size} interval(s), z = "
            f"{z_value(family_size, confidence):.3f}) from {n_samples} independent Monte-Carlo samples")
