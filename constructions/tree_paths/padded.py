r"""Padded batches of arbitrary trees for the backward task, the one-shot (no-CoT) model, and batched decoding.

docs/provenance/tree_paths.md §2.2 (R-B layout), §3.2. The perfect-tree batches of ``torch_model`` need every tree
in a batch to have the same shape. Random (non-perfect) trees differ in size and path length, so a
:class:`PaddedBatch` pads them: positions ``0 .. E-1`` hold edge tokens (child; parent) (E = n_max - 1, invalid
beyond a tree's n - 1 edges), position ``E`` the goal token (0; a_g), positions ``E + k`` (k = 1 .. Lmax - 1) the
CoT tokens c_k = (v_{k-1}; v_k). Query k sits at position E + k (current node v_k in its y-slot) and is valid iff
k < L (the path length); a key j is visible to query k iff j <= E + k and the key is valid. With one-hot
embeddings (the paper's experiments), the CoT model's logit of key j is B[x_j, v_k] and its output
y_hat = sum_j p_j e_{y_j}.

One-shot (no-CoT) model [R], for the CoT-versus-depth comparison: the same one layer and fixed value read-out
(the y-slot), no CoT tokens; the whole path is read out of ONE forward pass over the edge tokens and the goal
token, by m output queries that all carry the goal (0; a_g), query k with its own key-query matrices on both key
slots: logit_{k,j} = a_{x_j}^T Bx_k a_g + a_{y_j}^T By_k a_g (2 m S^2 trained entries: at least as many as the CoT
model's S^2). Query k is trained to output v_{k+1}.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from constructions.errors import ProofCheckError, positive_int
from constructions.tree_paths.torch_model import LOSS_FACTOR, TreeBatch, at_keys, query_rows
from constructions.tree_paths.trees import Tree


@dataclass(frozen=True)
class PaddedBatch:
    """Teacher-forced backward tokens of trees of different shapes (see the module docstring). Label index S is
    the zero slot. ``paths`` holds v_0 .. v_{L} padded with S; ``lengths`` the path lengths L >= 1."""

    S: int
    E: int
    keys_x: torch.Tensor  # ([s,] b, T)
    keys_y: torch.Tensor  # ([s,] b, T)
    key_valid: torch.Tensor  # ([s,] b, T) bool
    paths: torch.Tensor  # ([s,] b, Lmax + 1)
    lengths: torch.Tensor  # ([s,] b)

    @property
    def Lmax(self) -> int:
        return self.paths.shape[-1] - 1

    @property
    def goals(self) -> torch.Tensor:
        return self.paths[..., 0]

    @property
    def targets(self) -> torch.Tensor:
        return self.paths[..., 1:]

    @property
    def query_valid(self) -> torch.Tensor:
        return torch.arange(self.Lmax) < self.lengths[..., None]


def _assemble(S: int, labels: torch.Tensor, par_pos: torch.Tensor, n: torch.Tensor, goal_pos: torch.Tensor,
              n_max: int) -> PaddedBatch:
    """Tokens from heap-free tree arrays: node position i has label labels[:, i] and parent position
    par_pos[:, i] (-1 for the root, position 0); positions >= n are padding."""
    b = labels.shape[0]
    rows = torch.arange(b)
    # paths: walk up from the goal
    pos = [goal_pos]
    while True:
        nxt = torch.where(pos[-1] >= 0, par_pos[rows, pos[-1].clamp(min=0)], torch.full_like(goal_pos, -1))
        if bool((nxt < 0).all()):
            break
        pos.append(nxt)
    P = torch.stack(pos, dim=1)  # (b, Lmax + 1), -1 beyond the root
    lengths = (P >= 0).sum(1) - 1
    lab_pad = torch.cat([labels, torch.full((b, 1), S)], dim=1)
    paths = lab_pad[rows[:, None], torch.where(P >= 0, P, labels.shape[1])]
    Lmax = P.shape[1] - 1
    E = n_max - 1
    child = labels[:, 1:n_max]
    parent = lab_pad[rows[:, None], par_pos[:, 1:n_max].clamp(min=0)]
    edge_valid = torch.arange(1, n_max)[None, :] < n[:, None]
    child = torch.where(edge_valid, child, S)
    parent = torch.where(edge_valid, parent, S)
    zero = torch.full((b, 1), S)
    keys_x = torch.cat([child, zero, paths[:, :Lmax - 1]], dim=1)
    keys_y = torch.cat([parent, paths[:, :1], paths[:, 1:Lmax]], dim=1)
    cot_valid = torch.arange(1, Lmax)[None, :] < lengths[:, None]
    key_valid = torch.cat([edge_valid, torch.ones(b, 1, dtype=torch.bool), cot_valid], dim=1)
    return PaddedBatch(S, E, keys_x, keys_y, key_valid, paths, lengths)


def sample_random_backward(gen: torch.Generator, batch: int, S: int, *, max_children: int = 3,
                           n_range: tuple[int, int] | None = None) -> PaddedBatch:
    """Random training trees drawn like the test trees (trees.random_test_tree / random_leaf, the [R] rule):
    n uniform in n_range (default [2, S]), labels a random subset of [S], node i >= 1 attached to a uniform
    earlier node with fewer than ``max_children`` children, goal a uniform leaf (depth >= 1)."""
    batch = positive_int(batch, "batch", "the batch size")
    S = positive_int(S, "S", "the number of labels")
    lo, hi = n_range or (2, S)
    if not 2 <= lo <= hi <= S:
        raise ProofCheckError(f"n_range must satisfy 2 <= lo <= hi <= S={S} (got {n_range})")
    n = torch.randint(lo, hi + 1, (batch,), generator=gen)
    labels = torch.rand(batch, S, generator=gen, dtype=torch.float64).argsort(dim=1)[:, :hi]
    par_pos = torch.full((batch, hi), -1, dtype=torch.long)
    counts = torch.zeros(batch, hi, dtype=torch.long)
    rows = torch.arange(batch)
    u = torch.rand(batch, hi, generator=gen, dtype=torch.float64)
    for i in range(1, hi):  # the r-th open node among 0..i-1, r uniform
        open_ = counts[:, :i] < max_children
        r = (u[:, i] * open_.sum(1)).long()
        j = (open_.cumsum(1) <= r[:, None]).sum(1)
        live = i < n
        par_pos[:, i] = torch.where(live, j, -1)
        counts[rows, j] += live.long()
    alive = torch.arange(hi)[None, :] < n[:, None]
    leaf = alive & (counts == 0) & (torch.arange(hi)[None, :] >= 1)
    r = (u[:, 0] * leaf.sum(1)).long()
    goal_pos = (leaf.cumsum(1) <= r[:, None]).sum(1)
    return _assemble(S, labels, par_pos, n, goal_pos, hi)


def pad_trees(items, S: int) -> PaddedBatch:
    """A :class:`PaddedBatch` of given (Tree, goal) pairs (labels in [0, S))."""
    items = list(items)
    n_max = max(t.n for t, _ in items)
    b = len(items)
    labels = torch.full((b, n_max), S, dtype=torch.long)
    par_pos = torch.full((b, n_max), -1, dtype=torch.long)
    n = torch.zeros(b, dtype=torch.long)
    goal_pos = torch.zeros(b, dtype=torch.long)
    for i, (tree, goal) in enumerate(items):
        if max(tree.labels) >= S:
            raise ProofCheckError(f"tree labels must lie in [0, S={S}) (got {max(tree.labels)})")
        # root first, so that position 0 is the root (as in the sampler)
        order = [tree.root] + [u for u in tree.labels if u != tree.root]
        where = {u: k for k, u in enumerate(order)}
        labels[i, :tree.n] = torch.tensor(order)
        par_pos[i, :tree.n] = torch.tensor([-1] + [where[tree.par[u]] for u in order[1:]])
        n[i], goal_pos[i] = tree.n, where[goal]
    return _assemble(S, labels, par_pos, n, goal_pos, n_max)


def from_perfect(batch: TreeBatch) -> list[tuple[Tree, int]]:
    """The (Tree, goal) pairs of a perfect-tree TreeBatch."""
    return [batch.tree(i) for i in range(batch.labels.shape[0])]


def stack_padded(batches) -> PaddedBatch:
    """Padded batches (same b) stacked on a leading seed axis, re-padded to common E and Lmax."""
    S = batches[0].S
    E = max(p.E for p in batches)
    L = max(p.Lmax for p in batches)

    def widen(p: PaddedBatch):
        b = p.keys_x.shape[0]
        fill = lambda w, v, dt=torch.long: torch.full((b, w), v, dtype=dt)
        parts = lambda t, v, dt=torch.long: torch.cat([t[:, :p.E], fill(E - p.E, v, dt), t[:, p.E:],
                                                       fill(L - p.Lmax, v, dt)], dim=1)
        return (parts(p.keys_x, S), parts(p.keys_y, S), parts(p.key_valid, False, torch.bool),
                torch.cat([p.paths, fill(L - p.Lmax, S)], dim=1), p.lengths)

    cols = list(zip(*(widen(p) for p in batches)))
    return PaddedBatch(S, E, *(torch.stack(c) for c in cols))


def _pad(M: torch.Tensor) -> torch.Tensor:
    """M with a zero last row and column: index S (the zero slot) reads 0."""
    return torch.nn.functional.pad(M, (0, 1, 0, 1))


def _spread(p: torch.Tensor, values: torch.Tensor, S: int) -> torch.Tensor:
    """y_hat[..., b, k, :] = sum_t p[..., b, k, t] e_{values[..., b, t]} (one-hot values; the zero slot drops)."""
    idx = values[..., None, :].expand_as(p)
    out = p.new_zeros(*p.shape[:-1], S + 1).scatter_add(-1, idx, p)
    return out[..., :S]


def _onehot_sq_error(y_hat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||y_hat - e_target||^2 over the last axis without forming e_target: ||y_hat||^2 - 2 y_hat[target] + 1
    (e_S, the zero slot, is the zero vector: then ||y_hat||^2)."""
    S = y_hat.shape[-1]
    real = target < S
    picked = torch.nn.functional.pad(y_hat, (0, 1)).gather(-1, target[..., None])[..., 0]
    return (y_hat ** 2).sum(-1) - 2 * picked + real.to(y_hat.dtype)


def padded_backward_loss(B: torch.Tensor, batch: PaddedBatch, reduction: str = "mean") -> torch.Tensor:
    """Teacher-forced CoT loss (1/L) sum_{k<L} (1/2)||y_hat_k - e_{v_{k+1}}||^2 per tree (one-hot embeddings),
    averaged over the batch; B is (S, S) or (s, S, S) with a seed axis on the batch."""
    S, E, L = batch.S, batch.E, batch.Lmax
    qpos = E + torch.arange(L)
    cur = batch.keys_y[..., qpos]  # ([s,] b, L): v_k
    logits = at_keys(query_rows(_pad(B), cur), batch.keys_x)  # logit_{k,j} = B[x_j, v_k] (gathers)
    T = batch.keys_x.shape[-1]
    visible = (torch.arange(T)[None, :] <= qpos[:, None]) & batch.key_valid[..., None, :]
    p = torch.softmax(logits.masked_fill(~visible, float("-inf")), dim=-1)
    y_hat = _spread(p, batch.keys_y, S)
    qv = batch.query_valid.double()
    err = LOSS_FACTOR * (_onehot_sq_error(y_hat, batch.targets) * qv).sum(-1) / batch.lengths
    return err.mean(-1) if reduction == "mean" else err


def oneshot_outputs(Bx: torch.Tensor, By: torch.Tensor, batch: PaddedBatch) -> torch.Tensor:
    """y_hat ([s,] b, m, S) of the one-shot model (module docstring) on the edge and goal tokens only; Bx, By are
    (m, S, S) or (s, m, S, S)."""
    S, E = batch.S, batch.E
    m = Bx.shape[-3]
    g = batch.goals[..., None].expand(*batch.goals.shape, m)  # ([s,] b, m): every query carries the goal

    def rows(M):  # ([s,] b, m, S+1): column g of M_k, query k's logit over key labels
        Mk = _pad(M).movedim(-3, 0)  # (m, [s,] S+1, S+1)
        return torch.stack([query_rows(Mk[k], g[..., k]) for k in range(m)], dim=-2)

    logits = (at_keys(rows(Bx), batch.keys_x[..., :E + 1])
              + at_keys(rows(By), batch.keys_y[..., :E + 1]))
    visible = batch.key_valid[..., None, :E + 1]
    p = torch.softmax(logits.masked_fill(~visible, float("-inf")), dim=-1)
    return _spread(p, batch.keys_y[..., :E + 1], S)


def oneshot_loss(Bx: torch.Tensor, By: torch.Tensor, batch: PaddedBatch, m: int) -> torch.Tensor:
    """sum_{k<m} (1/2)||y_hat_k - e_{v_{k+1}}||^2 over trees whose paths have length m (the perfect training
    trees), averaged over the batch (per seed with a seed axis). A SUM over the queries, not the CoT loss's mean:
    each query has its own matrices, so each gets the per-step gradient scale that the CoT model's shared B gets
    from its m steps (with the mean, query 0 alone would learn m times slower than the CoT model's first step)."""
    y_hat = oneshot_outputs(Bx, By, batch)
    return (LOSS_FACTOR * _onehot_sq_error(y_hat, batch.targets[..., :m]).sum(-1)).mean(-1)


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def decode_cot(B: np.ndarray, batch: PaddedBatch, steps: int | None = None, embeddings=None) -> np.ndarray:
    """Argmax-feedback decoding of the CoT model on every tree of an unstacked batch: per tree, whether the
    decoded path v_1 .. v_L is exact (the numpy reference is model.decode_path).
    ``steps`` cuts the chain: only the first ``steps`` queries see their own CoT tokens; later outputs repeat the
    last query's context unchanged (steps = 1: every node read from the goal token's pass).
    ``embeddings`` A (d x S; default one-hot): key j's logit a_{x_j}^T B a_{v_k} = (A^T B A)[x_j, v_k], and the
    node decoded from y_hat = sum_j p_j a_{y_j} is argmax_i a_i^T y_hat = argmax_i (m^T A^T A)_i, with m_u the
    attention mass on keys whose y is u: model.decode_path's rule, for any A."""
    S, E, L = batch.S, batch.E, batch.Lmax
    gram = None
    if embeddings is not None:
        A = np.asarray(embeddings, dtype=np.float64)
        B, gram = A.T @ B @ A, A.T @ A
    Bp = np.zeros((S + 1, S + 1))
    Bp[:S, :S] = B
    X, Y = _np(batch.keys_x)[:, :E + 1].copy(), _np(batch.keys_y)[:, :E + 1].copy()
    V = _np(batch.key_valid)[:, :E + 1].copy()
    targets, lengths = _np(batch.targets), _np(batch.lengths)
    b = X.shape[0]
    rows = np.arange(b)
    cur = _np(batch.goals).copy()
    ok = np.ones(b, dtype=bool)
    for k in range(L):
        lg = np.where(V, Bp[X, cur[:, None]], -np.inf)
        p = np.exp(lg - lg.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        scores = np.zeros((b, S + 1))
        np.add.at(scores, (np.repeat(rows, X.shape[1]), Y.ravel()), p.ravel())
        dec = (scores[:, :S] if gram is None else scores[:, :S] @ gram).argmax(1)
        live = k < lengths
        ok &= ~live | (dec == targets[:, k])
        if steps is None or k + 1 < steps:
            X = np.concatenate([X, cur[:, None]], 1)
            Y = np.concatenate([Y, dec[:, None]], 1)
            V = np.concatenate([V, live[:, None]], 1)
            cur = np.where(live, dec, cur)
    return ok


def decode_oneshot(Bx: np.ndarray, By: np.ndarray, batch: PaddedBatch) -> np.ndarray:
    """Per tree of an unstacked batch: whether the one-shot model's m argmax outputs give the exact path (a path
    longer than m cannot be output, so it counts as wrong)."""
    m = Bx.shape[0]
    y_hat = oneshot_outputs(torch.as_tensor(Bx), torch.as_tensor(By), batch).numpy()
    dec = y_hat.argmax(-1)  # (b, m)
    targets, lengths = _np(batch.targets), _np(batch.lengths)
    k = np.arange(m)[None, :]
    tgt = np.full(dec.shape, -1)
    cols = min(m, targets.shape[1])
    tgt[:, :cols] = targets[:, :cols]
    good = (dec == tgt) | (k >= lengths[:, None])
    return good.all(1) & (lengths <= m)
