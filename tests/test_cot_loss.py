"""The suite's batched CoT loss equals the step-by-step baseline (loss and gradients) to float64 round-off.

Tolerance (round-off argument, not trial): both compute the same polynomial in (V, W, data) with different
summation orders and parenthesisations. For any order, |fl(p) - p| <= gamma_N p_abs, where p_abs is the same
polynomial with every term made non-negative (inputs replaced by absolute values, subtractions by additions)
and N bounds the number of roundings along any path: N = B k D (the final sums) + 4 D + 2 (n + k) + 16. So the
two results differ by at most 2 gamma_N p_abs, for the loss and elementwise for each gradient.
"""

import numpy as np
import pytest
import torch

from bench.gd_cot_training import baseline_cot_loss
from constructions.gd_cot import embed, gd_construction, sample_tasks
from constructions.gd_cot.roundoff import gamma, rollout_vs_gd_bound
from constructions.gd_cot.torch_model import (
    LSA, cot_columns, cot_loss, cot_rollout_estimates, embed_torch, gd_targets_torch, sample_tasks_torch,
)

B, N_EX, D_IN, K = 64, 20, 10, 20


def _batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    X, w_star = sample_tasks_torch(gen, B, N_EX, D_IN)
    return X, w_star, gd_targets_torch(X, w_star, 0.1, K)


def _abs_loss(Va, Wa, X, w_star, targets):
    """The loss polynomial with all terms non-negative: an upper bound on every term's magnitude."""
    Xa, wa, Ta = X.abs(), w_star.abs(), targets.abs()
    b, d, n = X.shape
    k = targets.shape[1] - 1
    Z = Xa.new_zeros(b, 2 * d + 2, n)
    Z[:, :d], Z[:, d] = Xa, torch.einsum("bdn,bd->bn", Xa, wa)
    cols = cot_columns(Ta)
    total = 0.0
    for i in range(k):
        Zi = torch.cat([Z, cols[:, :i + 1].transpose(1, 2)], dim=-1)
        z = cols[:, i, :, None]
        out = z + Va @ Zi @ (Zi.transpose(-1, -2) @ (Wa @ z)) / n
        total = total + ((out[..., 0] + cols[:, i + 1]) ** 2).sum(-1)
    return 0.5 * total.mean()


def _tolerances(model, batch):
    """(loss, dV, dW) tolerances 2 gamma_N p_abs of a solo model on a solo batch (see the module docstring)."""
    Va = model.V.detach().abs().requires_grad_()
    Wa = model.W.detach().abs().requires_grad_()
    L_abs = _abs_loss(Va, Wa, *batch)
    gV, gW = torch.autograd.grad(L_abs, [Va, Wa])
    b, d, n = batch[0].shape
    k = batch[2].shape[1] - 1
    D = 2 * d + 2
    g = gamma(b * k * D + 4 * D + 2 * (n + k) + 16)
    return 2 * g * L_abs.item(), 2 * g * gV, 2 * g * gW


@pytest.mark.parametrize("init_scale", [0.05, 0.3])
def test_fast_loss_and_gradients_equal_baseline(init_scale):
    model = LSA(D_IN, init_scale=init_scale, generator=torch.Generator().manual_seed(1))
    batch = _batch()
    fast, base = cot_loss(model, *batch), baseline_cot_loss(model, *batch)
    gf = torch.autograd.grad(fast, [model.V, model.W])
    gb = torch.autograd.grad(base, [model.V, model.W])
    tol_L, tol_V, tol_W = _tolerances(model, batch)
    assert abs(fast.item() - base.item()) <= tol_L
    assert torch.all((gf[0] - gb[0]).abs() <= tol_V)
    assert torch.all((gf[1] - gb[1]).abs() <= tol_W)


def _leaky_loss(model, X, w_star, targets):
    """A deliberately wrong baseline: the target column is appended before the step that must predict it."""
    n = X.shape[-1]
    cols = cot_columns(targets)
    Z = embed_torch(X, w_star)
    total = 0.0
    for i in range(K):
        Z = torch.cat([Z, cols[:, i + 1, :, None]], dim=-1)  # the leak
        z_last = Z[..., -2:-1]
        out = z_last + model.V @ Z @ (Z.transpose(-1, -2) @ (model.W @ z_last)) / n
        total = total + ((out[..., 0] - cols[:, i + 1]) ** 2).sum(-1)
    return 0.5 * total.mean()


def test_negative_control_leaky_loss_exceeds_tolerance():
    """The same comparison rejects a baseline with a teacher-forcing leak: the check can fail."""
    model = LSA(D_IN, init_scale=0.1, generator=torch.Generator().manual_seed(1))
    batch = _batch()
    tol_L, tol_V, _ = _tolerances(model, batch)
    fast, leaky = cot_loss(model, *batch), _leaky_loss(model, *batch)
    g_fast = torch.autograd.grad(fast, model.V)[0]
    g_leaky = torch.autograd.grad(leaky, model.V)[0]
    assert abs(fast.item() - leaky.item()) > tol_L
    assert torch.any((g_fast - g_leaky).abs() > tol_V)


def test_cached_rollout_equals_full_rollout():
    d, n, k, eta = 6, 15, 12, 0.2
    X, w_star, y = sample_tasks(np.random.default_rng(3), 4, n, d)
    V, W = gd_construction(d, eta)
    model = LSA.from_numpy(V, W)
    Xt, wt = torch.from_numpy(X), torch.from_numpy(w_star)
    with torch.no_grad():
        cached = cot_rollout_estimates(model, Xt, wt, k).numpy()
        full = model.rollout(torch.from_numpy(embed(X, y)), k, n)[:, d + 1:2 * d + 1, n + 1:].transpose(1, 2).numpy()
    for b in range(4):
        bound = rollout_vs_gd_bound(X[b], w_star[b], eta, k, n_rollouts=2)[1:]
        assert np.all(np.abs(cached[b] - full[b]).max(-1) <= bound)


def test_gd_targets_equal_recursion():
    from constructions.gd_cot import gd_iterates

    X, w_star, _ = _batch(5)
    fast = gd_targets_torch(X, w_star, 0.1, K).numpy()
    slow = gd_iterates(X.numpy(), w_star.numpy(), 0.1, K)
    # Both run the recursion w_{i+1} - w* = P (w_i - w*) (P = I - eta S) in float64 with different groupings:
    # each step adds at most gamma_{n+d+4} relative error (P from sums of n products, a d-term product, two adds)
    # on a vector of size <= max(1, ||P||_inf)^i ||w*||_inf, and later steps amplify it by ||P||_inf, so each is
    # within i gamma_{n+d+4} max(1, ||P||_inf)^i ||w*||_inf of the exact iterate.
    S = np.einsum("bdn,ben->bde", X.numpy(), X.numpy()) / N_EX
    p_norm = np.abs(np.eye(D_IN) - 0.1 * S).sum(-1).max(-1)  # (B,)
    i = np.arange(K + 1)
    bound = 2 * i * gamma(N_EX + D_IN + 4) * np.maximum(p_norm[:, None], 1.0) ** i \
        * np.abs(w_star.numpy()).max(-1)[:, None]
    assert np.all(np.abs(fast - slow).max(-1) <= bound)



def _small_fused_problem():
    """(V, W, loss_args) at d=3, n=5, k=4, batch 2, float64, V and W with N(0, 0.3^2) entries."""
    from constructions.gd_cot.torch_model import data_gram

    d, n, k, b = 3, 5, 4, 2
    gen = torch.Generator().manual_seed(7)
    X, w_star = sample_tasks_torch(gen, b, n, d)
    targets = gd_targets_torch(X, w_star, 0.2, k)
    V, W = (0.3 * torch.randn(2, 2 * d + 2, 2 * d + 2, generator=gen, dtype=torch.float64)).unbind(0)
    return V.requires_grad_(), W.requires_grad_(), (data_gram(X, w_star), targets[:, :-1], targets[:, 1:], n)


def test_hand_written_backward_passes_gradcheck():
    """torch's gradcheck (central differences, float64) on the hand-derived gradient of the fused loss. Its
    default tolerances (atol 1e-5, rtol 1e-3) sit far above the O(h^2) + round-off error of its h = 1e-6
    differences on this polynomial (cubic in W, quadratic in V) with O(1) entries."""
    from constructions.gd_cot.torch_model import _CoTLoss

    V, W, args = _small_fused_problem()
    assert torch.autograd.gradcheck(lambda V, W: _CoTLoss.apply(V, W, *args), (V, W))


def test_negative_control_gradcheck_rejects_a_wrong_backward():
    """The same gradcheck fails for a backward whose W gradient is 10% off: the check can fail."""
    from constructions.gd_cot.torch_model import _CoTLoss

    class Wrong(_CoTLoss):
        @staticmethod
        def backward(ctx, grad):
            dV, dW, *rest = _CoTLoss.backward(ctx, grad)
            return dV, 0.9 * dW, *rest

    V, W, args = _small_fused_problem()
    assert not torch.autograd.gradcheck(lambda V, W: Wrong.apply(V, W, *args), (V, W), raise_exception=False)


# ---------------------------------------------------------------------------------------------------------
# Seeds as a batch dimension: V, W (S, D, D), data (S, batch, ...)
# ---------------------------------------------------------------------------------------------------------
SEEDS = (3, 7, 11)


def _seeded_batch():
    """Per-seed data (S, B, ...): seed s's slice is the solo batch _batch(100 + s)."""
    parts = [_batch(100 + s) for s in range(len(SEEDS))]
    return tuple(torch.stack(p) for p in zip(*parts)), parts


@pytest.mark.parametrize("init_scale", [0.05, 0.3])
def test_seeded_loss_and_gradients_equal_baseline_per_seed(init_scale):
    """Each seed's loss and gradient slice of the seeded fused loss equals the step-by-step baseline of that
    seed's solo model on that seed's batch, within the same round-off bound 2 gamma_N p_abs as the solo test
    (per seed the same polynomial; the seed axis only batches independent products, adding no rounding)."""
    model = LSA.seeded(D_IN, SEEDS, init_scale=init_scale)
    assert model.n_seeds == 3 and model.V.shape == (3, 2 * D_IN + 2, 2 * D_IN + 2)
    seeded, parts = _seeded_batch()
    losses = cot_loss(model, *seeded)
    assert losses.shape == (3,)
    gV, gW = torch.autograd.grad(losses.sum(), [model.V, model.W])
    for s, batch in enumerate(parts):
        solo = model.solo(s).requires_grad_()
        base = baseline_cot_loss(solo, *batch)
        bV, bW = torch.autograd.grad(base, [solo.V, solo.W])
        tol_L, tol_V, tol_W = _tolerances(solo, batch)
        assert abs(losses[s].item() - base.item()) <= tol_L
        assert torch.all((gV[s] - bV).abs() <= tol_V)
        assert torch.all((gW[s] - bW).abs() <= tol_W)


def test_seeded_loss_on_shared_tasks_broadcasts():
    """Shared data (B, ...) with a seeded model: every seed sees the same tasks (slice s = solo loss of seed s)."""
    model = LSA.seeded(D_IN, SEEDS, init_scale=0.1)
    batch = _batch()
    losses = cot_loss(model, *batch)
    for s in range(3):
        solo = model.solo(s)
        tol_L, _, _ = _tolerances(solo, batch)
        assert abs(losses[s].item() - cot_loss(solo, *batch).item()) <= 2 * tol_L


def _small_seeded_problem():
    """(V, W, loss_args) with a seed axis: S = 3, d=3, n=5, k=4, batch 2, V and W with N(0, 0.3^2) entries."""
    from constructions.gd_cot.torch_model import data_gram

    d, n, k, b, S = 3, 5, 4, 2, 3
    gen = torch.Generator().manual_seed(8)
    X, w_star = sample_tasks_torch(gen, S * b, n, d)
    X, w_star = X.view(S, b, d, n), w_star.view(S, b, d)
    targets = gd_targets_torch(X, w_star, 0.2, k)
    V, W = (0.3 * torch.randn(2, S, 2 * d + 2, 2 * d + 2, generator=gen, dtype=torch.float64)).unbind(0)
    return V.requires_grad_(), W.requires_grad_(), (data_gram(X, w_star), targets[..., :-1, :], targets[..., 1:, :], n)


def test_seeded_hand_written_backward_passes_gradcheck():
    """gradcheck on the seeded fused loss (output (S,), so it checks the full Jacobian: seed s's loss must not
    depend on another seed's V, W). Same tolerance reasoning as the solo gradcheck above."""
    from constructions.gd_cot.torch_model import _CoTLoss

    V, W, args = _small_seeded_problem()
    assert torch.autograd.gradcheck(lambda V, W: _CoTLoss.apply(V, W, *args), (V, W))


def test_negative_control_seeded_gradcheck_rejects_mixed_seeds():
    """The same gradcheck fails when the backward hands seed s the gradient of seed s+1 (a seed-axis mix-up)."""
    from constructions.gd_cot.torch_model import _CoTLoss

    class Rolled(_CoTLoss):
        @staticmethod
        def backward(ctx, grad):
            dV, dW, *rest = _CoTLoss.backward(ctx, grad)
            return dV, dW.roll(1, dims=0), *rest

    V, W, args = _small_seeded_problem()
    assert not torch.autograd.gradcheck(lambda V, W: Rolled.apply(V, W, *args), (V, W), raise_exception=False)
