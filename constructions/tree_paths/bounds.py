r"""Error bounds, exact per-step errors and decoding thresholds (sympy once, lambdified for numerics).

Theorem 1 [R] (docs/provenance/tree_paths.md §4.2). With H = A^T B A = c I and orthonormal A, at backward step k
the one key whose
x-slot is the current node (the edge (v_k ; v_{k+1})) has logit c and the other N_k - 1 keys logit 0. Let n_u be
the number of logit-0 keys whose value (y-slot) is a_u, t = v_{k+1} the target, Z = e^c + N - 1. Then

    W_t = (e^c + n_t) / Z,   W_u = n_u / Z (u != t),   ||y_hat - a_t||^2 = (1 - W_t)^2 + sum_{u != t} W_u^2 ,
    ||y_hat - a_t|| <= 2 (N - 1) / (e^c + N - 1) < 2 (N - 1) e^{-c},

argmax decoding is correct iff e^c + n_t > max_{u != t} n_u, i.e. c > ln(max_u n_u - n_t), and
n_u <= D + 1, n_t >= 0 for at most D children per node give the tree-free sufficient threshold c > ln(D + 1).

General bound (any weights, unit-norm values): if the best key carrying the target value beats every key carrying
another value by ``margin``, then ||out - target|| <= 2 (N - 1) e^{-margin}; argmax over orthonormal candidates is
correct once the error is < 1/sqrt(2), so margin > ln(2 sqrt(2) (N - 1)) suffices (the threshold "the margins
give", used for Theorem 2).
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

import numpy as np
import sympy as sp

from constructions.tree_paths.roundoff import step_error_roundoff
from constructions.tree_paths.trees import Tree

c, N, eps, margin = sp.symbols("c N epsilon margin", positive=True)
n_t, Q, n_max = sp.symbols("n_t Q n_max", nonnegative=True)


# --- symbolic expressions (the one source of each formula) ----------------------------------------------
@lru_cache(maxsize=None)
def exact_error_sq_expr() -> sp.Expr:
    """(1 - W_t)^2 + Q / Z^2 with Z = e^c + N - 1, W_t = (e^c + n_t)/Z and Q = sum_{u != t} n_u^2."""
    Z = sp.exp(c) + N - 1
    return (1 - (sp.exp(c) + n_t) / Z) ** 2 + Q / Z ** 2


@lru_cache(maxsize=None)
def construction_bound_expr() -> sp.Expr:
    """2 (N - 1) / (e^c + N - 1): Theorem 1 per-step bound for H = c I."""
    return 2 * (N - 1) / (sp.exp(c) + N - 1)


@lru_cache(maxsize=None)
def margin_bound_expr() -> sp.Expr:
    """2 (N - 1) e^{-margin}: per-step bound for any logits with the given value margin."""
    return 2 * (N - 1) * sp.exp(-margin)


@lru_cache(maxsize=None)
def c_for_error_expr() -> sp.Expr:
    """The c at which the Theorem 1 bound equals eps: solve 2 (N - 1)/(e^c + N - 1) = eps for c."""
    (sol,) = sp.solve(sp.Eq(construction_bound_expr(), eps), c)
    return sp.simplify(sol)


@lru_cache(maxsize=None)
def argmax_threshold_expr() -> sp.Expr:
    """The c at which the target's weight ties the strongest competitor: e^c + n_t = n_max."""
    (sol,) = sp.solve(sp.Eq(sp.exp(c) + n_t, n_max), c)
    return sol


@lru_cache(maxsize=None)
def margin_threshold_expr() -> sp.Expr:
    """The margin at which 2 (N - 1) e^{-margin} = 1/sqrt(2) (argmax safe below that error)."""
    (sol,) = sp.solve(sp.Eq(margin_bound_expr(), 1 / sp.sqrt(2)), margin)
    return sp.simplify(sol)


@lru_cache(maxsize=None)
def _fn(name: str):
    expr, args = {
        "exact_error_sq": (exact_error_sq_expr(), (c, N, n_t, Q)),
        "construction_bound": (construction_bound_expr(), (c, N)),
        "margin_bound": (margin_bound_expr(), (margin, N)),
        "c_for_error": (c_for_error_expr(), (eps, N)),
        "margin_threshold": (margin_threshold_expr(), (N,)),
    }[name]
    return sp.lambdify(args, expr, "numpy")


def construction_bound(c_value, N_value):
    return _fn("construction_bound")(c_value, N_value)


def margin_bound(margin_value, N_value):
    return _fn("margin_bound")(margin_value, N_value)


def margin_bound_fp(margin_value, N_value, d: int) -> float:
    """:func:`margin_bound` plus the float64 round-off of a computed error of a d-dimensional output given the
    computed logits (:func:`constructions.tree_paths.roundoff.step_error_roundoff` with exact logits): the bound
    for the *computed* error, which matters only where the bound itself is below ~1e-13."""
    return float(margin_bound(margin_value, N_value)) + step_error_roundoff(int(N_value), d, d, 0.0, True)


def c_for_error(eps_value, N_value):
    return _fn("c_for_error")(eps_value, N_value)


def margin_threshold(N_value):
    """ln(2 sqrt(2) (N - 1)): a value margin above this makes argmax decoding correct at N keys."""
    return _fn("margin_threshold")(N_value)


# --- value multiplicities of the backward construction --------------------------------------------------
def backward_step_counts(tree: Tree, goal: int, k: int) -> tuple[int, int, Counter]:
    """(N_k, target t, n_u for every value u) at backward step k (0-based) with the true CoT
        (docs/provenance/tree_paths.md §2.2, R-B).

    Keys: the n - 1 edges (value = parent), the goal token (value g), CoT tokens c_1..c_k (value v_j). The edge
    (v_k ; v_{k+1}) is the one logit-c key and is not counted in n_u.
    """
    path = tree.path_to_root(goal)
    if not 0 <= k < len(path) - 1:
        raise ValueError(f"step k must be in [0, {len(path) - 2}] (got k={k})")
    values = [p for u, p in tree.edges() if u != path[k]] + [goal] + path[1:k + 1]
    return tree.n + k, path[k + 1], Counter(values)


def backward_exact_errors(tree: Tree, goal: int, c_value: float) -> np.ndarray:
    """||y_hat_k - a_{v_{k+1}}|| of the Theorem 1 construction at every step, from the multiplicities."""
    f = _fn("exact_error_sq")
    out = []
    for k in range(tree.depth(goal)):
        Nk, t, counts = backward_step_counts(tree, goal, k)
        q = sum(v * v for u, v in counts.items() if u != t)
        out.append(np.sqrt(f(c_value, Nk, counts.get(t, 0), q)))
    return np.array(out)


def backward_argmax_need(tree: Tree, goal: int) -> int:
    """max over steps of (max_{u != t} n_u - n_t): decoding is correct iff e^c > this (exact, [R] derived)."""
    need = -np.inf
    for k in range(tree.depth(goal)):
        _, t, counts = backward_step_counts(tree, goal, k)
        others = [v for u, v in counts.items() if u != t]
        need = max(need, (max(others) if others else 0) - counts.get(t, 0))
    return int(need)


def backward_argmax_threshold(tree: Tree, goal: int) -> float:
    """The exact threshold c* = ln(need) (-inf when need <= 0): argmax decoding is exact iff c > c*."""
    need = backward_argmax_need(tree, goal)
    return float(np.log(need)) if need > 0 else -np.inf


def general_threshold(D: int) -> float:
    """ln(D + 1): sufficient for every tree with at most D children per node (docs/provenance/tree_paths.md §4.2)."""
    return float(sp.N(argmax_threshold_expr().subs({n_max: D + 1, n_t: 0}), 17))


# --- value margins of arbitrary logits ----------------------------------------------------------------
def value_margin(logits: np.ndarray, is_target: np.ndarray) -> float:
    """max logit over keys carrying the target value minus max logit over the other keys."""
    good, bad = logits[is_target], logits[~is_target]
    if good.size == 0:
        return -np.inf
    return float(good.max() - bad.max()) if bad.size else np.inf


def backward_symmetric_exact(tree: Tree, goal: int, a: float, b: float) -> bool:
    """Whether argmax decoding with H = a I + b (J - I) (orthonormal A) is exact on (tree, goal), derived from the
    multiplicities: at each step the target's weight e^a + n_t e^b must beat every other value's weight n_u e^b,
    where the goal token (x = 0, logit 0) weighs 1 instead of e^b. Reduces to e^c > need for b = 0."""
    ea, eb = np.exp(a), np.exp(b)
    for k in range(tree.depth(goal)):
        _, t, counts = backward_step_counts(tree, goal, k)
        weight = {u: n * eb + (1 - eb if u == goal else 0.0) for u, n in counts.items()}
        w_t = ea + weight.pop(t, 0.0)
        if weight and not w_t > max(weight.values()):
            return False
    return True


def backward_symmetric_steps(tree: Tree, goal: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-step (errors, value margins) of H = a I + b (J - I) with orthonormal embeddings and the true CoT,
    derived from the value multiplicities (no model run): at step k the target t = v_{k+1} weighs
    w_t = e^a + n_t e^b (the current node's edge has logit a, the other t-valued keys logit b), every other value
    u weighs w_u = n_u e^b, except that the goal token (x = 0) has logit 0 and weighs 1. With Z = sum_u w_u,

        ||y_hat_k - a_t||^2 = (1 - w_t/Z)^2 + sum_{u != t} (w_u/Z)^2 ,
        margin_k = max(a, b if n_t > 0) - max(b if another value sits on an x != 0 key, 0).

    For b = 0 this is :func:`backward_exact_errors` at c = a. Used to *predict* a trained model's errors and
    margins from the reduced (alpha, beta) dynamics, independently of the trained model's logits."""
    ea, eb = np.exp(a), np.exp(b)
    errors, margins = [], []
    for k in range(tree.depth(goal)):
        _, t, counts = backward_step_counts(tree, goal, k)
        weight = {u: n * eb + (1 - eb if u == goal else 0.0) for u, n in counts.items()}
        n_t = counts.get(t, 0)
        w_t = ea + weight.pop(t, 0.0)
        Z = w_t + sum(weight.values())
        errors.append(np.sqrt((1 - w_t / Z) ** 2 + sum((w / Z) ** 2 for w in weight.values())))
        n_other_b = sum(n for u, n in counts.items() if u != t) - 1  # keys with x != 0 and another value
        best = max(a, b) if n_t > 0 else a
        margins.append(best - (max(b, 0.0) if n_other_b > 0 else 0.0))
    return np.array(errors), np.array(margins)
