r"""gd_cot CoT training: the straightforward step-by-step loss beside the suite's batched loss, one process.

Both run through the suite's training path (:func:`dynamics.gd_cot.cot_trainer`, which ``train_cot`` steps:
same dense LSA, same init, same fresh Gaussian batches of 256 with their GD targets, same Adam and schedule,
same dtype); only the loss function differs. Reported for each k and dtype:

- median wall time per training step (sampling + loss + backward + Adam step + schedule) over
  ``timing_steps`` steps, in alternating blocks of 10 steps after a warm-up block each;
- steps and training seconds until the median of (1/2)||w_hat_k - w_k^GD||^2 over a fixed evaluation set of
  2048 tasks (autoregressive rollout, no teacher forcing) falls below 1e-4, evaluated every 25 steps; the two
  trainings alternate in blocks of 25 steps, so a change of machine load hits both;
- peak memory allocated by torch during one training step (torch profiler, CPU allocations).
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
from datetime import datetime, timezone

import torch
from torch.profiler import ProfilerActivity, profile

from constructions.gd_cot.torch_model import LSA, cot_columns, cot_loss, embed_torch
from dynamics.gd_cot import cot_sampler, cot_trainer, rollout_gap_to_gd
from dynamics.training import TrainConfig

D_DIM, N_EXAMPLES, BATCH = 10, 20, 256
ETA = 0.1  # the GD step of the CoT targets; eta * lambda_max(S) < 2 with high probability at n = 2d
LR, INIT_SCALE = 1e-2, 0.1
CRITERION = 1e-4
EVAL_TASKS, EVAL_EVERY = 2048, 25
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def baseline_cot_loss(model: LSA, X: torch.Tensor, w_star: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The straightforward implementation: a Python loop over the k CoT steps, Z_i built for each step by
    appending the teacher-forced column, last-column attention z_last + V Z (Z^T W z_last) / n."""
    n = X.shape[-1]
    k = targets.shape[1] - 1
    cols = cot_columns(targets)
    Z = embed_torch(X, w_star)  # Z_0: data columns and (0, 0, w_0, 1)
    total = 0.0
    for i in range(k):
        z_last = Z[..., -1:]
        out = z_last + model.V @ Z @ (Z.transpose(-1, -2) @ (model.W @ z_last)) / n
        total = total + ((out[..., 0] - cols[:, i + 1]) ** 2).sum(-1)
        Z = torch.cat([Z, cols[:, i + 1, :, None]], dim=-1)
    return 0.5 * total.mean()


IMPLEMENTATIONS = {"baseline": baseline_cot_loss, "suite": cot_loss}


def _config(steps: int, seed: int = 0) -> TrainConfig:
    return TrainConfig(steps=steps, batch=BATCH, lr=LR, seed=seed)


def _trainers(k: int, dtype: torch.dtype, steps: int) -> dict:
    """One :func:`dynamics.gd_cot.cot_trainer` per implementation: the suite's training path (same init, data,
    Adam and schedule) with its loss swapped."""
    return {name: cot_trainer(D_DIM, N_EXAMPLES, k, ETA, _config(steps), init_scale=INIT_SCALE, dtype=dtype,
                              loss=loss_fn) for name, loss_fn in IMPLEMENTATIONS.items()}


def time_per_step(k: int, dtype: torch.dtype, steps: int, block: int = 10) -> dict[str, float]:
    """Median seconds per training step of each implementation (sampling, loss, backward, Adam, schedule).

    Blocks of ``block`` consecutive steps alternate between the implementations (ABAB...), so that a change of
    machine load hits both while neither runs on caches the other just filled; one warm-up block each first.
    """
    return alternating_median_step(_trainers(k, dtype, steps + block), steps, block)


def alternating_median_step(runs: dict, steps: int, block: int = 10) -> dict[str, float]:
    """Step every trainer of ``runs`` in alternating blocks of ``block`` steps (one warm-up block each, dropped)
    until each has about ``steps`` timed steps; return each one's median seconds per step."""
    for r in range(1 + -(-steps // block)):
        for trainer in runs.values():
            if r == 1:
                trainer.step_seconds.clear()  # drop the warm-up block
            for _ in range(block):
                trainer.step()
    return {name: statistics.median(trainer.step_seconds) for name, trainer in runs.items()}


def steps_to_criterion(k: int, dtype: torch.dtype, max_steps: int) -> dict[str, dict]:
    """Train both implementations until each one's median rollout gap to k-step GD on the fixed evaluation set
    is below CRITERION, evaluated every EVAL_EVERY steps.

    The two runs alternate in blocks of EVAL_EVERY steps, so a change of machine load hits both; seconds count
    training steps only, not the evaluations.
    """
    X, w_star, targets = cot_sampler(N_EXAMPLES, D_DIM, k, ETA, dtype)(torch.Generator().manual_seed(777), EVAL_TASKS)
    runs = _trainers(k, dtype, max_steps)
    out = {name: {"steps": None, "seconds": None, "final_median": None} for name in runs}
    for start in range(0, max_steps, EVAL_EVERY):
        active = [name for name in runs if out[name]["steps"] is None]
        if not active:
            break
        for name in active:
            trainer = runs[name]
            for _ in range(min(EVAL_EVERY, max_steps - start)):
                trainer.step()
            median = rollout_gap_to_gd(trainer.model, X, w_star, targets).median().item()
            out[name]["final_median"] = median
            if median < CRITERION:
                out[name].update(steps=len(trainer.losses), seconds=sum(trainer.step_seconds))
    return out


@contextlib.contextmanager
def _native_stderr_silenced():
    """Silence file descriptor 2 while the torch profiler runs: its C++ side (kineto) writes 'USDT: ...
    profiler_start/stop' lines there that no logging setting reaches. Python exceptions still propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory_bytes(k: int, dtype: torch.dtype, loss_fn) -> int:
    """Peak bytes held by torch's CPU allocator during one training step (profiler allocation events)."""
    model = LSA(D_DIM, init_scale=INIT_SCALE, generator=torch.Generator().manual_seed(2), dtype=dtype)
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
    batch = cot_sampler(N_EXAMPLES, D_DIM, k, ETA, dtype)(torch.Generator().manual_seed(3), BATCH)
    with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        loss = loss_fn(model, *batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return int(peak)


def run(ks=(10, 20), dtypes=("float32", "float64"), timing_steps: int = 30, max_steps: int = 3000) -> dict:
    """All measurements, as a JSON-ready dict with one row per (k, dtype)."""
    for name in dtypes:
        if name not in DTYPES:
            raise ValueError(f"dtype must be float32 or float64 (got {name!r})")
    for k in ks:
        if k < 1:
            raise ValueError(f"k (the number of CoT steps) must be a positive integer (got k={k})")
    rows = []
    for k in ks:
        for name in dtypes:
            dtype = DTYPES[name]
            print(f"[bench] k={k} {name}: timing ...", file=sys.stderr, flush=True)
            per_step = time_per_step(k, dtype, timing_steps)
            print(f"[bench] k={k} {name}: both to criterion (alternating blocks) ...", file=sys.stderr, flush=True)
            crit = steps_to_criterion(k, dtype, max_steps)
            row = {"k": k, "dtype": name}
            for impl, loss_fn in IMPLEMENTATIONS.items():
                row[impl] = {"ms_per_step": 1e3 * per_step[impl], **crit[impl],
                             "peak_memory_mb": peak_memory_bytes(k, dtype, loss_fn) / 2**20}
            row["ratio_per_step"] = row["baseline"]["ms_per_step"] / row["suite"]["ms_per_step"]
            b, s = row["baseline"]["seconds"], row["suite"]["seconds"]
            row["ratio_to_criterion"] = b / s if b and s else None
            rows.append(row)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {"benchmark": "gd_cot_training", "created": created, "n": N_EXAMPLES, "d": D_DIM, "batch": BATCH, "eta": ETA, "lr": LR,
            "init_scale": INIT_SCALE, "criterion": f"median (1/2)||w_hat_k - w_k^GD||^2 < {CRITERION:g} on "
            f"{EVAL_TASKS} fixed tasks, evaluated every {EVAL_EVERY} steps", "threads": torch.get_num_threads(),
            "torch": torch.__version__, "platform": platform.platform(), "rows": rows}


def table(result: dict) -> str:
    """The side-by-side table."""
    head = (f"{'k':>3} {'dtype':>8} | {'baseline ms':>11} {'suite ms':>9} {'ratio':>6} | {'base steps':>10} "
            f"{'base s':>7} {'suite steps':>11} {'suite s':>8} {'ratio':>6} | {'base MB':>8} {'suite MB':>8}")
    lines = [head, "-" * len(head)]
    for r in result["rows"]:
        b, s = r["baseline"], r["suite"]
        fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
        lines.append(f"{r['k']:>3} {r['dtype']:>8} | {b['ms_per_step']:>11.2f} {s['ms_per_step']:>9.2f} "
                     f"{r['ratio_per_step']:>5.1f}x | {fmt(b['steps'], '>10')} {fmt(b['seconds'], '>7.1f')} "
                     f"{fmt(s['steps'], '>11')} {fmt(s['seconds'], '>8.1f')} {fmt(r['ratio_to_criterion'], '>5.1f')}x | "
                     f"{b['peak_memory_mb']:>8.1f} {s['peak_memory_mb']:>8.1f}")
    return "\n".join(lines)
