"""Measurements shared by the gd_cot checks (no formulas: those live in constructions/)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from constructions.gd_cot import cot_rollout, embed, estimates, gd_iterates, sample_tasks
from constructions.gd_cot.roundoff import rollout_vs_gd_bound
from verify import timings


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


# ---------------------------------------------------------------------------------------------------------
# Trained dense models shared by figure1, figure2 and the theorem4_1 probe (one training per session)
# ---------------------------------------------------------------------------------------------------------
TRAINING = {  # profile -> sizes; eta = 0.3 keeps mean and median of (1/2)||(I - eta S)^k w*||^2 together
    "quick": dict(d=5, n=20, ks=(5, 10), eta=0.3, steps=1500, eval_every=50),  # n = 4d: k = 10 GD steps converge
    "paper": dict(d=10, n=20, ks=(10, 20), eta=0.3, steps=3000, eval_every=100),
}
EVAL_TASKS = 2048


def eval_tasks(n: int, d: int, seed: int = 12345):
    """The fixed evaluation set: EVAL_TASKS Gaussian tasks (X, w*)."""
    import torch

    from constructions.gd_cot.torch_model import sample_tasks_torch

    return sample_tasks_torch(torch.Generator().manual_seed(seed), EVAL_TASKS, n, d)


def _eval_curve(per_task, every: int):
    """A training callback recording mean and median of ``per_task(model)`` every ``every`` steps."""
    curve = {"steps": [], "mean": [], "median": []}

    def callback(step, model):
        if step % every == 0 or step == 1:
            values = per_task(model)
            curve["steps"].append(step)
            curve["mean"].append(float(values.mean()))
            curve["median"].append(float(np.median(values)))
        return False
    return curve, callback


@lru_cache(maxsize=None)
def trained_cot(profile: str, k: int, seed: int = 0):
    """Dense LSA trained on the teacher-forced CoT loss from N(0, 0.1^2) init, with the evaluation curve.

    Returns dict: model, V0, W0 (init), result (TrainResult), steps, eval_mean, eval_median (per-task
    (1/2)||w_hat_k - w*||^2 of the autoregressive rollout on the fixed evaluation set), per_task (final).
    """
    import torch

    from constructions.gd_cot import LOSS_FACTOR
    from constructions.gd_cot.torch_model import LSA, cot_rollout_estimates
    from dynamics.gd_cot import train_cot
    from dynamics.training import TrainConfig

    cfg = TRAINING[profile]
    d, n, eta = cfg["d"], cfg["n"], cfg["eta"]
    X, w_star = eval_tasks(n, d)
    init = LSA(d, init_scale=0.1, generator=torch.Generator().manual_seed(seed + 10_000))

    def per_task(model):
        with torch.no_grad():
            w_k = cot_rollout_estimates(model, X, w_star, k)[:, -1]
        return (LOSS_FACTOR * ((w_k - w_star) ** 2).sum(-1)).numpy()

    curve, callback = _eval_curve(per_task, cfg["eval_every"])

    config = TrainConfig(steps=cfg["steps"], seed=seed)
    model, result = train_cot(d, n, k, eta, config, init_scale=0.1, callback=callback)
    timings.record(f"gd_cot CoT training (figure1, figure2), k={k}", steps=len(result.losses), batch=config.batch,
                   seconds=result.seconds, d=d, n=n, k=k, dtype="float64")
    return dict(model=model, V0=init.V.detach().numpy().copy(), W0=init.W.detach().numpy().copy(), result=result,
                curve=curve, per_task=per_task(model), d=d, n=n, k=k, eta=eta, steps=cfg["steps"])


@lru_cache(maxsize=None)
def trained_no_cot(profile: str, seed: int = 0):
    """Dense LSA trained without CoT (same sizes and steps), with its evaluation curve on the same tasks."""
    import torch

    from constructions.gd_cot import LOSS_FACTOR
    from constructions.gd_cot.torch_model import no_cot_estimate
    from dynamics.gd_cot import train_no_cot
    from dynamics.training import TrainConfig

    cfg = TRAINING[profile]
    d, n = cfg["d"], cfg["n"]
    X, w_star = eval_tasks(n, d)

    def per_task(model):
        with torch.no_grad():
            return (LOSS_FACTOR * ((no_cot_estimate(model, X, w_star) - w_star) ** 2).sum(-1)).numpy()

    curve, callback = _eval_curve(per_task, cfg["eval_every"])

    config = TrainConfig(steps=cfg["steps"], seed=seed)
    model, result = train_no_cot(d, n, config, init_scale=0.1, callback=callback)
    timings.record("gd_cot no-CoT training (figure2)", steps=len(result.losses), batch=config.batch,
                   seconds=result.seconds, d=d, n=n, dtype="float64")
    return dict(model=model, result=result, curve=curve, per_task=per_task(model), d=d, n=n, steps=cfg["steps"])


# ---------------------------------------------------------------------------------------------------------
# Out-of-distribution evaluation (theorem4_2, figure3)
# ---------------------------------------------------------------------------------------------------------
OOD_SPECTRA = {  # spec(Sigma) geometric between the ends; "inside" stays inside (0, 2/eta) after sampling noise
    "identity": (1.0, 1.0), "inside": (0.5, 2.0), "outside": (0.5, 8.0),
}


def ood_covariance(kind: str, d: int, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Sigma = Q diag(spectrum) Q^T with a seeded random rotation Q; spectrum rounded to 6 decimals (exact
    rationals for the no-CoT formula). Returns (Sigma, spectrum)."""
    lo, hi = OOD_SPECTRA[kind]
    spec = [round(float(x), 6) for x in np.geomspace(lo, hi, d)]
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return (Q * np.array(spec)) @ Q.T, spec


def _diverged_to_inf(values: np.ndarray) -> np.ndarray:
    """A rollout that overflowed (inf or nan from inf - inf) has an unbounded loss: report it as +inf."""
    return np.where(np.isfinite(values), values, np.inf)


def ood_losses(model, Sigma: np.ndarray, n: int, eta: float, ks, tasks: int = EVAL_TASKS, seed: int = 99):
    """Per-task (1/2)||w_hat_k - w*||^2 of the model's rollout and of exact k-step GD on the same OOD tasks,
    for each k in ks: dict k -> (model values, GD values). Overflowed rollouts count as +inf."""
    import torch

    from constructions.gd_cot import LOSS_FACTOR
    from constructions.gd_cot.torch_model import cot_rollout_estimates, sample_tasks_cov

    X, w_star = sample_tasks_cov(torch.Generator().manual_seed(seed), tasks, n, Sigma)
    d = X.shape[1]
    P = torch.eye(d, dtype=X.dtype) - eta * (X @ X.transpose(1, 2) / n)
    out = {}
    with torch.no_grad():
        est = cot_rollout_estimates(model, X, w_star, max(ks))
        for k in ks:
            gd_err = (torch.linalg.matrix_power(P, k) @ w_star[..., None])[..., 0]
            out[k] = (_diverged_to_inf((LOSS_FACTOR * ((est[:, k - 1] - w_star) ** 2).sum(-1)).numpy()),
                      _diverged_to_inf((LOSS_FACTOR * (gd_err**2).sum(-1)).numpy()))
    return out


def no_cot_ood(spec, n: int) -> float:
    """Exact OOD loss of the no-CoT optimum for a covariance with eigenvalues ``spec`` (rotation-invariant)."""
    import sympy as sp

    from constructions.gd_cot.symbolic import no_cot_ood_loss

    return float(no_cot_ood_loss(sp.diag(*[sp.Rational(str(x)) for x in spec]), n))
