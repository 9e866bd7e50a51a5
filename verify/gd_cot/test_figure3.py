"""gd_cot.figure3: the OOD loss of CoT models trained with k = 10, 20, 30, 40 steps goes to near zero.

One batched training per k over the profile's seeds; each model is evaluated on one fixed set of OOD tasks
(x ~ N(0, Sigma), spec(Sigma) in [1/2, 2]) at its own k, paired against exact k-step GD on the same tasks.
"""

from __future__ import annotations

import copy
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from verify.evidence import finding_not_met, not_reproduced
from verify import stats
from verify.gd_cot.helpers import (
    EVAL_TASKS, HEADROOM, OOD_SPECTRA, STEP_TOL, TRAINING, gd_step_tolerance, half_sq, no_cot_ood, ood_covariance,
    ood_losses, ood_tasks, trained_cot,
)

pytestmark = pytest.mark.claim("gd_cot.figure3")

STATED_KS = (10, 20, 30, 40)  # the figure's k; quick trains k = 10 and 30 only (the k = 40 models need more than
#                                 3000 steps to reach the gap tolerance on every seed: one of three was 4x over,
#                                 measured; k = 20 adds a 45 s training and no new check form: paper trains it)
QUICK_KS = (10, 30)  # k = 10 (shared with figure2) for the paired GD check, k = 30 for "near zero" as well
DRIFT_KS = STATED_KS  # the probe rolls the k = 10 model out to these (no training)


def model_ks(profile: str) -> tuple[int, ...]:
    return STATED_KS if profile == "paper" else QUICK_KS
NEAR_ZERO = 0.01  # stated reading of "near zero": at most 1% of the no-CoT OOD loss (the model's mean loss)
# Which k can show "near zero" at all is decided by exact k-step GD at the profile's sizes (the models equal it
# within the 2% step tolerance): a k is counted when GD's mean OOD loss on the evaluation tasks is at most
# HEADROOM x 1% of the no-CoT OOD loss (the sizing rule of "far below"). Measured: quick (d = 5, n = 20) GD is at
# 10%, 2.1%, 0.56%, 0.18% at k = 10, 20, 30, 40 (k = 30 counted); paper (the paper's d = 10, n = 20, n = 2d) at
# k = 30 and 40 still 3.8% and 2.1%, so no k <= 40 is counted. The other ks are reported as not reproduced
# (the paper's eta is not known; at eta = 0.3 the chain is too short for GD itself to be near zero).


def exact_gd_over_no_cot_ood(profile: str, k: int) -> float:
    """Exact k-step GD's mean OOD loss on the fixed evaluation tasks (inside spectrum) over the no-CoT optimum's
    OOD loss (exact formula)."""
    from constructions.gd_cot.torch_model import gd_targets_torch

    cfg = TRAINING[profile]
    Sigma, spec = ood_covariance("inside", cfg["d"])
    X, w_star = ood_tasks(Sigma, cfg["n"])
    gd = gd_targets_torch(X, w_star, cfg["eta"], k)[:, -1]
    return float(half_sq(gd, w_star).mean()) / no_cot_ood(spec, cfg["n"])


def near_zero_ks(profile: str) -> tuple[int, ...]:
    """The trained ks at which exact GD leaves room to show 'near zero' (see above)."""
    return tuple(k for k in model_ks(profile) if exact_gd_over_no_cot_ood(profile, k) <= HEADROOM * NEAR_ZERO)


def not_near_zero_ks(profile: str) -> tuple[int, ...]:
    return tuple(k for k in model_ks(profile) if k not in near_zero_ks(profile))


@lru_cache(maxsize=None)
def _curves(profile):
    """Per k: the model trained at k evaluated OOD at its own k (model, gd, gap per task), for each spectrum."""
    cfg = TRAINING[profile]
    out = {}
    for kind in ("inside", "outside"):
        Sigma, spec = ood_covariance(kind, cfg["d"])
        X, w_star = ood_tasks(Sigma, cfg["n"])
        ks = model_ks(profile)
        per_k = {k: ood_losses(trained_cot(profile, k)["model"], X, w_star, cfg["eta"], (k,))[k] for k in ks}
        out[kind] = dict(spec=spec, no_cot=no_cot_ood(spec, cfg["n"]), per_k=per_k,
                         tol={k: gd_step_tolerance(X, w_star, cfg["eta"], k) for k in ks})
    return cfg, out


def _params(profile, cfg, c):
    ks = model_ks(profile)
    return dict(d=cfg["d"], n=cfg["n"], eta=cfg["eta"], ks=ks, stated_ks=STATED_KS,
                steps={k: trained_cot(profile, k)["steps"] for k in ks}, spectrum=c["spec"], eval_tasks=EVAL_TASKS,
                seeds=list(trained_cot(profile, ks[0])["seeds"]), no_cot_ood=c["no_cot"], near_zero=NEAR_ZERO,
                step_tol=STEP_TOL, criterion="every seed and every k passes")


def _figure(cfg, curves, drift):
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for kind, color in (("inside", "tab:blue"),):  # the diverging outside spectrum (a control) would hide the scale
        c = curves[kind]
        KS = tuple(c["per_k"])
        model = np.array([np.clip(c["per_k"][k][0].mean(-1), 1e-12, 1e12) for k in KS])  # (k, seeds)
        gd = [c["per_k"][k][1].mean() for k in KS]
        lo, hi = OOD_SPECTRA[kind]
        ax.plot(KS, np.clip(gd, 1e-12, 1e12), "o-", color=color,
                label=fr"exact $k$-step GD, spec$(\Sigma)\in[{lo}, {hi}]$")
        for s in range(model.shape[1]):
            ax.plot(KS, model[:, s], "x", color=color, ms=7,
                    label="CoT model trained at $k$ (one x per seed)" if s == 0 else None)
        ax.axhline(c["no_cot"], color=color, ls=":", lw=1, label=f"no-CoT optimum's OOD loss, [{lo}, {hi}]")
    ax.axhline(NEAR_ZERO * curves["inside"]["no_cot"], color="0.4", ls="--", lw=1,
               label=f"'near zero': {NEAR_ZERO:.0%} of the no-CoT OOD loss (inside)")
    ax.plot(DRIFT_KS, np.clip(drift, 1e-12, 1e12), "s--", color="tab:green", ms=4,
            label=f"model trained at $k = {DRIFT_KS[0]}$ rolled out to $k$ (probe, seed median)")
    ax.set_yscale("log")
    ax.set_xlabel("CoT steps $k$")
    ax.set_ylabel(r"mean OOD loss $\frac{1}{2}\|\hat w_k - w^*\|^2$")
    ax.set_title(f"Figure 3 (OOD): $d = {cfg['d']}$, $n = {cfg['n']}$, $\\eta = {cfg['eta']}$, {EVAL_TASKS} tasks",
                 fontsize=9)
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    return fig


def _drift(profile, cfg):
    """Probe data: the model trained at the smallest k rolled out to every k of KS (median over seeds of the mean
    OOD loss), inside the interval."""
    Sigma, _ = ood_covariance("inside", cfg["d"])
    X, w_star = ood_tasks(Sigma, cfg["n"])
    losses = ood_losses(trained_cot(profile, DRIFT_KS[0])["model"], X, w_star, cfg["eta"], DRIFT_KS)
    return ([float(np.median(losses[k][0].mean(-1))) for k in DRIFT_KS],
            [float(np.median(losses[k][1])) for k in DRIFT_KS], losses)


def test_trained_models_equal_k_step_gd_ood(evidence, profile):
    cfg, curves = _curves(profile)
    c = curves["inside"]
    KS = model_ks(profile)
    evidence.describe(f"CoT models trained at k = {KS} (every seed), evaluated on x ~ N(0, Sigma), spec(Sigma) in "
                      "[1/2, 2]: at each k the paired gap to exact k-step GD on the same tasks is one-sided below "
                      f"the gap of GD with a {STEP_TOL:.0%} step error", gap_tolerance=c["tol"],
                      **_params(profile, cfg, c))
    for k in KS:
        _, _, gap = c["per_k"][k]
        for s, seed in enumerate(trained_cot(profile, k)["seeds"]):
            evidence.check_stat(stats.mean_le(gap[s], c["tol"][k], what=f"gap to k-step GD, k={k}"), seed=seed,
                                predicted=0.0)
    drift, _, _ = _drift(profile, cfg)
    evidence.params.update(model_mean={k: c["per_k"][k][0].mean(-1).tolist() for k in KS},
                           gd_mean=[float(c["per_k"][k][1].mean()) for k in KS])
    evidence.save_figure(_figure(cfg, curves, drift), "gd_cot_figure3_ood")


def _near_zero(evidence, profile, ks):
    cfg, curves = _curves(profile)
    c = curves["inside"]
    evidence.describe(f"near zero at k = {ks}: each seed's mean OOD loss is one-sided below {NEAR_ZERO:.0%} of the "
                      "no-CoT optimum's OOD loss; exact k-step GD's mean on the same tasks is recorded beside it",
                      gd_mean_over_no_cot={k: float(c["per_k"][k][1].mean() / c["no_cot"]) for k in ks},
                      **_params(profile, cfg, c))
    for k in ks:
        for s, seed in enumerate(trained_cot(profile, k)["seeds"]):
            evidence.check_stat(stats.mean_le(c["per_k"][k][0][s], NEAR_ZERO * c["no_cot"], what=f"OOD loss, k={k}"),
                                seed=seed, predicted=0.0)


def test_near_zero_at_large_k(evidence, profile):
    ks = near_zero_ks(profile)
    if not ks:
        pytest.skip(f"no trained k leaves room: exact k-step GD itself is above {HEADROOM:.2g} x {NEAR_ZERO:.0%} of the "
                    f"no-CoT OOD loss at every k of {model_ks(profile)} at these sizes (see the not-reproduced check)")
    _near_zero(evidence, profile, ks)


@not_reproduced("at eta = 0.3 exact k-step GD itself is above the 1% 'near zero' level at these ks (quick: 10% and 2% "
                "at k = 10, 20; paper, d = 10, n = 20: 3.8% and 2.1% even at k = 30, 40); the paper's eta is not known")
def test_near_zero_already_at_small_k(evidence, profile):
    _near_zero(evidence, profile, not_near_zero_ks(profile))


def test_ood_loss_falls_with_k(evidence, profile):
    cfg, curves = _curves(profile)
    c = curves["inside"]
    evidence.describe("the OOD loss falls with k: for consecutive k of the figure, the paired per-task difference "
                      "loss(k) - loss(k') (same tasks, same seed index) has a one-sided lower bound above 0",
                      **_params(profile, cfg, c))
    KS = model_ks(profile)
    for k, k_next in zip(KS, KS[1:]):
        for s, seed in enumerate(trained_cot(profile, k)["seeds"]):
            diff = c["per_k"][k][0][s] - c["per_k"][k_next][0][s]
            evidence.check_stat(stats.mean_ge(diff, 0.0, what=f"loss(k={k}) - loss(k={k_next})"), seed=seed)


def test_negative_control_near_miss_step(evidence, profile):
    cfg, curves = _curves(profile)
    c = curves["inside"]
    k = model_ks(profile)[-1]
    evidence.describe(f"near-miss negative control: the k = {k} models with V scaled by 1.05 (a 5% error in the learned "
                      "step) must be rejected with confidence by the same paired gap-to-GD check",
                      role="negative_control", **_params(profile, cfg, c))
    wrong = copy.deepcopy(trained_cot(profile, k)["model"])
    with torch.no_grad():
        wrong.V.mul_(1.05)
    Sigma, _ = ood_covariance("inside", cfg["d"])
    X, w_star = ood_tasks(Sigma, cfg["n"])
    _, gd_loss, gap = ood_losses(wrong, X, w_star, cfg["eta"], (k,))[k]
    for s, seed in enumerate(trained_cot(profile, k)["seeds"]):
        evidence.check_stat(stats.mean_le(gap[s], gd_step_tolerance(X, w_star, cfg["eta"], k),
                                          what=f"gap of V x 1.05, k={k}"), expect="reject", seed=seed)


@finding_not_met("paper (d = 10, n = 20): the model trained at k = 10, rolled out to 40 steps, diverges on at least one "
                 "of the 8 seeds (mean loss at k = 40 infinite; sessions 7 and 8, measured)")
def test_probe_model_rolled_out_beyond_training_length(evidence, profile):
    cfg, curves = _curves(profile)
    drift, gd, losses = _drift(profile, cfg)
    no_cot = curves["inside"]["no_cot"]
    KS = DRIFT_KS
    evidence.describe(f"probe (finding): the model trained with k = {KS[0]} CoT steps, rolled out to 40 steps on the "
                      "inside covariance: its small weight errors compound, so it drifts from exact GD beyond its "
                      "training length; recorded per k as the model/GD ratio of medians", role="probe",
                      model_median=drift, gd_median=gd, ratio_to_gd=[m / g for m, g in zip(drift, gd)],
                      ratio_to_no_cot=[m / no_cot for m in drift], trained_k=KS[0])
    for s in range(losses[KS[-1]][0].shape[0]):
        evidence.check_le(float(losses[KS[-1]][0][s].mean()) / no_cot, FAR_BELOW_PROBE,
                          what="mean model loss at k = 40 / no-CoT OOD loss",
                          reason="finding level: still below a quarter of no-CoT despite the drift")


FAR_BELOW_PROBE = 0.25


def test_probe_outside_interval(evidence, profile):
    cfg, curves = _curves(profile)
    c = curves["outside"]
    evidence.describe("probe (no source states what happens outside the interval): spec(Sigma) up to 8 (eta "
                      "lambda_max(S) > 2); finding: the near-zero criterion fails at the largest trained k, every seed",
                      role="probe", **_params(profile, cfg, c))
    k = model_ks(profile)[-1]
    model_loss, _, _ = c["per_k"][k]
    for s in range(model_loss.shape[0]):
        evidence.check_ge(float(np.median(model_loss[s])) / c["no_cot"], NEAR_ZERO,
                          what=f"median model loss at k = {k} / no-CoT OOD loss",
                          reason="finding: outside the interval the model's OOD loss is not near zero")
