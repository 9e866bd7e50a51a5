"""tree_paths.probe_depth (beyond the paper): trained models on goals deeper than any training path."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from constructions.tree_paths import BackwardModel, ForwardModel, decode_path, forward_from_symmetric, one_hot
from constructions.tree_paths import bounds as bd
from dynamics import tree_paths as dyn
from verify import figures, stats
from verify.tree_paths.helpers import (
    BACKWARD, FORWARD, FORWARD_TRAINED, STEPS, backward_reduced, backward_reduced_at, backward_sgd, backward_sgd_seeds,
    deep_random_set, forward_reduced, forward_sgd_seeds, forward_trained_reduced,
)

pytestmark = pytest.mark.claim("tree_paths.probe_depth")

DEPTHS = (5, 6, 7)
PER_DEPTH = 128
BOUND = ("derived margin bound 2(N-1)e^{-margin} with the value margins predicted by the reduced dynamics, not "
         "measured from the model's logits (the bound with measured margins is a softmax lemma that cannot fail), plus "
         "float64 round-off of the computed error (bounds.margin_bound_fp)")


def _trees(S: int, depth: int):
    return deep_random_set(S, (depth, depth), PER_DEPTH, seed=100 + depth)


def _backward_symmetric(profile):
    """alpha I + beta (J - I) of the reduced GD after as many steps as the SGD run (the population-GD model)."""
    red = backward_reduced(profile)
    _, full = backward_sgd(profile)
    i = red.steps.index(full.steps[-1])
    return red["alpha"][i], red["beta"][i]


def test_backward_decoding_matches_derived_prediction(evidence, profile):
    S = BACKWARD["S"]
    a, b = _backward_symmetric(profile)
    evidence.describe(f"backward model trained on depth-4 perfect trees (reduced GD, alpha = {a:.3g}, beta = {b:.3g}) "
                      f"on random trees with the goal at depth {DEPTHS}: every tree decodes exactly iff the "
                      "multiplicity condition e^alpha + n_t e^beta > max_u w_u holds at every step (derived, "
                      "bounds.backward_symmetric_exact)", depths=DEPTHS, per_depth=PER_DEPTH)
    A, model = np.eye(S), BackwardModel(dyn.symmetric_H(a, b, S))
    mismatches = 0
    for depth in DEPTHS:
        for tree, goal in _trees(S, depth):
            mismatches += decode_path(model, tree, goal, A).correct != bd.backward_symmetric_exact(tree, goal, a, b)
    evidence.check_exact(mismatches == 0, measured={"mismatches": mismatches}, predicted={"mismatches": 0},
                         reason="exact: an argmax decision against its derived condition", what="prediction")


def test_margin_bound_at_depth(evidence, profile):
    evidence.describe(f"the SGD-trained backward H and the SGD-trained forward models (every seed) on goals at depth "
                      f"{DEPTHS}, teacher-forced: every per-step error (both heads) <= 2(N-1)e^-margin with the margin "
                      "predicted before measurement (backward: the reduced (alpha, beta) at the SGD step count through "
                      "the multiplicity formula; forward: the 12-scalar GD of the same instance on the same tree)",
                      depths=DEPTHS, seeds=list(backward_sgd_seeds(profile)[2]))
    Bs, _, chosen = backward_sgd_seeds(profile)
    S = BACKWARD["S"]
    a, b = backward_reduced_at(BACKWARD["lr"], STEPS[profile]["backward_sgd"])
    for B, seed in zip(Bs, chosen):
        worst = (0.0, 0.0, 1.0)
        for depth in DEPTHS:
            for tree, goal in _trees(S, depth):
                dec = decode_path(BackwardModel(B), tree, goal, one_hot(S), feedback="teacher")
                _, pm = bd.backward_symmetric_steps(tree, goal, a, b)
                for e, mg, N in zip(dec.errors, pm, dec.context):
                    bound = bd.margin_bound_fp(mg, N, S)
                    worst = max(worst, (e / bound, e, bound))
        evidence.check_le(worst[1], worst[2], reason=BOUND, what=f"backward, worst error against its bound (seed {seed})")
    params, _, chosen = forward_sgd_seeds(profile)
    Sf = FORWARD_TRAINED[profile]["S"]
    pred_model = forward_from_symmetric(dyn.forward_params_at(forward_trained_reduced(profile), -1), Sf)
    for P, seed in zip(params, chosen):
        model, worst = ForwardModel(U=(P["U1"], P["U2"]), V=(P["V1"], P["V2"])), (0.0, 0.0, 1.0)
        for depth in DEPTHS:
            for tree, goal in _trees(Sf, depth):
                dec = decode_path(model, tree, goal, one_hot(Sf), feedback="teacher")
                pred = decode_path(pred_model, tree, goal, one_hot(Sf), feedback="teacher")
                for errs, margins, d in ((dec.errors, pred.margins[0], Sf), (dec.stage_errors, pred.margins[1], 2)):
                    for e, mg, N in zip(errs, margins, dec.context):
                        bound = bd.margin_bound_fp(mg, N, d)
                        worst = max(worst, (e / bound, e, bound))
        evidence.check_le(worst[1], worst[2], reason=BOUND, what=f"forward, worst error against its bound (seed {seed})")


@pytest.mark.parametrize("task", ["backward", "forward"])
def test_probe_exact_rate_by_depth(evidence, profile, task):
    evidence.describe(f"probe ({task}): exact-path rate of the trained model at goal depth 5, 6, 7 (training depth "
                      f"{BACKWARD['m'] if task == 'backward' else FORWARD['m']}); reported, no threshold",
                      role="probe", depths=DEPTHS, per_depth=PER_DEPTH)
    if task == "backward":
        S = BACKWARD["S"]
        model = BackwardModel(backward_sgd(profile)[0])
    else:
        S = FORWARD["S"]
        model = forward_from_symmetric(dyn.forward_params_at(forward_reduced(profile), -1), S)
    rates = {}
    for depth in DEPTHS:
        rates[depth] = float(np.mean([decode_path(model, t, g, one_hot(S)).correct for t, g in _trees(S, depth)]))
    if task == "forward":
        _figure(evidence, profile, rates)
    evidence.check_exact(all(0 <= r <= 1 for r in rates.values()), measured={f"depth {d}": r for d, r in rates.items()},
                         predicted="reported only", reason="probe: beyond the paper, no pass/fail threshold",
                         what="exact-path rates")


def _figure(evidence, profile, fwd_rates):
    S = BACKWARD["S"]
    model = BackwardModel(backward_sgd(profile)[0])
    bwd = [np.mean([decode_path(model, t, g, one_hot(S)).correct for t, g in _trees(S, d)]) for d in DEPTHS]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    # the two curves may coincide (both at 1): offset them a little along x so that both stay visible
    for dx, rates, fmt, name in ((-0.04, bwd, "o-", f"backward (trained on depth {BACKWARD['m']}, $S = {S}$)"),
                                 (0.04, [fwd_rates[d] for d in DEPTHS], "s--",
                                  f"forward (trained on depth {FORWARD['m']}, $S = {FORWARD['S']}$)")):
        r = np.array(rates)
        ci = np.array([stats.binomtest_ci(round(x * PER_DEPTH), PER_DEPTH) for x in r])
        ax.errorbar(np.array(DEPTHS) + dx, r, yerr=[r - ci[:, 0], ci[:, 1] - r], fmt=fmt, capsize=3, label=name)
    ax.set_xlabel("goal depth (path length)"), ax.set_ylabel("exact-path rate (unseen trees)")
    figures.integer_axis(ax), ax.set_ylim(-0.05, 1.05)  # depths are integers: no 5.25 ticks
    ax.legend(title=f"bars: 99% Clopper-Pearson, {PER_DEPTH} trees per depth", title_fontsize=7, fontsize=7,
              loc="lower left")
    ax.set_title("Probe: depth generalisation (random trees, 0-3 children)", fontsize=9)
    evidence.save_figure(fig, "tree_paths_probe_depth")
