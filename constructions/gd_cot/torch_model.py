r"""The same one-layer LSA in torch: f_LSA(Z) = Z + V Z (Z^T W Z) / n, dense V and W as parameters.

Used to load a construction and compare with numpy (Theorem 3.2) and to train dense models (Theorem 3.1).
Batched: Z has shape (batch, D, m). Default dtype float64.

Seeds as a batch dimension: a *seeded* model (:meth:`LSA.seeded`, :meth:`LSA.stack`) holds S independent
models, V and W of shape (S, D, D). Its outputs get a leading seed axis: shared data (batch, ...) is broadcast
over the seeds, per-seed data carries the seed axis itself, (S, batch, ...). Losses of a seeded model are the
per-seed batch means, shape (S,); training minimises their sum, so seed s's gradient slice is its solo gradient.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from constructions.errors import ProofCheckError, positive_int, seed_tuple
from constructions.gd_cot.model import LOSS_FACTOR, blocks, token_dim


class LSA(nn.Module):
    """One-layer linear self-attention with merged value (V = W_P W_V) and key-query (W = W_K^T W_Q) matrices.

    Solo: V, W of shape (D, D). Seeded (S independent models trained as one batch): V, W of shape (S, D, D).
    """

    def __init__(self, d: int, *, init_scale: float = 0.0, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.d = positive_int(d, "d", "the input dimension")
        D = token_dim(d)  # the init is drawn in float64 and cast: the same numbers (rounded) in every dtype
        self.V = nn.Parameter(init_scale * torch.randn(D, D, generator=generator, dtype=torch.float64).to(dtype))
        self.W = nn.Parameter(init_scale * torch.randn(D, D, generator=generator, dtype=torch.float64).to(dtype))

    @classmethod
    def _from_params(cls, d: int, V: torch.Tensor, W: torch.Tensor) -> "LSA":
        """A model holding the given V and W (no random draw, not even from torch's global generator)."""
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model.d = positive_int(d, "d", "the input dimension")
        model.V, model.W = nn.Parameter(V), nn.Parameter(W)
        return model

    @classmethod
    def seeded(cls, d: int, seeds, *, init_scale: float = 0.0, dtype: torch.dtype = torch.float64) -> "LSA":
        """S = len(seeds) models in one, V and W of shape (S, D, D). Slice s is initialised exactly as the solo
        model of seed ``seeds[s]`` in ``train_cot`` / ``train_no_cot``: V then W drawn from
        ``torch.Generator().manual_seed(seeds[s] + 10_000)``."""
        seeds = seed_tuple(seeds)
        return cls.stack([cls(d, init_scale=init_scale, dtype=dtype,
                              generator=torch.Generator().manual_seed(seed + 10_000)) for seed in seeds])

    @classmethod
    def stack(cls, models) -> "LSA":
        """Solo models (same d and dtype) stacked along a new leading seed axis (copies, detached)."""
        models = list(models)
        if not models:
            raise ProofCheckError("LSA.stack needs at least one model (got none)")
        if any(m.n_seeds is not None for m in models):
            raise ProofCheckError("LSA.stack takes solo models (got a seeded one)")
        if len({(m.d, m.V.dtype) for m in models}) != 1:
            raise ProofCheckError("LSA.stack needs models of one d and dtype (got "
                                  f"{sorted({(m.d, str(m.V.dtype)) for m in models})})")
        return cls._from_params(models[0].d, torch.stack([m.V.detach() for m in models]),
                                torch.stack([m.W.detach() for m in models]))

    @property
    def n_seeds(self) -> int | None:
        """S for a seeded model, None for a solo one."""
        return self.V.shape[0] if self.V.dim() == 3 else None

    def solo(self, s: int) -> "LSA":
        """A solo copy (detached) of seed index s of a seeded model."""
        if self.n_seeds is None:
            raise ProofCheckError("solo(s) needs a seeded model (this one is solo)")
        if not -self.n_seeds <= s < self.n_seeds:
            raise ProofCheckError(f"the seed index s must be in [0, {self.n_seeds}) (got s={s})")
        return type(self)._from_params(self.d, self.V[s].detach().clone(), self.W[s].detach().clone())

    def _mats(self):
        """V and W ready to broadcast against Z (…, D, m): (S, 1, D, D) when seeded, so the seed axis leads."""
        if self.n_seeds is None:
            return self.V, self.W
        return self.V[:, None], self.W[:, None]

    @classmethod
    def from_numpy(cls, V: np.ndarray, W: np.ndarray, dtype: torch.dtype = torch.float64) -> "LSA":
        model = cls((V.shape[0] - 2) // 2, dtype=dtype)
        with torch.no_grad():
            model.V.copy_(torch.as_tensor(V, dtype=dtype))
            model.W.copy_(torch.as_tensor(W, dtype=dtype))
        return model

    def forward(self, Z: torch.Tensor, n: int) -> torch.Tensor:
        """The full f_LSA(Z), every column. Z (batch, D, m); a seeded model returns (S, batch, D, m) (Z may
        also carry the seed axis itself)."""
        V, W = self._mats()
        return Z + V @ Z @ (Z.transpose(-1, -2) @ W @ Z) / n

    def last_column(self, Z: torch.Tensor, n: int) -> torch.Tensor:
        """f_LSA(Z)[:, -1] = z_last + V Z (Z^T (W z_last)) / n without forming Z^T W Z; shape (batch, D), or
        (S, batch, D) for a seeded model (Z shared (batch, D, m) or per seed (S, batch, D, m))."""
        z = Z[..., -1]
        if self.n_seeds is None:
            return z + (self.V @ (Z @ (Z.transpose(-1, -2) @ (self.W @ z[..., None]))) / n)[..., 0]
        u = z @ self.W.transpose(-1, -2)  # (S, batch, D): row vectors times W^T, batched over seeds
        a = torch.einsum("...dm,...d->...m", Z, u)  # Z^T u, the shared Z broadcast over seeds by einsum
        return z + torch.einsum("...dm,...m->...d", Z, a) @ self.V.transpose(-1, -2) / n

    def rollout(self, Z0: torch.Tensor, k: int, n: int) -> torch.Tensor:
        """k CoT steps appending the whole last column of the full forward pass (no shortcut)."""
        Z = Z0
        for _ in range(positive_int(k, "k", "the number of CoT steps")):
            out = self.forward(Z, n)[..., -1:]
            Z = torch.cat([Z.expand(*out.shape[:-1], Z.shape[-1]), out], dim=-1)
        return Z


def embed_torch(X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """Z_0 for a batch: X (…, d, n), w* (…, d); y = X^T w*, w_0 = 0. Leading axes (batch, or seed and batch)."""
    *lead, d, n = X.shape
    y = torch.einsum("...dn,...d->...n", X, w_star)
    Z = X.new_zeros(*lead, token_dim(d), n + 1)
    Z[..., :d, :n] = X
    Z[..., d, :n] = y
    Z[..., 2 * d + 1, n] = 1.0
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


def sample_tasks_torch_seeds(generators, batch: int, n: int, d: int,
                             dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """One :func:`sample_tasks_torch` per generator, stacked: X (S, batch, d, n), w* (S, batch, d).

    Slice s holds exactly the numbers a solo ``sample_tasks_torch(generators[s], ...)`` returns (same draws in
    the same order from the same generator, written in place into one float32 buffer, then one cast).
    """
    S = len(generators)
    X = torch.empty(S, batch, d, n, dtype=torch.float32)
    w_star = torch.empty(S, batch, d, dtype=torch.float32)
    for s, gen in enumerate(generators):
        torch.randn(batch, d, n, generator=gen, dtype=torch.float32, out=X[s])
        torch.randn(batch, d, generator=gen, dtype=torch.float32, out=w_star[s])
    return X.to(dtype), w_star.to(dtype)


def no_cot_estimate(model: LSA, X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """w_hat = f_LSA(Z_0)[w-block, -1]: one pass, no CoT (Theorem 3.1). Shape (batch, d); a seeded model gives
    (S, batch, d), for shared tasks X (batch, d, n), w* (batch, d) or per-seed tasks (S, batch, ...).

    Written through the data Gram matrix instead of Z_0: the query column of Z_0 is z = e_c (w_0 = 0, const 1),
    so Z_0 Z_0^T = G (+) e_c e_c^T with G = sum_j (x_j, y_j)(x_j, y_j)^T (:func:`data_gram`), W z = W[:, c], and

        w_hat = (V[w, xy] G W[xy, c] + V[w, c] W[c, c]) / n,

    O(d^2) per task instead of O(d n) (equal to ``model.last_column(embed_torch(X, w*), n)[..., w]`` to round-off:
    tests/test_seeds.py)."""
    n, d = X.shape[-1], model.d
    blk = blocks(d)
    xy, w, c = slice(0, d + 1), blk["w"], 2 * d + 1
    V, W = model.V, model.W
    G = data_gram(X, w_star)  # ([S,] batch, d+1, d+1)
    g = W[..., xy, c]  # ([S,] d+1)
    if model.n_seeds is not None:
        G, g = (G if G.dim() == 4 else G[None]), g[:, None, :]
    Gg = (G * g[..., None, :]).sum(-1)  # ([S,] batch, d+1)
    const = (V[..., w, c] * W[..., c, c, None])  # ([S,] d)
    return (Gg @ V[..., w, xy].transpose(-1, -2) + (const[:, None] if model.n_seeds is not None else const)) / n


def no_cot_loss(model: LSA, X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """Batch mean of LOSS_FACTOR * ||w_hat - w*||^2 (the reported no-CoT loss, 1/2 included): a scalar, or the
    per-seed batch means (S,) for a seeded model."""
    return LOSS_FACTOR * ((no_cot_estimate(model, X, w_star) - w_star) ** 2).sum(-1).mean(-1)


# ---------------------------------------------------------------------------------------------------------
# CoT training with teacher forcing (the suite's fast path)
# ---------------------------------------------------------------------------------------------------------
def gd_targets_torch(X: torch.Tensor, w_star: torch.Tensor, eta: float, k: int) -> torch.Tensor:
    """GD iterates w_0 = 0, ..., w_k with w_{i+1} = w_i - eta S (w_i - w*); shape (batch, k+1, d), or
    (S, batch, k+1, d) for per-seed tasks (computed as one batch of S*batch tasks).

    Same recursion as :func:`constructions.gd_cot.model.gd_iterates` (docs/provenance/gd_cot.md §4), written as
    w_{i+1} = P w_i + eta S w* with P = I - eta S: one fused batched product per step. (Advancing several
    steps per product with stacked powers of P was measured slower on CPU for these sizes.)
    """
    *lead, d, n = X.shape
    X, w_star = X.reshape(-1, d, n), w_star.reshape(-1, d)
    S = X @ X.transpose(-1, -2) / n
    P = torch.eye(d, dtype=X.dtype) - eta * S
    b = eta * (S @ w_star[..., None])
    w = torch.zeros_like(b)
    out = [w]
    for _ in range(k):
        w = torch.baddbmm(b, P, w)
        out.append(w)
    return torch.stack(out, dim=1)[..., 0].view(*lead, k + 1, d)  # contiguous (…, k+1, d)


def data_gram(X: torch.Tensor, w_star: torch.Tensor) -> torch.Tensor:
    """G = sum over data columns of z_j z_j^T restricted to its nonzero (x, y) block; shape (…, d+1, d+1)."""
    Xy = torch.cat([X, torch.einsum("...dn,...d->...n", X, w_star)[..., None, :]], dim=-2)  # (…, d+1, n)
    return Xy @ Xy.transpose(-1, -2)


def cot_columns(targets: torch.Tensor) -> torch.Tensor:
    """Teacher-forced CoT columns (0_d, 0, w_i, 1) for i = 0..k; shape (…, k+1, D)."""
    d = targets.shape[-1]
    cols = targets.new_zeros(*targets.shape[:-1], token_dim(d))
    cols[..., d + 1:2 * d + 1] = targets
    cols[..., 2 * d + 1] = 1.0
    return cols


def cot_loss(model: LSA, X: torch.Tensor, w_star: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""Teacher-forced CoT loss, all k steps in one batched pass (docs/provenance/gd_cot.md §4 [P-2603]):

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

    Solo model: X (batch, d, n), w* (batch, d), targets (batch, k+1, d); returns the batch mean (a scalar).
    Seeded model: per-seed data (S, batch, ...) (shared data (batch, ...) is used by every seed); returns the
    per-seed batch means, shape (S,).
    """
    n = X.shape[-1]
    S = model.n_seeds
    if S is not None and X.dim() == 3:  # shared tasks: the same data for every seed
        X, w_star, targets = (t.expand(S, *t.shape) for t in (X, w_star, targets))
    return _CoTLoss.apply(model.V, model.W, data_gram(X, w_star), targets[..., :-1, :], targets[..., 1:, :], n)


class _CoTLoss(torch.autograd.Function):
    r"""The loss of :func:`cot_loss` with its hand-derived gradient, for S seeds at once (S = 1 for a solo
    model). Per seed s (V, W the seed's matrices; N = batch k rows, one per task and step):

        u = W[:, w] w_i + W[:, c]                                (N, D), u = W z_i
        A = tril(u_c 1^T + u_w w_in^T)                          (batch, k, k), A[i, j] = z_j . u_i
        v = (G u_xy, A w_in, A 1)                               (N, D), v = (Z_i Z_i^T) u_i
        r = v V^T / n + (0, 0, w_i - w_{i+1}, 0)                (N, D), the residual
        L_s = LOSS_FACTOR r . r / batch.

    Backward, with g = 2 LOSS_FACTOR grad_s r / batch:  dV = g^T v / n;  dv = g V / n;  du_xy = dv_xy G
    (G symmetric);  dA = tril(dv_w w_in^T + dv_c 1^T);  du_w = dA w_in;  du_c = dA 1;  dW[:, w] = du^T w_in;
    dW[:, c] = du^T 1;  the (x, y) columns of W get zero gradient (z_i is zero there).
    Shapes: per-seed products (V, W, the N rows) are batched over seeds, (S, N, D); per-task products (A, G)
    over seeds and tasks together, (S batch, k, .).
    """

    @staticmethod
    def forward(ctx, V, W, G, w_in, w_out, n):
        ctx.solo = V.dim() == 2
        if ctx.solo:
            V, W, G, w_in, w_out = (t.unsqueeze(0) for t in (V, W, G, w_in, w_out))
        S, batch, k, d = w_in.shape
        D, w, c = token_dim(d), slice(d + 1, 2 * d + 1), 2 * d + 1
        flat = w_in.reshape(S, batch * k, d)  # a contiguous copy (w_in is a slice of the targets)
        tasks = flat.view(S * batch, k, d)
        G = G.reshape(S * batch, d + 1, d + 1)
        u = torch.baddbmm(W[:, None, :, c], flat, W[:, :, w].transpose(1, 2)).view(S * batch, k, D)
        A = torch.baddbmm(u[..., c:], u[..., w], tasks.transpose(-1, -2)).tril_()
        v = torch.cat([u[..., :d + 1] @ G, A @ tasks, A.sum(dim=-1, keepdim=True)], dim=-1).view(S, batch * k, D)
        r = torch.bmm(v, V.transpose(1, 2) / n)
        r.view(S, batch, k, D)[..., w] += w_in - w_out
        ctx.save_for_backward(V, G, tasks, v, r)
        ctx.n = n
        loss = LOSS_FACTOR * torch.bmm(r.view(S, 1, -1), r.view(S, -1, 1)).view(S) / batch
        return loss[0] if ctx.solo else loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        V, G, tasks, v, r = ctx.saved_tensors
        S, N, D = r.shape
        k, d = tasks.shape[1:]
        batch = N // k
        w, c = slice(d + 1, 2 * d + 1), 2 * d + 1
        scale = grad.reshape(-1, 1, 1) * (2 * LOSS_FACTOR / (batch * ctx.n))  # g / n = scale r, per seed
        dV = torch.bmm(r.transpose(1, 2), v) * scale
        dv = torch.bmm(r, V * scale).view(S * batch, k, D)
        dA = torch.baddbmm(dv[..., c:], dv[..., w], tasks.transpose(-1, -2)).tril_()
        du = torch.cat([dv[..., :d + 1] @ G, dA @ tasks, dA.sum(dim=-1, keepdim=True)], dim=-1).view(S, N, D)
        dW = torch.zeros_like(V)
        dW[:, :, w] = torch.bmm(du.transpose(1, 2), tasks.view(S, N, d))
        dW[:, :, c] = du.sum(dim=1)
        if ctx.solo:
            dV, dW = dV[0], dW[0]
        return dV, dW, None, None, None, None


@torch.no_grad()
def cot_rollout_estimates(model: LSA, X: torch.Tensor, w_star: torch.Tensor, k: int) -> torch.Tensor:
    """Autoregressive CoT rollout without teacher forcing; returns w_hat_1..w_hat_k, shape (batch, k, d), or
    (S, batch, k, d) for a seeded model (tasks shared (batch, ...) or per seed (S, batch, ...)).

    Uses the cached-key form of the last column: Z Z^T is accumulated in place as columns are appended (same
    value as the full f_LSA on the growing Z; the in-place rank-1 update is bitwise the out-of-place sum and
    3.7x faster at 8 seeds x 4096 tasks, measured). An evaluation: no gradient flows through it.
    """
    *lead, d, n = X.shape
    D = token_dim(d)
    if model.n_seeds is not None and X.dim() == 3:  # shared tasks: one accumulator per seed and task
        lead = [model.n_seeds, *lead]
    C = X.new_zeros(*lead, D, D)
    C[..., :d + 1, :d + 1] = data_gram(X, w_star)
    flat = C.view(-1, D, D)
    z = X.new_zeros(*lead, D)
    z[..., 2 * d + 1] = 1.0
    Wt, Vt = model.W.transpose(-1, -2), model.V.transpose(-1, -2)
    out = []
    for _ in range(positive_int(k, "k", "the number of CoT steps")):
        zf = z.reshape(-1, D)
        flat.baddbmm_(zf[:, :, None], zf[:, None, :])  # C += z z^T
        z = z + (C @ (z @ Wt)[..., None])[..., 0] @ Vt / n  # (…, D) @ (S, D, D) -> (S, …, D) if seeded
        out.append(z[..., d + 1:2 * d + 1])
    return torch.stack(out, dim=-2)


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
    r"""One LSA layer applied ``loops`` times with shared weights (reconstruction, docs/provenance/gd_cot.md §7.6 [?]):

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
