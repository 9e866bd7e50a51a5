r"""Li et al. (ICLR 2025): SGD training of the softmax CoT model, with the attention-mass categories tracked.

Training [S-ICLR p.9; docs/provenance/pattern_cot.md §4]: minimise (1/N) sum_n (1/2)||z^n - F(Psi; P^n)||^2 by
mini-batch SGD, fresh
prompts every step (N = B T [I]), constant step size eta ([NF]). Every prompt is a fresh training task (K random
permutations of the M TRR patterns, so every pattern is equally likely at every step), query patterns cycle
through all M patterns in each batch (Theorem 1's balance), and all K reasoning steps of a prompt are trained at
once by teacher forcing (the expectation over a uniform k in [K], with less variance [I]), or, with
``steps_per_prompt="one"``, one uniform k per prompt (one label per sample, as N = B T counts them).

The shared loop in dynamics/training.py is Adam with a cosine schedule; the paper's SGD is this small loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from constructions.errors import ProofCheckError, positive_float, positive_int
from dynamics.training import progress
from constructions.pattern_cot.data import Geometry, column_labels, fraction, make_task, sample_batch, teacher_forced
from constructions.pattern_cot.model import category_masses


@dataclass(frozen=True)
class SGDConfig:
    """Hyperparameters of the SGD run (all [NF] in the paper)."""

    steps: int = 1000
    batch: int = 64
    lr: float = 1.0
    l_tr: int = 10
    alpha: float = 0.3
    seed: int = 0
    record_every: int = 10  # attention masses and eval loss every this many steps
    eval_prompts: int = 512  # fresh prompts of the population-loss estimate
    stop_loss: float | None = None  # stop at the first record where the eval loss is <= this
    steps_per_prompt: str = "all"  # "all": every k in [K] per prompt (teacher forcing); "one": one uniform k

    def __post_init__(self):
        positive_int(self.steps, "steps", "the number of SGD iterations")
        positive_int(self.batch, "batch", "the batch size")
        positive_float(self.lr, "lr", "the SGD step size")
        positive_int(self.l_tr, "l_tr", "the context examples per training prompt")
        fraction(self.alpha)
        positive_int(self.record_every, "record_every")
        positive_int(self.eval_prompts, "eval_prompts")
        if self.steps_per_prompt not in ("all", "one"):
            raise ProofCheckError(f"steps_per_prompt must be 'all' or 'one' (got {self.steps_per_prompt!r})")


@dataclass
class TrainLog:
    losses: list[float] = field(default_factory=list)  # training-batch loss per step
    record_steps: list[int] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)  # population-loss estimate at record steps
    masses: list = field(default_factory=list)  # at record steps: CATEGORIES, mean (one-layer: 4; multi: layers x heads x 4)
    seconds: float = 0.0  # SGD steps only, not the evaluations
    stopped_at: int | None = None

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(len(self.losses), 1)


def cot_loss(model, geom: Geometry, batch, with_masses: bool = False, k_index: torch.Tensor | None = None,
             per_prompt: bool = False):
    """(1/2) mean ||z_k - F(P_k)||^2 over prompts and steps k (teacher forcing), or over prompts at the step
    ``k_index`` (B,) of each (one label per prompt, the paper's sample); ``per_prompt``: the (B,) losses averaged
    over k instead of their mean; with ``with_masses`` also the
    attention masses on the four categories, per prompt and step: (B, K, 4) for the one-layer model,
    (B, K, layers, heads, 4) for the multi-layer one."""
    keys, qry, mask = teacher_forced(geom, batch.ex, batch.z_tok)
    out, attn = model.attend(keys, qry, mask)  # attn (B, K, L), or (B, K, layers, heads, L)
    per = 0.5 * ((out - batch.z_tok[:, 1:]) ** 2).sum(-1)  # (B, K)
    per = per if k_index is None else per.gather(1, k_index[:, None])
    loss = per.mean(1) if per_prompt else per.mean()
    if not with_masses:
        return loss, None
    pos, inp = column_labels(batch.paths, batch.z, geom.K)
    if attn.dim() == 3:
        return loss, category_masses(attn, pos, inp, torch.arange(geom.K), batch.z[:, : geom.K])
    B, K, Lr, H, L = attn.shape
    flat = attn.permute(0, 2, 3, 1, 4).reshape(B, Lr * H * K, L)
    m = category_masses(flat, pos, inp, torch.arange(K).repeat(Lr * H), batch.z[:, :K].repeat(1, Lr * H))
    return loss, m.reshape(B, Lr, H, K, 4).permute(0, 3, 1, 2, 4)


def train_sgd(model, geom: Geometry, config: SGDConfig, callback=None) -> TrainLog:
    """Mini-batch SGD on fresh CoT prompts; records the loss every step and, every ``record_every`` steps, the
    population-loss estimate on ``eval_prompts`` fresh prompts and the attention masses."""
    gen = torch.Generator().manual_seed(config.seed)
    eval_gen = torch.Generator().manual_seed(config.seed + 1_000_003)
    params = [p for p in model.parameters() if p.requires_grad]
    patterns = geom.trr()
    log = TrainLog()

    def record(step):
        with torch.no_grad():
            task = make_task(K=geom.K, n=geom.M, batch=config.eval_prompts, gen=eval_gen)
            batch = sample_batch(eval_gen, task, patterns, config.eval_prompts, config.l_tr, config.alpha)
            loss, masses = cot_loss(model, geom, batch, with_masses=True)
        log.record_steps.append(step)
        log.eval_losses.append(float(loss))
        log.masses.append(masses.mean((0, 1)).tolist())
        return config.stop_loss is not None and float(loss) <= config.stop_loss

    if record(0):
        log.stopped_at = 0
        return log
    for step in progress(range(1, config.steps + 1), config.steps, "pattern_cot SGD"):
        t0 = time.perf_counter()
        task = make_task(K=geom.K, n=geom.M, batch=config.batch, gen=gen)
        batch = sample_batch(gen, task, patterns, config.batch, config.l_tr, config.alpha)
        k_index = torch.randint(geom.K, (config.batch,), generator=gen) if config.steps_per_prompt == "one" else None
        loss, _ = cot_loss(model, geom, batch, k_index=k_index)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(config.lr * g)
        log.seconds += time.perf_counter() - t0
        log.losses.append(loss.item())
        if step % config.record_every == 0 or step == config.steps:
            if record(step):
                log.stopped_at = step
                break
        if callback is not None and callback(step, model):
            log.stopped_at = step
            break
    return log



@dataclass
class SeedsLog:
    """Per-seed records of :func:`train_sgd_seeds` (seed axis last): losses (T, S), eval_losses (R, S), masses
    (R, S, 4); stopped_at[s]: the first record step at which seed s's eval loss was <= stop_loss (None: never)."""

    seeds: tuple
    losses: list = field(default_factory=list)
    record_steps: list[int] = field(default_factory=list)
    eval_losses: list = field(default_factory=list)
    masses: list = field(default_factory=list)
    seconds: float = 0.0
    stopped_at: list = field(default_factory=list)

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(len(self.losses), 1)

    def solo(self, s: int) -> TrainLog:
        """Seed index s's records in the layout of :func:`train_sgd`'s log (up to its stop, as a solo run)."""
        stop = self.stopped_at[s]
        n_rec = len(self.record_steps) if stop is None else self.record_steps.index(stop) + 1
        n_loss = len(self.losses) if stop is None else stop
        return TrainLog([float(x[s]) for x in self.losses[:n_loss]], self.record_steps[:n_rec],
                        [float(x[s]) for x in self.eval_losses[:n_rec]], [list(x[s]) for x in self.masses[:n_rec]],
                        self.seconds / len(self.seeds), stop)


def _cat(batches):
    from constructions.pattern_cot.data import Batch

    return Batch(*(torch.cat([getattr(b, f) for b in batches]) for f in ("query", "paths", "z", "ex", "z_tok")))


def train_sgd_seeds(model, geom: Geometry, config: SGDConfig, seeds) -> SeedsLog:
    """:func:`train_sgd` for S seeds at once (a :class:`constructions.pattern_cot.model.SeededOneLayer` with
    S = len(seeds)): seed s draws its prompts from the generators of ``train_sgd(config with seed=seeds[s])``
    in the same order, and minimising the sum of the per-seed batch losses gives each slice its solo gradient,
    so slice s follows the solo run of seed seeds[s] up to round-off. With ``stop_loss`` the run goes on until
    every seed has reached it (a seed's further steps do not affect the others)."""
    seeds = tuple(int(s) for s in seeds)
    if getattr(model, "n_seeds", None) != len(seeds):
        raise ProofCheckError(f"the model holds {getattr(model, 'n_seeds', None)} seeds, not len(seeds)={len(seeds)}")
    S = len(seeds)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    eval_gens = [torch.Generator().manual_seed(s + 1_000_003) for s in seeds]
    params = [p for p in model.parameters() if p.requires_grad]
    patterns = geom.trr()
    log = SeedsLog(seeds, stopped_at=[None] * S)

    def record(step):
        with torch.no_grad():
            parts = []
            for g in eval_gens:
                task = make_task(K=geom.K, n=geom.M, batch=config.eval_prompts, gen=g)
                parts.append(sample_batch(g, task, patterns, config.eval_prompts, config.l_tr, config.alpha))
            loss, masses = cot_loss(model, geom, _cat(parts), with_masses=True, per_prompt=True)
        losses = loss.reshape(S, -1).mean(1).tolist()
        log.record_steps.append(step)
        log.eval_losses.append(losses)
        log.masses.append(masses.reshape(S, -1, *masses.shape[1:]).mean((1, 2)).tolist())
        if config.stop_loss is not None:
            for s in range(S):
                if log.stopped_at[s] is None and losses[s] <= config.stop_loss:
                    log.stopped_at[s] = step
        return config.stop_loss is not None and all(t is not None for t in log.stopped_at)

    if record(0):
        return log
    for step in progress(range(1, config.steps + 1), config.steps, "pattern_cot SGD"):
        t0 = time.perf_counter()
        parts, ks = [], []
        for g in gens:
            task = make_task(K=geom.K, n=geom.M, batch=config.batch, gen=g)
            parts.append(sample_batch(g, task, patterns, config.batch, config.l_tr, config.alpha))
            if config.steps_per_prompt == "one":
                ks.append(torch.randint(geom.K, (config.batch,), generator=g))
        per_seed = _seeded_sgd_step(model, geom, _cat(parts), params, config.lr, S,
                                    k_index=torch.cat(ks) if ks else None)
        log.seconds += time.perf_counter() - t0
        log.losses.append(per_seed.detach().tolist())
        if (step % config.record_every == 0 or step == config.steps) and record(step):
            break
    return log


def collapse_step(steps, masses, fraction: float = 0.25) -> float:
    """The first record step from which a category's mass stays at or below ``fraction`` of its initial value
    (inf if it never does): the 'collapse' of Figure 10's categories."""
    masses = list(masses)
    limit = fraction * masses[0]
    for i, s in enumerate(steps):
        if all(m <= limit for m in masses[i:]):
            return float(s)
    return float("inf")


def train_sgd_seeds_sampled(model, geom: Geometry, config: SGDConfig, seeds, sample) -> SeedsLog:
    """:func:`train_sgd_seeds` (all K steps by teacher forcing, no stop, no eval records) with another training
    distribution: ``sample(gen, B)`` returns B training prompts (a Batch) from generator ``gen``; seed s draws
    from torch.Generator().manual_seed(seeds[s]). Used for the unbalanced-pattern runs (issue 16)."""
    seeds = tuple(int(s) for s in seeds)
    if getattr(model, "n_seeds", None) != len(seeds):
        raise ProofCheckError(f"the model holds {getattr(model, 'n_seeds', None)} seeds, not len(seeds)={len(seeds)}")
    S = len(seeds)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    params = [p for p in model.parameters() if p.requires_grad]
    log = SeedsLog(seeds, stopped_at=[None] * S)
    for _ in progress(range(config.steps), config.steps, "pattern_cot SGD"):
        t0 = time.perf_counter()
        per_seed = _seeded_sgd_step(model, geom, _cat([sample(g, config.batch) for g in gens]), params, config.lr, S)
        log.seconds += time.perf_counter() - t0
        log.losses.append(per_seed.detach().tolist())
    return log


def _seeded_sgd_step(model, geom: Geometry, batch, params, lr: float, S: int, k_index=None) -> torch.Tensor:
    """One SGD step of S seeds at once on the concatenated per-seed batches: the per-seed mean losses (S,) are
    summed, so seed s's gradient slice is its solo gradient. Returns the per-seed losses."""
    per, _ = cot_loss(model, geom, batch, k_index=k_index, per_prompt=True)
    per_seed = per.reshape(S, -1).mean(1)
    grads = torch.autograd.grad(per_seed.sum(), params)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.sub_(lr * g)
    return per_seed
