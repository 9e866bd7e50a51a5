"""The one shared torch training loop: fresh batches each step, Adam, cosine learning-rate decay.

State is explicit: a frozen :class:`TrainConfig`, a seeded ``torch.Generator`` for the data, and the model.
Progress: :func:`run` shows a tqdm bar (stderr, removed when done, only for runs longer than 2 s) when
``config.progress`` is set or the module switch :data:`PROGRESS` is on; the bar shows the loss every ``log_every``
steps.

Seeds as a batch dimension (``TrainConfig.seeds``): S runs trained as one. The model holds S models along a
leading seed axis; there is one generator per seed (``manual_seed(seed)``, the data stream of the solo run with
``seed=seed``); ``sample(generators, batch)`` returns per-seed batches stacked to (S, batch, ...);
``loss_fn`` returns the per-seed batch means, shape (S,), and their SUM is minimised, so that each seed's
gradient slice is its solo gradient. Adam is elementwise, so one Adam over the stacked parameters is S
independent Adams; the learning-rate schedule is the same for all.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from constructions.errors import ProofCheckError, positive_float, positive_int, seed_tuple

# Progress bars for every run, whatever its config: None (off) or tqdm keyword arguments (e.g. file, position).
# A switch outside TrainConfig, so that no config and no cache key depends on it; the pytest plugin sets it when
# stderr is a terminal (never in CI logs).
PROGRESS: dict | None = None


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000
    batch: int = 256
    lr: float = 1e-2
    final_lr_fraction: float = 1e-3  # cosine decay from lr to lr * final_lr_fraction
    seed: int = 0
    log_every: int = 500
    progress: bool = False
    seeds: tuple[int, ...] | None = None  # set: a batched run of these seeds (``seed`` is then unused)

    def __post_init__(self):
        positive_int(self.steps, "steps", "the number of training steps")
        positive_int(self.batch, "batch", "the batch size")
        positive_float(self.lr, "lr", "the learning rate")
        if self.seeds is not None:
            object.__setattr__(self, "seeds", seed_tuple(self.seeds))

    @property
    def n_seeds(self) -> int | None:
        return None if self.seeds is None else len(self.seeds)


@dataclass
class TrainResult:
    """``losses``: one entry per step, the batch loss: a float for a solo run; for a batched run of S seeds a
    numpy array of shape (S,) (seed s's batch loss, as its solo run would log it), so that
    ``np.asarray(losses)`` has shape (steps, S) and ``len(losses)`` is the number of steps either way."""
    losses: list
    seconds: float  # training time only: callbacks (evaluation) are not counted
    step_seconds: list[float]
    stopped_at: int | None = None  # the step after which the callback asked to stop
    seeds: tuple[int, ...] | None = None  # the seeds of a batched run, in the order of the seed axis

    def seed_losses(self, s: int) -> list[float]:
        """The per-step losses of seed index s of a batched run (of the run itself when solo and s = 0)."""
        if self.seeds is None:
            if s != 0:
                raise ProofCheckError(f"a solo run has only seed index 0 (got s={s})")
            return list(self.losses)
        return [float(loss[s]) for loss in self.losses]


class Trainer:
    """One optimisation run, advanced a step at a time (so that two runs can be interleaved, as the benchmark
    does): fresh batch ``sample(generator, batch)``, ``loss_fn(model, batch)``, Adam, cosine decay.

    Batched over seeds when ``config.seeds`` is set: ``sample(generators, batch)`` with one generator per seed
    (``self.gens``), ``loss_fn`` returns per-seed losses (S,), their sum is minimised, and ``losses`` holds
    numpy arrays of shape (S,) (see :class:`TrainResult`)."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor],
                 sample: Callable[[torch.Generator, int], tuple], config: TrainConfig):
        self.model, self.loss_fn, self.sample, self.config = model, loss_fn, sample, config
        if config.seeds is None:
            self.gen = torch.Generator().manual_seed(config.seed)
        else:
            n_model = getattr(model, "n_seeds", None)
            if n_model != len(config.seeds):
                raise ProofCheckError(f"a batched run of {len(config.seeds)} seeds needs a model with that many "
                                      f"seeds (got n_seeds={n_model})")
            self.gens = [torch.Generator().manual_seed(seed) for seed in config.seeds]
        self.opt = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
        floor, steps = config.final_lr_fraction, config.steps
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
        self.losses: list = []
        self.step_seconds: list[float] = []

    def step(self):
        """One timed training step; returns its loss (a float, or a numpy array (S,) when batched)."""
        t0 = time.perf_counter()
        if self.config.seeds is None:
            loss = self.loss_fn(self.model, self.sample(self.gen, self.config.batch))
            total = loss
        else:
            loss = self.loss_fn(self.model, self.sample(self.gens, self.config.batch))
            if loss.shape != (len(self.gens),):
                raise ProofCheckError(f"a batched loss must return one loss per seed, shape ({len(self.gens)},) "
                                      f"(got shape {tuple(loss.shape)})")
            total = loss.sum()  # seed s's gradient slice is d(loss[s]) / d(its slice): its solo gradient
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        self.sched.step()
        self.losses.append(loss.item() if self.config.seeds is None else loss.detach().cpu().numpy().copy())
        self.step_seconds.append(time.perf_counter() - t0)
        return self.losses[-1]

    def result(self, stopped_at: int | None = None) -> TrainResult:
        return TrainResult(losses=self.losses, seconds=sum(self.step_seconds), step_seconds=self.step_seconds,
                           stopped_at=stopped_at, seeds=self.config.seeds)


def train(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor],
          sample: Callable[[torch.Generator, int], tuple], config: TrainConfig,
          callback: Callable[[int, torch.nn.Module], bool] | None = None) -> TrainResult:
    """Minimise ``loss_fn(model, sample(generator, batch))`` with Adam; returns the per-step losses.

    ``callback(step, model)`` runs after each step (outside the timed part); returning True stops training.
    """
    return run(Trainer(model, loss_fn, sample, config), callback)


def progress(iterable, total: int, desc: str):
    """``iterable`` behind a tqdm bar when the module switch :data:`PROGRESS` is on (stderr, removed when done,
    shown after 2 s), else ``iterable`` itself: the other training loops' (tree_paths, pattern_cot) progress."""
    if PROGRESS is None:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="step", leave=False,
                **{"file": sys.stderr, "delay": 2.0, **PROGRESS})


def run(trainer: Trainer, callback: Callable[[int, torch.nn.Module], bool] | None = None) -> TrainResult:
    """Step ``trainer`` to its configured number of steps, or until ``callback(step, model)`` returns True."""
    from tqdm import tqdm

    config = trainer.config
    options = {"file": sys.stderr, "delay": 2.0, **(PROGRESS or {})}
    with tqdm(total=config.steps, disable=not (config.progress or PROGRESS is not None), leave=False,
              desc="training", unit="step", **options) as bar:
        for step in range(1, config.steps + 1):
            loss = trainer.step()
            bar.update()
            if step % config.log_every == 0:
                bar.set_postfix_str(f"loss {loss:.4g}" if config.seeds is None
                                    else f"loss {np.median(loss):.4g} (median of {len(config.seeds)} seeds)")
            if callback is not None and callback(step, trainer.model):
                return trainer.result(stopped_at=step)
    return trainer.result()
