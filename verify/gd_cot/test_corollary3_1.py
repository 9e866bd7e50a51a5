"""gd_cot.corollary3_1: the no-CoT error d(d+1)/(n+d+1) is Theta(d^2/n), and trained models track it."""

from __future__ import annotations

from functools import lru_cache

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import sympy as sp

from constructions.gd_cot import no_cot_optimum
from constructions.gd_cot import symbolic as sy
from dynamics.gd_cot import train_no_cot
from dynamics.training import TrainConfig
from verify.gd_cot.helpers import no_cot_eval
from verify.stats import ci_reason, mean_and_se, z_value

pytestmark = pytest.mark.claim("gd_cot.corollary3_1")


def test_symbolic_sandwich_certificate(evidence):
    evidence.describe("sympy: with d = 1 + s, n = d + 1 + t (s, t >= 0), both sides of d^2/(2n) <= d(d+1)/(n+d+1) "
                      "<= 2d^2/n cleared of denominators are polynomials with non-negative coefficients")
    cert = sy.sandwich_certificates()
    evidence.check_exact(cert["lower_certified"] and cert["upper_certified"],
                         measured={"lower": cert["lower"], "upper": cert["upper"]},
                         predicted="all coefficients >= 0", reason="exact polynomial certificate (sympy)")


def test_negative_control_sandwich_without_sample_size_assumption(evidence):
    evidence.describe("negative control: dropping n >= d+1 (only n >= 1), the lower certificate must fail and the "
                      "lower bound is violated at n = 1, d = 10", role="negative_control")
    cert = sy.sandwich_certificates(assume_n_ge_d_plus_1=False)
    n, d = 1, 10
    _, min_loss = no_cot_optimum(n, d)
    squared_error = min_loss / sy.LOSS
    violated = bool(sp.Rational(d * d, 2 * n) > squared_error)
    evidence.check_exact((not cert["lower_certified"]) and violated,
                         measured={"lower polynomial": cert["lower"], "d^2/(2n)": sp.Rational(d * d, 2 * n),
                                   "d(d+1)/(n+d+1)": squared_error},
                         predicted="certificate fails and the bound is violated", reason="exact (sympy)",
                         what="the check rejects the unassumed regime")


def _grid(profile):
    if profile == "quick":
        return [(2, 6), (3, 12), (4, 8), (4, 24)], 1500, 40_000
    return [(2, 6), (3, 12), (4, 8), (4, 24), (6, 12), (6, 40), (8, 20), (10, 20), (10, 60)], 5000, 200_000


@lru_cache(maxsize=32)
def _trained_loss(d, n, steps, samples):
    model, _ = train_no_cot(d, n, TrainConfig(steps=steps, lr=1e-2, batch=256, seed=d * 1000 + n))
    return mean_and_se(no_cot_eval(model, n, d, samples, seed=99)["loss"])


def test_trained_loss_tracks_closed_form(evidence, profile):
    grid, steps, samples = _grid(profile)
    evidence.describe("torch: dense no-CoT LSA trained at each (d, n) of a grid; each loss CI contains "
                      "d(d+1)/(2(n+d+1)); figure against d^2/n with the sandwich", grid=grid, steps=steps,
                      eval_samples=samples)
    z = z_value(len(grid))
    rows = []
    for d, n in grid:
        mean, se = _trained_loss(d, n, steps, samples)
        closed = float(no_cot_optimum(n, d)[1])
        rows.append((d, n, mean, se, closed))
        evidence.check_close(mean, closed, z * se, reason=ci_reason(len(grid), samples), what=f"loss at d={d}, n={n}")
    d_arr, n_arr, mean_arr, se_arr, closed_arr = map(np.asarray, zip(*rows))
    x = d_arr**2 / n_arr
    half = float(sy.LOSS)
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = np.geomspace(x.min() / 1.5, x.max() * 1.5, 50)
    ax.fill_between(xs, half * xs / 2, half * 2 * xs, color="0.9", label="(1/2)[d^2/(2n), 2d^2/n] sandwich")
    ax.errorbar(x, mean_arr, yerr=z * se_arr, fmt="o", capsize=3, label="trained dense LSA (CI)")
    ax.plot(x, closed_arr, "kx", label="d(d+1)/(2(n+d+1))")
    for d, n, xx, c in zip(d_arr, n_arr, x, closed_arr):
        ax.annotate(f"({d},{n})", (xx, c), fontsize=7, xytext=(4, -10), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("d^2 / n")
    ax.set_ylabel("no-CoT loss")
    ax.set_title("Corollary 3.1: no-CoT loss is Theta(d^2/n)")
    ax.legend(fontsize=8)
    evidence.save_figure(fig, "gd_cot_corollary3_1_sweep")
