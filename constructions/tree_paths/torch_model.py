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


def _perfect_draws(gen: torch.Generator, batch: int, m: int, S: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The random numbers of one batch, in stream order: label keys (batch, S) ~ U[0, 1), then goal leaves."""
    m = positive_int(m, "m", "the depth of the perfect binary trees")
    batch = positive_int(batch, "batch", "the batch size")
    n = 2 ** (m + 1) - 1
    if positive_int(S, "S", "the number of labels") < n:
        raise ProofCheckError(f"S (the number of labels) must be at least n = 2^(m+1) - 1 = {n} (got S={S})")
    keys = torch.rand(batch, S, generator=gen, dtype=torch.float64)
    return keys, torch.randint(2 ** m, (batch,), generator=gen)


def _perfect_batch(keys: torch.Tensor, leaf_index: torch.Tensor, m: int):
    """Trees from the draws of :func:`_perfect_draws`, with any leading axes ([s,] b): labels a uniform
    permutation prefix (argsort of the keys), goal leaf position 2^m - 1 + leaf_index."""
    n = 2 ** (m + 1) - 1
    labels = keys.argsort(dim=-1)[..., :n]
    leaf = leaf_index + 2 ** m - 1
    pos = [leaf]
    for _ in range(m):
        pos.append((pos[-1] - 1) // 2)
    path = labels.gather(-1, torch.stack(pos, dim=-1))  # ([s,] b, m+1): v_0..v_m
    child = labels[..., 1:]
    parent = labels[..., (torch.arange(1, n) - 1) // 2]
    return n, labels, leaf, path, child, parent


def _draws(gens, batch: int, m: int, S: int):
    """One generator: its draws; a list of generators: each one's draws (the same numbers), stacked."""
    if isinstance(gens, torch.Generator):
        return _perfect_draws(gens, batch, m, S)
    keys, leaves = zip(*(_perfect_draws(g, batch, m, S) for g in gens))
    return torch.stack(keys), torch.stack(leaves)


def sample_backward(gen, batch: int, m: int, S: int) -> TreeBatch:
    """Tokens: n - 1 edges (child; parent), goal (0; g), CoT c_1..c_{m-1} = (v_{k-1}; v_k); queries: goal and
    c_1..c_{m-1}; targets v_1..v_m. ``gen`` a list of generators: one batch per generator, stacked on a leading
    seed axis (equal to :func:`stack_batches` of the solo batches, drawn in one vectorised pass)."""
    n, labels, leaf, path, child, parent = _perfect_batch(*_draws(gen, batch, m, S), m)
    zero = torch.full((*leaf.shape, 1), S)
    keys_x = torch.cat([child, zero, path[..., :m - 1]], dim=-1)
    keys_y = torch.cat([parent, path[..., :1], path[..., 1:m]], dim=-1)
    query_pos = torch.arange(n - 1, n - 1 + m)
    return TreeBatch("backward", m, S, labels, leaf, keys_x, keys_y, None, query_pos, path[..., 1:], None)


def forward_targets(path: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Node and stage targets of the 2m+1 forward steps from the paths v_0..v_m ([s,] b, m+1)."""
    m = path.shape[-1] - 1
    nodes = torch.cat([path[..., 1:], path[..., -1:], path.flip(-1)[..., 1:]], dim=-1)
    stages = torch.cat([torch.zeros(m, dtype=torch.long), torch.ones(m + 1, dtype=torch.long)])
    return nodes, stages.expand(*path.shape[:-1], -1)


def sample_forward(gen, batch: int, m: int, S: int) -> TreeBatch:
    """Tokens: n - 1 edges (child; parent; 0), root (r; r; s_f), goal (g; 0; s_b), then after each of the first
    2m steps (target ; previous current node ; target stage); queries: goal and those 2m tokens. ``gen`` a list
    of generators: stacked on a leading seed axis, as :func:`sample_backward`."""
    n, labels, leaf, path, child, parent = _perfect_batch(*_draws(gen, batch, m, S), m)
    nodes, stages = forward_targets(path)
    lead = leaf.shape
    root, goal = path[..., -1:], path[..., :1]
    current = torch.cat([goal, nodes[..., :-1]], dim=-1)  # x-slot of the query at steps 1..2m+1
    keys_x = torch.cat([child, root, goal, nodes[..., :2 * m]], dim=-1)
    keys_y = torch.cat([parent, root, torch.full((*lead, 1), S), current[..., :2 * m]], dim=-1)
    keys_s = torch.cat([torch.full((*lead, n - 1), ZERO_STAGE), torch.ones(*lead, 1, dtype=torch.long),
                        torch.zeros(*lead, 1, dtype=torch.long), stages[..., :2 * m]], dim=-1)
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


def query_rows(K: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """out[[s,] b, k, u] = K[[s,] u, q[[s,] b, k]]: query k's logit over every key label u (column q of K; a
    gather, whose gradient is a scatter-add along one axis). K is (S+1, S+1) or (s, S+1, S+1) with a seed axis
    on q."""
    Kt = K.transpose(-1, -2)
    if K.dim() == 2:
        return Kt[q]
    idx = q.reshape(q.shape[0], -1, 1).expand(-1, -1, K.shape[-1])
    return Kt.gather(1, idx).reshape(*q.shape, K.shape[-1])


def at_keys(rows: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """logits[..., b, k, t] = rows[..., b, k, keys[..., b, t]]."""
    return torch.gather(rows, -1, keys[..., None, :].expand(*rows.shape[:-1], keys.shape[-1]))


def _read_out(p: torch.Tensor, keys: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """sum_t p[..., b, k, t] table[keys[..., b, t]]: the attention mass summed per label (a scatter-add over
    the S+1 labels), times the value table (labels x d): one matrix product instead of one per tree."""
    mass = p.new_zeros(*p.shape[:-1], table.shape[0]).scatter_add_(-1, keys[..., None, :].expand_as(p), p)
    return mass @ table


def backward_outputs(B: torch.Tensor, A_pad: torch.Tensor, batch: TreeBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """(y_hat (b, m, d), attention (b, m, T)) of the teacher-forced backward steps; with a seed axis on B
    ((s, d, d)) and on the batch (:func:`stack_batches`), shapes (s, b, m, d) and (s, b, m, T)."""
    K = A_pad.T @ B @ A_pad  # ([s,] S+1, S+1); row S and column S are 0
    qy = batch.keys_y[..., batch.query_pos]  # ([s,] b, Q)
    logits = at_keys(query_rows(K, qy), batch.keys_x)  # ([s,] b, Q, T): K[x_j, y_q]
    p = _attend(logits, batch.query_pos)
    return _read_out(p, batch.keys_y, A_pad.T), p


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
        K = A_pad.T @ U[l] @ A_pad  # ([s,] S+1, S+1)
        Vp = STAGE_PAD @ V[l] @ STAGE_PAD.T  # ([s,] 3, 3): row and column 2 (zero stage) are 0
        logits = (at_keys(query_rows(K, qx), batch.keys_x)  # K[x_j, x_q] + Vp[s_j, s_q]
                  + at_keys(query_rows(Vp, qs), batch.keys_s))
        probs.append(_attend(logits, batch.query_pos))
    y_hat = _read_out(probs[0], batch.keys_y, A_pad.T)
    s_hat = _read_out(probs[1], batch.keys_s, STAGE_PAD)
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
