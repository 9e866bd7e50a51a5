"""pattern_cot.theorem1_batch (issue 16): Theorem 1's batch-size condition B >= Omega(eps^-2) on trained models."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from verify import figures, stats
from verify.pattern_cot.helpers import MAIN
from verify.pattern_cot.helpers16 import BATCH_SEEDS, BATCH_STEPS, batch_losses

pytestmark = pytest.mark.claim("pattern_cot.theorem1_batch")

BATCHES = {"quick": (8, 16, 32, 64), "paper": (8, 16, 32, 64, 128)}  # B >= M = 8: every batch can be balanced
B_REF = {"quick": 256, "paper": 512}  # the large-batch reference (the GD limit up to its own 1/B_REF excess)
SLOPE_REASON = ("t interval of the slope of log excess on log B_eff over every (seed, B) point (n - 2 dof), one-sided "
                "99%; excess = mean loss(B, seed) - mean loss(B_REF, mean over seeds) on the same evaluation prompts "
                "(common random numbers; the seed-averaged reference keeps one seed's reference noise out of its "
                "points), "
                "B_eff = 1/(1/B - 1/B_REF), so that a noise excess c/B gives exactly c/B_eff")


def _fit(profile):
    """x = log B_eff, y = log excess, one point per (seed, B); the losses per B (S, P) and the reference."""
    ref = batch_losses(profile, B_REF[profile]).mean(0)  # per prompt, mean over the reference's seeds
    chosen = BATCH_SEEDS[profile]
    xs, ys, exc = [], [], {}
    for B in BATCHES[profile]:
        L = batch_losses(profile, B)
        for s, seed in enumerate(chosen):
            e = float((L[s] - ref).mean())
            exc[f"{seed},{B}"] = e
            xs.append(np.log(1 / (1 / B - 1 / B_REF[profile])))
            ys.append(np.log(e) if e > 0 else -np.inf)
    if not np.all(np.isfinite(ys)):
        raise AssertionError(f"a non-positive excess over the large-batch reference: {exc}")
    return np.array(xs), np.array(ys), exc, ref, chosen


def _describe(evidence, profile, what, **extra):
    xs, ys, exc, ref, chosen = _fit(profile)
    totals = {f"{seed},{B}": float(batch_losses(profile, B)[s].mean()) for B in (*BATCHES[profile], B_REF[profile])
              for s, seed in enumerate(chosen)}
    evidence.describe(what, seeds=list(chosen), batches=list(BATCHES[profile]), b_ref=B_REF[profile],
                      iterations=BATCH_STEPS[profile], lr=MAIN["lr"], excess=exc, loss=totals, reason=SLOPE_REASON,
                      **extra)
    return xs, ys, exc, chosen


def test_noise_excess_falls_at_least_like_inverse_sqrt_batch(evidence, profile):
    xs, ys, _, _ = _describe(evidence, profile, (
        f"SGD for a fixed {BATCH_STEPS[profile]} iterations (main sizes, step 1) with batch B, every seed: the excess "
        "of the population CoT loss over a large-batch run (the part of the loss due to the batch) falls at least "
        "like B^(-1/2), the trend B >= C eps^-2 implies (an eps-small batch contribution needs B ~ eps^-2): the "
        "slope of log excess in log B_eff has an upper t bound <= -1/2"))
    evidence.check_stat(stats.slope_le(xs, ys, -0.5, what="slope of log excess in log B_eff"), predicted="<= -1/2")


@pytest.mark.slow
def test_noise_excess_slope_band(evidence, profile):
    # paper profile only: the excess's seed-to-seed spread grows relative to its mean as B grows (the mean is ~c/B,
    # a fluctuation ~1/sqrt(B)), so at 6 seeds x 4 batch sizes the two-sided interval is about +-0.42 wide (quick,
    # measured: -1.12 [-1.54, -0.70]) and cannot resolve a +-1/2 band; the one-sided theorem check above can
    xs, ys, _, _ = _describe(evidence, profile, (
        "the same fit against the derived first-order SGD noise law excess ~ c / B (the gradient-noise covariance "
        "is Sigma / B, and the loss excess is linear in it to first order): the slope's t interval lies in "
        "-1 +- 1/2 (the band separates -1 from the neighbouring half-integer exponents)"), band=[-1.5, -0.5])
    evidence.check_stat(stats.slope_in_band(xs, ys, -1.5, -0.5, what="slope of log excess in log B_eff"),
                        predicted=-1.0)


def test_negative_control_batch_irrelevant(evidence, profile):
    xs, ys, _, _ = _describe(evidence, profile, (
        "near-miss negative control: a wrong theory suggested by the total loss, which is nearly flat in B at fixed "
        "iterations: 'beyond balance (B >= M) the batch does not matter', read as a slope >= -1/4; the one-sided "
        "check must reject"), role="negative_control")
    evidence.check_stat(stats.slope_ge(xs, ys, -0.25, what="slope of log excess in log B_eff"), expect="reject",
                        predicted=">= -1/4 (wrong)")


def test_total_loss_against_batch(evidence, profile):
    xs, ys, exc, chosen = _describe(evidence, profile, (
        "finding: at fixed iterations the total loss is optimisation-limited, not batch-limited: the loss at the "
        f"smallest batch {BATCHES[profile][0]} is less than 1.5 times the large-batch reference's (paired ratio of "
        "means on the same prompts, one-sided, every seed): a 32-fold smaller batch changes the loss by less than "
        "half"), role="probe")
    ref = batch_losses(profile, B_REF[profile]).mean(0)
    small = batch_losses(profile, BATCHES[profile][0])
    for s, seed in enumerate(chosen):
        evidence.check_stat(stats.ratio_of_means_le(small[s], ref, 1.5, what=f"loss(B={BATCHES[profile][0]}) / "
                                                    f"loss(B={B_REF[profile]})"), seed=seed, predicted="<= 1.5")
    Bs = np.array(BATCHES[profile])
    t = stats._t(0.995, len(chosen) - 1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    E = np.array([[exc[f"{seed},{B}"] for B in Bs] for seed in chosen])
    Beff = 1 / (1 / Bs - 1 / B_REF[profile])
    lm, lh = np.log(E).mean(0), t * np.log(E).std(0, ddof=1) / np.sqrt(len(chosen))
    axes[0].plot(Beff, np.exp(lm), "o-",
                 label=f"excess over $B = {B_REF[profile]}$ (geometric mean, {len(chosen)} seeds)")
    axes[0].fill_between(Beff, np.exp(lm - lh), np.exp(lm + lh), alpha=0.25,
                         label="band: 99% t interval over seeds (of the log)")
    f = stats.fit_line(xs, ys)
    axes[0].plot(Beff, np.exp(f.intercept) * Beff ** f.slope, "k-", lw=0.8,
                 label=f"log-log fit: slope {f.slope:.2f}, 99% t [{f.low:.2f}, {f.high:.2f}]")
    axes[0].plot(Beff, np.exp(lm[0]) * (Beff / Beff[0]) ** -0.5, "k:",
                 label=r"slope $-1/2$ (Theorem 1: $B \sim \epsilon^{-2}$)")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    figures.log_ticks(axes[0], [t for t in (5, 10, 20, 50, 100, 200, 500, 1000) if Beff[0] <= t <= Beff[-1]])
    axes[0].set_xlabel(r"effective batch $B_\mathrm{eff} = 1/(1/B - 1/B_\mathrm{ref})$")
    axes[0].set_ylabel(r"excess population CoT loss over $B_\mathrm{ref}$")
    axes[0].set_title("Batch part of the loss", fontsize=10)
    axes[0].legend(fontsize=6)
    allB = np.array([*Bs, B_REF[profile]])
    T = np.array([[batch_losses(profile, int(B))[s].mean() for B in allB] for s in range(len(chosen))])
    m, h = T.mean(0), t * T.std(0, ddof=1) / np.sqrt(len(chosen))
    axes[1].plot(allB, m, "o-", label=f"population loss (mean of {len(chosen)} seeds)")
    axes[1].fill_between(allB, m - h, m + h, alpha=0.25, label="99% t band over seeds")
    axes[1].set_xscale("log")
    figures.log_ticks(axes[1], allB)
    axes[1].set_xlabel("batch size $B$")
    axes[1].set_ylabel(f"CoT loss after {BATCH_STEPS[profile]} iterations")
    axes[1].set_title("Total loss at fixed iterations", fontsize=10)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    evidence.save_figure(fig, "pattern_cot_theorem1_batch")
