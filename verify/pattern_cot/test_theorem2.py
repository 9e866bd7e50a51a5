"""pattern_cot.theorem2: CoT error with noisy, partly wrong examples falls to 0 once l_ts ~ (alpha' tau rho)^-2."""

from __future__ import annotations

from functools import lru_cache

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st
from matplotlib.lines import Line2D

from constructions.pattern_cot import WORKED_EXAMPLE, bounds, rho, step_matrix, tau
from constructions.pattern_cot import oracle as o
from verify import figures, stats
from verify.evidence import known_failure, not_reproduced
from verify.pattern_cot.helpers import (
    T2_ALPHAS, T2_LS, T2_PROMPTS, model_errors, symmetric_task, theorem2_prompts, trained_main,
)
from verify.stats import ci_reason, mean_and_se, z_value

pytestmark = pytest.mark.claim("pattern_cot.theorem2")

BOUND_REASON = "derived bound (1/M') sum_a sum_k (M'-1)(1 - pi_k(1 - exp(-g_k^2/2)))^(alpha' l)"
GAP_POINTS = {"quick": 8, "paper": 12}  # 4 coefficients (slope, g, g^2, intercept): 8 points leave 4 dof
EXPONENT_BAND = (-2.5, -1.5)  # -2 +- 1/2: separates -2 from the neighbouring half-integer exponents


def _gaps(profile):
    """Per-step gaps g = 2p - 1 of the symmetric family."""
    return np.geomspace(0.1, 0.3, GAP_POINTS[profile])
DELTA = 0.05  # error level defining the threshold l*


# ---------------------------------------------------------------------------------------------- symbolic
def test_symbolic_bound_functional(evidence):
    evidence.describe("sympy: L*(alpha', tau, rho) = C (alpha' tau rho)^-2 decreases in each quality parameter, halving "
                      "any of them multiplies it by 4, the v1 bound is its rho = 1 case; the CLT threshold of the "
                      "symmetric family has log-log slope -> -2 against tau rho as the gap -> 0 (both readings of rho)")
    a, t, r, C = bounds.alpha_p, bounds.tau, bounds.rho, bounds.C
    L = bounds.cot_examples_bound()
    signs = {str(v): sp.simplify(sp.diff(L, v)).is_negative for v in (a, t, r)}
    ratios = {str(v): sp.simplify(L.subs(v, v / 2) / L) for v in (a, t, r)}
    v1 = sp.simplify(L.subs(r, 1) - bounds.cot_examples_bound_v1())
    limits = bounds.symmetric_threshold_exponent_limit()
    ok = all(signs.values()) and all(q == 4 for q in ratios.values()) and v1 == 0 and set(limits.values()) == {-2}
    evidence.check_exact(ok, measured={"dL/dx < 0": signs, "L(x/2)/L(x)": ratios, "v1 - L(rho=1)": v1,
                                       "CLT slope limit": limits},
                         predicted={"dL/dx < 0": True, "L(x/2)/L(x)": 4, "v1 - L(rho=1)": 0, "CLT slope limit": -2})


# ---------------------------------------------------------------------------------------------- exact oracle
MAPS = [(0, 1), (1, 0), (0, 0), (1, 1)]  # every map of two patterns


def _binary_task(ps, maps):
    """A_k[a, c_k(a)] = ps[k][a] > 1/2, the other entry 1 - ps[k][a]."""
    As = []
    for p, c in zip(ps, maps):
        A = np.empty((2, 2))
        for a in (0, 1):
            A[a, c[a]], A[a, 1 - c[a]] = p[a], 1 - p[a]
        As.append(A)
    return As


@given(ps=st.lists(st.lists(st.floats(0.55, 0.95), min_size=2, max_size=2), min_size=1, max_size=3),
       maps=st.lists(st.sampled_from(MAPS), min_size=3, max_size=3), alpha=st.floats(0.2, 1.0),
       l=st.integers(1, 150))
@example(ps=[[0.6, 0.6], [0.6, 0.8]], maps=[(0, 1), (1, 0), (0, 1)], alpha=1.0, l=100)  # the authors' example
def test_oracle_cot_below_derived_bound(evidence, ps, maps, alpha, l):
    evidence.describe("exact oracle, M' = 2, K = 1..3, random transition matrices whose correct entries are the row "
                      "maxima (Condition 1 not required), random alpha' and l_ts: CoT error <= the derived bound",
                      p="0.55..0.95", K="1..3", alpha="0.2..1", l="1..150")
    As = _binary_task(ps, maps[: len(ps)])
    evidence.check_le(o.cot_error_exact(As, l, alpha), o.cot_error_bound(As, l, alpha), reason=BOUND_REASON,
                      what=f"R_CoT(K={len(ps)}, alpha'={alpha:.3f}, l={l})")


@pytest.mark.parametrize("l", [20, 60])
def test_oracle_cot_below_derived_bound_three_patterns(evidence, l):
    trials = 20_000
    As = [step_matrix((1, 2, 0), 0.5, 0.3), step_matrix((0, 1, 2), 0.6, 0.25)]
    evidence.describe(f"Monte-Carlo oracle, M' = 3, K = 2, alpha' = 0.7, l_ts = {l}: the CoT error's lower confidence "
                      "limit is below the derived bound", trials=trials, l=l)
    err = o.oracle_mc(As, l, 0.7, trials=trials, seed=l)
    m, se = mean_and_se(err)
    evidence.check_le(m - z_value(2) * se, o.cot_error_bound(As, l, 0.7), reason=BOUND_REASON + "; " + ci_reason(2, trials),
                      what=f"R_CoT lower limit (l={l})")


def test_negative_control_correct_step_not_most_likely(evidence):
    l = 600
    As = [step_matrix((0, 1), 0.7), step_matrix((0, 1), 0.6)]
    correct = [(0, 1), (1, 0)]  # step 2's correct entry is 0.4, below the wrong 0.6 (assumption violated)
    err = o.cot_error_exact(As, l, 1.0, correct=correct)
    evidence.describe(f"negative control: a task whose step-2 correct entry (0.4) is not the row maximum; the 'CoT "
                      f"error -> 0' check (error <= 0.01 at large l_ts) must fail at l_ts = {l}",
                      role="negative_control", l=l)
    evidence.check_ge(err, 0.01, reason="the check must reject it: the oracle then learns the wrong step",
                      what=f"R_CoT(l={l})")


SWEEPS = {
    "alpha'": [(a, symmetric_task(0.4), a) for a in (0.4, 0.6, 0.8, 1.0)],
    "tau": [(p1, symmetric_task(2 * p1 - 1, 0.3), 1.0) for p1 in (0.65, 0.75, 0.85, 0.95)],  # rho fixed by step 2
    "rho": [(p2, symmetric_task(2 * 0.49 / p2 - 1, 2 * p2 - 1), 1.0) for p2 in (0.58, 0.62, 0.66, 0.7)],  # tau = 0.49
}
L_AXIS = tuple(range(10, 101, 10))


@lru_cache(maxsize=1)
def _sweep_curves():
    """Exact CoT error of every sweep task at every l_ts of L_AXIS (independent of delta: computed once)."""
    return {name: np.array([[o.cot_error_exact(As, l, alpha) for l in L_AXIS] for _, As, alpha in sweep])
            for name, sweep in SWEEPS.items()}


def _ordering(delta):
    curves, bad, crossings, lstar = dict(_sweep_curves()), [], [], {}
    for name, sweep in SWEEPS.items():
        t = [o.threshold(lambda l: o.cot_error_exact(As, l, alpha), delta, 5000) for _, As, alpha in sweep]
        lstar[name] = np.round(t, 1).tolist()
        if not (np.diff(t) < 0).all():
            bad.append(f"{name}, delta={delta}: l* not strictly decreasing {np.round(t, 1).tolist()}")
        crossings += [f"{name}: curves not ordered at l_ts={l}" for l, ok in
                      zip(L_AXIS, (np.diff(curves[name], axis=0) < 0).all(axis=0)) if not ok]
    return curves, bad, crossings, lstar


def _check_ordering(evidence, delta):
    labels = {name: [(round(a, 2) if name == "alpha'" else round(float(tau(As) if name == "tau" else rho(As)), 3))
                     for a, As, _ in sweep] for name, sweep in SWEEPS.items()}
    evidence.describe(f"exact oracle, M' = 2, K = 2: the examples l* needed for CoT error <= delta = {delta} strictly "
                      "decrease in alpha' (tau, rho fixed), in tau (rho fixed) and in rho (tau = 0.49 fixed), the three "
                      "CoT sweep panels; the l_ts where the error curves cross are reported", swept=labels, delta=delta)
    curves, bad, crossings, lstar = _ordering(delta)
    evidence.params.update(l_star=lstar, crossings=crossings)
    evidence.check_exact(not bad, measured={"violations": bad, "l*": lstar, "error-curve crossings": crossings},
                         predicted="l* strictly decreasing along every sweep",
                         reason="exact comparison of thresholds of exact error rates", what="CoT l* ordering")
    return curves, labels


@pytest.mark.parametrize("delta", [0.05, 0.01])
def test_oracle_cot_error_ordered(evidence, delta):
    curves, labels = _check_ordering(evidence, delta)
    if delta != 0.05:
        return
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True, layout="constrained")
    symbol = {"alpha'": r"\alpha'", "tau": r"\tau", "rho": r"\rho"}
    fixed = {"alpha'": r"$\tau$, $\rho$ fixed", "tau": r"$\rho$ fixed, $\alpha' = 1$",
             "rho": r"$\tau = 0.49$ fixed, $\alpha' = 1$"}
    for ax, (name, vals) in zip(axes, curves.items()):
        for v, row in zip(labels[name], vals):
            ax.semilogy(L_AXIS, row, "o-", ms=3, label=f"${symbol[name]} = {v}$")
        ax.set_xlabel(r"test examples $l_{ts}$")
        ax.set_title(f"CoT error vs $l_{{ts}}$, varying ${symbol[name]}$ ({fixed[name]})", fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("CoT error rate (exact oracle)")
    evidence.save_figure(fig, "pattern_cot_theorem2_cot_sweeps")


@not_reproduced("at delta = 0.1 (and at small l_ts, e.g. 10) the rho ordering fails: at fixed tau = 0.49 a larger rho "
                "(a stronger step 2) forces a weaker step 1 (p1 = 0.49 / p2), whose errors dominate while few examples "
                "vote; the stated monotonicity in rho holds only in the small-error regime (delta <= 0.05 here)")
def test_oracle_cot_error_ordered_large_delta(evidence):
    _check_ordering(evidence, 0.1)


def _thresholds(mode: str, gaps):
    """(x = alpha' tau rho normalised, the same un-normalised, l*) of the symmetric family at ``gaps`` (exact oracle;
    computed once per mode and gap grid, shared by the main check and its near miss)."""
    return _thresholds_at(mode, tuple(float(g) for g in gaps))


@lru_cache(maxsize=None)
def _thresholds_at(mode: str, gaps: tuple[float, ...]):
    xs, xu, ls = [], [], []
    for g in gaps:
        As = symmetric_task(g)
        xs.append(tau(As) * rho(As))
        xu.append(tau(As) * rho(As, normalized=False))
        f = o.cot_error_exact if mode == "cot" else o.icl_error_exact
        ls.append(o.threshold(lambda l: f(As, l, 1.0), DELTA, 100_000))
    return np.array(xs), np.array(xu), np.array(ls)


BAND_REASON = ("t interval (n - 4 dof) of the slope in an OLS of log l* on log x with the finite-gap corrections g "
               "and g^2 as covariates (estimated, not allowed for): the band -2 +- 1/2 is statistical only and "
               "separates -2 from the neighbouring half-integer exponents")


def _exponent_test(x, ls, gaps, lo=EXPONENT_BAND[0], hi=EXPONENT_BAND[1], what="fitted exponent"):
    return stats.slope_in_band(np.log(x), np.log(ls), lo, hi, covariates=[gaps, gaps**2], what=what)


def test_oracle_threshold_exponent(evidence, profile):
    gaps = _gaps(profile)
    xs, xu, ls = _thresholds("cot", gaps)
    evidence.describe(f"exact oracle, symmetric binary K = 2 family, gaps {np.round(gaps, 3).tolist()}: examples l* "
                      f"needed for CoT error <= {DELTA} against x = alpha' tau rho; fit log l* = s log x + b1 g + b2 g^2 "
                      f"+ c; the t interval of s must lie in {list(EXPONENT_BAND)} (Theorem 2's exponent -2 +- 1/2; "
                      "normalised rho, the un-normalised reading is the second case)", l_star=ls, delta=DELTA,
                      band=list(EXPONENT_BAND), reason=BAND_REASON)
    for name, x in (("normalised rho", xs), ("un-normalised rho", xu)):
        evidence.check_stat(_exponent_test(x, ls, gaps, what=f"fitted CoT exponent ({name})"), predicted=-2.0)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.loglog(xs, ls, "o-", label=r"CoT oracle $l^*$ (exact)")
    ax.loglog(xs, ls[0] * (xs / xs[0]) ** -2.0, "k--", label=r"slope $-2$ (Theorem 2), through the first point")
    figures.log_ticks(ax, [t for t in (0.05, 0.07, 0.1, 0.15, 0.2, 0.3) if xs.min() <= t <= xs.max()])
    figures.log_ticks(ax, [t for t in (20, 50, 100, 200, 500, 1000, 2000) if 0.7 * min(ls) <= t <= 1.3 * max(ls)],
                      which="y")
    ax.set_xlabel(r"$\alpha' \tau \rho$ (symmetric two-step tasks, $\alpha' = 1$, normalised $\rho$)")
    ax.set_ylabel(f"examples $l^*$ for error $\\leq {DELTA}$")
    ax.set_title(r"Theorem 2: examples needed vs $\alpha' \tau \rho$", fontsize=10)
    ax.legend(fontsize=8)
    evidence.save_figure(fig, "pattern_cot_theorem2_threshold_exponent")


def test_negative_control_icl_exponent(evidence, profile):
    gaps = _gaps(profile)
    xs, _, ls = _thresholds("icl", gaps)
    evidence.describe("negative control: the same fit and band for the ICL read-out on the same tasks (whose B has gap "
                      "g^2, so it needs about (tau rho)^-4 examples) must be rejected", role="negative_control",
                      l_star=ls)
    evidence.check_stat(_exponent_test(xs, ls, gaps, what="fitted ICL exponent"), expect="reject", predicted=-2.0)


def test_negative_control_neighbouring_exponents(evidence, profile):
    gaps = _gaps(profile)
    xs, _, ls = _thresholds("cot", gaps)
    evidence.describe("near-miss negative control: the CoT fit of the main check, held to the bands of the neighbouring "
                      "integer exponents -1 +- 1/2 and -3 +- 1/2, must be rejected (the fit resolves the exponent to "
                      "better than one)", role="negative_control", l_star=ls)
    for centre in (-1.0, -3.0):
        evidence.check_stat(_exponent_test(xs, ls, gaps, centre - 0.5, centre + 0.5, what=f"CoT exponent vs {centre}"),
                            expect="reject", predicted=centre)


def _sufficiency(evidence, name):
    if name == "alpha'":
        x = np.geomspace(0.25, 1.0, 9)  # 9 points: a 5-point t interval (t_0.99,3 = 4.5) cannot resolve the slope
        y = [o.threshold(lambda l: o.cot_error_exact(symmetric_task(0.3), l, a), DELTA, 20_000) for a in x]
    else:
        p1s = np.linspace(0.6, 1.0, 9)
        x = np.array([float(tau(symmetric_task(2 * p - 1, 0.2))) for p in p1s])
        y = [o.threshold(lambda l: o.cot_error_exact(symmetric_task(2 * p - 1, 0.2), l, 1.0), DELTA, 20_000)
             for p in p1s]
    evidence.describe(f"exact oracle: log-log slope of l* in {name} ({'symmetric steps, p = 0.65' if name == 'alpha' + chr(39) else 'step 2 fixed at p = 0.6, step 1 from 0.6 to 1'}, "
                      "9 points); Theorem 2's (alpha' tau)^-2 is sufficient if the slope's lower t bound is >= -2 (l* "
                      "grows no faster than the stated power); a shallower slope means the stated exponent is not "
                      "tight in this direction (the number of voters grows like alpha' l)", x=x, l_star=y)
    evidence.check_stat(stats.slope_ge(np.log(x), np.log(y), -2.0, what=f"slope of log l* in log {name}"),
                        predicted=">= -2")


def test_oracle_alpha_exponent_sufficient(evidence):
    _sufficiency(evidence, "alpha'")


@known_failure("in tau the threshold curve is not a power law (log-log slope about -1.5 on average, steeper at small "
               "tau), so the straight-line fit's 99% t bound over 9 points reaches -2.13: sufficiency of the exponent "
               "-2 is not shown at this level (it was only with a normal interval)")
def test_oracle_tau_exponent_sufficient(evidence):
    _sufficiency(evidence, "tau")


# ---------------------------------------------------------------------------------------------- trained model
TRAINED_ALPHAS, TRAINED_LS = T2_ALPHAS, T2_LS
ORACLE_TOL = 0.05  # pre-registered: the trained CoT error within 5 points of the oracle's on the same prompts
ORACLE_TOL_REASON = ("TOST (two one-sided t tests, 99%) on the paired per-prompt difference trained - oracle on the same "
                     "noisy prompts, per seed and (alpha', l_ts); tolerance 0.05 fixed in advance (a sixth of the "
                     "oracle's error at l_ts = 10); the ICL read-out, the near miss, differs by 0.1 or more at l_ts >= 30")


def _paired(profile):
    """Per seed and (alpha', l_ts): per-prompt CoT errors of the trained model and of the CoT and ICL oracles on the
    same prompts of the worked example (common random numbers, the same prompts for every seed)."""
    data, chosen = theorem2_prompts(profile)
    return {k: v[:3] for k, v in data.items()}, chosen, T2_PROMPTS  # both profiles: see the alpha' = 0.4 failure


def _matches_oracle(evidence, profile, alphas):
    data, chosen, prompts = _paired(profile)
    evidence.describe("trained one-layer model, every seed, noisy TSR prompts of the worked example (Condition 1 "
                      f"fails), alpha' in {alphas}, l_ts in {TRAINED_LS}: the CoT error equals the hard-attention "
                      f"oracle's on the same prompts within +-{ORACLE_TOL} (paired TOST, per seed and point; all must "
                      "pass); the oracle's exact error is recorded beside it", prompts=prompts, seeds=list(chosen),
                      tolerance=ORACLE_TOL, reason=ORACLE_TOL_REASON,
                      exact={f"{a},{l}": o.cot_error_exact(WORKED_EXAMPLE, l, a) for a in alphas for l in TRAINED_LS},
                      trained={f"{seed},{a},{l}": float(v[0].mean()) for (seed, a, l), v in data.items() if a in alphas},
                      oracle_same_prompts={f"{seed},{a},{l}": float(v[1].mean()) for (seed, a, l), v in data.items()
                                           if a in alphas})
    for (seed, a, l), (err, cot, _) in data.items():
        if a in alphas:
            evidence.check_stat(stats.mean_in_band(err - cot, -ORACLE_TOL, ORACLE_TOL,
                                                   what=f"trained - oracle CoT error, alpha'={a}, l={l}"),
                                seed=seed, predicted=0.0)
    return data, chosen


@known_failure("at alpha' = 0.4 the trained model is about 0.03 worse than the oracle on the same prompts (0.028-0.033 "
               "on every seed and l_ts: the soft attention still weighs the 60% of columns of other patterns, and the "
               "test noise), and with 1000 prompts the TOST interval reaches 0.05-0.06 at l_ts = 10 and 30: the "
               "equivalence is not shown at this resolution")
def test_trained_cot_error_matches_oracle_low_alpha(evidence, profile):
    _matches_oracle(evidence, profile, TRAINED_ALPHAS[:1])


def test_trained_cot_error_matches_oracle(evidence, profile):
    data, chosen = _matches_oracle(evidence, profile, TRAINED_ALPHAS[1:])
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    lg = np.arange(5, 101, 5)
    for a in TRAINED_ALPHAS:
        m = np.array([[data[(seed, a, l)][0].mean() for l in TRAINED_LS] for seed in chosen])
        mean, lo, hi = figures.t_band(m)
        line = ax.errorbar(TRAINED_LS, mean, yerr=[mean - lo, hi - mean], fmt="o", capsize=3, label=f"$\\alpha' = {a}$")
        ax.plot(lg, [o.cot_error_exact(WORKED_EXAMPLE, int(l), a) for l in lg], "--", color=line[0].get_color())
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    figures.log_ticks(ax, [t for t in (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5) if lo <= t <= hi], which="y")
    ax.set_xlabel(r"test examples $l_{ts}$")
    ax.set_ylabel("CoT error rate")
    ax.set_title("Theorem 2: trained model vs oracle (worked example)", fontsize=10)
    figures.legend(ax, Line2D([], [], color="k", marker="o", ls="",
                              label=f"dots: trained, mean of {len(chosen)} seeds ({T2_PROMPTS} prompts each);\n"
                                    f"bars: 99% t interval over the seeds"),
                   Line2D([], [], color="k", ls="--", label="dashed: oracle (exact)"), loc="upper left",
                   bbox_to_anchor=(1.01, 1.0))
    evidence.save_figure(fig, "pattern_cot_theorem2_trained")


def test_negative_control_trained_vs_icl_oracle(evidence, profile):
    data, chosen, prompts = _paired(profile)
    evidence.describe("near-miss negative control: the same paired TOST with the ICL oracle (read the final answer off "
                      "the examples sharing the query's pattern, no steps) on the same prompts in place of the CoT "
                      f"oracle must reject at l_ts = 30 and 100, every seed and alpha'", role="negative_control",
                      prompts=prompts, seeds=list(chosen), tolerance=ORACLE_TOL)
    for (seed, a, l), (err, _, icl) in data.items():
        if l >= 30:
            evidence.check_stat(stats.mean_in_band(err - icl, -ORACLE_TOL, ORACLE_TOL,
                                                   what=f"trained CoT - ICL oracle error, alpha'={a}, l={l}"),
                                expect="reject", seed=seed)


def test_trained_cot_error_falls_and_is_ordered(evidence, profile):
    data, chosen, prompts = _paired(profile)
    evidence.describe("trained one-layer model, every seed: the CoT error falls from l_ts = 10 to 100 for every alpha' "
                      "(one-sided t on the difference of independent means, Welch standard error), and at l_ts = 100 "
                      "it is larger for alpha' = 0.4 than for 1.0", prompts=prompts, seeds=list(chosen))
    for seed in chosen:
        pairs = [((a, TRAINED_LS[0]), (a, TRAINED_LS[-1])) for a in TRAINED_ALPHAS]
        pairs.append(((TRAINED_ALPHAS[0], TRAINED_LS[-1]), (TRAINED_ALPHAS[-1], TRAINED_LS[-1])))
        for hi, lo in pairs:
            x, y = data[(seed, *hi)][0], data[(seed, *lo)][0]
            # the two samples are independent prompts of equal size: x_i - y_i has mean R(hi) - R(lo) and the
            # Welch variance, so the one-sample t test on it is the difference test
            evidence.check_stat(stats.mean_ge(x - y, 0.0, what=f"R{hi} - R{lo}"), seed=seed)


@pytest.mark.slow
@not_reproduced("not resolved for the trained model: 6 thresholds fitted with the g, g^2 covariates leave 3 degrees "
                "of freedom, and the slope's 99% t interval is [-6.3, 3.5] around -1.38 (paper profile, seed 0, "
                "measured), far wider than the band -2 +- 1/2; the oracle's exponent is checked in "
                "test_oracle_threshold_exponent")
def test_trained_threshold_exponent(evidence, profile):
    model, geom, _ = trained_main(profile)
    prompts = 4000
    gaps = np.geomspace(0.15, 0.4, 6)
    ls, xs = [], []
    for i, g in enumerate(gaps):
        As = symmetric_task(g)
        xs.append(tau(As) * rho(As))
        ls.append(o.threshold(lambda l: model_errors(model, geom, As, l, 1.0, prompts, seed=1000 + i)[0].mean(),
                              DELTA, 2000))
    evidence.describe("trained one-layer model, seed 0 (Monte Carlo, common random numbers per l): l* for CoT error <= "
                      "0.05 against alpha' tau rho on the symmetric family; fit as for the oracle (g, g^2 covariates); "
                      "the slope's t interval must lie in -2 +- 1/2", gaps=list(gaps), l_star=ls, prompts=prompts,
                      seeds=[0])
    evidence.check_stat(_exponent_test(np.array(xs), np.array(ls), gaps, what="fitted exponent (trained)"),
                        predicted=-2.0)
