r"""gd_cot.theorem4_1: the full dense torch LSA, trained by plain gradient descent, follows the SciPy-integrated
reduced flow of Section 4 (issue 11, item 5).

What is compared
----------------
* Model: :class:`constructions.gd_cot.torch_model.LSA` with dense V, W (2 (2d+2)^2 parameters), started at the
  sparse Assumption 4.1 point of the scalar model (``assumption41_init``): V31 = W13 = sigma I, W24 = -1, every
  other entry 0 (block positions as ``_reduced_lsa`` in test_theorem4_1.py). Trained by full-batch GD
  (manual update theta <- theta - lr grad, no momentum) on :func:`cot_loss` over ONE fixed sample of N tasks
  (x ~ N(0, I), w* ~ N(0, I), GD-iterate targets), the same sample at every step.
* Which entries train: every entry of V and W **except W24**, held at -1 as in the paper's reduced model.
  Training W24 too breaks the comparison: the model is invariant under (V, W) -> (c V, W / c), GD conserves
  ||V||^2 - ||W||^2 and moves along that orbit, so W24 drifts (measured: -1 -> -0.64 by t = 50 at the quick
  sizes, with tr W13 / d then 0.33 away from the reduced b(t); the invariant products V31 (-W24) and
  W13 / (-W24) do converge to (-eta I, I)). All other off-pattern entries train; their largest excursion is
  recorded (``off_pattern_max``): the population gradient vanishes on the pattern (Lemma C.2), so they move
  by sampling noise only.
* Reference: the exact scalar reduced flow (``reduced_flow(mode='scalar')``: exact Wishart moments), integrated
  by ``integrate_flow`` (LSODA, rtol 1e-9, atol 1e-12). Time t = lr * step. Time convention checked: for
  A = a I the torch gradient of each diagonal entry of V31 is (dL/da) / d, the scalar model's rhs
  (``metric = d``), i.e. GD on the matrices is Euler on dA/dt = -grad_A L.
* Coordinates, at every checkpoint (every ``EVERY`` steps, through stage 1 and stage 2, t in [0, T]):
  (iso) the isotropic parts tr(V31)/d and tr(W13)/d against a(t), b(t);
  (all) every entry of V31 and W13: diagonal entries against a(t), b(t), off-diagonal entries against 0.

Tolerance (derived; stated again beside each check)
--------------------------------------------------
error(s, c) = torch(s, c) - ODE(lr s, c) = [Euler_pop(s) - ODE(lr s)] + [torch(s) - Euler_pop(s)]:
(i)  Euler: the first term is the discretisation error of GD on the POPULATION loss; it is computed exactly
     (deterministic, the same scalar model stepped with lr) rather than estimated; first order in lr
     (test_theorem4_1 checks the order). Bound: |Euler_pop - ODE| per coordinate, plus 1e-7 for the solver.
(ii) sampling: the second term is the response of the trajectory to the sampling error of the N-task
     gradient. To first order it is (1/N) sum_tau psi_tau(s), with the per-task linear response
         psi_tau(s+1) = psi_tau(s) - lr Hm(y_s) psi_tau(s) - lr (g_tau(y_s) - g_bar(y_s)),
     g_tau = the task's gradient on (V31, W13) at the pattern point (closed form, numpy, independent of
     ``cot_loss``), Hm = the population Hessian of the scalar model / metric along the population GD path.
     Its standard error sd_tau(psi_tau(s)) / sqrt(N) (per-task contributions of the same fixed sample, as in
     a t interval). The isotropic mode is exact to first order (the population Hessian is O(d)-equivariant,
     so the isotropic part decouples from anisotropic and off-pattern motion); for single entries the
     scalar propagator stands in for the anisotropic one (eigen-directions couple only through O(1/n) trace
     terms, docs/provenance/gd_cot.md §7.2), an approximation stated here.
     Allowance z * SE with z = ``stats.z_value`` (99% two-sided, Bonferroni over every (checkpoint,
     coordinate) compared). Second-order (O(1/N)) bias is not included.
Check: max over checkpoints and coordinates of |error| / (Euler bound + z SE) <= 1, for every seed.

Near misses (same comparison, same tolerance, must fail for every seed): (a) the ODE time scale off
(t = 1.25 lr s; 5% is NOT resolved at the quick sizes, see ``TIME_NEAR_MISS``); (b) one coefficient of the
reduced loss 5% off (the Wishart moment mu_2 = E tr S^2). The resolution (smallest time-scale error the
isotropic comparison detects on every seed) is recorded in the check's params.
"""

from __future__ import annotations

import dataclasses
import time
from functools import lru_cache

import numpy as np
import pytest
import torch

from constructions.gd_cot.model import blocks, token_dim
from constructions.gd_cot.torch_model import LSA, cot_loss, gd_targets_torch, sample_tasks_torch
from dynamics.gd_cot import SCALAR, assumption41_init, integrate_flow, reduced_flow
from verify.cache import disk_cached
from verify.stats import z_value

pytestmark = pytest.mark.claim("gd_cot.theorem4_1")

CASE = dict(d=3, n=20, k=4, eta=0.3)  # k = 4, eta = 0.3: both stages done by t = 50 (b(50) = 0.973)
SIGMA = 0.1                            # Assumption 4.1 scale: A(0) = B(0) = sigma I (scalar model: exact ODE)
LR = 0.025   # stability: off-pattern V[:, y] has curvature ~ k E (w*^T S w*)^2 ~ 70, lr * 70 < 2
T_MAX = 50.0
EVERY = 20                             # checkpoint every 20 steps (dt = 0.5): 101 checkpoints
PROFILES = {"quick": dict(N=1000, seeds=(0, 1, 2)), "paper": dict(N=4000, seeds=tuple(range(8)))}  # paper: not run here
NEAR_MISS = 0.05                       # the brief's near-miss size (moment control; figure)
# The time-scale near miss at 5% is NOT resolved at the quick sizes: the sampling SE of the isotropic W13 is
# ~0.7 / sqrt(N) at its peak (stage 2), so with z ~ 4 a 5% time error (<= 0.025 in b) needs N ~ 2e4 tasks
# (~10 min per seed on this CPU). Measured resolution at N = 1000: 18% (recorded as resolution_time_scale);
# the quick control uses 25%, fixed here, and the 5% miss is reported as not resolved.
TIME_NEAR_MISS = 0.25
MOMENT = 2                             # the near-miss coefficient: mu_2 = E tr S^2 scaled by 1 + NEAR_MISS
SOLVER_FLOOR = 1e-7
SD_TASKS = 400                         # tasks used to estimate the per-task sd of the linear response


@lru_cache(maxsize=None)
def _flow():
    return reduced_flow(**CASE, mode=SCALAR)


def _steps() -> int:
    return int(round(T_MAX / LR))


def _times() -> np.ndarray:
    return LR * np.arange(0, _steps() + 1, EVERY)


# ------------------------------------------------------------------------------------ torch: the full model
def _sparse_lsa(d: int, y0: np.ndarray) -> LSA:
    """Dense LSA at the sparse Assumption 4.1 point: V31 = a0 I, W13 = b0 I, W24 = -1, all else 0."""
    D, blk = token_dim(d), blocks(d)
    V, W = np.zeros((D, D)), np.zeros((D, D))
    V[blk["w"], blk["x"]] = y0[0] * np.eye(d)
    W[blk["x"], blk["w"]] = y0[1] * np.eye(d)
    W[d, 2 * d + 1] = -1.0
    return LSA.from_numpy(V, W)


def _sample(seed: int, N: int):
    d, n, k, eta = CASE["d"], CASE["n"], CASE["k"], CASE["eta"]
    X, w_star = sample_tasks_torch(torch.Generator().manual_seed(1000 + seed), N, n, d)
    return X, w_star, gd_targets_torch(X, w_star, eta, k)


def _train(X, w_star, targets) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch GD on the fixed samples, one per seed (leading axis S), all seeds in one batched model (each
    seed's loss is its own sample's mean, so its gradient slice is its solo gradient); returns V, W at the
    checkpoints, shape (checkpoints, S, D, D) each."""
    d = CASE["d"]
    model = LSA.stack([_sparse_lsa(d, assumption41_init(_flow(), SIGMA))] * X.shape[0])
    Vs, Ws = [], []
    for step in range(_steps() + 1):
        if step % EVERY == 0:
            Vs.append(model.V.detach().numpy().copy())
            Ws.append(model.W.detach().numpy().copy())
        if step == _steps():
            break
        model.V.grad = model.W.grad = None
        cot_loss(model, X, w_star, targets).sum().backward()
        with torch.no_grad():
            model.W.grad[:, d, 2 * d + 1] = 0.0  # W24 held at -1 (see the module docstring)
            model.V -= LR * model.V.grad
            model.W -= LR * model.W.grad
    return np.array(Vs), np.array(Ws)


# ------------------------------------------------------------------------------------ numpy: the tolerance
def _task_vectors(X, w_star):
    """Per-task vectors for the closed-form pattern gradients: S w, S S w, P^i w, S P^i w, S S P^i w."""
    eta, k = CASE["eta"], CASE["k"]
    X, w = X.numpy(), w_star.numpy()
    S = X @ X.swapaxes(1, 2) / X.shape[-1]
    P = np.eye(S.shape[-1]) - eta * S
    Pw = [w]
    for _ in range(k - 1):
        Pw.append(np.einsum("njl,nl->nj", P, Pw[-1]))
    Pw = np.stack(Pw, 1)                                   # (N, k, d): P^i w, i = 0..k-1
    SPw = np.einsum("njl,nil->nij", S, Pw)
    return dict(w=w, Sw=SPw[:, 0], SSw=np.einsum("njl,nl->nj", S, SPw[:, 0]), Pw=Pw, SPw=SPw,
                SSPw=np.einsum("njl,nil->nij", S, SPw))


def _task_gradients(v, a: float, b: float) -> np.ndarray:
    r"""Per-task gradient of LOSS sum_i ||r_i||^2 on (V31, W13) at V31 = a I, W13 = b I, W24 = -1, shape
    (N, 2, d, d). With u_i = S K_i w = (b-1) S w - b S P^i w and r_i = a u_i - eta S P^i w
    (docs/provenance/gd_cot.md §7.2):
    grad_A = sum_i r_i u_i^T and grad_B = sum_i a S r_i ((I - P^i) w)^T (LOSS = 1/2 cancels the 2)."""
    eta = CASE["eta"]
    u = (b - 1) * v["Sw"][:, None] - b * v["SPw"]
    r = a * u - eta * v["SPw"]
    Sr = a * ((b - 1) * v["SSw"][:, None] - b * v["SSPw"]) - eta * v["SSPw"]
    gA = np.einsum("nij,nil->njl", r, u)
    gB = a * np.einsum("nij,nil->njl", Sr, v["w"][:, None] - v["Pw"])
    return np.stack([gA, gB], 1)


def _tolerance_parts(X, w_star):
    """Population GD path (scalar Euler, step lr) at the checkpoints, and the first-order sampling SE of the
    trajectory per entry (checkpoints, 2, d, d) and for the isotropic parts (checkpoints, 2).

    The per-task sd is estimated on the first ``SD_TASKS`` tasks of the sample (an unbiased sd estimate, 400
    degrees of freedom); the SE divides it by sqrt(N) of the whole sample the model was trained on."""
    N, d = X.shape[0], CASE["d"]
    flow, v = _flow(), _task_vectors(X[:SD_TASKS], w_star[:SD_TASKS])
    M = min(N, SD_TASKS)
    y = assumption41_init(flow, SIGMA).astype(float)
    psi = np.zeros((M, 2, d, d))
    path, se, se_iso = [], [], []
    for step in range(_steps() + 1):
        if step % EVERY == 0:
            path.append(y.copy())
            se.append(psi.std(0, ddof=1) / np.sqrt(N))
            iso = np.einsum("nkjj->nk", psi) / d
            se_iso.append(iso.std(0, ddof=1) / np.sqrt(N))
        if step == _steps():
            break
        g = _task_gradients(v, y[0], y[1])
        Hm = flow.hessian(y) / flow.metric
        drift = np.einsum("pq,nqjl->npjl", Hm, psi)
        psi = psi - LR * drift - LR * (g - g.mean(0))
        y = y + LR * flow.rhs(0.0, y)
    return np.array(path), np.array(se), np.array(se_iso)


def _ode(flow, times: np.ndarray) -> np.ndarray:
    traj = integrate_flow(flow, assumption41_init(_flow(), SIGMA), float(times[-1]), t_eval=times)
    return np.c_[traj.a[:, 0], traj.b[:, 0]]


def _errors(run, ode: np.ndarray) -> dict:
    """Max over checkpoints and coordinates of |torch - ODE| / tolerance: isotropic and all entries."""
    d = CASE["d"]
    n_ck = len(run["times"])
    z_iso, z_all = z_value(2 * n_ck), z_value(2 * d * d * n_ck)
    euler = np.abs(run["path"] - run["ode"]) + SOLVER_FLOOR       # (checkpoints, 2): computed, not estimated
    iso = np.stack([np.einsum("sjj->s", run["A"]), np.einsum("sjj->s", run["B"])], 1) / d
    tol_iso = euler + z_iso * run["se_iso"]
    r_iso = np.abs(iso - ode) / tol_iso
    eye = np.eye(d)
    entries = np.stack([run["A"], run["B"]], 1)                   # (checkpoints, 2, d, d)
    target = ode[:, :, None, None] * eye
    tol_all = euler[:, :, None, None] * eye + SOLVER_FLOOR + z_all * run["se"]
    r_all = np.abs(entries - target) / tol_all
    i_iso, i_all = np.unravel_index(r_iso.argmax(), r_iso.shape), np.unravel_index(r_all.argmax(), r_all.shape)
    return dict(iso=float(r_iso.max()), all=float(r_all.max()), t_iso=float(run["times"][i_iso[0]]),
                t_all=float(run["times"][i_all[0]]), abs_iso=float(np.abs(iso - ode).max()),
                abs_all=float(np.abs(entries - target).max()), z_iso=z_iso, z_all=z_all,
                tol_iso_min=float(tol_iso.min()), tol_iso_max=float(tol_iso.max()))


@lru_cache(maxsize=None)
@disk_cached
def _runs(profile: str):
    cfg = PROFILES[profile]
    d, blk = CASE["d"], blocks(CASE["d"])
    times = _times()
    ode = _ode(_flow(), times)
    off_V = np.ones((token_dim(d),) * 2, bool)
    off_V[blk["w"], blk["x"]] = False
    off_W = np.ones_like(off_V)
    off_W[blk["x"], blk["w"]] = False
    off_W[d, 2 * d + 1] = False
    samples = [_sample(seed, cfg["N"]) for seed in cfg["seeds"]]
    X, w_star, targets = (torch.stack(parts) for parts in zip(*samples))
    start, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batched matmuls: one thread is faster on the shared 2-core machine
    try:
        Vs, Ws = _train(X, w_star, targets)  # every seed in one batch
    finally:
        torch.set_num_threads(threads)
    seconds = (time.perf_counter() - start) / len(samples)  # per seed, of the batched run
    runs = []
    for i, (seed, (Xs, ws, _)) in enumerate(zip(cfg["seeds"], samples)):
        path, se, se_iso = _tolerance_parts(Xs, ws)
        Vi, Wi = Vs[:, i], Ws[:, i]
        runs.append(dict(seed=seed, times=times, ode=ode, path=path, se=se, se_iso=se_iso,
                         A=Vi[:, blk["w"], blk["x"]], B=Wi[:, blk["x"], blk["w"]],
                         off_pattern_max=float(max(np.abs(Vi[:, off_V]).max(), np.abs(Wi[:, off_W]).max())),
                         w24=float(np.abs(Wi[:, d, 2 * d + 1] + 1).max()), seconds=seconds))
    return runs


def _perturbed_flow():
    flow = _flow()
    coeffs = list(flow.coeffs)
    coeffs[MOMENT] *= 1 + NEAR_MISS
    return dataclasses.replace(flow, coeffs=tuple(coeffs))


def _resolution(runs) -> float:
    """Smallest |kappa - 1| on a 0.5% grid such that the ODE at t = kappa lr s fails the isotropic comparison on
    every seed, for both kappa > 1 and kappa < 1 (the larger of the two sides)."""
    times = runs[0]["times"]
    found = []
    for sign in (1, -1):
        for j in range(1, 61):
            kappa = 1 + sign * 0.005 * j
            ode = _ode(_flow(), kappa * times)
            if all(_errors(r, ode)["iso"] > 1 for r in runs):
                found.append(0.005 * j)
                break
        else:
            found.append(float("inf"))
    return max(found)


# ------------------------------------------------------------------------------------ the checks
def _check_follows(evidence, profile):
    cfg = PROFILES[profile]
    runs = _runs(profile)
    evidence.describe("the full dense torch LSA (all of V, W trained except W24 = -1), from the sparse "
                      "Assumption 4.1 init, trained by full-batch GD on the CoT loss of a fixed N-task sample, "
                      "follows the exact scalar reduced flow at t = lr * step: isotropic parts and every entry of "
                      "V31 and W13, max over the trajectory (both stages)", **CASE, sigma=SIGMA, lr=LR,
                      t_max=T_MAX, checkpoints=len(runs[0]["times"]), N=cfg["N"], seeds=list(cfg["seeds"]),
                      w24="fixed at -1")
    resolution = _resolution(runs)
    evidence.params.update(
        resolution_time_scale=resolution,
        off_pattern_max=max(r["off_pattern_max"] for r in runs), w24_motion=max(r["w24"] for r in runs),
        train_seconds_per_seed=round(runs[0]["seconds"], 2),  # the seeds train in one batch
        per_seed={r["seed"]: _errors(r, r["ode"]) for r in runs})
    for r in runs:
        e = _errors(r, r["ode"])
        evidence.check_le(e["iso"], 1.0, what=f"seed {r['seed']}: max |iso error| / tolerance (t = {e['t_iso']})",
                          reason=(f"tolerance = |Euler_pop(lr) - ODE| (computed) + 1e-7 + z SE, z = {e['z_iso']:.2f} "
                                  "(99%, Bonferroni over 2 x checkpoints), SE = first-order linear response of the "
                                  f"trajectory to the per-task gradient spread; detects a time-scale error of "
                                  f"{resolution:.1%}"), statistical=True)
        evidence.check_le(e["all"], 1.0, what=f"seed {r['seed']}: max |entry error| / tolerance (t = {e['t_all']})",
                          reason=(f"every entry of V31, W13; tolerance = Euler (diagonal) + 1e-7 + z SE per entry, "
                                  f"z = {e['z_all']:.2f} (99%, Bonferroni over 2 d^2 x checkpoints)"), statistical=True)
    evidence.save_figure(_figure(runs[0]), "gd_cot_theorem4_1_torch_vs_ode")


def test_torch_lsa_follows_reduced_ode(evidence):
    _check_follows(evidence, "quick")


@pytest.mark.slow
def test_torch_lsa_follows_reduced_ode_paper(evidence):
    _check_follows(evidence, "paper")


def test_negative_control_time_scale(evidence):
    runs = _runs("quick")
    five = _ode(_flow(), (1 + NEAR_MISS) * runs[0]["times"])
    evidence.describe(f"negative control: the same comparison against the ODE at t = {1 + TIME_NEAR_MISS:.2f} lr s "
                      f"(time scale {TIME_NEAR_MISS:.0%} off) must fail on every seed; the 5% miss is not resolved "
                      "at these sizes (its ratios are recorded)", role="negative_control", **CASE, lr=LR,
                      N=PROFILES["quick"]["N"], seeds=list(PROFILES["quick"]["seeds"]), kappa=1 + TIME_NEAR_MISS,
                      ratios_at_5pct=[_errors(r, five)["iso"] for r in runs])
    ode = _ode(_flow(), (1 + TIME_NEAR_MISS) * runs[0]["times"])
    for r in runs:
        e = _errors(r, ode)
        evidence.check_ge(e["iso"], 1.0, what=f"seed {r['seed']}: max |iso error| / tolerance",
                          reason=f"the same tolerance as the check must reject a {TIME_NEAR_MISS:.0%} time-scale "
                                 "error (5% is below this check's resolution at N = 1000)", statistical=True)


def test_negative_control_moment_5pct(evidence):
    runs = _runs("quick")
    evidence.describe(f"negative control: the same comparison against the reduced flow with the Wishart moment "
                      f"mu_{MOMENT} = E tr S^{MOMENT} 5% too large must fail on every seed", role="negative_control",
                      **CASE, lr=LR, N=PROFILES["quick"]["N"], seeds=list(PROFILES["quick"]["seeds"]))
    ode = _ode(_perturbed_flow(), runs[0]["times"])
    for r in runs:
        e = _errors(r, ode)
        evidence.check_ge(e["iso"], 1.0, what=f"seed {r['seed']}: max |iso error| / tolerance",
                          reason="the same tolerance as the check must reject a 5% error in one loss coefficient",
                          statistical=True)


def _figure(run):
    import matplotlib.pyplot as plt

    t = run["times"]
    late = _ode(_flow(), (1 + NEAR_MISS) * t)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    d = CASE["d"]
    for ax, name, M, col in ((axes[0], "V_{31}", run["A"], 0), (axes[1], "W_{13}", run["B"], 1)):
        ax.plot(t, run["ode"][:, col], "k-", lw=1.5, label="ODE (scalar reduced flow)")
        ax.plot(t, late[:, col], "k--", lw=1, label=f"ODE, time scale {1 + NEAR_MISS:.2f}x (near miss)")
        ax.axhline(0.0, color="0.7", lw=0.8)
        for j in range(d):
            ax.plot(t[::2], M[::2, j, j], "o", ms=3, alpha=0.7, label=f"torch $({name})_{{{j}{j}}}$")
        off = M[:, ~np.eye(d, dtype=bool)]
        ax.plot(t[::2], off[::2], "x", ms=3, color="0.4", alpha=0.6)
        ax.plot([], [], "x", color="0.4", label=f"torch ${name}$ off-diagonal")
        ax.set_xlabel(r"gradient-flow time $t = \mathrm{lr} \times$ step")
        ax.set_ylabel(f"entries of ${name}$")
        ax.set_title(f"${name}$: torch GD (markers) vs ODE (lines), seed {run['seed']}", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
