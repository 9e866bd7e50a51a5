"""Huang–Wang–Lee: how the LSA parameters move under training.

Training of the dense one-layer LSA without CoT (Theorem 3.1, Corollary 3.1) and with teacher-forced CoT
(the fast batched loss :func:`constructions.gd_cot.torch_model.cot_loss`), both through the shared loop.
"""

from __future__ import annotations

import torch

from constructions.errors import positive_float, positive_int
from constructions.gd_cot.torch_model import (
    LSA, cot_loss, cot_rollout_estimates, gd_targets_torch, no_cot_loss, sample_tasks_torch,
)
from dynamics.training import TrainConfig, TrainResult, train


def train_no_cot(d: int, n: int, config: TrainConfig, *, init_scale: float = 0.1) -> tuple[LSA, TrainResult]:
    """Train a dense LSA (all of V, W, random N(0, init_scale^2) init, float64) on the no-CoT loss
    (1/2) E||f_LSA(Z_0)[w, -1] - w*||^2 with fresh Gaussian tasks every step."""
    d = positive_int(d, "d", "the input dimension")
    n = positive_int(n, "n", "the number of in-context examples")
    model = LSA(d, init_scale=init_scale, generator=torch.Generator().manual_seed(config.seed + 10_000))
    result = train(model, lambda m, batch: no_cot_loss(m, *batch),
                   lambda gen, size: sample_tasks_torch(gen, size, n, d), config)
    return model, result


def cot_sampler(n: int, d: int, k: int, eta: float, dtype: torch.dtype = torch.float64):
    """Fresh tasks and their GD targets: ``sample(generator, batch) -> (X, w*, w_0..w_k)``."""
    def sample(gen: torch.Generator, batch: int):
        X, w_star = sample_tasks_torch(gen, batch, n, d, dtype=dtype)
        return X, w_star, gd_targets_torch(X, w_star, eta, k)
    return sample


def train_cot(d: int, n: int, k: int, eta: float, config: TrainConfig, *, init_scale: float = 0.1,
              dtype: torch.dtype = torch.float64, loss=cot_loss, callback=None) -> tuple[LSA, TrainResult]:
    """Train a dense LSA (all of V, W, random init) on the teacher-forced CoT loss with fresh tasks each step.

    ``loss(model, X, w*, targets)`` defaults to the suite's batched :func:`cot_loss`; the benchmark passes its
    step-by-step baseline here so that both run through the same loop, data and optimiser.
    """
    d = positive_int(d, "d", "the input dimension")
    n = positive_int(n, "n", "the number of in-context examples")
    k = positive_int(k, "k", "the number of CoT steps")
    eta = positive_float(eta, "eta", "the GD step size of the CoT targets")
    model = LSA(d, init_scale=init_scale, generator=torch.Generator().manual_seed(config.seed + 10_000), dtype=dtype)
    result = train(model, lambda m, batch: loss(m, *batch), cot_sampler(n, d, k, eta, dtype), config, callback)
    return model, result


def rollout_gap_to_gd(model: LSA, X: torch.Tensor, w_star: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per task (1/2)||w_hat_k - w_k^GD||^2 of the autoregressive rollout (no teacher forcing)."""
    k = targets.shape[1] - 1
    with torch.no_grad():
        w_hat = cot_rollout_estimates(model, X, w_star, k)[:, -1]
    return 0.5 * ((w_hat - targets[:, -1]) ** 2).sum(-1)
