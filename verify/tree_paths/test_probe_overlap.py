"""tree_paths.probe_overlap (beyond the paper): near-orthogonal (equicorrelated) embeddings."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from constructions.tree_paths import BackwardModel, backward_construction, decode_path, equicorrelated
from constructions.tree_paths import bounds as bd
from verify.tree_paths.helpers import BACKWARD, backward_sgd, random_test_set

pytestmark = pytest.mark.claim("tree_paths.probe_overlap")

S = BACKWARD["S"]
RHOS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
C = 5.0  # construction scale, about the trained alpha
TREES = 256


def _models(profile):
    return {"construction B* = c A A^T (c = 5)": lambda A: backward_construction(C, A),
            "SGD-trained B (one-hot training)": lambda A: BackwardModel(backward_sgd(profile)[0])}


def _run(model, A):
    exact, worst, errs = 0, (0.0, 0.0, 1.0), []
    for tree, goal in random_test_set(S, count=TREES, seed=7):
        dec = decode_path(model, tree, goal, A)
        exact += dec.correct
        errs.append(max(dec.errors))
        for e, mg, N in zip(dec.errors, dec.margins[0], dec.context):
            bound = bd.margin_bound_fp(mg, N, A.shape[0])
            worst = max(worst, (e / bound, e, bound))
    return exact / TREES, max(errs), worst


def test_margin_bound_for_any_overlap(evidence, profile):
    evidence.describe("for equicorrelated unit embeddings (a_i^T a_j = rho, rho in 0..0.5), the construction and the "
                      "trained B satisfy ||y_hat - a_t|| <= 2(N-1)e^-margin with the measured margins of A^T B A "
                      "(unit-norm values: ||a_u - a_t|| <= 2)", rhos=RHOS, trees=TREES)
    for name, make in _models(profile).items():
        for rho in RHOS:
            A = equicorrelated(S, rho)
            _, _, (ratio, err, bound) = _run(make(A), A)
            evidence.check_le(err, bound, reason="derived margin bound (any unit-norm embeddings) plus float64 round-off of the computed error",
                              what=f"worst error, {name}, rho = {rho}")


def test_probe_rate_against_overlap(evidence, profile):
    evidence.describe("probe: exact-path rate and worst per-step error on 256 random trees as the overlap rho grows "
                      "(figure); reported, no threshold", role="probe", rhos=RHOS, trees=TREES)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    rates_all = {}
    for name, make in _models(profile).items():
        rates, errs = [], []
        for rho in RHOS:
            A = equicorrelated(S, rho)
            rate, err, _ = _run(make(A), A)
            rates.append(rate), errs.append(err)
        rates_all[name] = rates
        a1.plot(RHOS, rates, "o-", label=name)
        a2.semilogy(RHOS, errs, "o-", label=name)
    a1.set_xlabel("overlap rho"), a1.set_ylabel("exact-path rate"), a1.set_ylim(-0.05, 1.05), a1.legend(fontsize=7)
    a2.set_xlabel("overlap rho"), a2.set_ylabel("worst per-step error")
    fig.suptitle("Probe: equicorrelated embeddings (S = 31, random trees with 0-3 children)", fontsize=9)
    evidence.save_figure(fig, "tree_paths_probe_overlap")
    evidence.check_exact(all(0 <= x <= 1 for r in rates_all.values() for x in r),
                         measured={k: dict(zip(map(str, RHOS), (round(x, 3) for x in v))) for k, v in rates_all.items()},
                         predicted="reported only", reason="probe: beyond the paper, no pass/fail threshold",
                         what="exact-path rates")
