"""Huang–Wang–Lee: how the LSA parameters move under training.

So far: training of the dense one-layer LSA without CoT (Theorem 3.1, Corollary 3.1) through the shared loop.
"""

from __future__ import annotations

import torch

from constructions.errors import positive_int
from constructions.gd_cot.torch_model import LSA, no_cot_loss, sample_tasks_torch
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
