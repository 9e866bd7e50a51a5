r"""The same one-layer LSA in torch: f_LSA(Z) = Z + V Z (Z^T W Z) / n, dense V and W as parameters.

Used to load a construction and compare with numpy (Theorem 3.2) and to train dense models (Theorem 3.1).
Batched: Z has shape (batch, D, m). Default dtype float64.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from constructions.errors import positive_int
from constructions.gd_cot.model import LOSS_FACTOR, blocks, token_dim


class LSA(nn.Module):
    """One-layer linear self-attention with merged value (V = W_P W_V) and key-query (W = W_K^T W_Q) matrices."""

    def __init__(self, d: int, *, init_scale: float = 0.0, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.d = positive_int(d, "d", "the input dimension")
        D = token_dim(d)
        self.V = nn.Parameter(init_scale * torch.randn(D, D, generator=generator, dtype=dtype))
        self.W = nn.Parameter(init_scale * torch.randn(D, D, generator=generator, dtype=dtype))

    @classmethod
    def from_numpy(cls, V: np.ndarray, W: np.ndarray, dtype: torch.dtype = torch.float64) -> "LSA":
        model = cls((V.shape[0] - 2) // 2, dtype=dtype)
        with torch.no_grad():
            model.V.copy_(torch.as_tensor(V, dtype=dtype))
            model.W.copy_(torch.as_tensor(W, dtype=dtype))
        return model

    def forward(self, Z: torch.Tensor, n: int) -> torch.Tensor:
        """The full f_LSA(Z), every column."""
        return Z + self.V @ Z @ (Z.transpose(-1, -2) @ self.W @ Z) / n

    def last_column(self, Z: torch.Tensor, n: int) -> torch.Tensor:
        """f_LSA(Z)[:, -1] = z_last + V Z (Z^T (W z_last)) / n without forming Z^T W Z; shape (batch, D)."""
        z = Z[..., -1:]
        return (z + self.V @ (Z @ (Z.transpose(-1, -2) @ (self.W @ z))) / n)[..., 0]

    def rollout(self, Z0: torch.Tensor, k: int, n: int) -> torch.Tensor:
        """k CoT steps appending the whole last column of the full forward pass (no shortcut)."""
        Z = Z0
        for _ in range(positive_int(k, "k", "the number of CoT steps")):
            Z = torch.cat([Z, self.forward(Z, n)[..., -1:]], dim=-1)
        return Z


def embed_torch(X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """Z_0 for a batch: X (batch, d, n), w* (batch, d); y = X^T w*, w_0 = 0."""
    batch, d, n = X.shape
    y = torch.einsum("bdn,bd->bn", X, w_star)
    Z = X.new_zeros(batch, token_dim(d), n + 1)
    Z[:, :d, :n] = X
    Z[:, d, :n] = y
    Z[:, 2 * d + 1, n] = 1.0
    return Z


def sample_tasks_torch(generator: torch.Generator, batch: int, n: int, d: int,
                       dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """X (batch, d, n) with x ~ N(0, I_d) and w* (batch, d) ~ N(0, I_d)."""
    X = torch.randn(batch, d, n, generator=generator, dtype=dtype)
    w_star = torch.randn(batch, d, generator=generator, dtype=dtype)
    return X, w_star


def no_cot_estimate(model: LSA, X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """w_hat = f_LSA(Z_0)[w-block, -1]: one pass, no CoT (Theorem 3.1)."""
    n = X.shape[-1]
    return model.last_column(embed_torch(X, w_star), n)[:, blocks(model.d)["w"]]


def no_cot_loss(model: LSA, X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """Batch mean of LOSS_FACTOR * ||w_hat - w*||^2 (the reported no-CoT loss, 1/2 included)."""
    return LOSS_FACTOR * ((no_cot_estimate(model, X, w_star) - w_star) ** 2).sum(-1).mean()
