r"""The same one-layer LSA in torch: f_LSA(Z) = Z + V Z (Z^T W Z) / n, dense V and W as parameters.

Used to load a construction and compare with numpy (Theorem 3.2) and to train dense models (Theorem 3.1).
Batched: Z has shape (batch, D, m). Default dtype float64.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from constructions.errors import ProofCheckError, positive_int
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
    """X (batch, d, n) with x ~ N(0, I_d) and w* (batch, d) ~ N(0, I_d).

    The normals are drawn in float32 and cast: torch's float64 normal sampler is about 6x slower on CPU, and a
    Gaussian quantised to 24 bits differs from the float64 one by ~1e-7 relative, far below every statistical
    tolerance of the suite (round-off checks use numpy samples, not this).
    """
    X = torch.randn(batch, d, n, generator=generator, dtype=torch.float32).to(dtype)
    w_star = torch.randn(batch, d, generator=generator, dtype=torch.float32).to(dtype)
    return X, w_star


def no_cot_estimate(model: LSA, X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """w_hat = f_LSA(Z_0)[w-block, -1]: one pass, no CoT (Theorem 3.1)."""
    n = X.shape[-1]
    return model.last_column(embed_torch(X, w_star), n)[:, blocks(model.d)["w"]]


def no_cot_loss(model: LSA, X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """Batch mean of LOSS_FACTOR * ||w_hat - w*||^2 (the reported no-CoT loss, 1/2 included)."""
    return LOSS_FACTOR * ((no_cot_estimate(model, X, w_star) - w_star) ** 2).sum(-1).mean()


# ---------------------------------------------------------------------------------------------------------
# CoT training with teacher forcing (the suite's fast path)
# ---------------------------------------------------------------------------------------------------------
def gd_targets_torch(X: torch.Tensor, w_star: torch.Tensor, eta: float, k: int) -> torch.Tensor:
    """GD iterates w_0 = 0, ..., w_k with w_{i+1} = w_i - eta S (w_i - w*); shape (batch, k+1, d).

    Same recursion as :func:`constructions.gd_cot.model.gd_iterates` (digest section 4), written as
    w_{i+1} = P w_i + eta S w* with P = I - eta S: one fused batched product per step. (Advancing several
    steps per product with stacked powers of P was measured slower on CPU for these sizes.)
    """
    n = X.shape[-1]
    S = X @ X.transpose(-1, -2) / n
    P = torch.eye(X.shape[1], dtype=X.dtype) - eta * S
    b = eta * (S @ w_star[..., None])
    w = torch.zeros_like(b)
    out = [w]
    for _ in range(k):
        w = torch.baddbmm(b, P, w)
        out.append(w)
    return torch.stack(out, dim=1)[..., 0]  # contiguous (batch, k+1, d)


def data_gram(X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """G = sum over data columns of z_j z_j^T restricted to its nonzero (x, y) block; shape (batch, d+1, d+1)."""
    Xy = torch.cat([X, torch.einsum("bdn,bd->bn", X, w_star)[:, None, :]], dim=1)  # (batch, d+1, n)
    return Xy @ Xy.transpose(-1, -2)


def cot_columns(targets: torch.Tensor) -> torch.Tensor:
    """Teacher-forced CoT columns (0_d, 0, w_i, 1) for i = 0..k; shape (batch, k+1, D)."""
    batch, steps, d = targets.shape
    cols = targets.new_zeros(batch, steps, token_dim(d))
    cols[..., d + 1:2 * d + 1] = targets
    cols[..., 2 * d + 1] = 1.0
    return cols


def cot_loss(model: LSA, X: torch.Tensor, w_star: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""Teacher-forced CoT loss, all k steps in one batched pass (digest section 4 [P-2603]):

        L = (1/2) E sum_{i=0}^{k-1} || f_LSA(Z_i)[:, -1] - (0_d, 0, w_{i+1}, 1) ||^2,
        Z_i = [data columns, (0, 0, w_0, 1), ..., (0, 0, w_i, 1)].

    The whole column is regressed. Summation range i = 0..k-1 and the 1/2 (LOSS_FACTOR) are re-pinnable [?].
    With z_i = (0, 0, w_i, 1), u_i = W z_i and G = sum over data columns of z z^T (nonzero only in its
    (x, y) block, computed once per task):

        f(Z_i)[:, -1] = z_i + V (G u_i + sum_{j<=i} z_j (z_j . u_i)) / n.

    The sum over j <= i is a lower-triangular (k x k) product: no loop over steps, no growing Z. The gradient
    is written out by hand (:class:`_CoTLoss`), one fused pass instead of autograd's ~30 small nodes.
    Mathematically identical to the rollout of each Z_i (tests/test_cot_loss.py compares loss and gradients
    with the step-by-step baseline to round-off, and runs torch's gradcheck on the hand-written backward).
    """
    n = X.shape[-1]
    return _CoTLoss.apply(model.V, model.W, data_gram(X, w_star), targets[:, :-1], targets[:, 1:], n)


class _CoTLoss(torch.autograd.Function):
    r"""The loss of :func:`cot_loss` with its hand-derived gradient. Notation (N = batch k rows, one per step):

        u = W[:, w] w_i + W[:, c]                                (N, D), u = W z_i
        A = tril(u_c 1^T + u_w w_in^T)                          (batch, k, k), A[i, j] = z_j . u_i
        v = (G u_xy, A w_in, A 1)                               (N, D), v = (Z_i Z_i^T) u_i
        r = v V^T / n + (0, 0, w_i - w_{i+1}, 0)                (N, D), the residual
        L = LOSS_FACTOR r . r / batch.

    Backward, with g = 2 LOSS_FACTOR r / batch:  dV = g^T v / n;  dv = g V / n;  du_xy = dv_xy G (G symmetric);
    dA = tril(dv_w w_in^T + dv_c 1^T);  du_w = dA w_in;  du_c = dA 1;  dW[:, w] = du^T w_in;  dW[:, c] = du^T 1;
    the (x, y) columns of W get zero gradient (z_i is zero there).
    """

    @staticmethod
    def forward(ctx, V, W, G, w_in, w_out, n):
        batch, k, d = w_in.shape
        D, w, c = token_dim(d), slice(d + 1, 2 * d + 1), 2 * d + 1
        flat = w_in.reshape(-1, d)
        u = torch.addmm(W[:, c], flat, W[:, w].T).view(batch, k, D)
        A = torch.baddbmm(u[..., c:], u[..., w], w_in.transpose(-1, -2)).tril_()
        v = torch.cat([u[..., :d + 1] @ G, A @ w_in, A.sum(dim=-1, keepdim=True)], dim=-1).view(-1, D)
        r = v @ (V.T / n)
        r.view(batch, k, D)[..., w] += w_in - w_out
        ctx.save_for_backward(V, G, w_in, v, r)
        ctx.n = n
        return LOSS_FACTOR * torch.dot(r.view(-1), r.view(-1)) / batch

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        V, G, w_in, v, r = ctx.saved_tensors
        batch, k, d = w_in.shape
        D, w, c = token_dim(d), slice(d + 1, 2 * d + 1), 2 * d + 1
        scale = grad * (2 * LOSS_FACTOR / (batch * ctx.n))  # g / n = scale r
        dV = (r.T @ v) * scale
        dv = (r @ (V * scale)).view(batch, k, D)
        dA = torch.baddbmm(dv[..., c:], dv[..., w], w_in.transpose(-1, -2)).tril_()
        du = torch.cat([dv[..., :d + 1] @ G, dA @ w_in, dA.sum(dim=-1, keepdim=True)], dim=-1).view(-1, D)
        dW = torch.zeros_like(V)
        dW[:, w] = du.T @ w_in.reshape(-1, d)
        dW[:, c] = du.sum(dim=0)
        return dV, dW, None, None, None, None


def cot_rollout_estimates(model: LSA, X: torch.Tensor, w_star: torch.Tensor, k: int) -> torch.Tensor:
    """Autoregressive CoT rollout without teacher forcing; returns w_hat_1..w_hat_k, shape (batch, k, d).

    Uses the cached-key form of the last column: Z Z^T is accumulated as columns are appended (same value
    as the full f_LSA on the growing Z).
    """
    batch, d, n = X.shape
    C = X.new_zeros(batch, token_dim(d), token_dim(d))
    C[:, :d + 1, :d + 1] = data_gram(X, w_star)
    z = X.new_zeros(batch, token_dim(d))
    z[:, 2 * d + 1] = 1.0
    out = []
    for _ in range(positive_int(k, "k", "the number of CoT steps")):
        C = C + z[:, :, None] * z[:, None, :]
        z = z + (C @ (z @ model.W.T)[..., None])[..., 0] @ model.V.T / n
        out.append(z[:, d + 1:2 * d + 1])
    return torch.stack(out, dim=1)


def sample_tasks_cov(generator: torch.Generator, batch: int, n: int, Sigma: np.ndarray,
                     dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """OOD tasks (Theorem 4.2): x ~ N(0, Sigma) (as X = Sigma^{1/2} G), w* ~ N(0, I); X (batch, d, n)."""
    lam, Q = np.linalg.eigh(np.asarray(Sigma, float))
    if lam.min() <= 0:
        raise ProofCheckError(f"Sigma must be positive definite (smallest eigenvalue {lam.min():.3g})")
    root = torch.from_numpy((Q * np.sqrt(lam)) @ Q.T).to(dtype)
    G, w_star = sample_tasks_torch(generator, batch, n, len(lam), dtype)
    return root @ G, w_star


# ---------------------------------------------------------------------------------------------------------
# Theorem 4.3 (reconstructed): a looped LSA on in-context regression with a query token
# ---------------------------------------------------------------------------------------------------------
class LoopedLSA(nn.Module):
    r"""One LSA layer applied ``loops`` times with shared weights (reconstruction, digest section 7.6 [?]):

        Z <- Z + V Z M Z^T W Z / n,   Z = [[x_1 .. x_n, x_q], [y_1 .. y_n, 0]],   M = diag(1, .., 1, 0),

    prediction y_hat = -Z[d, -1] (the query's y-entry accumulates minus the prediction, as in Ahn et al. 2023).
    With W = [[gamma I, 0], [0, 0]], V = [[0, 0], [0, -1]] each loop is one GD step of size gamma on the
    in-context least squares, so y_hat = x_q^T (I - (I - gamma S)^L) w*.
    """

    def __init__(self, d: int, loops: int, *, init_scale: float = 0.1, generator: torch.Generator | None = None):
        super().__init__()
        self.d, self.loops = d, positive_int(loops, "loops", "the number of loops L")
        D = d + 1
        self.V = nn.Parameter(init_scale * torch.randn(D, D, generator=generator, dtype=torch.float64))
        self.W = nn.Parameter(init_scale * torch.randn(D, D, generator=generator, dtype=torch.float64))

    def forward(self, X: torch.Tensor, y: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
        """y_hat for X (B, d, n), y (B, n), x_q (B, d)."""
        n = X.shape[-1]
        Z = torch.cat([torch.cat([X, x_q[..., None]], -1),
                       torch.cat([y, torch.zeros_like(y[:, :1])], -1)[:, None, :]], 1)
        for _ in range(self.loops):
            keys = Z[..., :n]
            Z = Z + self.V @ keys @ (keys.transpose(1, 2) @ (self.W @ Z)) / n
        return -Z[:, self.d, -1]


def looped_query_loss(model: LoopedLSA, X: torch.Tensor, w_star: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
    """Batch mean of (y_hat - <w*, x_q>)^2 (no 1/2, matching looped_gd_loss)."""
    y = torch.einsum("bdn,bd->bn", X, w_star)
    return ((model(X, y, x_q) - (w_star * x_q).sum(-1)) ** 2).mean()


class SeedBatchedLoopedLSA(nn.Module):
    r""":class:`LoopedLSA` for several seeds at once: V, W of shape (seeds, d+1, d+1), one independent model per
    seed, trained in one batched step (EVIDENCE section 1). Seed s starts from exactly the init of
    ``LoopedLSA(d, loops, init_scale, generator=Generator().manual_seed(s + 10_000))``.

    The forward pass uses the Gram recursion of :func:`constructions.gd_cot.looped.predict` (every column of Z
    moves by the same T_l = I + V G_l W / n), which equals ``LoopedLSA.forward`` without forming Z.
    """

    def __init__(self, d: int, loops: int, seeds, *, init_scale: float = 0.1):
        super().__init__()
        self.d, self.loops = d, positive_int(loops, "loops", "the number of loops L")
        self.seeds = tuple(int(s) for s in seeds)
        D = d + 1
        V, W = [], []
        for s in self.seeds:
            gen = torch.Generator().manual_seed(s + 10_000)
            V.append(init_scale * torch.randn(D, D, generator=gen, dtype=torch.float64))
            W.append(init_scale * torch.randn(D, D, generator=gen, dtype=torch.float64))
        self.V, self.W = nn.Parameter(torch.stack(V)), nn.Parameter(torch.stack(W))

    def per_task_loss(self, tasks) -> torch.Tensor:
        """(y_hat - y_q)^2 for :class:`constructions.gd_cot.looped.LoopedTasks` with G of shape (seeds, B, D, D)."""
        from constructions.gd_cot.looped import per_task_loss

        return per_task_loss(self.V[:, None], self.W[:, None], tasks, self.loops)

    def seed_model(self, i: int) -> LoopedLSA:
        """Seed i's weights as a plain :class:`LoopedLSA` (for the Z-form forward)."""
        model = LoopedLSA(self.d, self.loops, init_scale=0.0)
        with torch.no_grad():
            model.V.copy_(self.V[i])
            model.W.copy_(self.W[i])
        return model
