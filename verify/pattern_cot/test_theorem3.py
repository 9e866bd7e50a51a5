"""pattern_cot.theorem3: ICL fails without Condition 1 (CoT does not), ICL succeeds with it; the worked example."""

from __future__ import annotations

from functools import lru_cache

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import sympy as sp

from constructions.pattern_cot import (
    WORKED_EXAMPLE, condition1, correct_maps, exact, icl_limit_error, rho, rho_o, step_matrix, tau, tau_o,
    transition_product,
)
from constructions.pattern_cot import oracle as o
from constructions.pattern_cot import transitions as tr
from verify import stats
from verify.pattern_cot.helpers import models_errors, solo_models, symmetric_task

pytestmark = pytest.mark.claim("pattern_cot.theorem3")

R = sp.Rational
# The authors' stated values [S-ICLR p.13-14], not computed here:
STATED_B = sp.Matrix([[R(14, 25), R(11, 25)], [R(16, 25), R(9, 25)]])
STATED_TAU, STATED_TAU_O = R(9, 25), R(14, 25)
GRID = (1, 3, 10, 30, 100, 300, 1000)  # test examples l_ts
COND1_TASK = symmetric_task(0.4)  # correct entries 0.7, 0.7: B gap 0.16 > 0, Condition 1 holds


# ---------------------------------------------------------------------------------------------- symbolic
def test_worked_example_exact(evidence):
    evidence.describe("sympy, exact rationals: B = A1 A2, tau, tau_o and Condition 1 of the authors' example; every "
                      "A_k has its correct entry as strict row maximum, yet B violates Condition 1 (row of pattern 1)")
    As = exact(WORKED_EXAMPLE)
    measured = {"B": transition_product(As), "tau": tau(As), "tau (correct path)": tau(As, "correct_path"),
                "tau_o": tau_o(As), "Condition 1": condition1(As), "rows satisfying it": tr.condition1_rows(As),
                "per-step correct maps": correct_maps(As), "rho": rho(As), "rho (un-normalised)": rho(As, False)}
    ok = (measured["B"] == STATED_B and measured["tau"] == STATED_TAU and measured["tau (correct path)"] == STATED_TAU
          and measured["tau_o"] == STATED_TAU_O and measured["Condition 1"] is False)
    evidence.check_exact(ok, measured={k: str(v) for k, v in measured.items()},
                         predicted={"B": str(STATED_B), "tau": "9/25", "tau_o": "14/25", "Condition 1": "False"})


def test_negative_control_reversed_product(evidence):
    evidence.describe("negative control: the same comparison with the product in the other order, A2 A1, must not "
                      "reproduce the stated B", role="negative_control")
    A1, A2 = exact(WORKED_EXAMPLE)
    B_rev = transition_product([A2, A1])
    evidence.check_exact(B_rev != STATED_B, measured={"A2 A1": str(B_rev)}, predicted={"must differ from": str(STATED_B)},
                         reason="exact: the check must reject the wrong order", what="A2 A1 differs from B")


def test_limit_errors_exact(evidence):
    evidence.describe("sympy: as l_ts -> infinity the hard-attention oracle's ICL error on the example tends to 1/2 "
                      "(the query pattern whose row of B violates Condition 1 always fails) and its CoT error to 0")
    As = exact(WORKED_EXAMPLE)
    icl, cot = icl_limit_error(As), tr.cot_limit_error(As)
    evidence.check_exact(icl == R(1, 2) and cot == 0, measured={"ICL limit": icl, "CoT limit": cot},
                         predicted={"ICL limit": "1/2", "CoT limit": 0})


# ---------------------------------------------------------------------------------------------- exact oracle
@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_oracle_icl_bounded_away_without_condition1(evidence, alpha):
    floor, limit, _ = o.icl_error_limits(WORKED_EXAMPLE, 1, alpha)
    evidence.describe(f"exact oracle, worked example (no Condition 1), alpha' = {alpha}: for every l_ts in {GRID} the "
                      f"ICL error is >= the derived floor {floor} and within the Hoeffding deviation of its limit "
                      f"{limit}", alpha=alpha, grid=GRID)
    for l in GRID:
        err = o.icl_error_exact(WORKED_EXAMPLE, l, alpha)
        _, _, dev = o.icl_error_limits(WORKED_EXAMPLE, l, alpha)
        evidence.check_ge(err, floor, reason="derived floor: (#rows violating Condition 1)/(2 M'); a strictly more "
                          "likely wrong label wins at least as often as the correct one", what=f"R_ICL(l={l})")
        evidence.check_le(abs(err - limit), dev, reason="Hoeffding: |R_ICL - limit| <= (1/M') sum_a (M'-1) "
                          "exp(-alpha' l g_a^2/2)", what=f"|R_ICL(l={l}) - 1/2|")
    if alpha == 1.0:
        ls = [l for l in GRID if l <= 300]
        fig, ax = plt.subplots(figsize=(6, 3.8))
        for As, tag in ((WORKED_EXAMPLE, "without Condition 1 (worked example)"), (COND1_TASK, "with Condition 1")):
            ax.loglog(ls, [max(o.cot_error_exact(As, l, alpha), 1e-6) for l in ls], "o-", label=f"CoT, {tag}")
            ax.loglog(ls, [max(o.icl_error_exact(As, l, alpha), 1e-6) for l in ls], "s--", label=f"ICL, {tag}")
        ax.axhline(floor, ls=":", color="gray", label=f"derived ICL floor {floor} (without Condition 1)")
        ax.set_xlabel(f"test examples $l_{{ts}}$ ($\\alpha' = {alpha:g}$)")
        ax.set_ylabel(r"error rate (exact oracle, floored at $10^{-6}$)")
        ax.set_title("Theorem 3: CoT vs ICL with and without Condition 1", fontsize=10)
        ax.legend(fontsize=7)
        evidence.save_figure(fig, "pattern_cot_theorem3_cot_vs_icl")


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_oracle_cot_succeeds_without_condition1(evidence, alpha):
    evidence.describe(f"exact oracle, same task, alpha' = {alpha}: the CoT error is below the derived Hoeffding bound "
                      f"at every l_ts in {GRID}, and that bound is <= 0.01 at l_ts = {GRID[-1]}", alpha=alpha, grid=GRID)
    for l in GRID:
        evidence.check_le(o.cot_error_exact(WORKED_EXAMPLE, l, alpha), o.cot_error_bound(WORKED_EXAMPLE, l, alpha),
                          reason="derived bound (1/M') sum_a sum_k (M'-1)(1 - pi_k(1 - exp(-g_k^2/2)))^(alpha' l)",
                          what=f"R_CoT(l={l})")
    evidence.check_le(o.cot_error_bound(WORKED_EXAMPLE, GRID[-1], alpha), 0.01,
                      reason="'CoT error -> 0': the bound itself falls below 1% at the largest l_ts",
                      what="bound at l_max")


def test_negative_control_floor_on_condition1_task(evidence):
    l = GRID[-1]
    err = o.icl_error_exact(COND1_TASK, l, 1.0)
    evidence.describe(f"negative control: the 'bounded away from zero' check with the example's floor 1/4, applied to "
                      f"a task that satisfies Condition 1 (two symmetric steps, correct entries 0.7), must fail at "
                      f"l_ts = {l}", role="negative_control", l=l)
    evidence.check_le(err, 0.25, reason="the floor check must reject it: the ICL error is below 1/4",
                      what=f"R_ICL(l={l}) with Condition 1")


# ICL sweeps with Condition 1 (M' = 3, exact): step 1 has correct entry tau_o and strongest wrong tau_o (1 - rho_o),
# step 2 is a fixed permutation, so B = A_1 P has tau_o and rho_o as set.
def _icl_task(p, rho_target):
    return [step_matrix((0, 1, 2), p, p * (1 - rho_target)), step_matrix((1, 2, 0), 1.0, 0.0)]


SWEEPS = {
    "alpha'": [(a, _icl_task(0.52, 0.3), a) for a in (0.4, 0.6, 0.8, 1.0)],
    "tau_o": [(t, _icl_task(t, 0.3), 1.0) for t in (0.43, 0.48, 0.53, 0.58)],
    "rho_o": [(r, _icl_task(0.52, r), 1.0) for r in (0.2, 0.3, 0.4, 0.5)],
}
L_AXIS = tuple(range(10, 101, 10))  # the authors' x-axis


def test_oracle_icl_with_condition1_ordered_and_vanishing(evidence):
    evidence.describe("exact oracle, M' = 3, Condition 1 holds: at every l_ts in 10..100 the ICL error is strictly "
                      "decreasing in alpha', tau_o and rho_o (the three ICL sweep panels), and below its Hoeffding "
                      "bound (limit 0)", sweeps={k: [v for v, _, _ in s] for k, s in SWEEPS.items()})
    curves, bad = {}, []
    for name, sweep in SWEEPS.items():
        for value, As, alpha in sweep:
            assert condition1(As)
            got = {"tau_o": tau_o(As), "rho_o": rho_o(As)}.get(name)
            if got is not None and abs(got - value) > 1e-12:
                bad.append(f"{name} is {got}, not {value}")
            curves[(name, value)] = [o.icl_error_exact(As, l, alpha) for l in L_AXIS]
            for l, e in zip(L_AXIS, curves[(name, value)]):
                evidence.check_le(e, o.icl_error_limits(As, l, alpha)[2], reason="Hoeffding bound, limit 0 under "
                                  "Condition 1", what=f"R_ICL({name}={value}, l={l})")
        vals = np.array([curves[(name, v)] for v, _, _ in sweep])
        if not (np.diff(vals, axis=0) < 0).all():
            bad.append(f"{name}: not strictly decreasing")
    evidence.check_exact(not bad, measured=bad or "strictly ordered at every l", predicted="strictly ordered",
                         reason="exact comparison of exact error rates", what="ICL error ordering")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True, layout="constrained")
    symbol = {"alpha'": r"\alpha'", "tau_o": r"\tau_o", "rho_o": r"\rho_o"}
    fixed = {"alpha'": r"$\tau_o = 0.52$, $\rho_o = 0.3$", "tau_o": r"$\rho_o = 0.3$, $\alpha' = 1$",
             "rho_o": r"$\tau_o = 0.52$, $\alpha' = 1$"}
    for ax, (name, sweep) in zip(axes, SWEEPS.items()):
        for value, _, _ in sweep:
            ax.semilogy(L_AXIS, curves[(name, value)], "o-", ms=3, label=f"${symbol[name]} = {value}$")
        ax.set_xlabel(r"test examples $l_{ts}$")
        ax.set_title(f"ICL error vs $l_{{ts}}$, varying ${symbol[name]}$ ({fixed[name]})", fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("ICL error rate (exact oracle)")
    fig.suptitle("Theorem 3: ICL with Condition 1, $M' = 3$", fontsize=10)
    evidence.save_figure(fig, "pattern_cot_theorem3_icl_sweeps")


def test_oracle_icl_threshold_exponent(evidence):
    G = np.geomspace(0.1, 0.3, 16)  # exact ICL thresholds are cheap: 16 points, 12 dof for the t interval
    delta = 0.05
    evidence.describe("exact oracle: examples l* needed for ICL error <= 0.05 against x_o = tau_o rho_o on the "
                      "symmetric binary family (B's gap G = x_o); fit log l* = s log x_o + b1 G + b2 G^2 + c (finite-gap "
                      "corrections as covariates, so the interval is statistical only); the t interval of s must lie in "
                      "-2 +- 1/2 (Theorem 3's exponent; the neighbouring half-integers are outside)", G=list(G),
                      delta=delta)
    xs, ls = [], []
    for g in G:
        As = symmetric_task(np.sqrt(g))  # B's gap is g1 g2 = g
        xs.append(tau_o(As) * rho_o(As))
        ls.append(o.threshold(lambda l: o.icl_error_exact(As, l, 1.0), delta, 100_000))
    evidence.params.update(l_star=ls)
    evidence.check_stat(stats.slope_in_band(np.log(xs), np.log(ls), -2.5, -1.5, covariates=[G, G**2],
                                            what="fitted ICL exponent"), predicted=-2.0)


# ---------------------------------------------------------------------------------------------- trained model
TOL = 0.05  # pre-registered equivalence tolerance with the oracle on the same prompts (as in theorem2)
FLOOR_LS = (10, 30, 100, 300)
COND1_LS = (10, 100)


@lru_cache(maxsize=2)
def _trained_errors(profile):
    """Per seed: per-prompt errors of the trained model and of the matching oracle on the same prompts."""
    models, geom, chosen = solo_models(profile)
    prompts = 1000
    out = {}

    def run(key, As, l, seed, mode):  # every seed on the same prompts (drawn and scored by the oracle once)
        errs, _, orc = models_errors(models, geom, As, l, 1.0, prompts, seed=seed, mode=mode, with_oracle=True)
        for s, err in zip(chosen, errs):
            out[(s, *key)] = (err, orc)

    for i, l in enumerate(FLOOR_LS):
        run(("icl", "no cond1", l), WORKED_EXAMPLE, l, 100 + i, "icl")
    run(("cot", "no cond1", 300), WORKED_EXAMPLE, 300, 200, "cot")
    for i, l in enumerate(COND1_LS):
        run(("icl", "cond1", l), COND1_TASK, l, 300 + i, "icl")
    return out, chosen, prompts


def test_trained_icl_fails_without_condition1(evidence, profile):
    data, chosen, prompts = _trained_errors(profile)
    floor = o.icl_error_limits(WORKED_EXAMPLE, 1, 1.0)[0]
    evidence.describe(f"trained one-layer model, every seed, noisy TSR prompts of the worked example (alpha' = 1): the "
                      f"ICL error's lower t bound stays >= the derived floor {floor} at every l_ts in {FLOOR_LS}",
                      prompts=prompts, l_ts=FLOOR_LS, seeds=list(chosen))
    for l in FLOOR_LS:
        for seed in chosen:
            err, _ = data[(seed, "icl", "no cond1", l)]
            evidence.check_stat(stats.mean_ge(err, floor, what=f"ICL error, l={l}"), seed=seed)


def _equivalence(evidence, data, chosen, key, what):
    for seed in chosen:
        err, orc = data[(seed, *key)]
        evidence.check_stat(stats.mean_in_band(err - orc, -TOL, TOL, what=what), seed=seed, predicted=0.0)


def test_trained_cot_succeeds_matches_oracle(evidence, profile):
    data, chosen, prompts = _trained_errors(profile)
    exact = o.cot_error_exact(WORKED_EXAMPLE, 300, 1.0)
    evidence.describe(f"trained one-layer model, every seed, the same task (no Condition 1), l_ts = 300: the CoT error "
                      f"equals the oracle's on the same prompts within +-{TOL} (paired TOST), the oracle's exact error "
                      f"being {exact:.2g} (CoT succeeds where ICL fails)", prompts=prompts, seeds=list(chosen),
                      oracle_exact=exact,
                      trained=[float(data[(s, "cot", "no cond1", 300)][0].mean()) for s in chosen])
    _equivalence(evidence, data, chosen, ("cot", "no cond1", 300), "trained - oracle CoT error, l=300")


def test_trained_icl_with_condition1_matches_oracle(evidence, profile):
    data, chosen, prompts = _trained_errors(profile)
    evidence.describe(f"trained one-layer model, every seed, a task that satisfies Condition 1 (two symmetric steps, "
                      f"correct entries 0.7), alpha' = 1, l_ts in {COND1_LS}: the ICL error equals the ICL oracle's on "
                      f"the same prompts within +-{TOL} (paired TOST), and falls below the floor of the task without "
                      "Condition 1 at l_ts = 100", prompts=prompts, seeds=list(chosen),
                      oracle_exact={l: o.icl_error_exact(COND1_TASK, l, 1.0) for l in COND1_LS},
                      trained={f"{s},{l}": float(data[(s, "icl", "cond1", l)][0].mean()) for s in chosen for l in COND1_LS})
    for l in COND1_LS:
        _equivalence(evidence, data, chosen, ("icl", "cond1", l), f"trained - oracle ICL error (Condition 1), l={l}")
    floor = o.icl_error_limits(WORKED_EXAMPLE, 1, 1.0)[0]
    for seed in chosen:
        evidence.check_stat(stats.mean_le(data[(seed, "icl", "cond1", COND1_LS[-1])][0], floor,
                                          what="ICL error with Condition 1, l=100"), seed=seed)


def test_negative_control_floor_on_trained_condition1(evidence, profile):
    data, chosen, prompts = _trained_errors(profile)
    floor = o.icl_error_limits(WORKED_EXAMPLE, 1, 1.0)[0]
    evidence.describe(f"near-miss negative control: the trained model's 'ICL error >= floor {floor}' check applied to the "
                      "Condition-1 task at l_ts = 100 (same model, same read-out, one task property changed) must "
                      "reject on every seed", role="negative_control", seeds=list(chosen), prompts=prompts)
    for seed in chosen:
        evidence.check_stat(stats.mean_ge(data[(seed, "icl", "cond1", COND1_LS[-1])][0], floor,
                                          what="ICL error with Condition 1, l=100"), expect="reject", seed=seed)
