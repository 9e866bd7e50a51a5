"""Measurements shared by the pattern_cot checks (no formulas: those live in constructions/ and dynamics/)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from constructions.pattern_cot import WORKED_EXAMPLE, make_geometry, make_task, step_matrix, tsr_patterns
from constructions.pattern_cot.data import TEST_NOISE, sample_batch
from constructions.pattern_cot.model import category_masses, cot_rollout, icl_readout
from constructions.pattern_cot.oracle import oracle_errors_on_paths
from dynamics.pattern_cot import SGDConfig, train_sgd, train_sgd_seeds
from verify import timings
from verify.cache import disk_cached

# The main one-layer run [NF: the paper's sizes are not known]: M = 8 TRR patterns, K = 2 steps, l_tr = 10,
# alpha = 0.3 (above 1/M, see the theorem1 probe), SGD step 1, batch 64.
MAIN = dict(M=8, K=2, l_tr=10, alpha=0.3, lr=1.0, batch=64)
STEPS = {"quick": 2000, "paper": 3000}  # the pattern stage (figure10) ends near step 870: 2000 keeps it well inside
SEEDS = {"quick": (0, 1, 2), "paper": tuple(range(8))}  # the evidence standard: >= 3 quick, >= 8 paper
NO_PE_STEPS = 500  # the pe_scale = 0 probes: its masses are flat after ~500 steps (0.65 at 1000, 0.67 at 2000)
N_TSR = 2  # test patterns of the binary tasks (the authors' worked example has M' = 2)


def symmetric_task(g1: float, g2: float | None = None):
    """Two binary steps with correct entries (1+g1)/2 and (1+g2)/2: identity then swap (Condition 1 holds)."""
    g2 = g1 if g2 is None else g2
    return [step_matrix((0, 1), (1 + g1) / 2), step_matrix((1, 0), (1 + g2) / 2)]


def seeds(profile: str) -> tuple[int, ...]:
    """The training seeds of a profile (each one an independent data stream; the initialisation is fixed)."""
    return SEEDS[profile]


def trained_seeds(profile: str, pe_scale: float = 1.0):
    """The main one-layer model trained by SGD for every seed of the profile in one batched run:
    (seeded model, geometry, SeedsLog, seeds). Cached for the session and on disk (``trained_seeds("quick")`` and
    ``trained_seeds("quick", 1.0)`` share one entry). Slice s equals the solo run of seeds[s]
    (tests/test_pattern_cot_model.py)."""
    return _trained_seeds(str(profile), float(pe_scale), None)


def trained_checkpoint(profile: str, steps: int):
    """The main run of every seed stopped after ``steps`` iterations (the same prompts in the same order: the
    main run's state at that iteration): as :func:`trained_seeds`."""
    return _trained_seeds(str(profile), 1.0, int(steps))


@lru_cache(maxsize=4)
@disk_cached
def _trained_seeds(profile: str, pe_scale: float, steps: int | None):
    from constructions.pattern_cot.model import SeededOneLayer
    from dynamics.pattern_cot import train_sgd_seeds

    chosen = seeds(profile)
    geom = make_geometry(MAIN["M"], MAIN["K"], pe_scale=pe_scale)
    model = SeededOneLayer(geom.d, len(chosen))
    steps = steps if steps is not None else STEPS[profile] if pe_scale else NO_PE_STEPS
    cfg = SGDConfig(steps=steps, batch=MAIN["batch"], lr=MAIN["lr"],
                    l_tr=MAIN["l_tr"], alpha=MAIN["alpha"], record_every=10, eval_prompts=256)
    log = train_sgd_seeds(model, geom, cfg, chosen)
    timings.record(f"pattern_cot one-layer SGD, {len(chosen)} seeds batched (theorems 1-3, figures 9-10), "
                   f"pe_scale={pe_scale:g}", steps=len(log.losses), batch=cfg.batch, seconds=log.seconds,
                   M=MAIN["M"], K=MAIN["K"], seeds=len(chosen))
    return model, geom, log, chosen


@lru_cache(maxsize=None)
@disk_cached
def iterations_to_eps(M: int, K: int, alpha: float, seeds: tuple[int, ...], budget: int, record_every: int,
                      l_tr: int, eps: float):
    """Theorem 1's scaling runs. Per seed (all seeds in one batched run): the first iteration at which the
    population-loss estimate is <= eps (None: not within budget), seconds per step, last attention masses and
    population-loss estimates. One uniform k per prompt (one label per sample, as in N = B T)."""
    from constructions.pattern_cot.model import SeededOneLayer
    from dynamics.pattern_cot import train_sgd_seeds

    geom = make_geometry(M, K)
    model = SeededOneLayer(geom.d, len(seeds))
    cfg = SGDConfig(steps=budget, batch=MAIN["batch"], lr=MAIN["lr"], l_tr=l_tr, alpha=alpha,
                    record_every=record_every, eval_prompts=256, stop_loss=eps, steps_per_prompt="one")
    log = train_sgd_seeds(model, geom, cfg, seeds)
    timings.record(f"pattern_cot theorem1 scaling run M={M} K={K} alpha={alpha:g} l_tr={l_tr}, {len(seeds)} seeds "
                   "batched", steps=len(log.losses), batch=cfg.batch, seconds=log.seconds, seeds=len(seeds))
    return tuple(log.stopped_at), log.seconds_per_step, log.masses[-1], log.eval_losses[-1]


@lru_cache(maxsize=4)
@disk_cached
def trained_other_context(profile: str, l_tr: int, steps: int):
    """The main run's sizes with another l_tr, every seed of the profile, ``steps`` SGD iterations:
    (seeded model, geometry)."""
    from constructions.pattern_cot.model import SeededOneLayer
    from dynamics.pattern_cot import train_sgd_seeds

    chosen = seeds(profile)
    geom = make_geometry(MAIN["M"], MAIN["K"])
    model = SeededOneLayer(geom.d, len(chosen))
    log = train_sgd_seeds(model, geom, SGDConfig(steps=steps, batch=MAIN["batch"], lr=MAIN["lr"], l_tr=l_tr,
                                                 alpha=MAIN["alpha"], record_every=steps, eval_prompts=64), chosen)
    timings.record(f"pattern_cot theorem1 l_tr = {l_tr} run, {len(chosen)} seeds batched", steps=len(log.losses),
                   batch=MAIN["batch"], seconds=log.seconds, seeds=len(chosen))
    return model, geom


def trained_main(profile: str, seed_index: int = 0, pe_scale: float = 1.0):
    """One seed of :func:`trained_seeds`: (solo model, geometry, its log)."""
    model, geom, log, _ = trained_seeds(profile, pe_scale)
    return model.solo(seed_index), geom, log.solo(seed_index)


def solo_models(profile: str, pe_scale: float = 1.0, steps: int | None = None):
    """The seeds of :func:`trained_seeds` (or of :func:`trained_checkpoint` at ``steps``) as solo models:
    (list of models, geometry, seeds)."""
    model, geom, _, chosen = trained_seeds(profile, pe_scale) if steps is None else trained_checkpoint(profile, steps)
    return [model.solo(s) for s in range(len(chosen))], geom, chosen


# Theorem 2's test prompts (noisy TSR prompts of the authors' worked example, partly wrong steps), shared by the
# theorem2 and proposition1 checks
T2_ALPHAS, T2_LS, T2_PROMPTS = (0.4, 0.7, 1.0), (10, 30, 100), 1000


@lru_cache(maxsize=4)
def theorem2_prompts(profile: str, steps: int | None = None, with_oracle: bool = True):
    """Per (seed, alpha', l_ts): per-prompt CoT errors and same-step, same-pattern masses of the trained model (or
    its checkpoint at ``steps``), and the CoT and ICL oracles' errors on the same prompts (common random numbers:
    the same prompts for every seed). Returns (dict key -> (errors, cot oracle, icl oracle, masses), seeds)."""
    models, geom, chosen = solo_models(profile, steps=steps)
    out = {}
    for i, a in enumerate(T2_ALPHAS):
        for j, l in enumerate(T2_LS):
            errs, masses, orc = models_errors(models, geom, WORKED_EXAMPLE, l, a, T2_PROMPTS, seed=10 * i + j,
                                              with_oracle=("cot", "icl") if with_oracle else False)
            for seed, err, mass in zip(chosen, errs, masses):
                out[(seed, a, l)] = (err, orc["cot"] if orc else None, orc["icl"] if orc else None, mass)
    return out, chosen


def tsr_set(geom, overlap: float = 0.0, seed: int = 1) -> torch.Tensor:
    return tsr_patterns(geom, N_TSR, seed=seed, overlap=overlap)


@torch.no_grad()
def model_errors(model, geom, As, l: int, alpha: float, prompts: int, seed: int, mode: str = "cot",
                 patterns: torch.Tensor | None = None, noise: float = TEST_NOISE, chunk: int = 1000,
                 with_oracle: bool = False):
    """Per-prompt errors of the trained model on noisy TSR prompts of the test task ``As``: CoT (1/K) sum_k
    1[v_k != z_k], ICL 1[v != z_K]. Also returns the per-prompt same-pattern, same-step attention mass (CoT: the
    minimum over steps, categories judged on the decoded states; ICL: at the query). ``with_oracle``: also the
    per-prompt errors of the hard-attention oracle on the same prompts (common random numbers; its ties are broken
    by a generator seeded from ``seed``); a tuple of modes gives a dict mode -> errors of that oracle."""
    errs, masses, orc = models_errors([model], geom, As, l, alpha, prompts, seed, mode, patterns, noise, chunk,
                                      with_oracle)
    return (errs[0], masses[0], orc) if with_oracle else (errs[0], masses[0])


@torch.no_grad()
def models_errors(models, geom, As, l: int, alpha: float, prompts: int, seed: int, mode: str = "cot",
                  patterns: torch.Tensor | None = None, noise: float = TEST_NOISE, chunk: int = 1000,
                  with_oracle: bool = False):
    """:func:`model_errors` of several models (e.g. the seeds of one batched run) on the same prompts, drawn and
    scored by the oracle once: (list of per-prompt errors, list of per-prompt masses, oracle errors or None).
    Model i's entries equal ``model_errors(models[i], ...)`` with the same arguments."""
    pats = tsr_set(geom) if patterns is None else patterns
    task = make_task(As)
    gen = torch.Generator().manual_seed(seed)
    errs, mass, orc = [[] for _ in models], [[] for _ in models], []
    rng = np.random.default_rng(seed)
    for start in range(0, prompts, chunk):
        b = sample_batch(gen, task, pats, min(chunk, prompts - start), l, alpha, noise=noise, balanced=False)
        if with_oracle:
            modes = (mode,) if with_oracle is True else tuple(with_oracle)
            orc.append({m: oracle_errors_on_paths(b.paths.numpy(), b.z.numpy(), task.n, m, rng) for m in modes})
        for i, model in enumerate(models):
            e, m = _errors_on_batch(model, geom, b, l, pats, mode)
            errs[i].append(e)
            mass[i].append(m)
    errs = [torch.cat(e).numpy() for e in errs]
    mass = [torch.cat(m).numpy() for m in mass]
    if not with_oracle:
        return errs, mass, None
    joined = {m: np.concatenate([o[m] for o in orc]) for m in orc[0]}
    return errs, mass, (joined[mode] if with_oracle is True else joined)


def _errors_on_batch(model, geom, b, l: int, pats: torch.Tensor, mode: str):
    if mode == "cot":
        dec, attns = cot_rollout(model, geom, b.ex, b.z_tok[:, 0], pats)
        states = torch.cat([b.z[:, :1], dec], dim=1)
        m = []
        for k, a in enumerate(attns):
            pos = torch.cat([torch.arange(geom.K).repeat(l), torch.arange(k)])
            inp = torch.cat([b.paths[:, :, :-1].reshape(len(b.query), -1), states[:, :k]], dim=1)
            m.append(category_masses(a[:, None], pos, inp, torch.tensor([k]), states[:, k:k + 1])[:, 0, 0])
        return (dec != b.z[:, 1:]).double().mean(1), torch.stack(m, 1).min(1).values
    v, a = icl_readout(model, geom, b.ex, b.z_tok[:, 0], pats)
    pos = torch.arange(geom.K).repeat(l)
    inp = torch.cat([b.paths[:, :, :1], torch.full_like(b.paths[:, :, :1], -1).expand(-1, -1, geom.K - 1)],
                    dim=2).reshape(len(b.query), -1)
    return (v != b.z[:, -1]).double(), category_masses(a[:, None], pos, inp, torch.tensor([0]), b.z[:, :1])[:, 0, 0]


# The three-layer run (Figure 11, architecture [I]): M = 4, K = 2, l_tr = 6, alpha = 0.5, 3 layers x 2 heads.
THREE = dict(M=4, K=2, l_tr=6, alpha=0.5, lr=0.3, batch=32, layers=3, heads=2)
THREE_STEPS = {"quick": 1000, "paper": 2500}


def _three_layer_config(n: int, seed: int = 0) -> SGDConfig:
    return SGDConfig(steps=n, batch=THREE["batch"], lr=THREE["lr"], l_tr=THREE["l_tr"], alpha=THREE["alpha"],
                     record_every=max(n // 50, 1), eval_prompts=128, seed=seed)


def trained_three_layer(profile: str, steps: int | None = None, seed: int = 0):
    """The 3-layer model of one seed (init and prompt stream) trained by SGD (teacher forcing): (model, geometry,
    log); log.masses[t] is (layers, heads, 4). A seed of the profile at its step count is the slice of the
    batched run of all the profile's seeds (:func:`trained_three_layer_seeds`: the solo run up to round-off);
    any other is a solo run. Cached for the session and on disk."""
    if steps is None and seed in seeds(profile):
        models, geom, logs = trained_three_layer_seeds(profile)
        i = seeds(profile).index(seed)
        return models[i], geom, logs[i]
    return _three_layer_solo(profile, steps, seed)


@lru_cache(maxsize=16)
@disk_cached
def trained_three_layer_seeds(profile: str):
    """The profile's seeds of the 3-layer model in one batched run (constructions.pattern_cot.model.
    SeededMultiLayer, dynamics.pattern_cot.train_sgd_seeds): ([solo model per seed], geometry, [log per seed])."""
    from constructions.pattern_cot.model import SeededMultiLayer

    chosen = seeds(profile)
    geom = make_geometry(THREE["M"], THREE["K"])
    model = SeededMultiLayer(geom.d, chosen, layers=THREE["layers"], heads=THREE["heads"])
    cfg = _three_layer_config(THREE_STEPS[profile])
    log = train_sgd_seeds(model, geom, cfg, chosen)
    timings.record(f"pattern_cot three-layer SGD (figure 11), {len(chosen)} seeds batched", steps=len(log.losses),
                   batch=cfg.batch, seconds=log.seconds, layers=THREE["layers"], heads=THREE["heads"])
    return [model.solo(i) for i in range(len(chosen))], geom, [log.solo(i) for i in range(len(chosen))]


@lru_cache(maxsize=16)
@disk_cached
def _three_layer_solo(profile: str, steps: int | None, seed: int):
    from constructions.pattern_cot.model import MultiLayer

    geom = make_geometry(THREE["M"], THREE["K"])
    model = MultiLayer(geom.d, layers=THREE["layers"], heads=THREE["heads"],
                       gen=torch.Generator().manual_seed(seed))
    cfg = _three_layer_config(THREE_STEPS[profile] if steps is None else steps, seed)
    log = train_sgd(model, geom, cfg)
    timings.record("pattern_cot three-layer SGD (figure 11)", steps=len(log.losses), batch=cfg.batch,
                   seconds=log.seconds, layers=THREE["layers"], heads=THREE["heads"])
    return model, geom, log
