r"""A one-layer SOFTMAX-attention transformer on the gd_cot task (issue 16; the paper's softmax experiments).

Reconstruction [D] (the paper's softmax architecture is not known [?], docs/provenance/gd_cot.md §8): the same
tokens Z as the LSA (data columns (x_i, y_i, 0, 0), CoT columns (0, 0, w_i, 1)), the same merged value matrix V
(D x D) and merged key-query matrix W (D x D), and softmax in place of the linear kernel:

    f(Z)[:, -1] = z_q + V sum_j softmax_j(z_j^T W z_q / TEMPERATURE) z_j,   z_q the last column,

over every column j of Z (the query attends to the data, to the earlier CoT tokens and to itself: causal by
construction, since only the last column is read). Choices, each re-pinnable here: no positional encoding (the
constant row marks CoT tokens), no 1/n (softmax normalises), residual connection, no LayerNorm, no MLP, one head.
For small logits softmax_j ~ (1 + l_j - mean l) / N, so the layer can approximate an LSA step up to O(l^2) and a
1/N (not 1/n) scale that changes as the chain grows: it can learn CoT, but not exact k-step GD.

Seeded: V, W of shape (S, D, D), S independent models trained as one batch (the seed axis leads the outputs).
Teacher-forced loss and rollout mirror ``constructions.gd_cot.torch_model``'s ``cot_loss`` and rollout.
"""

from __future__ import annotations

import torch
from torch import nn

from constructions.errors import positive_int, seed_tuple
from constructions.gd_cot.model import LOSS_FACTOR, token_dim
from constructions.gd_cot.torch_model import cot_columns, embed_torch

TEMPERATURE = 1.0  # logits z_j^T W z_q / TEMPERATURE (W is learned, so this only sets the init's scale)
HEADS = 2  # heads (outputs summed). One head has a floor: the softmax's mean term V mean_j k_j (the sample mean of
#            the x's) does not vanish as the logits shrink; a second head with uniform attention can cancel it


class SoftmaxAttention(nn.Module):
    """S independent one-layer, H-head softmax-attention models (V, W of shape (S, H, D, D)); the heads' outputs
    are summed (merged output projection)."""

    def __init__(self, d: int, seeds, *, heads: int = HEADS, init_scale: float = 0.1,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.d = positive_int(d, "d", "the input dimension")
        self.heads = positive_int(heads, "heads", "the number of attention heads")
        self.seeds = seed_tuple(seeds)
        D = token_dim(d)
        V, W = [], []
        for s in self.seeds:  # seed s: V then W from Generator(s + 20_000), in float64 (the same init in any dtype)
            gen = torch.Generator().manual_seed(s + 20_000)
            V.append(init_scale * torch.randn(self.heads, D, D, generator=gen, dtype=torch.float64).to(dtype))
            W.append(init_scale * torch.randn(self.heads, D, D, generator=gen, dtype=torch.float64).to(dtype))
        self.V, self.W = nn.Parameter(torch.stack(V)), nn.Parameter(torch.stack(W))

    @property
    def n_seeds(self) -> int:
        return self.V.shape[0]

    def attend(self, keys: torch.Tensor, queries: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """q_i + V sum_j softmax_j(k_j^T W q_i / TEMPERATURE) k_j for keys (B, m, D) and queries (B, r, D), shared
        by the seeds or per seed (S, B, ...); returns (S, B, r, D). ``mask`` (r, m): True where key j is visible
        to query i."""
        S, H = self.n_seeds, self.heads
        keys = keys.expand(S, *keys.shape[-3:]) if keys.dim() == 3 else keys  # (S, B, m, D)
        queries = queries.expand(S, *queries.shape[-3:]) if queries.dim() == 3 else queries  # (S, B, r, D)
        B, r, D = queries.shape[1:]
        # W_h q_i for every head and query as rows (S, B, H r, D): one large matmul per seed, and the heads share
        # the keys' products below (no per-head copies of the keys). The logits are (S, B, H r, m), so the
        # softmax runs over the last axis and p @ keys needs no transpose (20% faster than keys-major, measured)
        Wq = (queries.reshape(S, 1, B * r, D) @ self.W.transpose(-1, -2)).view(S, H, B, r, D)
        Wq = Wq.transpose(1, 2).reshape(S, B, H * r, D)
        if TEMPERATURE != 1:
            Wq = Wq / TEMPERATURE
        logits = Wq @ keys.transpose(-1, -2)  # (S, B, H r, m): k_j^T W_h q_i / TEMPERATURE
        if mask is not None:
            logits = logits.masked_fill_(~mask.repeat(H, 1), float("-inf"))
        p = torch.softmax(logits, dim=-1)
        mixed = (p @ keys).view(S, B, H, r, D).transpose(1, 2).reshape(S, H, B * r, D)  # sum_j p_ij k_j per head
        return queries + (mixed @ self.V.transpose(-1, -2)).sum(1).reshape(S, B, r, D)


def _data_columns(X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """The n data columns of Z_0 as rows: (…, n, D)."""
    n = X.shape[-1]
    return embed_torch(X, w_star)[..., :n].transpose(-1, -2)


def softmax_cot_loss(model: SoftmaxAttention, X: torch.Tensor, w_star: torch.Tensor,
                     targets: torch.Tensor) -> torch.Tensor:
    r"""Teacher-forced CoT loss, as ``cot_loss`` for the LSA: (1/2) E sum_{i<k} ||f(Z_i)[:, -1] - z_{i+1}||^2 with
    Z_i = [data, z_0..z_i]; all k queries in one masked pass. X (…, d, n) shared or per seed; returns (S,)."""
    n, k = X.shape[-1], targets.shape[-2] - 1
    cols = cot_columns(targets)  # (…, k+1, D)
    keys = torch.cat([_data_columns(X, w_star), cols[..., :k, :]], dim=-2)  # (…, n+k, D)
    mask = torch.ones(k, n + k, dtype=torch.bool)
    mask[:, n:] = torch.tril(torch.ones(k, k, dtype=torch.bool))  # query i sees z_0..z_i
    out = model.attend(keys, cols[..., :k, :], mask)
    return LOSS_FACTOR * ((out - cols[..., 1:, :]) ** 2).sum(-1).sum(-1).mean(-1)


def softmax_no_cot_estimate(model: SoftmaxAttention, X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """w_hat = f(Z_0)[w-block, -1], one pass without CoT: (S, batch, d)."""
    d = X.shape[-2]
    keys = embed_torch(X, w_star).transpose(-1, -2)  # (…, n+1, D), the query column included
    out = model.attend(keys, keys[..., -1:, :])
    return out[..., 0, d + 1:2 * d + 1]


def softmax_no_cot_loss(model: SoftmaxAttention, X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """Per-seed batch mean of (1/2)||w_hat - w*||^2: (S,)."""
    return LOSS_FACTOR * ((softmax_no_cot_estimate(model, X, w_star) - w_star) ** 2).sum(-1).mean(-1)


@torch.no_grad()
def softmax_rollout_estimates(model: SoftmaxAttention, X: torch.Tensor, w_star: torch.Tensor, k: int) -> torch.Tensor:
    """Autoregressive rollout (the whole last column appended each step, no teacher forcing): w_hat_1..w_hat_k,
    shape (S, batch, k, d) for shared tasks X (batch, d, n)."""
    d = X.shape[-2]
    keys = embed_torch(X, w_star).transpose(-1, -2)
    keys = keys.expand(model.n_seeds, *keys.shape)  # (S, batch, n+1, D)
    out = []
    for _ in range(positive_int(k, "k", "the number of CoT steps")):
        z = model.attend(keys, keys[..., -1:, :])  # (S, batch, 1, D)
        keys = torch.cat([keys, z], dim=-2)
        out.append(z[..., 0, d + 1:2 * d + 1])
    return torch.stack(out, dim=-2)
