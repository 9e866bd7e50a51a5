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


class Trainer:
    """One optimisation run, advanced a step at a time (so that two runs can be interleaved, as the benchmark
    does): fresh batch ``sample(generator, batch)``, ``loss_fn(model, batch)``, Adam, cosine decay."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor],
                 sample: Callable[[torch.Generator, int], tuple], config: TrainConfig):
        self.model, self.loss_fn, self.sample, self.config = model, loss_fn, sample, config
        self.gen = torch.Generator().manual_seed(config.seed)
        self.opt = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
        floor, steps = config.final_lr_fraction, config.steps
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
        self.losses: list[float] = []
        self.step_seconds: list[float] = []

    def step(self) -> float:
        """One timed training step; returns its loss."""
        t0 = time.perf_counter()
        loss = self.loss_fn(self.model, self.sample(self.gen, self.config.batch))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.losses.append(loss.item())
        self.step_seconds.append(time.perf_counter() - t0)
        steps = len(self.losses)
        if self.config.progress and steps % self.config.log_every == 0:
            print(f"  step {steps}/{self.config.steps}  loss {self.losses[-1]:.4g}  ({sum(self.step_seconds):.1f} s)",
                  file=sys.stderr, flush=True)
        return self.losses[-1]

    def result(self, stopped_at: int | None = None) -> TrainResult:
        return TrainResult(losses=self.losses, seconds=sum(self.step_seconds), step_seconds=self.step_seconds,
                           stopped_at=stopped_at)


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor],
          sample: Callable[[torch.Generator, int], tuple], config: TrainConfig,
          callback: Callable[[int, torch.nn.Module], bool] | None = None) -> TrainResult:
    """Minimise ``loss_fn(model, sample(generator, batch))`` with Adam; returns the per-step losses.

    ``callback(step, model)`` runs after each step (outside the timed part); returning True stops training.
    """
    return run(Trainer(model, loss_fn, sample, config), callback)


def run(trainer: Trainer, callback: Callable[[int, torch.nn.Module], bool] | None = None) -> TrainResult:
    """Step ``trainer`` to its configured number of steps, or until ``callback(step, model)`` returns True."""
    for step in range(1, trainer.config.steps + 1):
        trainer.step()
        if callback is not None and callback(step, trainer.model):
            return trainer.result(stopped_at=step)
    return trainer.result()
