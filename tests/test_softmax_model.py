"""constructions/gd_cot/softmax_model.py against independent computations: the batched, masked teacher-forced CoT
loss equals the step-by-step loss on the growing Z_i; the rollout equals a loop of full forward passes."""

from __future__ import annotations

import torch

from constructions.gd_cot.model import LOSS_FACTOR
from constructions.gd_cot.softmax_model import (
    SoftmaxAttention, softmax_cot_loss, softmax_no_cot_estimate, softmax_rollout_estimates,
)
from constructions.gd_cot.torch_model import cot_columns, embed_torch, gd_targets_torch, sample_tasks_torch


def _last_column(model, Z, s):
    """f(Z)[:, -1] of seed s from its definition: z_q + sum_h V_h sum_j softmax_j(z_j^T W_h z_q) z_j."""
    z = Z[:, :, -1]
    out = z.clone()
    for h in range(model.heads):
        logits = torch.einsum("bdm,de,be->bm", Z, model.W[s, h], z)
        out = out + torch.einsum("de,bem,bm->bd", model.V[s, h], Z, torch.softmax(logits, dim=-1))
    return out


def _tasks(d=3, n=6, k=4, batch=5):
    X, w_star = sample_tasks_torch(torch.Generator().manual_seed(0), batch, n, d)
    return X, w_star, gd_targets_torch(X, w_star, 0.2, k)


def test_teacher_forced_loss_equals_step_by_step():
    X, w_star, targets = _tasks()
    model = SoftmaxAttention(3, (0, 1), init_scale=0.7)
    n, k = X.shape[-1], targets.shape[-2] - 1
    cols = cot_columns(targets)
    with torch.no_grad():
        batched = softmax_cot_loss(model, X, w_star, targets)
        for s in range(2):
            loss = 0.0
            for i in range(k):  # Z_i = [data, z_0..z_i]: only earlier CoT tokens are visible
                Z = torch.cat([embed_torch(X, w_star)[..., :n], cols[:, : i + 1, :].transpose(1, 2)], dim=-1)
                loss = loss + LOSS_FACTOR * ((_last_column(model, Z, s) - cols[:, i + 1, :]) ** 2).sum(-1)
            assert torch.allclose(batched[s], loss.mean(), rtol=1e-12, atol=1e-14)


def test_rollout_and_no_cot_equal_full_forward_passes():
    X, w_star, _ = _tasks()
    model = SoftmaxAttention(3, (0, 1), init_scale=0.7)
    d = 3
    est = softmax_rollout_estimates(model, X, w_star, 4)
    with torch.no_grad():
        one = softmax_no_cot_estimate(model, X, w_star)
        for s in range(2):
            Z = embed_torch(X, w_star)
            assert torch.allclose(one[s], _last_column(model, Z, s)[:, d + 1:2 * d + 1], rtol=1e-12, atol=1e-14)
            for i in range(4):
                z = _last_column(model, Z, s)
                assert torch.allclose(est[s, :, i], z[:, d + 1:2 * d + 1], rtol=1e-12, atol=1e-14)
                Z = torch.cat([Z, z[..., None]], dim=-1)  # the whole last column is appended
