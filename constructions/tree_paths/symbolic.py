r"""Exact (sympy) derivations for the constructions of Theorems 1 and 2 (reconstruction [R]).

- :func:`construction_identity`: for any orthonormal A (a symbolic Cayley rotation), A^T (c A A^T) A = c I.
- :func:`backward_logits` / :func:`forward_logits`: the logits of every key at every teacher-forced step of the
  constructions, as sympy expressions in a positive symbol c, on one-hot tokens of a concrete tree. From them,
  :func:`value_margins` gives, per step and head, (best key carrying the target value) - (best other key).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from constructions.tree_paths.embeddings import one_hot
from constructions.tree_paths.model import FORWARD_U_SCALE, FORWARD_V
from constructions.tree_paths.tokens import (
    STAGES, backward_schedule, backward_slots, backward_token, backward_tokens, forward_schedule, forward_slots,
    forward_token, forward_tokens,
)
from constructions.tree_paths.trees import Tree

c = sp.Symbol("c", positive=True)


@lru_cache(maxsize=None)
def cayley_orthogonal(d: int) -> sp.Matrix:
    """Q = (I - K)(I + K)^{-1} for a symbolic skew-symmetric K: orthogonal for every value of its entries."""
    ks = sp.symbols(f"k0:{d * (d - 1) // 2}", real=True)
    K = sp.zeros(d, d)
    it = iter(ks)
    for i in range(d):
        for j in range(i + 1, d):
            K[i, j] = next(it)
            K[j, i] = -K[i, j]
    return (sp.eye(d) - K) * (sp.eye(d) + K).inv()


def construction_identity(d: int = 3, S: int = 2) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
    """(A^T A, A^T B* A, c I_S) with A the first S columns of a symbolic Cayley rotation and B* = c A A^T."""
    A = cayley_orthogonal(d)[:, :S]
    B = c * A * A.T
    simp = lambda M: M.applyfunc(lambda e: sp.factor(sp.simplify(e)))
    return simp(A.T * A), simp(A.T * B * A), c * sp.eye(S)


def _int_matrix(M: np.ndarray) -> sp.Matrix:
    return sp.Matrix(M.shape[0], M.shape[1], [sp.Integer(int(round(v))) for v in M.ravel()])


def _kq_backward(d: int) -> sp.Matrix:
    sl = backward_slots(d)
    W = sp.zeros(2 * d, 2 * d)
    W[sl["x"].start:sl["x"].stop, sl["y"].start:sl["y"].stop] = c * sp.eye(d)  # x-rows, y-cols: B = c I
    return W


def _kq_forward(d: int, head: int) -> sp.Matrix:
    sl = forward_slots(d)
    W = sp.zeros(2 * d + 2, 2 * d + 2)
    W[sl["x"].start:sl["x"].stop, sl["x"].start:sl["x"].stop] = sp.nsimplify(FORWARD_U_SCALE[head]) * c * sp.eye(d)
    W[sl["s"].start:sl["s"].stop, sl["s"].start:sl["s"].stop] = c * sp.Matrix(FORWARD_V[head]).applyfunc(sp.nsimplify)
    return W


def backward_logits(tree: Tree, goal: int) -> list[dict]:
    """Teacher-forced backward steps with H = c I on one-hot tokens: per step the logits (sympy), the values
    (label or None) of the keys and the target."""
    A = one_hot(max(tree.labels) + 1)
    d = A.shape[0]
    Z = backward_tokens(tree, goal, A)
    values = [p for _, p in tree.edges()] + [goal]
    W = _kq_backward(d)
    steps, current = [], goal
    for t in backward_schedule(tree, goal):
        Zs = _int_matrix(Z)
        logits = list(Zs.T * (W * Zs[:, -1]))
        steps.append({"logits": logits, "values": list(values), "target": t, "N": Z.shape[1]})
        Z = np.concatenate([Z, backward_token(current, t, A)[:, None]], axis=1)
        values.append(t)
        current = t
    return steps


def forward_logits(tree: Tree, goal: int) -> list[dict]:
    """Teacher-forced forward steps of the Theorem 2 construction on one-hot tokens: per step and head the logits
    (sympy), the key values (node label / stage index / None) and the targets."""
    A = one_hot(max(tree.labels) + 1)
    d = A.shape[0]
    Z = forward_tokens(tree, goal, A)
    nodes = [p for _, p in tree.edges()] + [tree.root, None]
    stages = [None] * (tree.n - 1) + [1, 0]
    W = [_kq_forward(d, 0), _kq_forward(d, 1)]
    steps, current = [], goal
    for t, st in zip(*forward_schedule(tree, goal)):
        Zs = _int_matrix(Z)
        logits = [list(Zs.T * (Wl * Zs[:, -1])) for Wl in W]
        steps.append({"logits": logits, "values": [list(nodes), list(stages)], "targets": [t, st],
                      "N": Z.shape[1]})
        Z = np.concatenate([Z, forward_token(t, current, st, A)[:, None]], axis=1)
        nodes.append(current)
        stages.append(st)
        current = t
    assert np.array_equal(STAGES, np.eye(2))
    return steps


def value_margin_expr(logits: list, values: list, target) -> sp.Expr:
    """max logit over keys whose value is the target minus max logit over the other keys (sympy, c > 0)."""
    good = [l for l, v in zip(logits, values) if v == target]
    bad = [l for l, v in zip(logits, values) if v != target]
    return sp.simplify(sp.Max(*good) - sp.Max(*bad))


# --- the symmetric backward model on a concrete tree (an independent route to the reduced loss) ---------
alpha, beta = sp.symbols("alpha beta", real=True)


def symmetric_backward_loss(tree: Tree, goal: int, loss_factor=sp.Rational(1, 2)) -> sp.Expr:
    """(1/m) sum_k loss_factor ||y_hat_k - a_{v_{k+1}}||^2 with H = alpha I + beta (J - I), orthonormal A, built
    key by key from the tree's tokens: logit alpha if x_j = v_k, 0 if x_j = 0 (goal), beta otherwise;
    ||y_hat - a_t||^2 = (1 - W_t)^2 + sum_{u != t} W_u^2 with W_u the softmax mass on keys of value a_u."""
    path = tree.path_to_root(goal)
    keys = [(u, p) for u, p in tree.edges()] + [(None, goal)]
    total = sp.Integer(0)
    for k in range(len(path) - 1):
        weights: dict[int, sp.Expr] = {}
        for x, y in keys:
            w = sp.exp(alpha) if x == path[k] else (sp.Integer(1) if x is None else sp.exp(beta))
            weights[y] = weights.get(y, 0) + w
        Z = sp.Add(*weights.values())
        t = path[k + 1]
        total += loss_factor * ((1 - weights.get(t, 0) / Z) ** 2 + sp.Add(*[w ** 2 for u, w in weights.items()
                                                                            if u != t]) / Z ** 2)
        keys.append((path[k], path[k + 1]))  # CoT token c_{k+1} = (v_k ; v_{k+1})
    return total / (len(path) - 1)
