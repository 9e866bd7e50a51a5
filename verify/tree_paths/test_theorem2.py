"""tree_paths.theorem2: the two-head forward construction (path head + stage head, flip at the root) [R]."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from constructions.tree_paths import (
    STAGE_B, STAGE_F, ForwardModel, Tree, decode_path, forward_construction, perfect_binary_tree,
)
from constructions.tree_paths import bounds as bd
from constructions.tree_paths import symbolic as sy
from constructions.tree_paths.roundoff import logit_roundoff
from verify.tree_paths.helpers import TREE_CASES, tree_case

pytestmark = pytest.mark.claim("tree_paths.theorem2")

trees = TREE_CASES  # c is drawn per check


def expected_margins(m: int) -> list[tuple[int, int]]:
    """The margin table of docs/provenance/tree_paths.md §5.2 in units of c, per step (head 1, head 2): backward steps
        and the turning point
    (c, c); forward steps (c, 2c)."""
    return [(1, 1)] * (m + 1) + [(1, 2)] * m


def _n_max(tree: Tree, goal: int) -> int:
    """Largest context of the forward schedule: n + 1 tokens, plus one per step before the last of 2m + 1."""
    return tree.n + 2 * tree.depth(goal) + 1


SYMBOLIC_TREES = {
    "perfect depth 2": (perfect_binary_tree(2, range(7)), 5),
    "perfect depth 3": (perfect_binary_tree(3, range(15)), 9),
    "random 12 nodes, <= 3 children": (Tree((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
                                            (-1, 0, 0, 0, 1, 1, 1, 4, 4, 7, 2, 10)), 9),
}


@pytest.mark.parametrize("name", list(SYMBOLIC_TREES))
def test_symbolic_margin_table(evidence, name):
    tree, goal = SYMBOLIC_TREES[name]
    m = tree.depth(goal)
    evidence.describe(f"sympy on one-hot tokens ({name}, m = {m}): the value margin of each head at each of the "
                      "2m+1 teacher-forced steps equals the page's margin table: (c, c) on the m backward steps and the "
                      "turning step m+1, (c, 2c) on the m forward steps; so every margin is >= c", tree=name, m=m)
    got = []
    for s in sy.forward_logits(tree, goal):
        got.append(tuple(sy.value_margin_expr(s["logits"][l], s["values"][l], s["targets"][l]) / sy.c for l in (0, 1)))
    want = [tuple(sp.Integer(v) for v in row) for row in expected_margins(m)]
    evidence.check_exact(got == want, measured={"margins / c": [list(map(str, r)) for r in got]},
                         predicted={"margins / c": [list(map(str, r)) for r in want]}, what="margin table")


@given(**trees, c=st.floats(0.5, 8.0))
@example(kind="perfect", size=4, max_children=2, extra_labels=0, emb="one_hot", extra_dim=0, seed=0, c=2.0)
@example(kind="perfect", size=3, max_children=2, extra_labels=10, emb="one_hot", extra_dim=0, seed=0, c=2.0)
def test_numeric_margins_match_table(evidence, kind, size, max_children, extra_labels, emb, extra_dim, seed, c):
    evidence.describe("float64, teacher forcing, on random perfect and 1-4-children trees with one-hot or orthonormal "
                      "embeddings: every measured value margin equals c x the table entry (the margins do not depend "
                      "on the tree); worst deviation over all cases", c="0.5..8", explicit_examples="S=31 m=4; S=25 m=3")
    tree, goal, A = tree_case(kind, size, max_children, extra_labels, emb, extra_dim, seed)
    dec = decode_path(forward_construction(c, A), tree, goal, A, feedback="teacher")
    table = np.array(expected_margins(tree.depth(goal)), dtype=float) * c
    got = np.array(dec.margins).T
    tol = 2 * logit_roundoff(A.shape[0], A.shape[1], 2 * c, emb == "one_hot") + 4 * np.finfo(float).eps * 2 * c
    evidence.check_le(float(np.abs(got - table).max()), tol, predicted=0.0,
                      reason="float64: two logits, each within the a-priori logit round-off bound (roundoff.py), "
                             "plus rounding of their difference",
                      what=f"max |margin - table| ({kind}, n={tree.n}, {emb}, c={c:.3g})")


@given(**trees, extra_c=st.floats(0.0, 3.0))
@example(kind="perfect", size=4, max_children=2, extra_labels=0, emb="one_hot", extra_dim=0, seed=0, extra_c=0.0)
@example(kind="random", size=25, max_children=3, extra_labels=0, emb="one_hot", extra_dim=0, seed=7, extra_c=0.0)
def test_schedule_and_exact_path_above_margin_threshold(evidence, kind, size, max_children, extra_labels, emb,
                                                         extra_dim, seed, extra_c):
    evidence.describe("argmax feedback at c = ln(2 sqrt(2)(N_max - 1)) + [0, 3] (the threshold the margins give): "
                      "outputs v_1..v_m (stage b), then r again with the stage flipped to f at step m+1, then "
                      "v_{m-1}..v_0 (stage f); the decoded root-to-goal path is exact")
    tree, goal, A = tree_case(kind, size, max_children, extra_labels, emb, extra_dim, seed)
    c = float(bd.margin_threshold(_n_max(tree, goal))) + extra_c + 1e-9
    dec = decode_path(forward_construction(c, A), tree, goal, A)
    m = tree.depth(goal)
    turning = dec.nodes[m] == tree.root and dec.stages[m - 1] == STAGE_B and dec.stages[m] == STAGE_F
    path_ok = dec.path == tree.path_to_root(goal)[::-1]
    evidence.check_exact(dec.correct and turning and path_ok and len(dec.nodes) == 2 * m + 1,
                         measured={"outputs": dec.nodes, "stages": dec.stages},
                         predicted={"outputs": dec.targets, "stages": dec.stage_targets},
                         reason="exact: argmax is correct whenever the error is below 1/sqrt(2)",
                         what=f"schedule ({kind}, n={tree.n}, m={m}, c={c:.3g})")


@given(**trees, c=st.floats(0.5, 8.0))
@example(kind="perfect", size=4, max_children=2, extra_labels=0, emb="one_hot", extra_dim=0, seed=0, c=2.0)
def test_error_within_margin_bound(evidence, kind, size, max_children, extra_labels, emb, extra_dim, seed, c):
    evidence.describe("teacher forcing: for both heads at every step, ||out - target|| <= 2(N-1) e^{-c} (the margin "
                      "bound with margin >= c); worst ratio over all cases", c="0.5..8")
    tree, goal, A = tree_case(kind, size, max_children, extra_labels, emb, extra_dim, seed)
    dec = decode_path(forward_construction(c, A), tree, goal, A, feedback="teacher")
    errs = np.array([dec.errors, dec.stage_errors])
    bound = bd.margin_bound(c, np.array(dec.context))[None, :]
    h, k = np.unravel_index(np.argmax(errs / bound), errs.shape)
    evidence.check_le(errs[h, k], bound[0, k], reason="derived margin bound 2(N-1)e^{-margin}, margin >= c",
                      what=f"head {h + 1} error at step {k + 1} (n={tree.n}, c={c:.3g})")


def test_heads_carry_path_and_stage(evidence):
    c, m = 3.0, 3
    tree, goal = perfect_binary_tree(m, range(15)), 9
    A = np.eye(15)
    evidence.describe("attention maps at c = 3, depth-3 tree (figure): head 1 puts >= 1 - (N-1)e^{-c} of its mass on "
                      "keys carrying the next node, head 2 on keys carrying the next stage; head 2 does not track the "
                      "path (its mass on next-node keys is reported)", c=c, m=m)
    dec = decode_path(forward_construction(c, A), tree, goal, A)
    keys = _key_values(tree, goal, dec)
    mass = {}
    for l in (0, 1):
        for role, idx in (("node", 0), ("stage", 1)):
            mass[(l, role)] = [float(p[np.array(keys[k][idx]) == t].sum()) for k, (p, t) in
                               enumerate(zip(dec.attention[l], dec.targets if idx == 0 else dec.stage_targets))]
    bound = [1 - (N - 1) * np.exp(-c) for N in dec.context]
    low1 = min(a - b for a, b in zip(mass[(0, "node")], bound))
    low2 = min(a - b for a, b in zip(mass[(1, "stage")], bound))
    k = 0 if low1 <= low2 else 1
    role = "node" if k == 0 else "stage"
    i = int(np.argmin(np.array(mass[(k, role)]) - bound))
    _attention_figure(evidence, dec, tree, c)
    evidence.check_ge(mass[(k, role)][i], bound[i], predicted={"head 2 mass on next-node keys (min, max)": (
        min(mass[(1, "node")]), max(mass[(1, "node")]))},
                      reason="wrong-valued keys carry <= (N-1)e^{-margin} of the mass, margin >= c",
                      what=f"head {k + 1} mass on {role} keys at step {i + 1}")


def _key_values(tree, goal, dec):
    """Per step: (node values, stage values) of the keys, following the token layout (teacher = decoded here)."""
    nodes = [p for _, p in tree.edges()] + [tree.root, None]
    stages = [None] * (tree.n - 1) + [STAGE_F, STAGE_B]
    out, current = [], goal
    for t, s in zip(dec.nodes, dec.stages):
        out.append((list(nodes), list(stages)))
        nodes.append(current), stages.append(s)
        current = t
    return out


def _attention_figure(evidence, dec, tree, c):
    T = max(dec.context)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), sharey=True, layout="constrained")
    for l, ax in enumerate(axes):
        M = np.full((len(dec.nodes), T), np.nan)
        for k, p in enumerate(dec.attention[l]):
            M[k, :len(p)] = p
        im = ax.imshow(M, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        ax.axvline(tree.n - 1.5, color="w", lw=0.8), ax.axvline(tree.n + 0.5, color="w", lw=0.8)
        ax.set_title(f"head {l + 1} ({'path: reads the node value $y$' if l == 0 else 'stage: reads $s$'}), "
                     f"$c = {c:g}$", fontsize=10)
        ax.set_xlabel(f"key position: edges 0..{tree.n - 2} | root, goal | CoT tokens\n"
                      "(white: key not yet in the context)")
    axes[0].set_ylabel(r"CoT step $k$ ($1, \ldots, 2m+1$)")
    axes[0].set_yticks(range(len(dec.nodes)), [f"{k + 1}{'*' if k == (len(dec.nodes) - 1) // 2 else ''}"
                                               for k in range(len(dec.nodes))])
    fig.colorbar(im, ax=axes, fraction=0.025, label="attention weight")
    fig.suptitle(r"Theorem 2 construction: attention per step (* = turning point $m+1$)", fontsize=10)
    evidence.save_figure(fig, "tree_paths_theorem2_attention")


@pytest.mark.parametrize("wrong", ["V2 without the (f,b) bonus", "V1 without the (b,f) bonus"])
def test_negative_control_broken_heads(evidence, wrong):
    c, m = 6.0, 3
    evidence.describe(f"negative control ({wrong}): the same construction with one stage bonus removed must fail "
                      "the schedule check", role="negative_control", c=c, m=m, wrong=wrong)
    tree, goal = perfect_binary_tree(m, range(15)), 9
    A = np.eye(15)
    model = forward_construction(c, A)
    V1, V2 = (v.copy() for v in model.V)
    if wrong.startswith("V2"):
        V2[1, 0] = 0.0
    else:
        V1[0, 1] = 0.0
    dec = decode_path(ForwardModel(model.U, (V1, V2)), tree, goal, A)
    evidence.check_exact(not dec.correct, measured={"outputs": dec.nodes, "stages": dec.stages},
                         predicted={"must differ from": dec.targets},
                         reason="exact: the check must reject a construction without the stage mechanism",
                         what="schedule of the broken construction")
