"""tree_paths.theorem6: the trained forward model outputs exact root-to-goal paths on unseen random trees [R]."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from constructions.tree_paths import ForwardModel, decode_path, forward_from_symmetric, one_hot
from constructions.tree_paths import bounds as bd
from dynamics import tree_paths as dyn
from verify.tree_paths.helpers import FORWARD, TEST_TREES, forward_reduced, forward_sgd, random_test_set

pytestmark = pytest.mark.claim("tree_paths.theorem6")

S = FORWARD["S"]
BOUND = ("derived margin bound 2(N-1)e^{-margin} with each head's measured value margin (keys carrying another "
         "value hold <= e^{-margin} each; values have norm <= 1), plus float64 round-off of the computed error "
         "(bounds.margin_bound_fp)")


def _evaluate(model, trees):
    """(exact paths, worst (error / bound, error, bound) over heads, steps and trees)."""
    A = one_hot(S)
    exact, worst = 0, (0.0, 0.0, 1.0)
    for tree, goal in trees:
        dec = decode_path(model, tree, goal, A)
        exact += dec.correct and dec.path == tree.path_to_root(goal)[::-1]
        for errs, margins in ((dec.errors, dec.margins[0]), (dec.stage_errors, dec.margins[1])):
            for e, mg, N in zip(errs, margins, dec.context):
                b = bd.margin_bound_fp(mg, N, S if errs is dec.errors else 2)
                if e / b > worst[0]:
                    worst = (e / b, e, b)
    return exact, worst


def _reduced_model(profile, index=-1):
    red = forward_reduced(profile)
    return forward_from_symmetric(dyn.forward_params_at(red, index), S), red.steps[index]


def test_trained_model_decodes_unseen_trees(evidence, profile):
    model, steps = _reduced_model(profile)
    evidence.describe(f"the forward model trained from zero by 12-scalar population GD ({steps} steps, S = 25, m = 3, "
                      f"lr 0.2) outputs the exact 2m+1 schedule, hence the exact root-to-goal path, with argmax "
                      f"feedback on {TEST_TREES} random trees with 0-3 children, n uniform in [2, 25], random labels",
                      trees=TEST_TREES, steps=steps)
    exact, _ = _evaluate(model, random_test_set(S))
    evidence.check_exact(exact == TEST_TREES, measured={"exact paths": exact}, predicted={"exact paths": TEST_TREES},
                         reason="exact: every decoded path must equal the true one", what="exact paths")


def test_error_within_margin_bound(evidence, profile):
    model, steps = _reduced_model(profile)
    evidence.describe("the same model and trees: for both heads at every step, ||out - target|| <= 2(N-1) e^-margin "
                      "(worst ratio)", trees=TEST_TREES)
    _, (ratio, err, bound) = _evaluate(model, random_test_set(S))
    evidence.check_le(err, bound, reason=BOUND, what="worst per-step error against its bound")


@pytest.mark.slow
def test_sgd_trained_model_decodes_unseen_trees(evidence, profile):
    P, full = forward_sgd(profile)
    evidence.describe(f"the full-matrix SGD model (U_1, U_2 25 x 25, batch 256, {full.steps[-1]} steps) on the same "
                      f"{TEST_TREES} random trees: exact paths", trees=TEST_TREES, steps=full.steps[-1])
    model = ForwardModel(U=(P["U1"], P["U2"]), V=(P["V1"], P["V2"]))
    exact, _ = _evaluate(model, random_test_set(S))
    evidence.check_exact(exact == TEST_TREES, measured={"exact paths": exact}, predicted={"exact paths": TEST_TREES},
                         reason="exact: every decoded path must equal the true one", what="exact paths")


def test_generalisation_along_training(evidence, profile):
    red = forward_reduced(profile)
    checkpoints = [s for s in (250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 12000, 16000, 20000)
                   if s <= red.steps[-1]]
    trees = random_test_set(S, count=256, seed=7)
    evidence.describe("exact-path rate on 256 random trees at checkpoints of the 12-scalar GD, and the margin bound "
                      "at every checkpoint (figure)", checkpoints=checkpoints, trees=256)
    rates, worst = [], []
    for step in checkpoints:
        model, _ = _reduced_model(profile, red.steps.index(step))
        exact, (ratio, err, bound) = _evaluate(model, trees)
        rates.append(exact / len(trees))
        worst.append(err)
        evidence.check_le(err, bound, reason=BOUND, what=f"worst error at step {step}")
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(checkpoints, rates, "o-", label="exact-path rate (256 random trees, 0-3 children)")
    ax.plot(checkpoints, np.minimum(worst, 1), "s--", label="worst per-step error (capped at 1)")
    ax.set_xlabel("iteration (12-scalar GD)"), ax.set_ylim(-0.05, 1.05), ax.legend(fontsize=7)
    ax.set_title("Theorem 6: forward generalisation during training", fontsize=9)
    evidence.save_figure(fig, "tree_paths_theorem6_generalisation")


def test_negative_control_before_the_stage_flip(evidence, profile):
    red = forward_reduced(profile)
    i = red.steps.index(3000)
    evidence.describe("negative control: the model at iteration 3000 (before the stage flip is learned) must fail "
                      "the exact-path check on the same random trees", role="negative_control", step=3000)
    model, _ = _reduced_model(profile, i)
    exact, _ = _evaluate(model, random_test_set(S))
    evidence.check_ge(TEST_TREES - exact, 1, reason="the exactness check must reject an undertrained model",
                      what="number of wrong paths")
