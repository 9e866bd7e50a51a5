"""Measurements shared by the gd_cot checks (no formulas: those live in constructions/)."""

from __future__ import annotations

import numpy as np

from constructions.gd_cot import cot_rollout, embed, estimates, gd_iterates, sample_tasks
from constructions.gd_cot.roundoff import rollout_vs_gd_bound


def one_task(seed: int, n: int, d: int):
    """X (d, n), w* (d,), y (n,) drawn with numpy's default generator at ``seed``."""
    X, w_star, y = sample_tasks(np.random.default_rng(seed), 1, n, d)
    return X[0], w_star[0], y[0]


def rollout_gap(X, w_star, y, V, W, eta, k, feedback="column"):
    """Worst step of ||w_hat_i - w_i^GD||_inf against the round-off bound: (gap_i*, bound_i*, i*, Z_k).

    i* maximises gap_i / bound_i over 1 <= i <= k, so ``gap <= bound`` at i* means it holds at every step.
    """
    n = X.shape[1]
    Zk = cot_rollout(embed(X, y), V, W, k, n, feedback=feedback)
    gap = np.abs(estimates(Zk, n) - gd_iterates(X, w_star, eta, k)).max(axis=-1)
    bound = rollout_vs_gd_bound(X, w_star, eta, k)
    i = 1 + int(np.argmax(gap[1:] / bound[1:]))
    return float(gap[i]), float(bound[i]), i, Zk


def no_cot_eval(model, n: int, d: int, samples: int, seed: int, chunk: int = 20_000) -> dict[str, np.ndarray]:
    """Per-task loss LOSS_FACTOR ||w_hat - w*||^2 of a torch LSA on fresh tasks, and the per-task squared norms
    of the even part (w_hat(w*) + w_hat(-w*)) / 2 times LOSS_FACTOR (its share of the excess loss)."""
    import torch

    from constructions.gd_cot import LOSS_FACTOR
    from constructions.gd_cot.torch_model import no_cot_estimate, sample_tasks_torch

    gen = torch.Generator().manual_seed(seed)
    loss, even = [], []
    with torch.no_grad():
        for start in range(0, samples, chunk):
            X, w_star = sample_tasks_torch(gen, min(chunk, samples - start), n, d)
            plus, minus = no_cot_estimate(model, X, w_star), no_cot_estimate(model, X, -w_star)
            loss.append(LOSS_FACTOR * ((plus - w_star) ** 2).sum(-1))
            even.append(LOSS_FACTOR * (((plus + minus) / 2) ** 2).sum(-1))
    return {"loss": torch.cat(loss).numpy(), "even": torch.cat(even).numpy()}
