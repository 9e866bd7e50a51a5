r"""Token layouts of the backward and forward tasks (docs/provenance/tree_paths.md §2.2, reconstruction [R]).

Backward (R-B): a column is z = (x; y) in R^{2d}.
    edge token for u != r:  (a_u ; a_par(u))        (x = child, y = parent)
    goal token:              (0 ; a_g)               (last column of Z_0; the first query)
    CoT token after step k:  (a_{v_{k-1}} ; a_{v_k})  (previous current node ; new node)
The query is the last column; its y-slot holds the current node.

Forward (R-F): a column is z = (x; y; s) in R^{2d+2}, stages s_b = e_1, s_f = e_2.
    edge token: (a_u ; a_par(u) ; 0),  root token: (a_r ; a_r ; s_f),  goal token: (a_g ; 0 ; s_b) (last)
    after every step: (new node ; previous current node ; new stage)
The query is the last column; its x-slot holds the current node. Schedule for a goal at depth m (2m + 1 steps):
v_1, ..., v_m = r (stage b), r again with the stage flipped to f (the turning point, step m + 1), then
v_{m-1}, ..., v_0 = g (stage f).

Layout choices are [R] (the paper's are [NF]); the slot order lives in ``backward_slots`` / ``forward_slots``.
"""

from __future__ import annotations

import numpy as np

from constructions.tree_paths.trees import Tree

STAGE_B, STAGE_F = 0, 1  # indices of s_b, s_f in the 2-dim stage slot
STAGES = np.eye(2)  # rows: s_b, s_f


def backward_slots(d: int) -> dict[str, slice]:
    return {"x": slice(0, d), "y": slice(d, 2 * d)}


def forward_slots(d: int) -> dict[str, slice]:
    return {"x": slice(0, d), "y": slice(d, 2 * d), "s": slice(2 * d, 2 * d + 2)}


def _col(A: np.ndarray, label: int | None) -> np.ndarray:
    return np.zeros(A.shape[0]) if label is None else A[:, label]


def backward_token(x: int | None, y: int | None, A: np.ndarray) -> np.ndarray:
    """(a_x ; a_y), with None for a zero slot."""
    return np.concatenate([_col(A, x), _col(A, y)])


def forward_token(x: int | None, y: int | None, stage: int | None, A: np.ndarray) -> np.ndarray:
    """(a_x ; a_y ; s), stage one of STAGE_B, STAGE_F or None (zero)."""
    s = np.zeros(2) if stage is None else STAGES[stage]
    return np.concatenate([_col(A, x), _col(A, y), s])


def backward_tokens(tree: Tree, goal: int, embeddings: np.ndarray) -> np.ndarray:
    """Z_0 in R^{2d x n}: the n - 1 edge tokens (in ``tree.edges()`` order), then the goal token (0 ; a_g)."""
    tree.path_to_root(goal)  # validates the goal
    cols = [backward_token(u, p, embeddings) for u, p in tree.edges()]
    cols.append(backward_token(None, goal, embeddings))
    return np.stack(cols, axis=1)


def forward_tokens(tree: Tree, goal: int, embeddings: np.ndarray) -> np.ndarray:
    """Z_0 in R^{(2d+2) x (n+1)}: the n - 1 edge tokens, the root token (a_r ; a_r ; s_f), the goal token
    (a_g ; 0 ; s_b) last."""
    tree.path_to_root(goal)
    cols = [forward_token(u, p, None, embeddings) for u, p in tree.edges()]
    cols.append(forward_token(tree.root, tree.root, STAGE_F, embeddings))
    cols.append(forward_token(goal, None, STAGE_B, embeddings))
    return np.stack(cols, axis=1)


def backward_schedule(tree: Tree, goal: int) -> list[int]:
    """Targets of the m backward steps: v_1, ..., v_m = root."""
    return tree.path_to_root(goal)[1:]


def forward_schedule(tree: Tree, goal: int) -> tuple[list[int], list[int]]:
    """Targets of the 2m + 1 forward steps: nodes v_1..v_m, v_m, v_{m-1}..v_0 and stages b x m, f x (m+1)."""
    path = tree.path_to_root(goal)
    m = len(path) - 1
    nodes = path[1:] + [path[-1]] + path[-2::-1]
    stages = [STAGE_B] * m + [STAGE_F] * (m + 1)
    return nodes, stages
