"""gd_cot.theorem3_2: the sparse construction V31 = -eta I, W13 = I, W24 = -1 runs k GD steps through CoT."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from constructions.gd_cot import blocks, embed, estimates, gd_construction
from constructions.gd_cot import symbolic as sy
from constructions.gd_cot.roundoff import rollout_vs_gd_bound
from constructions.gd_cot.torch_model import LSA
from verify.gd_cot.helpers import one_task, rollout_gap

pytestmark = pytest.mark.claim("gd_cot.theorem3_2")

ROUNDOFF = ("a-priori float64 bound: Higham componentwise product bounds gamma_p |A||B| per LSA and GD step, "
            "propagated by ||I - eta S||_inf per step (constructions/gd_cot/roundoff.py)")

# Bounded strategies: sizes that fit 2 cores; eta up to 1 includes divergent GD (eta lambda_max > 2),
# where the bound still holds because it is relative to the growing iterates.
sizes = dict(d=st.integers(1, 12), n=st.integers(1, 40), k=st.integers(1, 25),
             eta=st.floats(0.01, 1.0), seed=st.integers(0, 2**32 - 1))


def _is_zero(m: sp.Matrix) -> bool:
    return m.applyfunc(sp.expand) == sp.zeros(*m.shape)


def test_symbolic_forward_map_general_blocks(evidence):
    d, n, n_prev = 2, 3, 2
    evidence.describe("sympy: with symbolic A = V31, B = W13, data and two earlier CoT columns, the last output "
                      "column is exactly (0, 0, w + A S (B w - w*), 1)", d=d, n=n, earlier_cot_columns=n_prev)
    r = sy.cot_step_general_blocks(d, n, n_prev)
    diff = (r["column"] - r["predicted"]).applyfunc(sp.simplify)
    evidence.check_exact(_is_zero(diff), measured=f"difference = {list(diff)}", predicted="zero vector",
                         what="f_LSA(Z_i)[:, -1] - (0, 0, w + A S (B w - w*), 1)")


def test_symbolic_gd_step_from_construction(evidence):
    d, n = 2, 3
    evidence.describe("sympy: substituting A = -eta I, B = I gives w_{i+1} = w_i - eta S (w_i - w*) exactly",
                      d=d, n=n)
    r = sy.cot_step_general_blocks(d, n, 1)
    eta = sp.Symbol("eta", positive=True)
    sub = {**dict(zip(r["A"], -eta * sp.eye(d))), **dict(zip(r["B"], sp.eye(d)))}
    w_new = r["column"][d + 1:2 * d + 1, 0].subs(sub)
    gd = r["w_hat"] - eta * r["S"] * (r["w_hat"] - r["w_star"])
    diff = (w_new - gd).applyfunc(sp.simplify)
    evidence.check_exact(_is_zero(diff), measured=f"difference = {list(diff)}", predicted="zero vector",
                         what="construction step - GD step")


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_symbolic_closed_form_error(evidence, k):
    evidence.describe(f"sympy: iterating the GD map k = {k} times from w_0 = 0 gives w_k - w* = -(I - eta S)^k w* "
                      "(symbolic symmetric S, eta, w*)", d=2, k=k)
    r = sy.gd_error_recursion(2, k)
    diff = (r["error"] - r["closed_form"]).applyfunc(sp.expand)
    step = (r["step_error"] - r["step_predicted"]).applyfunc(sp.expand)
    evidence.check_exact(_is_zero(diff) and _is_zero(step), measured=f"differences {list(diff)}, {list(step)}",
                         predicted="zero vectors", what="w_k - w* + (I - eta S)^k w*")


@given(**sizes)
@example(d=10, n=20, k=20, eta=0.1, seed=0)  # the paper's sizes
@example(d=10, n=20, k=20, eta=20 / 31, seed=1)  # eta = the no-CoT step n/(n+d+1)
def test_rollout_equals_gd_iterates(evidence, d, n, k, eta, seed):
    evidence.describe("numpy float64: full f_LSA rolled out on the growing Z (no shortcut, no mask) equals the GD "
                      "iterates at every step; worst step over all Hypothesis cases",
                      d="1..12", n="1..40", k="1..25", eta="0.01..1", explicit_examples="(d,n,k)=(10,20,20)")
    X, w_star, y = one_task(seed, n, d)
    V, W = gd_construction(d, eta)
    gap, bound, i, _ = rollout_gap(X, w_star, y, V, W, eta, k)
    evidence.check_le(gap, bound, reason=ROUNDOFF, predicted=0.0,
                      what=f"||w_hat_{i} - w_{i}^GD||_inf (d={d}, n={n}, k={k}, eta={eta:.4g}, seed={seed})")


@given(**sizes)
@example(d=10, n=20, k=20, eta=0.1, seed=0)
def test_rollout_structure_is_exact(evidence, d, n, k, eta, seed):
    evidence.describe("numpy float64: every appended CoT column has x- and y-rows exactly 0 and last row exactly 1",
                      d="1..12", n="1..40", k="1..25")
    X, w_star, y = one_task(seed, n, d)
    V, W = gd_construction(d, eta)
    _, _, _, Zk = rollout_gap(X, w_star, y, V, W, eta, k)
    cot = Zk[:, n + 1:]
    xy_max = float(np.abs(cot[:d + 1]).max())
    ones = bool(np.all(cot[2 * d + 1] == 1.0))
    evidence.check_exact(xy_max == 0.0 and ones, measured={"max |x,y rows|": xy_max, "last row all 1": ones},
                         predicted={"max |x,y rows|": 0.0, "last row all 1": True},
                         reason="exact: zero rows of V give exact zeros in floating point")


@given(d=st.integers(1, 10), n=st.integers(2, 30), k=st.integers(1, 20), eta=st.floats(0.01, 0.5),
       seed=st.integers(0, 2**32 - 1))
@example(d=10, n=20, k=20, eta=0.1, seed=0)
def test_torch_rollout_matches_numpy(evidence, d, n, k, eta, seed):
    evidence.describe("torch float64: the construction loaded into the torch LSA gives the numpy rollout",
                      d="1..10", n="2..30", k="1..20")
    X, w_star, y = one_task(seed, n, d)
    V, W = gd_construction(d, eta)
    _, _, _, Zk = rollout_gap(X, w_star, y, V, W, eta, k)
    model = LSA.from_numpy(V, W)
    with torch.no_grad():
        Zt = model.rollout(torch.from_numpy(embed(X, y))[None], k, n)[0].numpy()
    gap = np.abs(estimates(Zt, n) - estimates(Zk, n)).max(axis=-1)
    bound = rollout_vs_gd_bound(X, w_star, eta, k, n_rollouts=2)
    i = 1 + int(np.argmax(gap[1:] / bound[1:]))
    evidence.check_le(gap[i], bound[i], predicted=0.0, reason="twice the LSA part of the round-off bound "
                      "(each rollout is within it of the exact iterates, whatever the BLAS order)",
                      what=f"torch - numpy at step {i}")


@pytest.mark.parametrize("wrong", ["W24=-0.9", "V31=-eta*I+1e-6*noise", "feed back w-block only"])
def test_negative_control_wrong_construction_fails(evidence, wrong):
    d, n, k, eta = 10, 20, 20, 0.1
    evidence.describe(f"negative control ({wrong}): the rollout-vs-GD check must reject it", role="negative_control",
                      d=d, n=n, k=k, eta=eta, wrong=wrong)
    X, w_star, y = one_task(0, n, d)
    V, W = gd_construction(d, eta)
    feedback = "column"
    b = blocks(d)
    if wrong == "W24=-0.9":
        W[d, 2 * d + 1] = -0.9
    elif wrong.startswith("V31"):
        V[b["w"], b["x"]] += 1e-6 * np.random.default_rng(1).standard_normal((d, d))
    else:
        feedback = "w_only"
    gap, bound, i, _ = rollout_gap(X, w_star, y, V, W, eta, k, feedback=feedback)
    evidence.check_ge(gap, bound, reason="must exceed the round-off bound of the correct construction",
                      what=f"||w_hat_{i} - w_{i}^GD||_inf")


def test_k_step_error_within_contraction_bound(evidence, profile):
    d, n = 10, 20
    k_max, tasks = (40, 8) if profile == "quick" else (60, 64)
    etas = (0.1, 0.3)
    evidence.describe("||w_hat_k - w*||_2 <= ||I - eta S||_2^k ||w*||_2 for every k >= 1 "
                      "(docs/provenance/gd_cot.md §5 [D]); "
                      "worst ratio over tasks, k and eta", d=d, n=n, k_max=k_max, tasks=tasks, etas=etas)
    fig, axes = plt.subplots(1, len(etas), figsize=(10, 3.6), sharey=True)
    for ax, eta in zip(axes, etas):
        V, W = gd_construction(d, eta)
        for seed in range(tasks):
            X, w_star, y = one_task(1000 + seed, n, d)
            _, _, _, Zk = rollout_gap(X, w_star, y, V, W, eta, k_max)
            err = np.linalg.norm(estimates(Zk, n) - w_star, axis=-1)
            rho = np.linalg.norm(np.eye(d) - eta * X @ X.T / n, 2)
            bound = rho ** np.arange(k_max + 1) * np.linalg.norm(w_star)
            slack = np.sqrt(d) * rollout_vs_gd_bound(X, w_star, eta, k_max)
            i = 1 + int(np.argmax(err[1:] / (bound[1:] + slack[1:])))
            evidence.check_le(err[i], bound[i] + slack[i], reason="operator-norm contraction bound plus the "
                              "round-off bound (2-norm <= sqrt(d) inf-norm)", what=f"error at k={i}")
            if seed < 4:
                line, = ax.semilogy(err, lw=1.5)
                ax.semilogy(bound, "--", color=line.get_color(), lw=1)
        ax.plot([], [], "k-", lw=1.5, label=r"$\|\hat w_k - w^*\|_2$ (rollout)")
        ax.plot([], [], "k--", lw=1, label=r"$\|I - \eta S\|_2^k\,\|w^*\|_2$ (bound)")
        ax.set_title(rf"$\eta$ = {eta}, n = {n}, d = {d}; one colour per task (4 of {tasks})", fontsize=9)
        ax.set_xlabel("CoT step $k$")
    axes[0].set_ylabel(r"error $\|\hat w_k - w^*\|_2$")
    axes[0].legend(fontsize=8)
    evidence.save_figure(fig, "gd_cot_theorem3_2_k_step_error")
