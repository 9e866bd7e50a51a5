"""tree_paths.theorem4: the trained backward model decodes unseen random trees, error within the margin bound [R]."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from constructions.tree_paths import BackwardModel, decode_path, equicorrelated
from constructions.tree_paths import bounds as bd
from dynamics import tree_paths as dyn
from verify.tree_paths.helpers import BACKWARD, STEPS, TEST_TREES, backward_reduced, backward_sgd, random_test_set

pytestmark = pytest.mark.claim("tree_paths.theorem4")

S = BACKWARD["S"]
BOUND = ("derived margin bound 2(N-1)e^{-margin}: the N-1 other keys carry <= e^{-margin} each, ||y_j - a_t|| <= 2; "
         "plus float64 round-off of the computed error (bounds.margin_bound_fp)")


def _margin_of(H: np.ndarray) -> float:
    """min_i H_ii - max(max_{i != j} H_ij, 0): a lower bound on the value margin at every step of every tree."""
    return float(np.diag(H).min() - max(H[~np.eye(len(H), dtype=bool)].max(), 0.0))


def _evaluate(B: np.ndarray, A: np.ndarray, trees, margin: float):
    """(number of exact paths, worst error / bound, its (error, bound))."""
    model = BackwardModel(B)
    exact, worst = 0, (0.0, 0.0, 1.0)
    for tree, goal in trees:
        dec = decode_path(model, tree, goal, A)
        exact += dec.correct
        for e, N in zip(dec.errors, dec.context):
            b = bd.margin_bound_fp(margin, N, A.shape[0])
            if e / b > worst[0]:
                worst = (e / b, e, b)
    return exact, worst


def test_trained_H_decodes_unseen_trees(evidence, profile):
    steps = STEPS[profile]["backward_sgd"]
    evidence.describe(f"the full 31x31 H trained by SGD ({steps} steps, S = 31, m = 4, lr 1, batch 256) decodes the "
                      f"exact goal-to-root path, argmax feedback, on {TEST_TREES} random trees with 0-3 children per "
                      "node, n uniform in [2, 31] and random label subsets", trees=TEST_TREES, steps=steps)
    B, _ = backward_sgd(profile)
    exact, _ = _evaluate(B, np.eye(S), random_test_set(S), _margin_of(B))
    evidence.check_exact(exact == TEST_TREES, measured={"exact paths": exact}, predicted={"exact paths": TEST_TREES},
                         reason="exact: every decoded path must equal the true one", what="exact paths")


def test_trained_H_error_within_bound(evidence, profile):
    evidence.describe("the same SGD-trained H on the same trees: every per-step error <= 2(N_k-1) e^{-(alpha - "
                      "max(beta, 0))} with alpha = min diagonal, beta = max off-diagonal of H (worst ratio)",
                      trees=TEST_TREES)
    B, _ = backward_sgd(profile)
    margin = _margin_of(B)
    _, (ratio, err, bound) = _evaluate(B, np.eye(S), random_test_set(S), margin)
    evidence.check_le(err, bound, predicted={"alpha - max(beta, 0)": margin}, reason=BOUND,
                      what="worst per-step error against its bound")


def test_bound_along_the_reduced_trajectory(evidence, profile):
    red = backward_reduced(profile)
    checkpoints = [s for s in (250, 500, 750, 1000, 1250, 1500, 2000, 3000, 5000, 10000, 20000) if s <= red.steps[-1]]
    trees = random_test_set(S, count=256, seed=7)
    evidence.describe("symmetric H = alpha I + beta (J - I) of the reduced GD at checkpoints 250..20000: per-step "
                      "error <= 2(N-1) e^{-(alpha - max(beta, 0))} on 256 random trees at every checkpoint (figure: "
                      "error, bound and exact-path rate against alpha)", checkpoints=checkpoints, trees=256)
    rows = []
    for step in checkpoints:
        i = red.steps.index(step)
        a, b = red["alpha"][i], red["beta"][i]
        exact, (ratio, err, bound) = _evaluate(dyn.symmetric_H(a, b, S), np.eye(S), trees, a - max(b, 0.0))
        rows.append((step, a, err, bound, exact / len(trees)))
        evidence.check_le(err, bound, reason=BOUND, what=f"worst error at step {step} (alpha = {a:.3g})")
    _figure(evidence, rows)


def _figure(evidence, rows):
    steps, a, err, bound, acc = map(np.array, zip(*rows))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    a1.semilogy(a, err, "o-", label="worst per-step error (256 random trees)")
    a1.semilogy(a, np.minimum(bound, 1e3), "s--", label="2(N-1) e^{-(alpha - max(beta,0))} at that step")
    a1.set_xlabel("alpha (reduced GD)"), a1.legend(fontsize=7), a1.set_title("Theorem 4: error on unseen trees")
    a2.plot(a, acc, "o-")
    for x, y, s in zip(a, acc, steps):
        a2.annotate(str(s), (x, y), fontsize=6, textcoords="offset points", xytext=(2, -8))
    a2.set_xlabel("alpha (reduced GD), labels: iteration"), a2.set_ylabel("exact-path rate"), a2.set_ylim(-0.05, 1.05)
    evidence.save_figure(fig, "tree_paths_theorem4_generalisation")


def test_negative_control_undertrained(evidence, profile):
    red = backward_reduced(profile)
    i = red.steps.index(500)
    a, b = red["alpha"][i], red["beta"][i]
    evidence.describe(f"negative control: the plateau H (reduced GD step 500, alpha = {a:.3g}) must fail the "
                      "exact-path check on the same random trees", role="negative_control", alpha=a, beta=b)
    exact, _ = _evaluate(dyn.symmetric_H(a, b, S), np.eye(S), random_test_set(S), a - max(b, 0.0))
    evidence.check_ge(TEST_TREES - exact, 1, reason="the exactness check must reject an undertrained model",
                      what="number of wrong paths")


def test_negative_control_non_orthogonal(evidence, profile):
    rho = 0.3
    evidence.describe(f"negative control: the SGD-trained B with equicorrelated embeddings (a_i^T a_j = {rho}, the "
                      "orthogonality assumption violated) must break the bound computed from H", role="negative_control",
                      rho=rho, trees=256)
    B, _ = backward_sgd(profile)
    _, (ratio, _, _) = _evaluate(B, equicorrelated(S, rho), random_test_set(S, count=256), _margin_of(B))
    evidence.check_ge(ratio, 1.0, reason="the bound must fail when its assumption fails", what="worst error / bound")
