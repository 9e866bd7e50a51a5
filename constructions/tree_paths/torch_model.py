r"""Batched, teacher-forced losses of the backward and forward models in torch (float64), for training.

A batch of perfect binary trees of depth m (labels without replacement from [S], goal a uniform leaf) is stored as
label indices: every token is (x, y[, s]) with index S meaning the zero vector, and stage index 0 = s_b, 1 = s_f,
2 = zero. All trees in a batch have the same shape, so the whole teacher-forced sequence is one tensor and each
step is a query row with a causal mask (key j is visible to the query at position q iff j <= q): the same
contexts as the step-by-step rollout of :func:`constructions.tree_paths.model.decode_path` with
``feedback="teacher"``.

Logits with embeddings A (d x S) and the zero column appended (A_pad):
    backward   logit_j = a_{x_j}^T B a_{y_q}                               (K = A_pad^T B A_pad, gathered)
    forward    logit_{l,j} = a_{x_j}^T U_l a_{x_q} + s_j^T V_l s_q
Loss [R] (the normalisation is a choice of the reconstruction):
    backward   L = (1/m) sum_{k=0}^{m-1} (1/2) ||y_hat_k - a_{v_{k+1}}||^2
    forward    L = (1/(2m+1)) sum_{k=1}^{2m+1} (1/2) (||y_hat_k - a_{t_k}||^2 + ||s_hat_k - s_{t_k}||^2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from constructions.errors import ProofCheckError, positive_int
from constructions.tree_paths.trees import Tree, perfect_binary_tree

LOSS_FACTOR = 0.5  # the 1/2 in the per-step squared error; re-pin with the paper's normalisation
ZERO_STAGE = 2


@dataclass(frozen=True)
class TreeBatch:
    """Teacher-forced token sequences of a batch of perfect trees (see the module docstring)."""

    task: str
    m: int
    S: int
    labels: torch.Tensor  # (b, n) labels in heap order
    goal_pos: torch.Tensor  # (b,) heap position of the goal
    keys_x: torch.Tensor  # (b, T)
    keys_y: torch.Tensor  # (b, T)
    keys_s: torch.Tensor | None  # (b, T) forward only
    query_pos: torch.Tensor  # (Q,) positions of the query tokens
    targets: torch.Tensor  # (b, Q) target labels
    stage_targets: torch.Tensor | None  # (b, Q) forward only

    def tree(self, i: int) -> tuple[Tree, int]:
        """Element i as (Tree, goal) for the numpy reference."""
        lab = self.labels[i].tolist()
        return perfect_binary_tree(self.m, lab), int(lab[int(self.goal_pos[i])])


def _perfect_batch(gen: torch.Generator, batch: int, m: int, S: int):
    m = positive_int(m, "m", "the depth of the perfect binary trees")
    batch = positive_int(batch, "batch", "the batch size")
    n = 2 ** (m + 1) - 1
    if positive_int(S, "S", "the number of labels") < n:
        raise ProofCheckError(f"S (the number of labels) must be at least n = 2^(m+1) - 1 = {n} (got S={S})")
    labels = torch.rand(batch, S, generator=gen, dtype=torch.float64).argsort(dim=1)[:, :n]
    leaf = torch.randint(2 ** m, (batch,), generator=gen) + 2 ** m - 1
    pos = [leaf]
    for _ in range(m):
        pos.append((pos[-1] - 1) // 2)
    path = torch.stack([labels.gather(1, p[:, None])[:, 0] for p in pos], dim=1)  # (b, m+1): v_0..v_m
    child = labels[:, 1:]
    parent = labels[:, (torch.arange(1, n) - 1) // 2]
    return n, labels, leaf, path, child, parent


def sample_backward(gen: torch.Generator, batch: int, m: int, S: int) -> TreeBatch:
    """Tokens: n - 1 edges (child; parent), goal (0; g), CoT c_1..c_{m-1} = (v_{k-1}; v_k); queries: goal and
    c_1..c_{m-1}; targets v_1..v_m."""
    n, labels, leaf, path, child, parent = _perfect_batch(gen, batch, m, S)
    zero = torch.full((batch, 1), S)
    keys_x = torch.cat([child, zero, path[:, :m - 1]], dim=1)
    keys_y = torch.cat([parent, path[:, :1], path[:, 1:m]], dim=1)
    query_pos = torch.arange(n - 1, n - 1 + m)
    return TreeBatch("backward", m, S, labels, leaf, keys_x, keys_y, None, query_pos, path[:, 1:], None)


def forward_targets(path: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Node and stage targets of the 2m+1 forward steps from the paths v_0..v_m (b, m+1)."""
    m = path.shape[1] - 1
    nodes = torch.cat([path[:, 1:], path[:, -1:], path.flip(1)[:, 1:]], dim=1)
    stages = torch.cat([torch.zeros(m, dtype=torch.long), torch.ones(m + 1, dtype=torch.long)])
    return nodes, stages.expand(path.shape[0], -1)


def sample_forward(gen: torch.Generator, batch: int, m: int, S: int) -> TreeBatch:
    """Tokens: n - 1 edges (child; parent; 0), root (r; r; s_f), goal (g; 0; s_b), then after each of the first
    2m steps (target ; previous current node ; target stage); queries: goal and those 2m tokens."""
    n, labels, leaf, path, child, parent = _perfect_batch(gen, batch, m, S)
    nodes, stages = forward_targets(path)
    root, goal = path[:, -1:], path[:, :1]
    current = torch.cat([goal, nodes[:, :-1]], dim=1)  # x-slot of the query at steps 1..2m+1
    keys_x = torch.cat([child, root, goal, nodes[:, :2 * m]], dim=1)
    keys_y = torch.cat([parent, root, torch.full((batch, 1), S), current[:, :2 * m]], dim=1)
    keys_s = torch.cat([torch.full((batch, n - 1), ZERO_STAGE), torch.ones(batch, 1, dtype=torch.long),
                        torch.zeros(batch, 1, dtype=torch.long), stages[:, :2 * m]], dim=1)
    query_pos = torch.arange(n, n + 2 * m + 1)
    return TreeBatch("forward", m, S, labels, leaf, keys_x, keys_y, keys_s, query_pos, nodes, stages)


def relabel(batch: TreeBatch, perm) -> TreeBatch:
    """The same batch with every label u replaced by perm[u] (index S, the zero slot, stays S)."""
    table = torch.cat([torch.as_tensor(np.asarray(perm), dtype=torch.long), torch.tensor([batch.S])])
    return TreeBatch(batch.task, batch.m, batch.S, table[batch.labels], batch.goal_pos, table[batch.keys_x],
                     table[batch.keys_y], batch.keys_s, batch.query_pos, table[batch.targets], batch.stage_targets)


def pad_embeddings(A) -> torch.Tensor:
    """A_pad = [A, 0] (d x (S+1)), float64: index S is the zero slot."""
    A = torch.as_tensor(np.asarray(A), dtype=torch.float64)
    return torch.cat([A, A.new_zeros(A.shape[0], 1)], dim=1)


def _attend(logits: torch.Tensor, query_pos: torch.Tensor) -> torch.Tensor:
    T = logits.shape[-1]
    mask = torch.arange(T)[None, :] > query_pos[:, None]  # (Q, T)
    return torch.softmax(logits.masked_fill(mask, float("-inf")), dim=-1)


def stack_batches(batches) -> TreeBatch:
    """Several batches of the same task and shape stacked on a new leading (seed) axis: the data of seeded
    training (one batch per seed, each from its own generator)."""
    b0 = batches[0]
    st = lambda name: None if getattr(b0, name) is None else torch.stack([getattr(b, name) for b in batches])
    return TreeBatch(b0.task, b0.m, b0.S, st("labels"), st("goal_pos"), st("keys_x"), st("keys_y"), st("keys_s"),
                     b0.query_pos, st("targets"), st("stage_targets"))


def _seed_index(P: torch.Tensor) -> tuple:
    """Advanced-indexing prefix for a parameter with a leading seed axis ((s, ., .): index the seed), else ()."""
    return (torch.arange(P.shape[0]).view(-1, 1, 1, 1),) if P.dim() == 3 else ()


def backward_outputs(B: torch.Tensor, A_pad: torch.Tensor, batch: TreeBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """(y_hat (b, m, d), attention (b, m, T)) of the teacher-forced backward steps; with a seed axis on B
    ((s, d, d)) and on the batch (:func:`stack_batches`), shapes (s, b, m, d) and (s, b, m, T)."""
    K = A_pad.T @ B @ A_pad  # ([s,] S+1, S+1); row S and column S are 0
    qy = batch.keys_y[..., batch.query_pos]  # ([s,] b, Q)
    logits = K[_seed_index(B) + (batch.keys_x[..., None, :], qy[..., None])]  # ([s,] b, Q, T)
    p = _attend(logits, batch.query_pos)
    values = A_pad.T[batch.keys_y]  # (b, T, d)
    return p @ values, p


def backward_loss(B: torch.Tensor, A_pad: torch.Tensor, batch: TreeBatch, reduction: str = "mean") -> torch.Tensor:
    """(1/m) sum_k (1/2) ||y_hat_k - a_{v_{k+1}}||^2 per tree, averaged over the batch unless reduction='none'
    (per seed with a seed axis: shape (s,))."""
    y_hat, _ = backward_outputs(B, A_pad, batch)
    err = LOSS_FACTOR * ((y_hat - A_pad.T[batch.targets]) ** 2).sum(-1).mean(-1)
    return err.mean(-1) if reduction == "mean" else err


STAGE_PAD = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)  # rows: s_b, s_f, zero


def forward_outputs(U: tuple[torch.Tensor, torch.Tensor], V: tuple[torch.Tensor, torch.Tensor],
                    A_pad: torch.Tensor, batch: TreeBatch):
    """(y_hat (b, Q, d), s_hat (b, Q, 2), [attention of head 1, head 2] (b, Q, T)) of the teacher-forced steps;
    with a seed axis on U_l, V_l ((s, ., .)) and on the batch (:func:`stack_batches`), a leading s on each."""
    qx = batch.keys_x[..., batch.query_pos]
    qs = batch.keys_s[..., batch.query_pos]
    probs = []
    for l in range(2):
        K = A_pad.T @ U[l] @ A_pad
        Vp = STAGE_PAD @ V[l]  # ([s,] 3, 2): row 2 (zero stage) is 0
        idx = _seed_index(U[l])
        logits = (K[idx + (batch.keys_x[..., None, :], qx[..., None])]
                  + Vp[idx + (batch.keys_s[..., None, :], qs[..., None])])
        probs.append(_attend(logits, batch.query_pos))
    y_hat = probs[0] @ A_pad.T[batch.keys_y]
    s_hat = probs[1] @ STAGE_PAD[batch.keys_s]
    return y_hat, s_hat, probs


def forward_loss(U, V, A_pad: torch.Tensor, batch: TreeBatch, reduction: str = "mean", parts: bool = False):
    """(1/(2m+1)) sum_k (1/2)(||y_hat_k - a_{t_k}||^2 + ||s_hat_k - s_{t_k}||^2); ``parts`` also returns the node
    and stage losses separately."""
    y_hat, s_hat, _ = forward_outputs(U, V, A_pad, batch)
    node = LOSS_FACTOR * ((y_hat - A_pad.T[batch.targets]) ** 2).sum(-1).mean(-1)
    stage = LOSS_FACTOR * ((s_hat - STAGE_PAD[batch.stage_targets]) ** 2).sum(-1).mean(-1)
    total = node + stage
    if reduction == "mean":  # per seed with a seed axis
        total, node, stage = total.mean(-1), node.mean(-1), stage.mean(-1)
    return (total, node, stage) if parts else total
