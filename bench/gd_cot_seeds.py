r"""gd_cot CoT training with seeds as a batch dimension: time per step for S = 1, 4, 8 seeds trained as one.

Each S runs the suite's batched path (:func:`dynamics.gd_cot.cot_trainer_seeds`: V, W of shape (S, D, D), one
generator per seed, per-seed batches of 256 tasks with their GD targets, the fused seeded CoT loss, one Adam
over the stacked parameters, cosine schedule). The solo path (:func:`dynamics.gd_cot.cot_trainer`, one seed, no
seed axis) is timed beside it as the reference for "one seed". Reported per dtype and S:

- median wall time per training step (sampling + targets + loss + backward + Adam + schedule) over
  ``timing_steps`` steps, the runs alternating in blocks of 10 steps after one warm-up block each (a change of
  machine load hits all of them);
- the median time of the sampling alone (S generator calls of float32 normals, the cast, the GD targets), so
  that the share of the per-seed draws is measured, not guessed (batching the draws across seeds would break
  the equality with the solo runs, so they stay per seed);
- ratio = time(S) / time(solo), and per seed time(S) / S.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from datetime import datetime, timezone

import torch

from bench.gd_cot_training import (
    BATCH, D_DIM, DTYPES, ETA, INIT_SCALE, LR, N_EXAMPLES, alternating_median_step,
)
from constructions.errors import ProofCheckError, positive_int
from dynamics.gd_cot import cot_sampler, cot_sampler_seeds, cot_trainer, cot_trainer_seeds
from dynamics.training import TrainConfig

DEFAULT_SEEDS = (1, 4, 8)
DEFAULT_K = 20


def _trainers(k: int, dtype: torch.dtype, steps: int, seed_counts) -> dict:
    config = TrainConfig(steps=steps, batch=BATCH, lr=LR)
    runs = {"solo": cot_trainer(D_DIM, N_EXAMPLES, k, ETA, config, init_scale=INIT_SCALE, dtype=dtype)}
    for S in seed_counts:
        runs[S] = cot_trainer_seeds(D_DIM, N_EXAMPLES, k, ETA, config, tuple(range(S)), init_scale=INIT_SCALE,
                                    dtype=dtype)
    return runs


def time_per_step(k: int, dtype: torch.dtype, seed_counts, steps: int, block: int = 10) -> dict:
    """Median seconds per training step of the solo run and of each batched run (alternating blocks)."""
    return alternating_median_step(_trainers(k, dtype, steps + block, seed_counts), steps, block)


def time_sampling(k: int, dtype: torch.dtype, seed_counts, steps: int) -> dict:
    """Median seconds of the sampling alone (draws, cast, GD targets) per step, solo and for each S."""
    samplers = {"solo": (cot_sampler(N_EXAMPLES, D_DIM, k, ETA, dtype), torch.Generator().manual_seed(0))}
    for S in seed_counts:
        samplers[S] = (cot_sampler_seeds(N_EXAMPLES, D_DIM, k, ETA, dtype),
                       [torch.Generator().manual_seed(s) for s in range(S)])
    times = {name: [] for name in samplers}
    for r in range(steps + 3):
        for name, (sample, gen) in samplers.items():
            t0 = time.perf_counter()
            sample(gen, BATCH)
            if r >= 3:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def run(seed_counts=DEFAULT_SEEDS, dtypes=("float32", "float64"), k: int = DEFAULT_K, timing_steps: int = 30,
        dry: bool = False) -> dict | None:
    """All measurements, as a JSON-ready dict with one row per (dtype, S): the solo path, then each S.
    ``dry=True`` only validates the arguments (returns None)."""
    for name in dtypes:
        if name not in DTYPES:
            raise ProofCheckError(f"dtype must be float32 or float64 (got {name!r})")
    seed_counts = [positive_int(S, "S", "the number of seeds") for S in seed_counts]
    k = positive_int(k, "k", "the number of CoT steps")
    timing_steps = positive_int(timing_steps, "timing_steps", "the number of timed steps")
    if dry:
        return None
    rows = []
    for name in dtypes:
        dtype = DTYPES[name]
        print(f"[bench] k={k} {name}: timing S={seed_counts} and solo ...", file=sys.stderr, flush=True)
        per_step = time_per_step(k, dtype, seed_counts, timing_steps)
        sampling = time_sampling(k, dtype, seed_counts, timing_steps)
        solo = per_step["solo"]
        for S in ["solo", *seed_counts]:
            rows.append({"dtype": name, "S": 1 if S == "solo" else S, "path": "solo" if S == "solo" else "seeded",
                         "ms_per_step": 1e3 * per_step[S], "ms_per_step_per_seed": 1e3 * per_step[S] / (
                             1 if S == "solo" else S), "ms_sampling": 1e3 * sampling[S],
                         "sampling_share": sampling[S] / per_step[S], "ratio_to_solo": per_step[S] / solo})
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {"benchmark": "gd_cot_seeds", "created": created, "k": k, "n": N_EXAMPLES, "d": D_DIM, "batch": BATCH,
            "eta": ETA, "lr": LR, "init_scale": INIT_SCALE, "timing_steps": timing_steps,
            "threads": torch.get_num_threads(), "torch": torch.__version__, "platform": platform.platform(),
            "rows": rows, "ratio_max_S_to_solo": {
                name: max((r for r in rows if r["dtype"] == name), key=lambda r: (r["path"] == "seeded", r["S"]))[
                    "ratio_to_solo"] for name in dtypes}}


def table(result: dict) -> str:
    head = (f"{'dtype':>8} {'path':>7} {'S':>3} | {'ms/step':>8} {'ms/step/seed':>12} {'x solo':>7} | "
            f"{'sampling ms':>11} {'share':>6}")
    lines = [f"k={result['k']} d={result['d']} n={result['n']} batch={result['batch']} "
             f"threads={result['threads']}", head, "-" * len(head)]
    for r in result["rows"]:
        lines.append(f"{r['dtype']:>8} {r['path']:>7} {r['S']:>3} | {r['ms_per_step']:>8.2f} "
                     f"{r['ms_per_step_per_seed']:>12.2f} {r['ratio_to_solo']:>6.2f}x | {r['ms_sampling']:>11.2f} "
                     f"{100 * r['sampling_share']:>5.0f}%")
    return "\n".join(lines)
