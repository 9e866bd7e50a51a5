"""gd_cot.theorem4_1: the reduced CoT gradient flow converges to (-eta I, I) in two stages; k = 1 leaves W13 free.

First the derivation is checked (reduced loss = full f_LSA loss, gradients = finite differences, Euler -> ODE at
first order, sampled coefficients = exact moments), then the claim (exact fixed point, convergence, two stages).
"""

from __future__ import annotations

import dataclasses
import itertools
from functools import lru_cache

import numpy as np
import pytest
import sympy as sp
import torch

from constructions.gd_cot.model import blocks, token_dim
from constructions.gd_cot.roundoff import gamma
from constructions.gd_cot.symbolic import identity_cov_moments
from constructions.gd_cot.torch_model import LSA, cot_loss, gd_targets_torch
from constructions.gd_cot.wishart import expected_gd_error, normalized_trace_moments, trace_moment
from dynamics.gd_cot import (
    EIGEN_COEFFS, SCALAR, TWO_STAGE_A_LEFT, TWO_STAGE_B_MOVED, assumption41_init, eigenspace_pattern_values,
    integrate_flow, reduced_flow, scalar_eval_loss, scalar_loss_symbolic, time_grid, two_stage_measures,
    wishart_sample,
)
from dynamics.integrate import figure, summarize
from verify.stats import z_value

pytestmark = pytest.mark.claim("gd_cot.theorem4_1")

PAPER = dict(d=10, n=20, k=20, eta=0.1)
DEFAULT = dict(d=10, n=20, k=10, eta=0.1)
T_MAX = 3000.0
B_NEAR_START, A_NEAR_TARGET = TWO_STAGE_B_MOVED, TWO_STAGE_A_LEFT  # stated two-stage criteria (claim's notes)


@lru_cache(maxsize=None)
def _flow(d, n, k, eta, mode="eigenspace", n_samples=8192, seed=0):
    return reduced_flow(d, n, k, eta, mode=mode, n_samples=n_samples, seed=seed)


@lru_cache(maxsize=None)
def _run(d, n, k, eta, mode="eigenspace", init_scale=0.1, seed=0, y0=None, t_max=T_MAX):
    flow = _flow(d, n, k, eta, mode)
    start = np.array(y0) if y0 is not None else assumption41_init(flow, init_scale, seed)
    return flow, integrate_flow(flow, start, t_max, t_eval=time_grid(t_max, 241))


# ------------------------------------------------------------------------------------ the derivation
def _reduced_lsa(a: np.ndarray, b: np.ndarray) -> LSA:
    d = len(a)
    V, W = np.zeros((token_dim(d),) * 2), np.zeros((token_dim(d),) * 2)
    blk = blocks(d)
    V[blk["w"], blk["x"]] = np.diag(a)
    W[blk["x"], blk["w"]] = np.diag(b)
    W[d, 2 * d + 1] = -1.0
    return LSA.from_numpy(V, W)


def _full_lsa_loss(a, b, X: torch.Tensor, eta: float, k: int) -> float:
    """Population-in-w* CoT loss of the full f_LSA at (V31, W13, W24) = (diag a, diag b, -1) on the data X:
    w* runs over the basis vectors, so the batch mean times d is E_{w*} (E w* w*^T = I)."""
    d = X.shape[1]
    Xr = X.repeat_interleave(d, dim=0)
    ws = torch.eye(d, dtype=torch.float64).repeat(X.shape[0], 1)
    with torch.no_grad():
        return float(d * cot_loss(_reduced_lsa(a, b), Xr, ws, gd_targets_torch(Xr, ws, eta, k)))


def _permuted_sample(d, n, N, seed):
    """N Gaussian X and all their coordinate permutations: the permutation average is exactly what the
    index-pattern coefficients of the eigenspace loss compute (see eigenspace_pattern_values)."""
    X = np.random.default_rng(seed).standard_normal((N, d, n))
    Xp = np.concatenate([X[:, list(p), :] for p in itertools.permutations(range(d))])
    return X, torch.from_numpy(Xp)


def _decoupled(flow):
    """The per-eigenvalue decoupled model (negative controls): cross-index pattern coefficients set to 0."""
    cross = [name.endswith(("12", "112", "122", "123")) for name in EIGEN_COEFFS]
    return dataclasses.replace(flow, coeffs=tuple(np.where(cross, 0.0, flow.coeffs)))


def _sample_flow(d, n, k, eta, X, zero_coupling=False):
    values = eigenspace_pattern_values(X @ X.swapaxes(1, 2) / n, k, eta).mean(0)
    flow = dataclasses.replace(_flow(d, n, k, eta, n_samples=16), coeffs=tuple(values))
    return _decoupled(flow) if zero_coupling else flow


def _fd_gradient_gap(flow, X_perm, eta, k, y, h=1e-3):
    """max |sympy gradient - central finite difference of the full f_LSA loss| and the scale of the gradient."""
    d = flow.d
    fd = np.empty(2 * d)
    for i in range(2 * d):
        e = np.zeros(2 * d)
        e[i] = h
        plus, minus = y + e, y - e
        fd[i] = (_full_lsa_loss(plus[:d], plus[d:], X_perm, eta, k)
                 - _full_lsa_loss(minus[:d], minus[d:], X_perm, eta, k)) / (2 * h)
    return float(np.abs(flow.grad(y) - fd).max()), float(np.abs(fd).max())


FD_CASE = dict(d=3, n=5, k=3, eta=0.2, N=4)


def _fd_tolerance(loss_scale: float, X_perm: torch.Tensor, k: int, h: float) -> tuple[float, str]:
    terms = X_perm.shape[0] * (k * token_dim(X_perm.shape[1]) + X_perm.shape[2])
    tol = 2 * gamma(terms) * loss_scale / (2 * h) * 10
    return tol, (f"central differences are exact for a loss of degree 2 in each coordinate (M_i is linear in A and "
                 f"in B), so only round-off is left: 2 gamma_N L / (2h) with N = {terms} accumulated terms, "
                 f"h = {h}, times 10 for the sums inside f_LSA")


def test_reduced_loss_and_gradient_match_full_lsa(evidence):
    c = FD_CASE
    evidence.describe("the sympy reduced loss and gradient (coefficients from a fixed sample of X) equal the "
                      "teacher-forced CoT loss of the full f_LSA on the same X (all coordinate permutations, w* over "
                      "the basis) and its central finite differences, float64", **c)
    X, Xp = _permuted_sample(c["d"], c["n"], c["N"], seed=7)
    flow = _sample_flow(c["d"], c["n"], c["k"], c["eta"], X)
    y = np.random.default_rng(3).uniform(-0.5, 1.2, 2 * c["d"])
    full = _full_lsa_loss(y[:3], y[3:], Xp, c["eta"], c["k"])
    gap, scale = _fd_gradient_gap(flow, Xp, c["eta"], c["k"], y)
    tol, reason = _fd_tolerance(full, Xp, c["k"], 1e-3)
    evidence.check_le(abs(flow.loss(y) - full), 2 * gamma(Xp.shape[0] * 40) * full, what="loss: reduced vs full",
                      reason="same polynomial evaluated two ways: float64 accumulation bound 2 gamma_N L",
                      predicted=full)
    evidence.check_le(gap, tol, reason=reason, what=f"gradient: sympy vs finite differences (|grad| ~ {scale:.3g})")


def test_negative_control_decoupled_eigen_odes(evidence):
    c = FD_CASE
    evidence.describe("negative control: the same comparison for per-eigenvalue decoupled ODEs (cross-index terms "
                      "dropped) must fail", role="negative_control", **c)
    X, Xp = _permuted_sample(c["d"], c["n"], c["N"], seed=7)
    flow = _sample_flow(c["d"], c["n"], c["k"], c["eta"], X, zero_coupling=True)
    y = np.random.default_rng(3).uniform(-0.5, 1.2, 2 * c["d"])
    gap, _ = _fd_gradient_gap(flow, Xp, c["eta"], c["k"], y)
    tol, reason = _fd_tolerance(_full_lsa_loss(y[:3], y[3:], Xp, c["eta"], c["k"]), Xp, c["k"], 1e-3)
    evidence.check_ge(gap, tol, reason=reason, what="decoupled gradient differs from finite differences")


def _euler_errors(flow, y0, T, steps, stepper=None):
    """||GD(h = T/N) - ODE solution at T|| for each N; GD follows ``stepper``'s gradient (default: the flow's)."""
    stepper = stepper or flow
    ref = integrate_flow(flow, y0, T, t_eval=[0.0, T], rtol=1e-12, atol=1e-14)
    y_ref = np.concatenate([ref.a[-1], ref.b[-1]])
    errors = []
    for N in steps:
        y, h = np.array(y0, float), T / N
        for _ in range(N):
            y = y + h * stepper.rhs(0.0, y)
        errors.append(np.linalg.norm(y - y_ref))
    return np.array(errors)


EULER_STEPS = (1000, 2000, 4000)  # h lambda_max(Hessian) <= 0.072: the asymptotic regime


def _slope(steps, errors):
    return float(np.polyfit(np.log(1.0 / np.array(steps)), np.log(errors), 1)[0])


def test_discrete_gd_approaches_flow_at_first_order(evidence):
    evidence.describe("discrete GD (explicit Euler) on the reduced loss approaches the ODE solution at T = 5 as "
                      "the step shrinks: log-log slope of the error against the step", **DEFAULT, T=5.0,
                      steps=EULER_STEPS)
    flow = _flow(**DEFAULT)
    errors = _euler_errors(flow, assumption41_init(flow, 0.1), 5.0, EULER_STEPS)
    slope = _slope(EULER_STEPS, errors)
    lam = float(np.linalg.eigvalsh(flow.hessian(assumption41_init(flow, 0.1))).max())
    evidence.params.update(errors=errors.tolist())
    evidence.check_close(slope, 1.0, 0.1, what="order of GD -> gradient flow",
                         reason=(f"Euler's global error is C h (1 + O(h lambda_max)); h lambda_max <= "
                                 f"{5.0 / EULER_STEPS[0] * lam:.3f} at the largest step, so the fitted slope is 1 "
                                 "to within 0.1"))


def test_negative_control_gd_on_decoupled_loss(evidence):
    evidence.describe("negative control: GD on the decoupled loss (cross-index terms dropped) does not approach the "
                      "coupled ODE: the error stops shrinking, slope far from 1", role="negative_control", **DEFAULT)
    flow = _flow(**DEFAULT)
    errors = _euler_errors(flow, assumption41_init(flow, 0.1), 5.0, EULER_STEPS, stepper=_decoupled(flow))
    evidence.check_ge(abs(_slope(EULER_STEPS, errors) - 1.0), 0.1, what="slope is not 1",
                      reason="the same first-order criterion must reject a flow that is not the gradient's")


@pytest.mark.parametrize("k", [1, 2, 3])
def test_sampled_coefficients_agree_with_exact_moments(evidence, k):
    d, n, eta = 10, 20, 0.1
    evidence.describe("the eigenspace loss (coefficients from the fixed Wishart sample) at scalar points A = aI, "
                      "B = bI equals the exact scalar loss (Wishart moments) within the sample's CI", d=d, n=n, k=k,
                      eta=eta, samples=8192)
    flow = _flow(d, n, k, eta)
    exact = _flow(d, n, k, eta, mode=SCALAR)
    values = eigenspace_pattern_values(wishart_sample(8192, n, d, 0), k, eta)
    points = [(0.1, 0.1), (-0.05, 0.5), (-0.1, 0.9), (0.3, -0.2)]
    z = z_value(len(points))
    for a, b in points:
        y = np.r_[np.full(d, a), np.full(d, b)]
        basis = [dataclasses.replace(flow, coeffs=tuple(np.eye(len(EIGEN_COEFFS))[i])).loss(y)
                 for i in range(len(EIGEN_COEFFS))]
        per_sample = values @ np.array(basis)  # the loss is linear in the coefficients
        se = per_sample.std(ddof=1) / np.sqrt(len(per_sample))
        floor = 2 * gamma(64) * float(np.abs(np.array(flow.coeffs) * basis).sum())  # cancellation near L = 0
        evidence.check_close(flow.loss(y), exact.loss([a, b]), z * se + floor, what=f"L at (a, b) = ({a}, {b})",
                             reason=(f"99% CI of the sample mean, Bonferroni over {len(points)} points (z = {z:.2f}), "
                                     "plus the float64 cancellation bound 2 gamma_64 sum |c_i phi_i|"), statistical=True)


def test_wishart_moments_exact(evidence):
    evidence.describe("exact: the Stein recursion for E tr W^m equals the chi-square moments "
                      "n(n+2)...(n+2m-2) (d = 1) and d(d+2)...(d+2m-2) (n = 1) up to m = 12, and the Gaussian-"
                      "calculus E S^2 = ((n+d+1)/n) I for symbolic n, d")
    ok, worst = True, None
    for m in range(1, 13):
        for n, d in ((7, 1), (1, 5), (20, 1), (1, 10)):
            chi = sp.prod([max(n, d) + 2 * j for j in range(m)])
            if trace_moment(m, n, d) != chi:
                ok, worst = False, (m, n, d)
    n_, d_ = sp.symbols("n d", positive=True)
    c2 = sp.simplify(trace_moment(2, n_, d_) / (n_**2 * d_) - identity_cov_moments(n_, d_)[1]) == 0
    evidence.check_exact(ok and c2, measured={"first mismatch": worst, "E S^2 matches": c2},
                         predicted={"first mismatch": None, "E S^2 matches": True})


# ------------------------------------------------------------------------------------ the claim
@pytest.mark.parametrize("k", [1, 2, 5, 10, 20])
def test_exact_fixed_point(evidence, k):
    d, n, eta = 10, 20, sp.Rational(1, 10)
    evidence.describe("sympy, exact moments: the scalar loss vanishes at (a, b) = (-eta, 1) with zero gradient; "
                      "for k >= 2 the Hessian there is positive definite (isolated minimum), for k = 1 L(-eta, b) = 0 "
                      "for every b (W13 undetermined)", d=d, n=n, k=k, eta=float(eta))
    expr, (a, b, e), mu = scalar_loss_symbolic(k)
    L = expr.subs(e, eta).subs(dict(zip(mu, normalized_trace_moments(2 * k + 2, n, d))))
    at = {a: -eta, b: 1}
    grad = [sp.diff(L, v).subs(at) for v in (a, b)]
    H = sp.hessian(L, (a, b)).subs(at)
    along_b = sp.expand(L.subs(a, -eta))
    if k == 1:
        ok = L.subs(at) == 0 and grad == [0, 0] and along_b == 0 and H.det() == 0
        predicted = {"L(-eta, 1)": 0, "grad": [0, 0], "L(-eta, b)": "0 for all b", "det H": 0}
    else:
        ok = L.subs(at) == 0 and grad == [0, 0] and H[0, 0] > 0 and H.det() > 0
        predicted = {"L(-eta, 1)": 0, "grad": [0, 0], "H": "positive definite"}
    evidence.check_exact(ok, measured={"L(-eta, 1)": L.subs(at), "grad": grad, "det H": H.det(),
                                       "L(-eta, b)": along_b if k == 1 else "(not identically 0)"},
                         predicted=predicted)


def test_negative_control_k2_fixes_b(evidence):
    evidence.describe("negative control: for k = 2 the loss along (-eta, b) is not identically 0, so the k = 1 "
                      "check would reject it", role="negative_control", k=2)
    expr, (a, b, e), mu = scalar_loss_symbolic(2)
    along_b = sp.expand(expr.subs(e, sp.Rational(1, 10)).subs(dict(zip(mu, normalized_trace_moments(6, 20, 10))))
                        .subs(a, -sp.Rational(1, 10)))
    evidence.check_exact(along_b != 0, measured={"L(-eta, b)": along_b}, predicted="not identically 0",
                         reason="exact: the check must tell k = 1 from k = 2")


def _convergence_case(evidence, flow, traj, label):
    s = summarize(flow, traj)
    mu = np.linalg.eigvalsh(flow.hessian(flow.fixed_point()) / flow.metric).min()
    dist = np.linalg.norm(np.c_[traj.a, traj.b] - flow.fixed_point(), axis=1)
    i = int(np.argmax(dist < 1e-2))
    predicted = dist[i] * np.exp(-mu * (traj.t[-1] - traj.t[i]))
    evidence.check_le(s["distance_to_fixed_point"], max(1e-8, 100 * predicted), predicted=[-flow.eta, 1.0],
                      what=f"{label}: distance of (a, b)(t_max) to (-eta, 1)",
                      reason=(f"linearised flow from the first time within 1e-2 contracts at the slowest Hessian "
                              f"rate mu = {mu:.3g}: predicts {predicted:.1e}; x100 for the transient, floor 1e-8 "
                              f"(solver rtol 1e-9)"))
    if flow.mode == SCALAR:
        moments = [float(m) for m in normalized_trace_moments(2 * flow.k, flow.n, flow.d)]
        target = float(expected_gd_error(flow.n, flow.d, flow.k, flow.eta))
        got = scalar_eval_loss(traj.a[-1, 0], traj.b[-1, 0], flow.k, flow.eta, moments)
        evidence.check_close(got, target, 1e-6 * target + 1e-12, what=f"{label}: L_eval at the limit",
                             reason="(1/2) E tr (I - eta S)^(2k) from exact moments; the limit is within 1e-8 of "
                                    "(-eta, 1) and L_eval is smooth there (relative change << 1e-6)")


@pytest.mark.parametrize("case", ["default-eigenspace", "default-scalar", "paper-k20-eigenspace"])
def test_flow_converges_to_construction(evidence, case):
    params = PAPER if case.startswith("paper") else DEFAULT
    mode = SCALAR if "scalar" in case else "eigenspace"
    evidence.describe(f"the {mode} flow from the reconstructed Assumption 4.1 init (sigma = 0.1) reaches "
                      "(V31, W13) = (-eta I, I) and loss 0", **params, mode=mode, init_scale=0.1, t_max=T_MAX)
    flow, traj = _run(**params, mode=mode)
    _convergence_case(evidence, flow, traj, case)
    if case == "default-eigenspace":
        evidence.save_figure(figure(flow, traj, summarize(flow, traj)), "gd_cot_theorem4_1_flow")


def _stages(flow, traj):
    return two_stage_measures(flow, traj)


@pytest.mark.parametrize("init_scale", [0.01, 0.1, 0.3])
def test_two_stages(evidence, init_scale):
    evidence.describe("two stages: at the stage boundary (first time ||dW13/dt|| >= ||dV31/dt||), V31 has closed "
                      f">= {1 - A_NEAR_TARGET:.0%} of its gap to the stage-1 target argmin_a L(a, B(0)) while W13 "
                      f"has covered <= {B_NEAR_START:.0%} of its way to I", **DEFAULT, init_scale=init_scale)
    flow, traj = _run(**DEFAULT, init_scale=init_scale)
    boundary, a_left, b_moved = _stages(flow, traj)
    s = summarize(flow, traj)
    evidence.params.update(stage_boundary=boundary, t_a_half=s["t_a_half"], t_b_half=s["t_b_half"])
    evidence.check_le(a_left, A_NEAR_TARGET, what=f"V31 gap left at t = {boundary:.3g}",
                      reason="stated criterion for 'V31 moves first' (the paper's stage definition is not known)")
    evidence.check_le(b_moved, B_NEAR_START, what=f"W13 progress at t = {boundary:.3g}",
                      reason="stated criterion for 'W13 stays near its start' (negative control: sigma = 1 fails)")


def test_negative_control_large_init_merges_stages(evidence):
    evidence.describe("negative control: sigma = 1 (outside the small-init assumption) starts W13 near I; the same "
                      "criterion must report that W13 moves within stage 1", role="negative_control", **DEFAULT,
                      init_scale=1.0)
    flow, traj = _run(**DEFAULT, init_scale=1.0)
    boundary, _, b_moved = _stages(flow, traj)
    evidence.check_ge(b_moved, B_NEAR_START, what=f"W13 progress at t = {boundary:.3g}",
                      reason="the two-stage criterion must be able to fail")


def test_k1_leaves_w13_undetermined(evidence):
    evidence.describe("k = 1: two Assumption-4.1 inits (sigma = 0.1, seeds 0 and 1) both send V31 to -eta I but "
                      "W13 to different limits, neither I; for k = 2 the same inits both reach I", d=10, n=20, eta=0.1)
    limits = {}
    for k in (1, 2):
        for seed in (0, 1):  # k = 2 pins b only weakly (slowest Hessian rate ~2e-4): integrate to t = 2e5
            flow, traj = _run(10, 20, k, 0.1, seed=seed, t_max=2e5)
            limits[(k, seed)] = (traj.a[-1], traj.b[-1])
    spread_k1 = float(np.abs(limits[(1, 0)][1] - limits[(1, 1)][1]).max())
    off_identity = float(np.abs(limits[(1, 0)][1] - 1.0).min())
    a_err = max(float(np.abs(limits[(1, s)][0] + 0.1).max()) for s in (0, 1))
    spread_k2 = max(float(np.abs(limits[(2, s)][1] - 1.0).max()) for s in (0, 1))
    evidence.check_le(a_err, 1e-6, what="k = 1: V31 -> -eta I", reason="converged flow (see the k >= 2 checks)")
    evidence.check_ge(spread_k1, 1e-2, what="k = 1: W13 limits differ between inits",
                      reason="undetermined: W13 keeps (most of) its init, and the inits differ by O(sigma)")
    evidence.check_ge(off_identity, 0.5, what="k = 1: W13 limit far from I", reason="sigma = 0.1 init, b stays O(sigma)")
    evidence.check_le(spread_k2, 1e-6, what="k = 2: W13 -> I from both inits", reason="isolated minimum (Hessian PD)")


def test_probe_dense_random_init_converges(evidence, profile):
    from verify.gd_cot.helpers import TRAINING, eval_tasks, rollout_to_gd, trained_cot

    cfg = TRAINING[profile]
    k = max(cfg["ks"])
    run = trained_cot(profile, k)
    evidence.describe("probe beyond Assumption 4.1: the full dense (V, W) from random N(0, 0.1^2) init, trained "
                      "in torch (Adam) on the CoT loss, still converges to the construction: median "
                      "(1/2)||w_hat_k - w_k^GD||^2 of the rollout on the evaluation tasks, every seed", role="probe",
                      d=cfg["d"], n=cfg["n"], k=k, eta=cfg["eta"], steps=cfg["steps"], seeds=list(run["seeds"]),
                      seconds_per_step=run["result"].seconds / len(run["result"].losses))
    X, w_star = eval_tasks(cfg["n"], cfg["d"])
    gap = rollout_to_gd(run["model"], X, w_star, cfg["eta"], k)
    for s, seed in enumerate(run["seeds"]):
        evidence.check_le(float(np.median(gap[s])), 1e-4, what=f"median rollout gap to k-step GD (seed {seed})",
                          reason="the benchmark's convergence criterion (issue 6): median below 1e-4")
