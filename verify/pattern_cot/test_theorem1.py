"""pattern_cot.theorem1: SGD reaches a small CoT loss; iterations grow no faster than alpha^-2 K^3 + MK(1/alpha + 1/eps)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import sympy as sp
import torch

from constructions.pattern_cot import bounds, make_task, sample_batch
from constructions.pattern_cot.model import CATEGORIES
from dynamics.pattern_cot import cot_loss
from verify import figures, stats
from verify.evidence import not_reproduced
from verify.pattern_cot.helpers import MAIN, iterations_to_eps, seeds, trained_other_context, trained_seeds

pytestmark = pytest.mark.claim("pattern_cot.theorem1")

EPS = 0.01  # loss target of the scaling runs (population loss, estimated on fresh prompts)
SAME = 6  # alpha * l_tr: l_tr = SAME / alpha keeps l_tr = Theta(1/alpha) with the same constant
BUDGET = {"quick": 1000, "paper": 3000}  # iterations before a run counts as not converged (3x the largest T seen)


# ---------------------------------------------------------------------------------------------- symbolic
def test_symbolic_scaling_bands(evidence):
    evidence.describe("sympy: with its own constant per term, T = C1 alpha^-2 K^3 + C2 MK/alpha + C3 MK/eps has local "
                      "log-log slope in [0, 2] in 1/alpha, [1, 3] in K, [0, 1] in M and in 1/eps (a share-weighted "
                      "average of the terms' exponents); as eps -> 0, T ~ C3 MK/eps and B T ~ C C3 MK/eps^3; l_tr* and "
                      "B* decrease in alpha and eps")
    bands = {v: bounds.exponent_band(v) for v in ("inv_alpha", "K", "M", "inv_eps")}
    T = bounds.iterations_bound()
    a, e, K, M, C, C3 = bounds.alpha, bounds.eps, bounds.K, bounds.M, bounds.C, bounds.C3
    weighted = sum(bounds.local_exponent(t, K) * t for t in bounds.monomials(T)) / T
    identity = sp.simplify(weighted - bounds.local_exponent(T, K))
    lim_T = sp.limit(T * e, e, 0)
    lim_BT = sp.limit(bounds.batch_bound() * T * e**3, e, 0)
    dec = (sp.diff(bounds.training_examples_bound(), a).is_negative, sp.diff(bounds.batch_bound(), e).is_negative)
    ok = (bands == {"inv_alpha": (0, 2), "K": (1, 3), "M": (0, 1), "inv_eps": (0, 1)} and identity == 0
          and sp.simplify(lim_T - C3 * M * K) == 0 and sp.simplify(lim_BT - C * C3 * M * K) == 0 and all(dec))
    evidence.check_exact(ok, measured={"bands": {k: list(v) for k, v in bands.items()}, "slope identity": identity,
                                       "lim eps T": lim_T, "lim eps^3 B T": lim_BT, "decreasing": dec},
                         predicted={"bands": {"inv_alpha": [0, 2], "K": [1, 3], "M": [0, 1], "inv_eps": [0, 1]},
                                    "lim eps T": "C3 M K", "lim eps^3 B T": "C C3 M K"})


# ---------------------------------------------------------------------------------------------- the main run
def _per_prompt_loss(model, geom, prompts: int, seed: int, l_tr: int = MAIN["l_tr"]) -> np.ndarray:
    """(1/2)||z_k - F(P_k)||^2 averaged over k, per fresh prompt of the training distribution."""
    gen = torch.Generator().manual_seed(seed)
    task = make_task(K=geom.K, n=geom.M, batch=prompts, gen=gen)
    b = sample_batch(gen, task, geom.trr(), prompts, l_tr, MAIN["alpha"])
    with torch.no_grad():
        return cot_loss(model, geom, b, per_prompt=True)[0].numpy()


PROMPTS = 4000  # fresh evaluation prompts (the same prompts for every seed: common random numbers)
LOSS_REASON = (f"one-sided 99% t bound over {PROMPTS} fresh prompts per seed; eps = {EPS} is the loss target of the "
               "scaling runs (pre-registered), all seeds must pass")


def test_training_reaches_small_loss(evidence, profile):
    model, geom, log, chosen = trained_seeds(profile)
    evidence.describe(f"SGD on the CoT loss (M = {MAIN['M']}, K = {MAIN['K']}, l_tr = {MAIN['l_tr']}, alpha = "
                      f"{MAIN['alpha']}, batch {MAIN['batch']}, step {MAIN['lr']}, {len(log.losses)} iterations), "
                      f"{len(chosen)} seeds trained as one batch: per seed the population loss's upper confidence "
                      f"bound is below eps = {EPS}; all seeds", prompts=PROMPTS, iterations=len(log.losses),
                      seconds_per_step=log.seconds_per_step, seeds=list(chosen), **MAIN)
    for s, seed in enumerate(chosen):
        loss = _per_prompt_loss(model.solo(s), geom, PROMPTS, seed=77)
        evidence.check_stat(stats.mean_le(loss, EPS, what="population CoT loss"), seed=seed, predicted=f"<= {EPS}")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    losses = np.array(log.losses)
    for s, seed in enumerate(chosen):
        ax.semilogy(np.arange(10, len(losses) + 1), np.convolve(losses[:, s], np.ones(10) / 10, mode="valid"), lw=0.8,
                    label=f"seed {seed}: batch loss (moving mean of 10)")
    figures.mean_band(ax, log.record_steps, np.array(log.eval_losses), axis=1, kind="t", log=True, fmt="k.", ms=2,
                      label=f"population estimate, geometric mean of {len(chosen)} seeds")
    ax.axhline(EPS, ls="--", color="k", label=f"target $\\epsilon = {EPS}$")
    ax.set_xlabel("SGD iteration")
    ax.set_ylabel(r"CoT loss $\frac{1}{2}\|z_k - F(P_k)\|^2$")
    ax.set_title(f"Theorem 1: SGD on the CoT loss (one layer, {len(chosen)} seeds)", fontsize=10)
    figures.legend(ax, figures.band_handle(f"band: 99% t interval over {len(chosen)} seeds (of the log)", color="k"))
    evidence.save_figure(fig, "pattern_cot_theorem1_training")


# ---------------------------------------------------------------------------------------------- scaling
def _iterations(M: int, K: int, alpha: float, seeds: tuple[int, ...], budget: int = 1000, record_every: int = 5,
                l_tr: int | None = None):
    """Per seed (all seeds in one batched run): the first iteration at which the population-loss estimate is
    <= EPS (None: not within budget), seconds per step, last attention masses and population-loss estimates.
    One uniform k per prompt (one label per sample, as in N = B T); l_tr = SAME / alpha unless given."""
    return iterations_to_eps(M, K, alpha, tuple(seeds), budget, record_every,
                             round(SAME / alpha) if l_tr is None else l_tr, EPS)


def _grids(profile):
    """(alphas, Ks) of the scaling fits. Quick: K up to 3 (K = 4 doubles the quick scaling cost); the paper profile
    runs the full grids."""
    if profile == "quick":
        return (0.5, 0.4, 0.3, 0.25, 0.2), (1, 2, 3)
    return (0.5, 0.4, 0.3, 0.25, 0.2, 0.16), (1, 2, 3, 4, 6)


def _scaling(profile):
    """x (log of 1/alpha or K, one point per seed and grid value), log T_eps, the grids and the raw T."""
    alphas, Ks = _grids(profile)
    chosen = seeds(profile)
    M = MAIN["M"]
    Ta = np.array([_iterations(M, 2, a, chosen, BUDGET[profile])[0] for a in alphas], dtype=float)  # (grid, seeds)
    TK = np.array([_iterations(M, k, 0.5, chosen, BUDGET[profile])[0] for k in Ks], dtype=float)
    out = {}
    for name, xs, T in (("1/alpha", 1 / np.array(alphas), Ta), ("K", np.array(Ks, float), TK)):
        if not np.all(np.isfinite(T)):
            raise AssertionError(f"{name}: a run did not reach eps within the budget: {T.tolist()}")
        out[name] = (np.repeat(np.log(xs), len(chosen)), np.log(T.ravel()), xs, T)
    return out, chosen


BANDS = {"1/alpha": "inv_alpha", "K": "K"}
SCALING_PARAMS = dict(eps=EPS, same=SAME, M=MAIN["M"], batch=MAIN["batch"], lr=MAIN["lr"])
FIT_REASON = ("t interval of the log-log slope over every (grid value, seed) point (n - 2 degrees of freedom), "
              "one-sided at 99%, Holm over the run")


def _describe_scaling(evidence, profile, what, **extra):
    fits, chosen = _scaling(profile)
    alphas, Ks = _grids(profile)
    grid = (f" [grids: alpha in {alphas}, K in {Ks}" + ("; the paper profile adds K = 4, 6 and alpha = 0.16]"
                                                        if profile == "quick" else "]"))
    evidence.describe(what + grid, alphas=alphas, Ks=Ks, seeds=list(chosen), l_tr="SAME / alpha",
                      T_alpha=fits["1/alpha"][3].tolist(), T_K=fits["K"][3].tolist(),
                      bands={k: [float(b) for b in bounds.exponent_band(v)] for k, v in BANDS.items()},
                      **SCALING_PARAMS, **extra)
    return fits


def test_iterations_scaling_upper_side(evidence, profile):
    fits = _describe_scaling(evidence, profile, f"iterations T_eps for the population loss to reach {EPS} (l_tr = "
                             f"{SAME}/alpha, one uniform k per prompt), every seed: the log-log slope in 1/alpha (K = "
                             "2) and in K (alpha = 0.5) has an upper t bound at or below its band's top (2 and 3): T "
                             "grows no faster than the stated T")
    for name, key in BANDS.items():
        x, y, _, _ = fits[name]
        top = float(bounds.exponent_band(key)[1])
        evidence.check_stat(stats.slope_le(x, y, top, what=f"slope of log T_eps in log {name}"),
                            predicted=f"band {[float(b) for b in bounds.exponent_band(key)]}")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    xlabels = {"1/alpha": r"$1/\alpha$ ($K = 2$)", "K": r"CoT steps $K$ ($\alpha = 0.5$)"}
    for ax, name in zip(axes, BANDS):
        x, y, xs, T = fits[name]
        f = stats.fit_line(x, y)
        ax.loglog(np.exp(x), np.exp(y), "o", alpha=0.5,
                  label=f"$T_\\epsilon$ (SGD), each of {T.shape[1]} seeds (equal values overlap)")
        ax.loglog(xs, np.exp(f.intercept + f.slope * np.log(xs)), "-",
                  label=f"log-log fit: slope {f.slope:.2f}, 99% t [{f.low:.2f}, {f.high:.2f}]")
        figures.log_ticks(ax, [round(v, 2) for v in xs])
        figures.narrow_log_axis(ax, "y")
        ax.set_xlabel(xlabels[name])
        ax.set_ylabel(f"iterations $T_\\epsilon$ to loss $\\leq {EPS}$")
        lo, hi = (float(b) for b in bounds.exponent_band(BANDS[name]))
        ax.set_title(f"Theorem 1: stated slope band $[{lo:g}, {hi:g}]$", fontsize=10)
        ax.legend(fontsize=7)
    evidence.save_figure(fig, "pattern_cot_theorem1_scaling")


def test_iterations_scaling_lower_side_alpha(evidence, profile):
    fits = _describe_scaling(evidence, profile, "the same fit in 1/alpha, the band's bottom: the slope's lower t bound "
                             "is at least 0 (T does not fall as alpha falls)")
    x, y, _, _ = fits["1/alpha"]
    evidence.check_stat(stats.slope_ge(x, y, float(bounds.exponent_band("inv_alpha")[0]),
                                       what="slope of log T_eps in log 1/alpha"), predicted="band [0, 2]")


@not_reproduced("the iterations grow like K^0.2-0.3 here, below the band's bottom 1: every prompt trains one "
                "uniformly random step and all K steps share W_Q, W_K (the position stage is learned for all steps "
                "at once), so the K-linear terms M K (1/alpha + 1/eps) of the sufficient T are not tight in this "
                "reconstruction; Theorem 1's T is a sufficient count, so its lower side is not implied")
def test_iterations_scaling_lower_side_K(evidence, profile):
    fits = _describe_scaling(evidence, profile, "the same fit in K, the band's bottom: the slope's lower t bound is at "
                             "least 1 (T grows at least linearly in K, as the stated T = Theta(...) says)")
    x, y, _, _ = fits["K"]
    evidence.check_stat(stats.slope_ge(x, y, float(bounds.exponent_band("K")[0]), what="slope of log T_eps in log K"),
                        predicted="band [1, 3]")


def test_negative_control_no_growth(evidence, profile):
    fits = _describe_scaling(evidence, profile, "near-miss negative control: the upper-side check with the top lowered to "
                             "0 (a wrong theory: T does not grow in 1/alpha, nor in K; the band's bottom in 1/alpha) "
                             "must reject in both variables: the fit resolves the slow growth it measures",
                             role="negative_control", wrong_top=0.0)
    for name in BANDS:
        x, y, _, _ = fits[name]
        evidence.check_stat(stats.slope_le(x, y, 0.0, what=f"slope of log T_eps in log {name}"), expect="reject",
                            predicted="<= 0 (wrong)")


def _short_context(profile: str, l_tr: int):
    """The main run's sizes with another l_tr, every seed, trained for the scaling budget: (seeded model, geometry)."""
    return trained_other_context(profile, l_tr, BUDGET[profile])


def _l_tr_at(c: float) -> int:
    """l_tr whose same-pattern count alpha l_tr is just above (c > 1/2) or below (c < 1/2) the rounding threshold."""
    return int(np.ceil(c / MAIN["alpha"])) if c > 0.5 else int(np.floor(c / MAIN["alpha"]))


def _l_tr_check(evidence, profile, c, expect):
    l_tr = _l_tr_at(c)
    model, geom = _short_context(profile, l_tr)
    chosen = seeds(profile)
    for s, seed in enumerate(chosen):
        loss = _per_prompt_loss(model.solo(s), geom, PROMPTS, seed=77, l_tr=l_tr)
        evidence.check_stat(stats.mean_le(loss, EPS, what=f"population CoT loss, l_tr = {l_tr}"), expect=expect,
                            seed=seed, predicted=f"<= {EPS}" if expect == "pass" else f"> {EPS}")
    return l_tr


def test_short_context_at_the_threshold(evidence, profile):
    l_tr = _l_tr_at(0.6)
    evidence.describe(f"l_tr = Omega(1/alpha) at its constant: with l_tr = {l_tr} (alpha l_tr = "
                      f"{MAIN['alpha'] * l_tr:.1f}, so round(alpha l_tr) = 1 example shares the query's pattern) SGD "
                      f"still reaches eps = {EPS} within {BUDGET[profile]} iterations: per seed the upper t bound of the "
                      "population loss (same prompts distribution, l_tr examples) is below eps; all seeds. Here the "
                      "constant is c = 1/2, set by the prompts' deterministic count of same-pattern examples",
                      l_tr=l_tr, alpha=MAIN["alpha"], seeds=list(seeds(profile)), iterations=BUDGET[profile],
                      prompts=PROMPTS)
    _l_tr_check(evidence, profile, 0.6, "pass")


def test_negative_control_l_tr_below_c_over_alpha(evidence, profile):
    l_tr = _l_tr_at(0.4)
    evidence.describe(f"near-miss negative control (l_tr < c/alpha): the same check with l_tr = {l_tr} (alpha l_tr = "
                      f"{MAIN['alpha'] * l_tr:.1f} < 1/2: no example shares the query's pattern) must reject for every "
                      "seed: one example fewer than the passing run", role="negative_control", l_tr=l_tr,
                      alpha=MAIN["alpha"], seeds=list(seeds(profile)), iterations=BUDGET[profile], prompts=PROMPTS)
    _l_tr_check(evidence, profile, 0.4, "reject")


def test_negative_control_alpha_below_one_over_M(evidence, profile):
    M, alpha, budget = MAIN["M"], 0.1, BUDGET[profile]
    (T,), _, masses, (final,) = _iterations(M, 2, alpha, (0,), budget, 50)
    evidence.describe(f"negative control: alpha = {alpha} < 1/M = {1 / M:.3f} (the query's pattern is rarer than each "
                      f"other pattern): SGD does not reach eps within {budget} iterations, so the scaling check has no "
                      "finite T_eps; it ends in a spurious solution attending to the other patterns (one seed: a "
                      "structural failure, not a statistical check)",
                      role="negative_control", alpha=alpha, M=M, seeds=[0], final_masses=dict(zip(CATEGORIES, masses[0])))
    evidence.check_exact(T is None, measured={"iterations to eps": T}, predicted={"iterations to eps": f"> {budget}"},
                         reason=f"must not converge within {budget} iterations", what="convergence")
    evidence.check_ge(final, EPS, reason="the population loss stays above eps", what=f"loss after {budget} iterations")
