"""tree_paths.theorem1: the one-head backward construction B* = c A A^T walks goal -> root (reconstruction [R])."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from constructions.tree_paths import Tree, backward_construction, decode_path, equicorrelated, perfect_binary_tree
from constructions.tree_paths import bounds as bd
from constructions.tree_paths import symbolic as sy
from constructions.tree_paths.roundoff import closed_form_roundoff, step_error_roundoff
from verify.tree_paths.helpers import TREE_CASES, tree_case

pytestmark = pytest.mark.claim("tree_paths.theorem1")

DELTA = 1e-6  # distance from the exact threshold: moves target-vs-competitor weights by >= DELTA/Z ~ 1e-8 >> 1e-15

trees = TREE_CASES  # c is drawn per check


def test_symbolic_construction_identity(evidence):
    evidence.describe("sympy: with A the first 2 columns of a symbolic 3x3 Cayley rotation (orthonormal for all "
                      "parameter values) and B* = c A A^T, A^T A = I and A^T B* A = c I exactly", d=3, S=2)
    AtA, H, cI = sy.construction_identity(3, 2)
    ok = AtA == sp.eye(2) and (H - cI).applyfunc(sp.simplify) == sp.zeros(2, 2)
    evidence.check_exact(ok, measured={"A^T A": str(AtA), "A^T B* A": str(H)}, predicted={"A^T B* A": str(cI)},
                         what="A^T B* A - c I")


@pytest.mark.parametrize("tree_name", ["perfect depth 3", "random 12 nodes, <= 3 children"])
def test_symbolic_logits_margin_c(evidence, tree_name):
    if tree_name.startswith("perfect"):
        tree = perfect_binary_tree(3, range(15))
        goal = 7
    else:
        tree = Tree((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), (-1, 0, 0, 0, 1, 1, 1, 4, 4, 7, 2, 10))
        goal = 9
    evidence.describe(f"sympy on one-hot tokens ({tree_name}): at every teacher-forced step exactly one key, the edge "
                      "(v_k; v_{k+1}), has logit c and all others 0, so the value margin is exactly c",
                      tree=tree_name, steps=tree.depth(goal))
    bad = []
    for k, s in enumerate(sy.backward_logits(tree, goal)):
        top = [j for j, l in enumerate(s["logits"]) if l == sy.c]
        zeros = sum(l == 0 for l in s["logits"])
        margin = sy.value_margin_expr(s["logits"], s["values"], s["target"])
        if len(top) != 1 or zeros != len(s["logits"]) - 1 or s["values"][top[0]] != s["target"] or margin != sy.c:
            bad.append((k, str(margin)))
    evidence.check_exact(not bad, measured={"steps violating": bad}, predicted="one logit c (correct edge), rest 0",
                         what="symbolic logits")


def test_symbolic_bound_formulas(evidence):
    evidence.describe("sympy: c(eps) solving 2(N-1)/(e^c+N-1) = eps is ln((N-1)(2/eps - 1)); the bound is "
                      "< 2(N-1)e^-c for c > 0; the tie e^c + n_t = n_max gives c = ln(n_max - n_t), i.e. "
                      "ln(D+1) in the worst case n_max = D+1, n_t = 0; argmax is safe below error 1/sqrt(2) "
                      "from margin ln(2 sqrt(2)(N-1))")
    c, N, eps = bd.c, bd.N, bd.eps
    c_eps = sp.log((N - 1) * (2 / eps - 1))
    solves = sp.simplify(bd.c_for_error_expr() - c_eps) == 0
    gap = sp.simplify(2 * (N - 1) * sp.exp(-c) - bd.construction_bound_expr())
    gap_positive = sp.simplify(gap - 2 * (N - 1) ** 2 * sp.exp(-c) / (sp.exp(c) + N - 1)) == 0  # > 0 for N > 1
    tie = sp.simplify(bd.argmax_threshold_expr() - sp.log(bd.n_max - bd.n_t)) == 0
    worst = sp.simplify(bd.argmax_threshold_expr().subs({bd.n_max: sp.Symbol("D") + 1, bd.n_t: 0}))
    safe = sp.simplify(bd.margin_threshold_expr() - sp.log(2 * sp.sqrt(2) * (N - 1))) == 0
    evidence.check_exact(solves and gap_positive and tie and safe and worst == sp.log(sp.Symbol("D") + 1),
                         measured={"c(eps)": str(bd.c_for_error_expr()), "2(N-1)e^-c - bound": str(sp.factor(gap)),
                                   "tie": str(bd.argmax_threshold_expr()), "worst case": str(worst),
                                   "safe margin": str(bd.margin_threshold_expr())},
                         predicted={"c(eps)": str(c_eps), "worst case": "log(D + 1)"}, what="bound formulas")


@given(**trees, c=st.floats(0.05, 8.0))
@example(kind="perfect", size=4, max_children=2, extra_labels=0, emb="one_hot", extra_dim=0, seed=0, c=1.0)
@example(kind="random", size=31, max_children=3, extra_labels=0, emb="orthonormal", extra_dim=3, seed=1, c=2.0)
def test_exact_error_matches_multiplicities(evidence, kind, size, max_children, extra_labels, emb, extra_dim, seed, c):
    evidence.describe("teacher-forced model error ||y_hat_k - a_{v_{k+1}}|| equals the closed form "
                      "sqrt((1 - W_t)^2 + sum W_u^2) from the value multiplicities, at every step, and the attention "
                      "on the correct edge is e^c/(e^c + N - 1)", trees="perfect depth 1-4 / random 2-31 nodes",
                      embeddings="one-hot / random orthonormal", c="0.05..8", explicit_examples="S=31, m=4")
    tree, goal, A = tree_case(kind, size, max_children, extra_labels, emb, extra_dim, seed)
    dec = decode_path(backward_construction(c, A), tree, goal, A, feedback="teacher")
    exact = bd.backward_exact_errors(tree, goal, c)
    S, d = A.shape[1], A.shape[0]
    gaps, tols = [], []
    for k, (err, N) in enumerate(zip(dec.errors, dec.context)):
        p_edge = np.max(dec.attention[0][k])
        p_pred = np.exp(c) / (np.exp(c) + N - 1)
        tol = step_error_roundoff(N, d, S, c, emb == "one_hot") + closed_form_roundoff()
        gaps.append(max(abs(err - exact[k]), abs(p_edge - p_pred)))
        tols.append(tol)
    i = int(np.argmax(np.array(gaps) / np.array(tols)))
    evidence.check_le(gaps[i], tols[i], predicted=0.0,
                      reason="a-priori float64 round-off bound (constructions/tree_paths/roundoff.py)",
                      what=f"|model - closed form| at step {i} ({kind}, n={tree.n}, {emb}, c={c:.3g})")


@given(**trees, c=st.floats(0.05, 8.0))
@example(kind="perfect", size=4, max_children=2, extra_labels=0, emb="one_hot", extra_dim=0, seed=0, c=1.0)
def test_error_within_bound_every_step(evidence, kind, size, max_children, extra_labels, emb, extra_dim, seed, c):
    evidence.describe("per-step error <= 2(N_k-1)/(e^c + N_k - 1) at every step, for every drawn c in 0.05..8: "
                      "argmax feedback above the tree's decoding threshold, teacher forcing (the true contexts the "
                      "bound concerns) at or below it; worst ratio over all Hypothesis cases", c="0.05..8")
    tree, goal, A = tree_case(kind, size, max_children, extra_labels, emb, extra_dim, seed)
    # small c is no longer reset: below the threshold argmax feedback leaves the true contexts, so teacher forcing
    feedback = "argmax" if c > bd.backward_argmax_threshold(tree, goal) + DELTA else "teacher"
    dec = decode_path(backward_construction(c, A), tree, goal, A, feedback=feedback)
    ratio = [e / bd.construction_bound(c, N) for e, N in zip(dec.errors, dec.context)]
    k = int(np.argmax(ratio))
    evidence.check_le(dec.errors[k], bd.construction_bound(c, dec.context[k]),
                      reason="Theorem 1 bound 2(N-1)/(e^c+N-1) (derived: ||y_j - a_t|| <= 2 for the N-1 wrong keys)",
                      what=f"error at step {k} (n={tree.n}, c={c:.3g})")


@given(**trees)
@example(kind="perfect", size=4, max_children=2, extra_labels=0, emb="one_hot", extra_dim=0, seed=0)
@example(kind="perfect", size=2, max_children=2, extra_labels=5, emb="orthonormal", extra_dim=2, seed=3)
def test_argmax_exact_iff_above_threshold(evidence, kind, size, max_children, extra_labels, emb, extra_dim, seed):
    evidence.describe("argmax decoding is exact at c = c* + 1e-6 and wrong at c* - 1e-6, where c* = ln(max_u n_u - "
                      "n_t) is the tree's exact threshold; and c* <= ln(D+1) for D = the tree's max children "
                      "(= ln 2 on perfect binary trees of depth >= 2)", delta=DELTA)
    tree, goal, A = tree_case(kind, size, max_children, extra_labels, emb, extra_dim, seed)
    cstar = bd.backward_argmax_threshold(tree, goal)
    D = tree.max_children
    above = decode_path(backward_construction(max(cstar, 0.0) + DELTA, A), tree, goal, A).correct
    below = None if not np.isfinite(cstar) else decode_path(backward_construction(cstar - DELTA, A), tree, goal, A).correct
    perfect_ok = kind != "perfect" or size < 2 or abs(cstar - np.log(2)) < 1e-15
    ok = above and below in (None, False) and cstar <= bd.general_threshold(D) + 1e-15 and perfect_ok
    evidence.check_exact(ok, measured={"c*": cstar, "ln(D+1)": bd.general_threshold(D), "exact above": above,
                                       "exact below": below},
                         predicted={"exact above": True, "exact below": False, "c* <= ln(D+1)": True},
                         reason="exact: decisions separated by >= 1e-8 in weight, round-off ~1e-15",
                         what=f"threshold equivalence ({kind}, n={tree.n}, D={D})")


def _worst_tree(D: int) -> tuple[Tree, int]:
    """Path g -> v_1 -> r where v_1 has D children and r only v_1: at step 1, n_{v_1} = D + 1, n_r = 0."""
    labels = (0, 1) + tuple(range(2, D + 2))
    parent = (-1, 0) + (1,) * D
    return Tree(labels, parent), 2


@pytest.mark.parametrize("D", [1, 2, 3, 4])
def test_negative_control_just_below_ln_D_plus_1(evidence, D):
    c = np.log(D + 1) - DELTA
    evidence.describe(f"negative control: c = ln(D+1) - 1e-6 on the worst tree with D = {D} children (v_1 has D "
                      "children, the root one) must decode a wrong path", role="negative_control", D=D, c=c)
    tree, goal = _worst_tree(D)
    A = np.eye(tree.n)
    wrong = not decode_path(backward_construction(c, A), tree, goal, A).correct
    right = decode_path(backward_construction(c + 2 * DELTA, A), tree, goal, A).correct
    evidence.check_exact(wrong and right, measured={"wrong below": wrong, "exact just above": right},
                         predicted={"wrong below": True, "exact just above": True},
                         reason="exact: the check must reject c below the worst-case threshold",
                         what="decoding just below ln(D+1)")


@pytest.mark.parametrize("rho", [0.3, 0.8])
def test_negative_control_non_orthogonal_breaks_bound(evidence, rho):
    c, m = 6.0, 4  # the bound is loose at small c (above 1 for c < 3): test where it is informative
    evidence.describe(f"negative control: equicorrelated embeddings (a_i^T a_j = {rho}) violate orthogonality; the "
                      "construction's worst per-step error must exceed 2(N-1)/(e^c+N-1)", role="negative_control",
                      rho=rho, c=c, m=m)
    tree = perfect_binary_tree(m, range(31))
    A = equicorrelated(31, rho)
    dec = decode_path(backward_construction(c, A), tree, 16, A, feedback="teacher")
    ratio = max(e / bd.construction_bound(c, N) for e, N in zip(dec.errors, dec.context))
    evidence.check_ge(ratio, 1.0, reason="the bound must be broken when its orthogonality assumption fails",
                      what="max error / bound")


def test_error_and_attention_versus_c(evidence):
    m, cs = 4, np.linspace(0.2, 10, 50)
    evidence.describe("S = 31, m = 4 (the paper's size), one-hot: worst per-step error vs c against the bounds, and "
                      "the attention on the correct edge -> 1 as c grows (figure)", m=m, S=31, c="0.2..10")
    tree = perfect_binary_tree(m, range(31))
    A = np.eye(31)
    worst, bound, bound_exp, attn = [], [], [], []
    for c in cs:
        dec = decode_path(backward_construction(c, A), tree, 16, A, feedback="teacher")
        worst.append(max(dec.errors))
        bound.append(max(bd.construction_bound(c, N) for N in dec.context))
        bound_exp.append(2 * (max(dec.context) - 1) * np.exp(-c))
        attn.append(min(p.max() for p in dec.attention[0]))
        evidence.check_le(worst[-1], bound[-1], reason="Theorem 1 bound at the largest N_k",
                          what=f"worst error at c={c:.3g}")
    assert np.all(np.diff(attn) > 0) and attn[-1] > 0.99, "attention on the correct edge must increase to 1"
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    a1.semilogy(cs, worst, label=r"model: $\max_k \|\hat y_k - a_{t_k}\|_2$")
    a1.semilogy(cs, bound, "--", label=r"Theorem 1 bound $2(N-1)/(e^c+N-1)$")
    a1.semilogy(cs, bound_exp, ":", label=r"its tail form $2(N-1)e^{-c}$")
    a1.axvline(np.log(2), color="gray", lw=0.8, label=r"$c = \ln 2$ (argmax threshold)")
    a1.set_ylim(top=20)
    a1.set_xlabel(r"construction scale $c$ ($B^* = c\,AA^\top$)"), a1.set_ylabel("worst per-step error (Euclidean)")
    a1.set_title(r"per-step error, $S = 31$, $m = 4$", fontsize=10), a1.legend(fontsize=7)
    a2.plot(cs, attn, label=r"$\min_k$ attention on the correct edge")
    a2.set_xlabel(r"construction scale $c$"), a2.set_ylabel("attention weight"), a2.set_ylim(-0.02, 1.02)
    a2.set_title(r"attention $\to 1$ as $c$ grows", fontsize=10), a2.legend(fontsize=7, loc="lower right")
    fig.suptitle(r"Theorem 1: one-head backward construction, one-hot embeddings", fontsize=10)
    evidence.save_figure(fig, "tree_paths_theorem1_error_vs_c")
