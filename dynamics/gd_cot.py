"""Huang–Wang–Lee: how the LSA parameters move under training.

- Torch training of the dense one-layer LSA without CoT (Theorem 3.1, Corollary 3.1) and with teacher-forced
  CoT (the fast batched loss :func:`constructions.gd_cot.torch_model.cot_loss`), both through the shared loop.
- The reduced model of Section 4 (V31 = A, W13 = B, W24 = -1): its population CoT loss derived with sympy, the
  gradient-flow right-hand side and Jacobian by sympy differentiation (lambdified once), for the scalar model
  (exact Wishart moments) and the eigenspace model (coefficients from a fixed Wishart sample with standard
  errors). Integrated by :mod:`dynamics.integrate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
import torch

from constructions.errors import ProofCheckError, positive_float, positive_int, seed_tuple
from constructions.gd_cot.model import LOSS_FACTOR
from constructions.gd_cot.symbolic import LOSS
from constructions.gd_cot.wishart import normalized_trace_moments
from constructions.gd_cot.torch_model import (
    LSA, cot_loss, cot_rollout_estimates, gd_targets_torch, no_cot_loss, sample_tasks_torch, sample_tasks_torch_seeds,
)
from dynamics.training import TrainConfig, Trainer, TrainResult, run, train


def train_no_cot(d: int, n: int, config: TrainConfig, *, init_scale: float = 0.1,
                 callback=None) -> tuple[LSA, TrainResult]:
    """Train a dense LSA (all of V, W, random N(0, init_scale^2) init, float64) on the no-CoT loss
    (1/2) E||f_LSA(Z_0)[w, -1] - w*||^2 with fresh Gaussian tasks every step."""
    d = positive_int(d, "d", "the input dimension")
    n = positive_int(n, "n", "the number of in-context examples")
    model = LSA(d, init_scale=init_scale, generator=torch.Generator().manual_seed(config.seed + 10_000))
    result = train(model, lambda m, batch: no_cot_loss(m, *batch),
                   lambda gen, size: sample_tasks_torch(gen, size, n, d), config, callback)
    return model, result


def cot_sampler(n: int, d: int, k: int, eta: float, dtype: torch.dtype = torch.float64):
    """Fresh tasks and their GD targets: ``sample(generator, batch) -> (X, w*, w_0..w_k)``."""
    def sample(gen: torch.Generator, batch: int):
        X, w_star = sample_tasks_torch(gen, batch, n, d, dtype=dtype)
        return X, w_star, gd_targets_torch(X, w_star, eta, k)
    return sample


def train_cot(d: int, n: int, k: int, eta: float, config: TrainConfig, *, init_scale: float = 0.1,
              dtype: torch.dtype = torch.float64, loss=cot_loss, callback=None) -> tuple[LSA, TrainResult]:
    """Train a dense LSA (all of V, W, random init) on the teacher-forced CoT loss with fresh tasks each step.

    ``loss(model, X, w*, targets)`` defaults to the suite's batched :func:`cot_loss`. The benchmark builds the
    same run with :func:`cot_trainer` and its step-by-step baseline as ``loss``: same loop, data and optimiser.
    """
    trainer = cot_trainer(d, n, k, eta, config, init_scale=init_scale, dtype=dtype, loss=loss)
    return trainer.model, run(trainer, callback)


def cot_trainer(d: int, n: int, k: int, eta: float, config: TrainConfig, *, init_scale: float = 0.1,
                dtype: torch.dtype = torch.float64, loss=cot_loss) -> Trainer:
    """The :class:`Trainer` behind :func:`train_cot` (same init, data and optimiser), to step by hand."""
    d = positive_int(d, "d", "the input dimension")
    n = positive_int(n, "n", "the number of in-context examples")
    k = positive_int(k, "k", "the number of CoT steps")
    eta = positive_float(eta, "eta", "the GD step size of the CoT targets")
    model = LSA(d, init_scale=init_scale, generator=torch.Generator().manual_seed(config.seed + 10_000), dtype=dtype)
    return Trainer(model, lambda m, batch: loss(m, *batch), cot_sampler(n, d, k, eta, dtype), config)


# ---------------------------------------------------------------------------------------------------------
# Seeds as a batch dimension: S independent runs in one batched computation
# ---------------------------------------------------------------------------------------------------------
def _seeded_config(config: TrainConfig, seeds) -> TrainConfig:
    from dataclasses import replace

    return replace(config, seeds=seed_tuple(seeds))


def train_no_cot_seeds(d: int, n: int, config: TrainConfig, seeds, *, init_scale: float = 0.1,
                       dtype: torch.dtype = torch.float64, callback=None) -> tuple[LSA, TrainResult]:
    """:func:`train_no_cot` for several seeds at once. Seed s of the returned model (``model.solo(s)``) and of
    ``result.losses`` (arrays of shape (S,)) is the run ``train_no_cot(d, n, replace(config, seed=seeds[s]))``
    up to float64 round-off: same init, same data stream, per-seed Adam. ``config.seed`` is not used.
    ``callback(step, model)`` receives the seeded model."""
    d = positive_int(d, "d", "the input dimension")
    n = positive_int(n, "n", "the number of in-context examples")
    config = _seeded_config(config, seeds)
    model = LSA.seeded(d, config.seeds, init_scale=init_scale, dtype=dtype)
    trainer = Trainer(model, lambda m, batch: no_cot_loss(m, *batch),
                      lambda gens, size: sample_tasks_torch_seeds(gens, size, n, d, dtype=dtype), config)
    return model, run(trainer, callback)


def cot_sampler_seeds(n: int, d: int, k: int, eta: float, dtype: torch.dtype = torch.float64):
    """:func:`cot_sampler` for a batched run: ``sample(generators, batch) -> (X, w*, w_0..w_k)`` with a leading
    seed axis; seed s's slice is what ``cot_sampler(...)(generators[s], batch)`` returns (the GD targets of all
    seeds are computed in one batch of S * batch tasks)."""
    def sample(gens, batch: int):
        X, w_star = sample_tasks_torch_seeds(gens, batch, n, d, dtype=dtype)
        return X, w_star, gd_targets_torch(X, w_star, eta, k)
    return sample


def train_cot_seeds(d: int, n: int, k: int, eta: float, config: TrainConfig, seeds, *, init_scale: float = 0.1,
                    dtype: torch.dtype = torch.float64, callback=None) -> tuple[LSA, TrainResult]:
    """:func:`train_cot` for several seeds at once, in one batched computation (the seed axis leads V, W and the
    data). Seed s (``model.solo(s)``, ``result.losses[step][s]``) is the run
    ``train_cot(d, n, k, eta, replace(config, seed=seeds[s]))`` up to float64 round-off. ``config.seed`` is not
    used. ``callback(step, model)`` receives the seeded model."""
    trainer = cot_trainer_seeds(d, n, k, eta, config, seeds, init_scale=init_scale, dtype=dtype)
    return trainer.model, run(trainer, callback)


def cot_trainer_seeds(d: int, n: int, k: int, eta: float, config: TrainConfig, seeds, *, init_scale: float = 0.1,
                      dtype: torch.dtype = torch.float64, loss=cot_loss) -> Trainer:
    """The batched :class:`Trainer` behind :func:`train_cot_seeds`, to step by hand. ``loss(model, X, w*,
    targets)`` must return per-seed batch means, shape (S,)."""
    d = positive_int(d, "d", "the input dimension")
    n = positive_int(n, "n", "the number of in-context examples")
    k = positive_int(k, "k", "the number of CoT steps")
    eta = positive_float(eta, "eta", "the GD step size of the CoT targets")
    config = _seeded_config(config, seeds)
    model = LSA.seeded(d, config.seeds, init_scale=init_scale, dtype=dtype)
    return Trainer(model, lambda m, batch: loss(m, *batch), cot_sampler_seeds(n, d, k, eta, dtype), config)


def rollout_gap_to_gd(model: LSA, X: torch.Tensor, w_star: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per task (1/2)||w_hat_k - w_k^GD||^2 of the autoregressive rollout (no teacher forcing); shape (batch,),
    or (S, batch) for a seeded model."""
    k = targets.shape[-2] - 1
    with torch.no_grad():
        w_hat = cot_rollout_estimates(model, X, w_star, k)[..., -1, :]
    return 0.5 * ((w_hat - targets[..., -1, :]) ** 2).sum(-1)


# =========================================================================================================
# Section 4: the reduced model (V31 = A, W13 = B, W24 = -1) and its population gradient flow
# =========================================================================================================
# Population CoT loss of the reduced model, docs/provenance/gd_cot.md §7.2 [D]:
#     L(A, B) = LOSS * sum_{i<k} E_S || A S K_i - eta S P^i ||_F^2,   K_i = (B - I) - B P^i,   P = I - eta S
# (E over w* ~ N(0, I) taken: E||M w*||^2 = ||M||_F^2); teacher forcing, GD-iterate targets, i = 0..k-1.
# Gradient flow: d(A, B)/dt = -grad L.

SCALAR, EIGENSPACE = "scalar", "eigenspace"
# Coefficients of the eigenspace loss: index-pattern averages of the tensors in eigenspace_loss_symbolic.
EIGEN_COEFFS = ("h0_11", "h0_12", "g1_111", "g1_112", "g1_122", "g1_123", "g2_111", "g2_112", "g2_122",
                "g2_123", "h1_11", "h1_12", "h2_11", "h2_12", "c")
DEFAULT_SAMPLES = 8192  # fixed Wishart sample of the eigenspace coefficients (SE reported)


def _exact_eta(eta) -> sp.Rational:
    """eta as an exact rational (0.1 -> 1/10), so that the scalar loss is exact."""
    return sp.Rational(str(eta)) if not isinstance(eta, sp.Basic) else eta


@lru_cache(maxsize=None)
def scalar_loss_symbolic(k: int):
    r"""Scalar model A = aI, B = bI: L(a, b) = LOSS * sum_{i<k} E sum_j lambda_j^2 r_ij^2,
    docs/provenance/gd_cot.md §7.2 [D],

        r_ij = a (b - 1) - (a b + eta) (1 - eta lambda_j)^i,      lambda_j = eig(S).

    Expanded in lambda and written with the spectral moments mu_m = E tr S^m (symbols ``mu[m]``): returns
    ``(expr, (a, b, eta), mu)``; substitute :func:`constructions.gd_cot.wishart.normalized_trace_moments`.
    """
    a, b, eta, lam = sp.symbols("a b eta lambda")
    body = sum(lam**2 * (a * (b - 1) - (a * b + eta) * (1 - eta * lam) ** i) ** 2 for i in range(k))
    poly = sp.Poly(sp.expand(body), lam)
    mu = sp.symbols(f"mu0:{2 * k + 3}")
    expr = LOSS * sum(coeff * mu[m] for (m,), coeff in poly.terms())
    return sp.expand(expr), (a, b, eta), mu


def _pattern_term(x, y, X, Y, XY, t):
    """Coordinate j's share of sum_{l,p} x_l y_p T_jlp for a tensor invariant under index permutations, with
    pattern values t = (T_jjj, T_jjp = T_jlj, T_jll, T_jlp all distinct); X = sum x, Y = sum y, XY = sum x y."""
    return (t[0] * x * y + t[1] * (x * (Y - y) + y * (X - x)) + t[2] * (XY - x * y)
            + t[3] * ((X - x) * (Y - y) - (XY - x * y)))


def coordinate_loss(a, b, T1, T2, D, eta, cs):
    r"""Coordinate j's share l(a_j, b_j; tr B, tr B^2) of the eigenspace loss, L = sum_j l_j (see
    :func:`eigenspace_loss_symbolic`). The eigen-directions are coupled only through tr B and tr B^2."""
    c = dict(zip(EIGEN_COEFFS, cs))
    x = b - 1
    quad = (c["h0_11"] * x**2 + c["h0_12"] * ((T2 - 2 * T1 + D) - x**2)
            - 2 * _pattern_term(x, b, T1 - D, T1, T2 - T1, [c[f"g1_{p}"] for p in ("111", "112", "122", "123")])
            + _pattern_term(b, b, T1, T1, T2, [c[f"g2_{p}"] for p in ("111", "112", "122", "123")]))
    lin = c["h1_11"] * x + c["h1_12"] * (T1 - D - x) - (c["h2_11"] * b + c["h2_12"] * (T1 - b))
    return LOSS * (a**2 * quad - 2 * eta * a * lin + eta**2 * c["c"] / D)


@lru_cache(maxsize=None)
def eigenspace_loss_symbolic(d: int):
    r"""Eigenspace model A = diag(a), B = diag(b) in a common eigenbasis (Sigma = I makes the basis irrelevant).

    Expanding ||A S K_i - eta S P^i||_F^2 and summing over i [D]:

        L = LOSS [ sum_j a_j^2 ( sum_l (b_l - 1)^2 H0_jl - 2 sum_{l,p} (b_l - 1) b_p G1_jlp + sum_{l,p} b_l b_p G2_jlp )
                   - 2 eta sum_{j,l} a_j ((b_l - 1) H1_jl - b_l H2_jl) + eta^2 c ],

        H0_jl = k E S_jl^2,  G_jlp = E[S_jl F_lp S_pj],  H_jl = E[S_jl (F S)_lj],  c = E tr(S F2 S),
        F1 = sum_{i<k} P^i,  F2 = sum_{i<k} P^{2i}.

    The expectations are invariant under permutations of the coordinates, so each tensor is fixed by its values on
    the index patterns (:data:`EIGEN_COEFFS`). The cross-pattern terms couple the eigen-directions through tr B
    and tr B^2 (the trace terms such as tr(M)/n in E[SMS]); no per-eigenvalue decoupling is assumed.
    Returns ``(expr, a, b, eta, coeffs)`` with explicit symbols a0.., b0.. (the reference form for small d).
    """
    a = sp.symbols(f"a0:{d}")
    b = sp.symbols(f"b0:{d}")
    eta = sp.Symbol("eta")
    cs = sp.symbols(" ".join(EIGEN_COEFFS))
    T1, T2 = sum(b), sum(bi**2 for bi in b)
    expr = sum(coordinate_loss(a[j], b[j], T1, T2, d, eta, cs) for j in range(d))
    return expr, a, b, eta, cs


def _matrix_functions(S: np.ndarray, k: int, eta: float) -> tuple[np.ndarray, np.ndarray]:
    """F1 = sum_{i<k} P^i and F2 = sum_{i<k} P^{2i}, P = I - eta S, for a batch of symmetric S."""
    lam, U = np.linalg.eigh(S)
    p = 1.0 - eta * lam
    powers = p[..., None] ** np.arange(2 * k)
    f1 = powers[..., :k].sum(-1)
    f2 = powers[..., 0:2 * k:2].sum(-1)
    return (U * f1[..., None, :]) @ U.swapaxes(-1, -2), (U * f2[..., None, :]) @ U.swapaxes(-1, -2)


def eigenspace_pattern_values(S: np.ndarray, k: int, eta: float) -> np.ndarray:
    """Per-sample pattern averages of the eigenspace tensors, shape (N, len(EIGEN_COEFFS)), in that order.

    For G_jlp = S_jl F_lp S_pj the class sums follow by inclusion-exclusion from
    A1 = sum_j S_jj^2 F_jj, Ajl = sum_j S_jj (FS)_jj, Alp = sum_jl S_jl^2 F_ll, Aall = tr(SFS).
    The sample mean over S estimates the population values of :func:`eigenspace_loss_symbolic`.
    """
    N, d, _ = S.shape
    F1, F2 = _matrix_functions(S, k, eta)
    diagS = np.diagonal(S, axis1=1, axis2=2)
    n1, n2, n3 = d, d * (d - 1), d * (d - 1) * (d - 2)
    safe = lambda s, m: s / m if m else np.zeros_like(s)  # noqa: E731 (empty patterns when d < 3)

    def g(F):
        FS = F @ S
        A1 = np.einsum("nj,nj->n", diagS**2, np.diagonal(F, axis1=1, axis2=2))
        Ajl = np.einsum("nj,nj->n", diagS, np.diagonal(FS, axis1=1, axis2=2))
        Alp = np.einsum("njl,nl->n", S**2, np.diagonal(F, axis1=1, axis2=2))
        Aall = np.einsum("njl,nlj->n", S, FS)
        return [A1 / n1, safe(Ajl - A1, n2), safe(Alp - A1, n2), safe(Aall - 2 * Ajl - Alp + 2 * A1, n3)], Ajl, Aall

    def h(F):
        FS = F @ S
        diag_part = np.einsum("nj,nj->n", diagS, np.diagonal(FS, axis1=1, axis2=2))
        total = np.einsum("njl,nlj->n", S, FS)
        return [diag_part / n1, safe(total - diag_part, n2)]

    sq = S**2
    h0 = [k * np.einsum("njj->n", sq) / n1, safe(k * (sq.sum((1, 2)) - np.einsum("njj->n", sq)), n2)]
    g1, _, _ = g(F1)
    g2, _, c = g(F2)
    return np.stack(h0 + g1 + g2 + h(F1) + h(F2) + [c], axis=1)


@lru_cache(maxsize=None)
def _scalar_functions(k: int, eta_key: str):
    """Loss, gradient and Hessian of the scalar loss in (a, b), by sympy, lambdified once; args (a, b, mu)."""
    expr, (a, b, eta), mu = scalar_loss_symbolic(k)
    expr = expr.subs(eta, _exact_eta(eta_key))
    grad = [sp.diff(expr, v) for v in (a, b)]
    hess = [[sp.diff(g, v) for v in (a, b)] for g in grad]
    return tuple(sp.lambdify((a, b, mu), e, "numpy") for e in (expr, grad, hess))


_DERIVS = ("a", "b", "T1", "T2", "aa", "ab", "aT1", "aT2", "bb", "bT1", "bT2", "T1T1", "T1T2", "T2T2")


@lru_cache(maxsize=None)
def _coordinate_functions(eta_key: str):
    """l, its first partial derivatives, and its first and second ones in (a, b, T1, T2) by sympy, lambdified
    once (vectorised over the coordinates j, common subexpressions shared); args (a, b, T1, T2, D, coeffs). The
    flow's right-hand side needs only the first derivatives (one LSODA step calls it far more often than the
    Jacobian): 0.14 ms instead of 0.41 ms per call at k = 20 (measured)."""
    a, b, T1, T2, D = sp.symbols("a b T1 T2 D")
    cs = sp.symbols(" ".join(EIGEN_COEFFS))
    ell = sp.expand(coordinate_loss(a, b, T1, T2, D, _exact_eta(eta_key), cs))
    names = {"a": a, "b": b, "T1": T1, "T2": T2}
    derivs = []
    for key in _DERIVS:
        parts = [key[0], key[1:]] if key[0] in "ab" else [key[:2], key[2:]]
        e = ell
        for part in parts:
            if part:
                e = sp.diff(e, names[part])
        derivs.append(e)
    args = (a, b, T1, T2, D, cs)
    return (sp.lambdify(args, ell, "numpy"), sp.lambdify(args, derivs[:4], "numpy", cse=True),
            sp.lambdify(args, derivs, "numpy", cse=True))


@dataclass(frozen=True)
class ReducedFlow:
    r"""The reduced gradient flow of Section 4 at fixed (d, n, k, eta), ready for ``solve_ivp``.

    ``mode`` is :data:`SCALAR` (A = aI, B = bI; exact: Wishart moments from
    :mod:`constructions.gd_cot.wishart`) or :data:`EIGENSPACE` (A = diag(a), B = diag(b); the index-pattern
    coefficients from a fixed Wishart sample of ``n_samples`` draws, standard errors in ``coeff_se``).
    State y = (a, b), a and b of length 1 (scalar) or d (eigenspace). Time is that of the matrix flow
    dA/dt = -grad_A L, dB/dt = -grad_B L: for A = aI the Frobenius metric gives da/dt = -(1/d) dL/da (the
    scalar ODE of docs/provenance/gd_cot.md §7.2 drops the 1/d, a rescaling of time).
    """
    d: int
    n: int
    k: int
    eta: float
    mode: str
    coeffs: tuple
    coeff_se: tuple
    n_samples: int

    @property
    def dim(self) -> int:
        return 1 if self.mode == SCALAR else self.d

    @property
    def metric(self) -> float:
        """||A||_F^2 per unit of the coordinate squared: d for the scalar model, 1 per eigen-direction."""
        return float(self.d) if self.mode == SCALAR else 1.0

    def split(self, y):
        y = np.asarray(y, float)
        if y.shape != (2 * self.dim,):
            raise ProofCheckError(f"the state must have length {2 * self.dim} (a then b), got shape {y.shape}")
        return y[: self.dim], y[self.dim:]

    def _coordinate_parts(self, y, second: bool = True):
        """(a, b, partial derivatives of l per coordinate: the first ones, and the second ones if ``second``)."""
        a, b = self.split(y)
        T1, T2 = b.sum(), (b**2).sum()
        _, first, both = _coordinate_functions(str(self.eta))
        values = (both if second else first)(a, b, T1, T2, self.d, self.coeffs)
        return a, b, dict(zip(_DERIVS, (np.broadcast_to(v, a.shape) for v in values)))

    def loss(self, y) -> float:
        """The population CoT loss L(A, B) at the state y."""
        if self.mode == SCALAR:
            a, b = self.split(y)
            return float(_scalar_functions(self.k, str(self.eta))[0](a[0], b[0], self.coeffs))
        a, b = self.split(y)
        ell = _coordinate_functions(str(self.eta))[0]
        return float(np.sum(np.broadcast_to(ell(a, b, b.sum(), (b**2).sum(), self.d, self.coeffs), a.shape)))

    def grad(self, y) -> np.ndarray:
        """dL/d(a, b). Eigenspace: dL/db_j = l_b(j) + sum_i l_T1(i) + 2 b_j sum_i l_T2(i) (chain rule)."""
        if self.mode == SCALAR:
            a, b = self.split(y)
            return np.asarray(_scalar_functions(self.k, str(self.eta))[1](a[0], b[0], self.coeffs), float)
        a, b, p = self._coordinate_parts(y, second=False)
        return np.concatenate([p["a"], p["b"] + p["T1"].sum() + 2 * b * p["T2"].sum()])

    def hessian(self, y) -> np.ndarray:
        """Second derivatives of L in (a, b) (chain rule through T1 = tr B, T2 = tr B^2 for the eigenspace)."""
        if self.mode == SCALAR:
            a, b = self.split(y)
            return np.asarray(_scalar_functions(self.k, str(self.eta))[2](a[0], b[0], self.coeffs), float)
        a, b, p = self._coordinate_parts(y)
        haa = np.diag(p["aa"])
        hab = np.diag(p["ab"]) + p["aT1"][:, None] + 2 * p["aT2"][:, None] * b[None, :]
        hbb = (np.diag(p["bb"] + 2 * p["T2"].sum())
               + p["bT1"][:, None] + 2 * p["bT2"][:, None] * b[None, :]          # d l_b(j) / d b_m
               + p["bT1"][None, :] + p["T1T1"].sum() + 2 * b[None, :] * p["T1T2"].sum()  # d sum_i l_T1 / d b_m
               + 2 * b[:, None] * (p["bT2"][None, :] + p["T1T2"].sum() + 2 * b[None, :] * p["T2T2"].sum()))
        return np.block([[haa, hab], [hab.T, hbb]])

    def rhs(self, t, y) -> np.ndarray:
        return -self.grad(y) / self.metric

    def jac(self, t, y) -> np.ndarray:
        return -self.hessian(y) / self.metric

    def fixed_point(self) -> np.ndarray:
        """The predicted limit (A, B) = (-eta I, I) of Theorem 4.1
        (stand-in target, docs/provenance/gd_cot.md §7.4 [D])."""
        return np.concatenate([np.full(self.dim, -self.eta), np.ones(self.dim)])


def reduced_flow(d: int, n: int, k: int, eta: float, *, mode: str = EIGENSPACE, n_samples: int = DEFAULT_SAMPLES,
                 seed: int = 0) -> ReducedFlow:
    """Build the reduced CoT gradient flow (scalar: exact; eigenspace: fixed sample, see :class:`ReducedFlow`)."""
    d = positive_int(d, "d", "the input dimension")
    n = positive_int(n, "n", "the number of in-context examples")
    k = positive_int(k, "k", "the number of CoT steps")
    eta = positive_float(eta, "eta", "the GD step size of the CoT targets")
    if mode not in (SCALAR, EIGENSPACE):
        raise ProofCheckError(f"mode must be '{SCALAR}' or '{EIGENSPACE}' (got {mode!r})")
    if mode == SCALAR:
        mu = normalized_trace_moments(2 * k + 2, n, d)
        return ReducedFlow(d, n, k, eta, mode, tuple(float(m) for m in mu), tuple(0.0 for _ in mu), 0)
    n_samples = positive_int(n_samples, "n_samples", "the size of the fixed Wishart sample")
    values = eigenspace_pattern_values(wishart_sample(n_samples, n, d, seed), k, eta)
    return ReducedFlow(d, n, k, eta, mode, tuple(values.mean(0)), tuple(values.std(0, ddof=1) / np.sqrt(n_samples)),
                       n_samples)


def wishart_sample(N: int, n: int, d: int, seed: int) -> np.ndarray:
    """N draws of S = X X^T / n, X in R^{d x n} standard Gaussian (fixed seed)."""
    X = np.random.default_rng(seed).standard_normal((N, d, n))
    return X @ X.swapaxes(1, 2) / n


def scalar_eval_loss(a: float, b: float, k: int, eta: float, moments) -> float:
    r"""Evaluation loss LOSS * E||w_hat_k - w*||^2 of the scalar model's autoregressive rollout, exact in S:

        e_k = q_k(S) w*,  q_k(s) = -(1 + a b s)^k + (a b - a) s sum_{j<k} (1 + a b s)^j,
        L_eval = LOSS * E tr q_k(S)^2 = LOSS * sum_m [q_k^2]_m mu_m       (mu_m = E tr S^m).

    From the reduced forward map w_(i+1) = (I + A S B) w_i - A S w*, docs/provenance/gd_cot.md §5 [D]; at
    (a, b) = (-eta, 1)
    this is LOSS * E tr (I - eta S)^{2k} (Theorems 3.2 / 4.1).
    """
    P = np.polynomial.Polynomial
    step = P([1.0, a * b])
    q = -(step**k) + (a * b - a) * P([0.0, 1.0]) * sum((step**j for j in range(k)), P([0.0]))
    coef = (q * q).coef
    return float(LOSS_FACTOR * np.dot(coef, np.asarray(moments, float)[: len(coef)]))


ASSUMPTION_41_SPREAD = (0.5, 1.5)  # reconstructed: eigenvalues of A(0) = B(0) are init_scale * U(0.5, 1.5)


def assumption41_init(flow: ReducedFlow, init_scale: float, seed: int = 0) -> np.ndarray:
    r"""Initial state of the reconstructed Assumption 4.1 (docs/provenance/gd_cot.md §7.3: hints only [?]).

    A(0) = V31(0) and B(0) = W13(0) share one eigenbasis and the same eigenvalues (Reviewer 1), at scale
    sigma = ``init_scale`` (Reviewer 1 asks whether sigma < 1/2): a_j(0) = b_j(0) = sigma u_j with u_j drawn
    from U(:data:`ASSUMPTION_41_SPREAD`) (seeded). The scalar model takes the mean, a(0) = b(0) = sigma.
    """
    sigma = positive_float(init_scale, "init_scale", "the scale sigma of the initialisation")
    if flow.mode == SCALAR:
        return np.array([sigma, sigma])
    u = np.random.default_rng(seed).uniform(*ASSUMPTION_41_SPREAD, flow.d)
    return np.concatenate([sigma * u, sigma * u])


@dataclass(frozen=True)
class Trajectory:
    """A solution of the reduced flow on a time grid: t (T,), a and b (T, dim), loss (T,)."""
    t: np.ndarray
    a: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    seconds: float
    n_rhs: int


ODE_RTOL, ODE_ATOL = 1e-9, 1e-12  # explicit tolerances (SciPy's defaults are too loose for limits to 1e-6)


def time_grid(t_max: float, n_points: int = 121) -> np.ndarray:
    """0 plus log-spaced times from t_max / 10^6 to t_max: both stages show on a log axis."""
    return np.concatenate([[0.0], np.geomspace(t_max * 1e-6, t_max, n_points - 1)])


def integrate_flow(flow: ReducedFlow, y0, t_max: float, *, t_eval=None, rtol: float = ODE_RTOL,
                   atol: float = ODE_ATOL, progress=None) -> Trajectory:
    """Integrate d(a, b)/dt = -grad L / metric with ``solve_ivp`` (LSODA, analytic Jacobian from sympy).

    ``progress(t)`` (optional) is called with the current time at most a few times per second.
    """
    import time

    from scipy.integrate import solve_ivp

    t_max = positive_float(t_max, "t_max", "the integration time")
    t_eval = time_grid(t_max) if t_eval is None else np.asarray(t_eval, float)
    calls = [0, time.perf_counter()]

    def rhs(t, y):
        calls[0] += 1
        if progress is not None and time.perf_counter() - calls[1] > 0.5:
            calls[1] = time.perf_counter()
            progress(t)
        return flow.rhs(t, y)

    start = time.perf_counter()
    sol = solve_ivp(rhs, (0.0, t_max), np.asarray(y0, float), method="LSODA", jac=flow.jac, t_eval=t_eval,
                    rtol=rtol, atol=atol)
    if not sol.success:
        raise ProofCheckError(f"the ODE solver failed: {sol.message}")
    seconds = time.perf_counter() - start
    a, b = sol.y[: flow.dim].T, sol.y[flow.dim:].T
    loss = np.array([flow.loss(y) for y in sol.y.T])
    return Trajectory(sol.t, a, b, loss, seconds, calls[0])


def progress_fraction(x: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Share of the way from start to end covered at each time: ||x(t) - start|| / ||end - start||."""
    return np.linalg.norm(x - start, axis=-1) / np.linalg.norm(end - start)


def stage_times(traj: Trajectory, a_end, b_end, level: float = 0.5) -> tuple[float, float]:
    """First times at which a, then b, have covered ``level`` of their way to (a_end, b_end) (interpolated on
    the grid). Two stages (docs/provenance/gd_cot.md §7.2): a (V31) moves first while b (W13) stays near its start."""
    out = []
    for x, end in ((traj.a, a_end), (traj.b, b_end)):
        frac = progress_fraction(x, x[0], np.broadcast_to(end, x[0].shape))
        idx = np.flatnonzero(frac >= level)
        if not idx.size:
            out.append(float("inf"))
            continue
        i = idx[0]
        out.append(float(traj.t[i]) if i == 0 else float(np.interp(level, frac[i - 1:i + 1], traj.t[i - 1:i + 1])))
    return out[0], out[1]


def stage_boundary(flow: ReducedFlow, traj: Trajectory) -> float:
    """Stage boundary: the first grid time at which W13 moves faster than V31, ||db/dt|| >= ||da/dt||
    (interpolated in log t). inf if it never happens on the grid."""
    speeds = np.array([flow.rhs(t, np.concatenate([a, b])) for t, a, b in zip(traj.t, traj.a, traj.b)])
    gap = np.linalg.norm(speeds[:, flow.dim:], axis=1) - np.linalg.norm(speeds[:, : flow.dim], axis=1)
    idx = np.flatnonzero((gap >= 0) & (traj.t > 0))
    if not idx.size:
        return float("inf")
    i = idx[0]
    if i == 0 or traj.t[i - 1] <= 0:
        return float(traj.t[i])
    w = -gap[i - 1] / (gap[i] - gap[i - 1])
    return float(np.exp((1 - w) * np.log(traj.t[i - 1]) + w * np.log(traj.t[i])))


def stage_one_target(flow: ReducedFlow, b: np.ndarray) -> np.ndarray:
    """argmin_a L(a, b) at frozen b: where V31 heads in stage 1 while W13 has not moved yet. L is quadratic in a
    (M_i is linear in A), so one Newton step from any a is exact: a* = a - H_aa^{-1} dL/da."""
    y = np.concatenate([np.zeros(flow.dim), np.asarray(b, float)])
    H = flow.hessian(y)[: flow.dim, : flow.dim]
    return -np.linalg.solve(H, flow.grad(y)[: flow.dim])


# The suite's reading of "V31 moves first, then W13" (the paper's stage definition is not known [?]): at the stage
# boundary V31 has closed >= 90% of its gap to the stage-1 target while W13 has covered <= 5% of its way to I.
TWO_STAGE_A_LEFT, TWO_STAGE_B_MOVED = 0.10, 0.05


def two_stage_measures(flow: ReducedFlow, traj: Trajectory) -> tuple[float, float, float]:
    """(stage boundary t*, share of V31's gap to the stage-1 target left at t*, share of W13's way to I covered at
    t*). Two stages hold when the second is <= TWO_STAGE_A_LEFT and the third <= TWO_STAGE_B_MOVED."""
    boundary = stage_boundary(flow, traj)
    i = int(np.searchsorted(traj.t, boundary))
    i = min(i, len(traj.t) - 1)
    target = stage_one_target(flow, traj.b[0])
    a_left = np.linalg.norm(traj.a[i] - target) / np.linalg.norm(traj.a[0] - target)
    b_moved = progress_fraction(traj.b, traj.b[0], np.ones(flow.dim))[i]
    return boundary, float(a_left), float(b_moved)


def independent_init(flow: ReducedFlow, init_scale: float, seed: int = 0) -> np.ndarray:
    """Beyond Assumption 4.1: V31(0) and W13(0) in one eigenbasis but with INDEPENDENT eigenvalues, a_j(0) =
    sigma u_j, b_j(0) = sigma v_j, u, v ~ U(ASSUMPTION_41_SPREAD) (seeded). Eigenspace flows only."""
    sigma = positive_float(init_scale, "init_scale", "the scale sigma of the initialisation")
    if flow.mode == SCALAR:
        raise ProofCheckError("independent eigenvalues need the eigenspace flow (the scalar flow has one)")
    u, v = np.random.default_rng(seed).uniform(*ASSUMPTION_41_SPREAD, (2, flow.d))
    return np.concatenate([sigma * u, sigma * v])


def train_looped(d: int, n: int, loops: int, config: TrainConfig, *, init_scale: float = 0.1):
    """Train a :class:`LoopedLSA` (dense shared V, W) on in-context regression with a query (Theorem 4.3)."""
    from constructions.gd_cot.torch_model import LoopedLSA, looped_query_loss

    d = positive_int(d, "d", "the input dimension")
    n = positive_int(n, "n", "the number of in-context examples")
    model = LoopedLSA(d, loops, init_scale=init_scale, generator=torch.Generator().manual_seed(config.seed + 10_000))

    def sample(gen, batch):
        X, w_star = sample_tasks_torch(gen, batch, n, d)
        return X, w_star, torch.randn(batch, d, generator=gen, dtype=torch.float32).to(torch.float64)

    result = train(model, lambda m, batch: looped_query_loss(m, *batch), sample, config)
    return model, result


def train_looped_seeds(d: int, n: int, loops: int, seeds, config: TrainConfig, *, init_scale: float = 0.1):
    """Train one dense looped LSA per seed (shared V, W within a model), all seeds in one batched Adam step.

    Seed s draws its own tasks from ``torch.Generator(s)`` (the same stream as :func:`train_looped` with
    ``config.seed = s``) and starts from the same init; the summed loss makes each seed's gradient its own, and
    Adam is elementwise, so the runs are independent. ``config.seed`` is not used. Returns (model, result) with
    the result's losses summed over seeds.
    """
    from constructions.gd_cot.looped import tasks_from
    from constructions.gd_cot.torch_model import SeedBatchedLoopedLSA

    d = positive_int(d, "d", "the input dimension")
    n = positive_int(n, "n", "the number of in-context examples")
    model = SeedBatchedLoopedLSA(d, loops, seeds, init_scale=init_scale)
    gens = [torch.Generator().manual_seed(s) for s in model.seeds]

    def sample(_gen, batch):
        parts = []
        for g in gens:
            X, w_star = sample_tasks_torch(g, batch, n, d)
            parts.append((X, w_star, torch.randn(batch, d, generator=g, dtype=torch.float32).to(torch.float64)))
        tasks = tasks_from(*(torch.cat(p) for p in zip(*parts)))
        S = len(gens)
        return type(tasks)(tasks.G.view(S, batch, d + 1, d + 1), tasks.q.view(S, batch, d + 1),
                           tasks.y_q.view(S, batch), n)

    result = train(model, lambda m, tasks: m.per_task_loss(tasks).mean(-1).sum(), sample, config)
    return model, result


# ---------------------------------------------------------------------------------------------------------
# Softmax attention on the same task (issue 16; reconstruction, constructions/gd_cot/softmax_model.py)
# ---------------------------------------------------------------------------------------------------------
def train_softmax_seeds(d: int, n: int, k: int | None, eta: float, config: TrainConfig, seeds, *,
                        init_scale: float = 0.1, dtype: torch.dtype = torch.float64, callback=None):
    """S one-layer softmax-attention models trained as one batch: on the teacher-forced CoT loss towards k-step
    GD with step ``eta`` (``k`` given), or without CoT (``k=None``: one pass predicts w*). Fresh tasks per seed
    and step (the same streams as the LSA runs of those seeds). Returns (model, TrainResult)."""
    from constructions.gd_cot.softmax_model import SoftmaxAttention, softmax_cot_loss, softmax_no_cot_loss

    d = positive_int(d, "d", "the input dimension")
    n = positive_int(n, "n", "the number of in-context examples")
    config = _seeded_config(config, seeds)
    model = SoftmaxAttention(d, config.seeds, init_scale=init_scale, dtype=dtype)
    if k is None:
        trainer = Trainer(model, lambda m, batch: softmax_no_cot_loss(m, *batch),
                          lambda gens, size: sample_tasks_torch_seeds(gens, size, n, d, dtype=dtype), config)
    else:
        trainer = Trainer(model, lambda m, batch: softmax_cot_loss(m, *batch),
                          cot_sampler_seeds(n, d, k, eta, dtype), config)
    return model, run(trainer, callback)


# ---------------------------------------------------------------------------------------------------------
# Theorem 4.1's quantitative regime (reconstructed [D]; docs/provenance/gd_cot.md §7.4: the form is not known)
# ---------------------------------------------------------------------------------------------------------
REGIME_N_PER_D = 4  # n = 4 d (reconstructed: n tied to d)
REGIME_K_PER_LOG_D = 10  # k = ceil(10 ln d) CoT steps (reconstructed: k tied to d)
REGIME_ETA = 0.3


def regime_sizes(d: int) -> tuple[int, int]:
    """(n, k) of the reconstructed regime at dimension d: n = REGIME_N_PER_D d, k = ceil(REGIME_K_PER_LOG_D ln d)."""
    import math

    d = positive_int(d, "d", "the input dimension")
    return REGIME_N_PER_D * d, max(1, math.ceil(REGIME_K_PER_LOG_D * math.log(d)))


def gd_eval_loss_samples(n: int, d: int, k: int, eta: float, samples: int, seed: int) -> np.ndarray:
    """Per Wishart sample, (1/2) tr (I - eta S)^{2k} = (1/2) sum_j (1 - eta lambda_j)^{2k}: the evaluation loss
    (averaged over w* ~ N(0, I)) of the flow's limit (-eta I, I), i.e. of exact k-step GD. Its mean is
    :func:`constructions.gd_cot.wishart.expected_gd_error` (exact up to order 50); this Monte Carlo form reaches
    any k. The spectra (:func:`constructions.gd_cot.wishart.sample_spectra`, seeded) are shared by every k."""
    positive_int(k, "k", "the number of CoT steps")
    return LOSS_FACTOR * ((1 - eta * _spectra(n, d, samples, seed)) ** (2 * k)).sum(-1)


@lru_cache(maxsize=16)
def _spectra(n: int, d: int, samples: int, seed: int) -> np.ndarray:
    from constructions.gd_cot.wishart import sample_spectra

    lam = sample_spectra(n, d, samples, seed)
    lam.flags.writeable = False
    return lam
