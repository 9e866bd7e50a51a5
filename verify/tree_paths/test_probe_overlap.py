"""tree_paths.probe_overlap (beyond the paper): near-orthogonal (equicorrelated) embeddings."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

import numpy as np

from constructions.tree_paths import BackwardModel, backward_construction, decode_path, equicorrelated
from constructions.tree_paths.embeddings import equicorrelated_logit_params
from constructions.tree_paths import bounds as bd
from verify import stats
from verify.tree_paths.helpers import BACKWARD, STEPS, backward_reduced_at, backward_sgd_seeds, random_test_set

pytestmark = pytest.mark.claim("tree_paths.probe_overlap")

S = BACKWARD["S"]
RHOS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
C = 5.0  # construction scale, about the trained alpha
TREES = 256


LABELS = {"construction B* = c A A^T (c = 5)": r"construction $B^* = c\,AA^\top$ ($c = 5$)",
          "SGD-trained B (one-hot training)": r"SGD-trained $B$ (trained with one-hot embeddings)"}


def _models(profile):
    """name -> (model for embeddings A, [(B's a, b) per seed]: the symmetric B its logits are predicted from)."""
    Bs, _, chosen = backward_sgd_seeds(profile)
    a, b = backward_reduced_at(BACKWARD["lr"], STEPS[profile]["backward_sgd"])
    return {"construction B* = c A A^T (c = 5)": [(lambda A: backward_construction(C, A), (C, None), None)],
            "SGD-trained B (one-hot training)": [(lambda A, B=B: BackwardModel(B), (a, b), seed)
                                                 for B, seed in zip(Bs, chosen)]}


def _predicted_margins(tree, goal, ab, rho):
    """The value margins of A^T B A predicted from B's symmetric parameters and rho alone (no model run)."""
    a, b = ab
    if b is None:  # the construction: B* = c G, i.e. a = c, b = c rho
        a, b = a, a * rho
    return bd.backward_symmetric_steps(tree, goal, *equicorrelated_logit_params(a, b, rho, S))[1]


def _run(model, A, ab=None, rho=0.0):
    exact, worst, errs = 0, (0.0, 0.0, 1.0), []
    for tree, goal in random_test_set(S, count=TREES, seed=7):
        dec = decode_path(model, tree, goal, A, feedback="teacher" if ab is not None else "argmax")
        exact += dec.correct
        errs.append(max(dec.errors))
        if ab is None:
            continue
        for e, mg, N in zip(dec.errors, _predicted_margins(tree, goal, ab, rho), dec.context):
            bound = bd.margin_bound_fp(mg, N, A.shape[0])
            worst = max(worst, (e / bound, e, bound))
    return exact / TREES, max(errs), worst


def test_margin_bound_for_any_overlap(evidence, profile):
    evidence.describe("for equicorrelated unit embeddings (a_i^T a_j = rho, rho in 0..0.5), the construction and the "
                      "SGD-trained B (every seed), teacher-forced, satisfy ||y_hat - a_t|| <= 2(N-1)e^-margin with the "
                      "margins of A^T B A predicted from (c, rho) or from the reduced (alpha, beta) and rho "
                      "(embeddings.equicorrelated_logit_params + the multiplicity formula), not measured from the "
                      "model's logits (unit-norm values: ||a_u - a_t|| <= 2)", rhos=RHOS, trees=TREES,
                      seeds=list(backward_sgd_seeds(profile)[2]))
    for name, runs in _models(profile).items():
        for make, ab, seed in runs:
            for rho in RHOS:
                A = equicorrelated(S, rho)
                _, _, (ratio, err, bound) = _run(make(A), A, ab, rho)
                evidence.check_le(err, bound, reason="derived margin bound (any unit-norm embeddings) with predicted "
                                  "margins, plus float64 round-off of the computed error",
                                  what=f"worst error, {name}, rho = {rho}, seed {seed}")


def test_construction_margins_equal_prediction(evidence):
    evidence.describe("the predicted margins of the construction are exact: for every rho, tree and step, the value "
                      "margin measured from the construction's logits equals the prediction from (c, rho) "
                      "(checks the derivation equicorrelated_logit_params, which the bound check relies on)",
                      rhos=RHOS, trees=64)
    worst = 0.0
    for rho in RHOS:
        A = equicorrelated(S, rho)
        for tree, goal in random_test_set(S, count=64, seed=7):
            dec = decode_path(backward_construction(C, A), tree, goal, A, feedback="teacher")
            worst = max(worst, float(np.abs(np.array(dec.margins[0]) - _predicted_margins(tree, goal, (C, None), rho)).max()))
    # logits are sums of S products of entries of G^{1/2} (eigh: ~1e-15 relative) times c = 5: well below 1e-11
    evidence.check_le(worst, 1e-11, predicted=0.0, reason="float64 round-off of eigh and of S-term logit sums, c = 5",
                      what="max |measured - predicted margin|")


def test_probe_rate_against_overlap(evidence, profile):
    evidence.describe("probe: exact-path rate and worst per-step error on 256 random trees as the overlap rho grows "
                      "(figure); reported, no threshold", role="probe", rhos=RHOS, trees=TREES)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    rates_all = {}
    for (name, runs), fmt in zip(_models(profile).items(), ("o-", "s--")):
        make = runs[0][0]
        rates, errs = [], []
        for rho in RHOS:
            A = equicorrelated(S, rho)
            rate, err, _ = _run(make(A), A)
            rates.append(rate), errs.append(err)
        rates_all[name] = rates
        r = np.array(rates)
        ci = np.array([stats.binomtest_ci(round(x * TREES), TREES) for x in r])
        a1.errorbar(RHOS, r, yerr=[r - ci[:, 0], ci[:, 1] - r], fmt=fmt, capsize=3, label=LABELS[name])
        a2.semilogy(RHOS, errs, fmt, label=LABELS[name])
    a1.set_xlabel(r"overlap $\rho$ ($a_i^\top a_j = \rho$, $i \neq j$)"), a1.set_ylabel("exact-path rate (argmax)")
    a1.set_ylim(-0.05, 1.05)
    a1.legend(fontsize=7, loc="lower left", title=f"bars: 99% Clopper-Pearson, {TREES} trees", title_fontsize=7)
    a2.set_xlabel(r"overlap $\rho$ ($a_i^\top a_j = \rho$, $i \neq j$)")
    a2.set_ylabel(r"worst per-step error $\max_k \|\hat y_k - a_{t_k}\|_2$"), a2.legend(fontsize=7)
    fig.suptitle(f"Probe: equicorrelated embeddings ($S = {S}$, random trees with 0-3 children; SGD seed "
                 f"{backward_sgd_seeds(profile)[2][0]})", fontsize=10)
    evidence.save_figure(fig, "tree_paths_probe_overlap")
    evidence.check_exact(all(0 <= x <= 1 for r in rates_all.values() for x in r),
                         measured={k: dict(zip(map(str, RHOS), (round(x, 3) for x in v))) for k, v in rates_all.items()},
                         predicted="reported only", reason="probe: beyond the paper, no pass/fail threshold",
                         what="exact-path rates")
