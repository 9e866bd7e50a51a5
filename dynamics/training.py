"""The one shared torch training loop: fresh batches each step, Adam, cosine learning-rate decay.

State is explicit: a frozen :class:`TrainConfig`, a seeded ``torch.Generator`` for the data, and the model.
Progress goes to stderr every ``log_every`` steps when ``progress=True``.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch

from constructions.errors import positive_float, positive_int


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000
    batch: int = 256
    lr: float = 1e-2
    final_lr_fraction: float = 1e-3  # cosine decay from lr to lr * final_lr_fraction
    seed: int = 0
    log_every: int = 500
    progress: bool = False

    def __post_init__(self):
        positive_int(self.steps, "steps", "the number of training steps")
        positive_int(self.batch, "batch", "the batch size")
        positive_float(self.lr, "lr", "the learning rate")


@dataclass
class TrainResult:
    losses: list[float]
    seconds: float  # training time only: callbacks (evaluation) are not counted
    step_seconds: list[float]
    stopped_at: int | None = None  # the step after which the callback asked to stop


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor],
          sample: Callable[[torch.Generator, int], tuple], config: TrainConfig,
          callback: Callable[[int, torch.nn.Module], bool] | None = None) -> TrainResult:
    """Minimise ``loss_fn(model, sample(generator, batch))`` with Adam; returns the per-step losses.

    ``callback(step, model)`` runs after each step (outside the timed part); returning True stops training.
    """
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    floor = config.final_lr_fraction
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s, config.steps) / config.steps)))
    losses: list[float] = []
    step_seconds: list[float] = []
    stopped_at = None
    for step in range(config.steps):
        t0 = time.perf_counter()
        loss = loss_fn(model, sample(gen, config.batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        step_seconds.append(time.perf_counter() - t0)
        if config.progress and (step + 1) % config.log_every == 0:
            print(f"  step {step + 1}/{config.steps}  loss {losses[-1]:.4g}  ({sum(step_seconds):.1f} s)",
                  file=sys.stderr, flush=True)
        if callback is not None and callback(step + 1, model):
            stopped_at = step + 1
            break
    return TrainResult(losses=losses, seconds=sum(step_seconds), step_seconds=step_seconds, stopped_at=stopped_at)
