"""gd_cot.softmax: a one-layer softmax-attention transformer trained with CoT goes far below its no-CoT twin."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from verify import stats
from verify.evidence import finding_not_met
from verify.gd_cot.helpers import (
    FAR_BELOW, HEADROOM, SOFTMAX, TRAINING, exact_gd_over_no_cot, eval_tasks, gd_step_tolerance, half_sq, softmax_rollout_loss, trained_cot,
    trained_no_cot, trained_softmax,
)

pytestmark = pytest.mark.claim("gd_cot.softmax")


def _params(profile, run):
    cfg = SOFTMAX[profile]
    return dict(d=cfg["d"], n=cfg["n"], k=cfg["k"], eta=cfg["eta"], steps=cfg["steps"], lr=cfg["lr"], heads=2,
                seeds=list(run["seeds"]), eval_tasks=len(run["per_task"][0]),
                criterion="every seed passes (paired on the same evaluation tasks)")


def test_cot_far_below_no_cot(evidence, profile):
    cot, no_cot = trained_softmax(profile, True), trained_softmax(profile, False)
    evidence.describe(f"softmax attention, per seed, on the same tasks: mean CoT rollout loss / mean no-CoT loss <= "
                      f"{FAR_BELOW} (paired Fieller upper bound); figure: evaluation loss during training, CoT and "
                      "no CoT, linear and softmax attention", **_params(profile, cot),
                      ratio=[float(c.mean() / n.mean()) for c, n in zip(cot["per_task"], no_cot["per_task"])])
    evidence.save_figure(_figure(profile, cot, no_cot), "gd_cot_softmax_eval_loss")
    for s, seed in enumerate(cot["seeds"]):
        evidence.check_stat(stats.ratio_of_means_le(cot["per_task"][s], no_cot["per_task"][s], FAR_BELOW,
                                                    what="CoT / no CoT (softmax)"), seed=seed)


def test_sizes_leave_room_below_far_below(evidence, profile):
    cfg = SOFTMAX[profile]
    ratio = exact_gd_over_no_cot(cfg["n"], cfg["d"], cfg["k"], cfg["eta"])
    evidence.describe(f"exact (Wishart): at this profile's sizes, exact k-step GD over the no-CoT optimum is at most "
                      f"{HEADROOM:.2g} x {FAR_BELOW}, so a model that computes GD can show 'far below'; near miss: the "
                      "paper's n = 20, d = 10 with k = 10 (GD itself at 0.23) is rejected", **{
                          key: cfg[key] for key in ("d", "n", "k", "eta")})
    evidence.check_le(ratio, HEADROOM * FAR_BELOW, what="exact GD / no-CoT optimum", reason="exact (Wishart moments)")
    evidence.check_ge(exact_gd_over_no_cot(20, 10, 10, cfg["eta"]), HEADROOM * FAR_BELOW,
                      what="near miss: n = 20, d = 10, k = 10", reason="exact (Wishart moments)")


def test_negative_control_chain_cut_to_one_step(evidence, profile):
    cot, no_cot = trained_softmax(profile, True), trained_softmax(profile, False)
    cfg = SOFTMAX[profile]
    evidence.describe("near-miss negative control: the same CoT-trained softmax models with the chain cut to one step "
                      "(k = 1 at test time, a plausible 'CoT without the chain') must be rejected by the same paired "
                      f"ratio check (confidently above {FAR_BELOW})", role="negative_control", **_params(profile, cot))
    X, w_star = eval_tasks(cfg["n"], cfg["d"])
    one_step = softmax_rollout_loss(cot["model"], X, w_star, 1)
    for s, seed in enumerate(cot["seeds"]):
        evidence.check_stat(stats.ratio_of_means_le(one_step[s], no_cot["per_task"][s], FAR_BELOW,
                                                    what="one CoT step / no CoT (softmax)"), expect="reject", seed=seed)


def _gd_with_step_error(X, w_star, eta, k, rel):
    from constructions.gd_cot.torch_model import gd_targets_torch

    return gd_targets_torch(X, w_star, eta * (1 + rel), k)[:, -1]


@finding_not_met("paper (k = 20, d = 10, n = 20): the softmax rollouts track k-step GD only as closely as GD with a "
                 "33-35% step error on every seed, not within 25% (sessions 7 and 8, measured)")
def test_finding_distance_to_k_step_gd(evidence, profile):
    from constructions.gd_cot.softmax_model import softmax_rollout_estimates
    from constructions.gd_cot.torch_model import gd_targets_torch

    cot = trained_softmax(profile, True)
    cfg = SOFTMAX[profile]
    X, w_star = eval_tasks(cfg["n"], cfg["d"])
    k, eta = cfg["k"], cfg["eta"]
    est = softmax_rollout_estimates(cot["model"], X, w_star, k)[..., -1, :]
    gd = gd_targets_torch(X, w_star, eta, k)[:, -1]
    gap = half_sq(est, gd)  # (S, tasks)
    # the step error of GD whose k-step gap to exact GD equals the model's (bisection on a monotone function)
    equivalent = []
    for s in range(gap.shape[0]):
        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            if float(half_sq(_gd_with_step_error(X, w_star, eta, k, mid), gd).mean()) < gap[s].mean():
                lo = mid
            else:
                hi = mid
        equivalent.append(round(hi, 4))
    tol2 = gd_step_tolerance(X, w_star, eta, k)
    tol25 = gd_step_tolerance(X, w_star, eta, k, rel=0.25)
    evidence.describe("finding: how closely the softmax CoT rollout tracks exact k-step GD, per seed, as the step "
                      "error that would give GD the same mean gap (linear attention meets a 2% step-error tolerance; "
                      "softmax attention approximates the linear kernel only to first order in the logits). Expected "
                      "side of the finding: closer than GD with a 25% step error", role="probe",
                      **_params(profile, cot), mean_gap=[float(g.mean()) for g in gap],
                      equivalent_step_error=equivalent, gap_of_2pct_step_error=tol2)
    for s, seed in enumerate(cot["seeds"]):
        evidence.check_stat(stats.mean_le(gap[s], tol25, what="gap to k-step GD (softmax)"), seed=seed)


def _band(ax, curve, label, color, ls="-"):
    steps = np.array(curve["steps"])
    mean = np.array(curve["mean"])  # (points, seeds)
    ax.plot(steps, np.median(mean, axis=1), color=color, ls=ls, label=label)
    ax.fill_between(steps, mean.min(axis=1), mean.max(axis=1), color=color, alpha=0.2, lw=0)


def _figure(profile, cot, no_cot):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    k = SOFTMAX[profile]["k"]
    lin = TRAINING[profile]
    ax = axes[0]
    if k in lin["ks"] and (lin["d"], lin["n"], lin["eta"]) == (cot["d"], cot["n"], cot["eta"]):
        _band(ax, trained_cot(profile, k)["curve"], f"CoT, $k = {k}$", "C0")
        _band(ax, trained_no_cot(profile)["curve"], "no CoT", "C3")
        ax.set_title(f"linear attention (LSA), $d = {lin['d']}$, $n = {lin['n']}$", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no LSA run of these sizes in this profile", ha="center", transform=ax.transAxes)
    _band(axes[1], cot["curve"], f"CoT, $k = {k}$", "C0")
    _band(axes[1], no_cot["curve"], "no CoT", "C3")
    axes[1].set_title(f"softmax attention, 2 heads, $d = {cot['d']}$, $n = {cot['n']}$", fontsize=9)
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.legend(fontsize=8, title="median over seeds, band: min-max", title_fontsize=7)
    axes[0].set_ylabel(r"evaluation loss $\frac{1}{2}\mathbb{E}\|\hat w - w^*\|^2$")
    fig.tight_layout()
    return fig
