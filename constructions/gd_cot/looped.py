r"""Theorem 4.3 (reconstructed): the optimum of the looped LSA over its own parameters, reduced by symmetry.

Model (:class:`constructions.gd_cot.torch_model.LoopedLSA`, docs/provenance/gd_cot.md §7.6 [?]): Z = [[X, x_q], [y^T,
0]],
L loops of Z <- Z + V Z M Z^T W Z / n with shared V, W in R^{(d+1) x (d+1)}, M = diag(1, .., 1, 0), prediction
y_hat = -Z[d, -1], loss E (y_hat - y_q)^2 (no 1/2), x, x_q, w* ~ N(0, I_d), y = X^T w*.

**Every column moves by the same matrix** [D]. With G_l = Z_l M Z_l^T (the Gram matrix of the data columns),
the update is Z_{l+1} = T_l Z_l with T_l = I + V G_l W / n, so

    G_{l+1} = T_l G_l T_l^T,     q_{l+1} = T_l q_l,     q_0 = (x_q, 0),     y_hat = -q_L[d],
    G_0 = [[X X^T, X y], [y^T X^T, y^T y]] = n [[S, S w*], [w*^T S, w*^T S w*]].

The data columns are updated too (the keys change from loop to loop), so the looped model is not "L GD steps
with a fixed step on fixed data"; it can precondition the x's (x_i <- (I + p S) x_i) between loops.

**Symmetry reduction** [D]. For R = diag(Q, s), Q orthogonal, s = +-1, the task distribution is invariant under
x -> Q x, w* -> s Q w* (so y -> s y), and the loss satisfies loss(R V R^T, R W R^T) = loss(V, W): G and T are
conjugated by R, and the prediction and the target both change sign with s. So the gradient at a point fixed by
the group lies in the fixed subspace (symmetric criticality), and the fixed subspace is

    V = diag(p I_d, q),   W = diag(a I_d, e)          (commutes with every diag(Q, s), d >= 2):

the off-diagonal blocks vanish (Q b = b for all Q forces b = 0; Q = -I already does), and the x-block is a
multiple of I. The pair (V, W) -> (c V, W / c) leaves T unchanged; we fix that gauge by a = 1. Parameters:
theta = (p, q, e), and the map per loop is

    T = I + [[p S_l, p e b_l], [q b_l^T, q e c_l]]     (S_l, b_l, c_l: the blocks of G_l / n).

Shared-step looped GD is the point p = 0, e = 0, q = -gamma (the GD reconstruction of
:func:`constructions.gd_cot.wishart.looped_gd_loss`); at L = 1 the reduced optimum is the Theorem 3.1 optimum
d (d+1) / (n+d+1).

**Exact at e = 0** [D]. With e = 0 every block stays a polynomial in S (:func:`residual_polynomial`), so the
loss is E tr r(S)^2 with r a polynomial in the eigenvalue, and its value follows exactly from the Wishart moments
E tr S^m (:func:`exact_loss`); :func:`exact_optimum` minimises it over (p, q). p = 0 is shared-step GD.

What is derived and what is not: the reduction to (p, q, e) holds for *critical points in the fixed subspace*;
that the dense model's *global* optimum lies there is not proved. e (= W_yy / W_xx) is NOT zero at the optimum
by parity (it enters the prediction at order w*^3, whose cross term with the order-1 residual survives the
w* -> -w* symmetry), so the exact e = 0 optimum is an upper bound on the (p, q, e) optimum; the suite measures
the e-gradient by Monte Carlo, and trained dense models sit 1.3-1.6% below the e = 0 value at n = 20, d = 5. The suite checks the rest
numerically: the dense gradient at the e = 0 optimum vanishes in the other 71 entries within its statistical
error (W_yy included at the 72-entry Bonferroni level), and trained dense models reach the e = 0 optimum within
5% (verify/gd_cot/test_theorem4_3.py).
The paper's own Theorem 4.3 statement is not known [?].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
import torch
from scipy import optimize

from constructions.errors import ProofCheckError, positive_int

FREE = ("p", "q", "e")  # V = diag(p I, q), W = diag(I, e)


@dataclass(frozen=True)
class LoopedTasks:
    """A fixed sample of tasks: G_0 / n (N, d+1, d+1), query column q_0 (N, d+1), target y_q (N,)."""
    G: torch.Tensor
    q: torch.Tensor
    y_q: torch.Tensor
    n: int

    @property
    def d(self) -> int:
        return self.G.shape[-1] - 1


def tasks_from(X: torch.Tensor, w_star: torch.Tensor, x_q: torch.Tensor) -> LoopedTasks:
    """Build :class:`LoopedTasks` from X (N, d, n), w* (N, d), x_q (N, d) (the same tasks a torch model sees)."""
    N, d, n = X.shape
    y = torch.einsum("bdn,bd->bn", X, w_star)
    Xy = torch.cat([X, y[:, None, :]], dim=1)
    q = torch.cat([x_q, x_q.new_zeros(N, 1)], dim=1)
    return LoopedTasks(Xy @ Xy.transpose(1, 2) / n, q, (w_star * x_q).sum(-1), n)


def sample_looped_tasks(N: int, n: int, d: int, seed: int) -> LoopedTasks:
    """N fresh tasks (float64, drawn in float32 like the training sampler) from ``torch.Generator(seed)``."""
    from constructions.gd_cot.torch_model import sample_tasks_torch

    gen = torch.Generator().manual_seed(int(seed))
    X, w_star = sample_tasks_torch(gen, positive_int(N, "N", "the number of tasks"), n, d)
    x_q = torch.randn(N, d, generator=gen, dtype=torch.float32).to(torch.float64)
    return tasks_from(X, w_star, x_q)


def reduced_matrices(theta, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(V, W) = (diag(p I_d, q), diag(I_d, e)) from theta = (p, q, e) (a torch tensor keeps the graph)."""
    theta = torch.as_tensor(theta, dtype=torch.float64)
    ones = torch.ones(d, dtype=torch.float64)
    return torch.diag(torch.cat([theta[0] * ones, theta[1:2]])), torch.diag(torch.cat([ones, theta[2:3]]))


def predict(V: torch.Tensor, W: torch.Tensor, tasks: LoopedTasks, loops: int, *, freeze_data: bool = False):
    """y_hat per task for dense (V, W) through the Gram recursion (equal to ``LoopedLSA.forward``).

    ``freeze_data=True`` keeps G at G_0 (the keys never move): the near-miss model without data updates.

    Only matrix-vector products are formed: q_{l+1} = T_l q_l needs G_l applied to one vector, and
    G_l v = T_{l-1} G_{l-1} T_{l-1}^T v unrolls to products with G_0 (3^l of them per loop: L = 2, the trained
    case, costs 4 in all). T_l^T v = v + W^T G_l V^T v, as every G_l is symmetric. On CPU this is about 2x faster
    per loss-and-gradient than forming the D x D products T_l G_l T_l^T per task (3.7 -> 1.6-1.9 ms, 3 seeds,
    batch 256, measured).
    """
    G0 = tasks.G  # already divided by n

    def gram(l: int, v):  # G_l v
        if l == 0 or freeze_data:
            return (G0 * v[..., None, :]).sum(-1)
        return step(l - 1, gram(l - 1, step(l - 1, v, transpose=True)))

    def step(l: int, v, transpose: bool = False):  # T_l v, or T_l^T v
        if transpose:
            return v + _times(gram(l, _times(v, V.transpose(-1, -2))), W.transpose(-1, -2))
        return v + _times(gram(l, _times(v, W)), V)

    q = tasks.q
    for l in range(positive_int(loops, "loops", "the number of loops L")):
        q = step(l, q)
    return -q[..., -1]


def _times(v: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """A v for a batch of vectors v (..., B, D) and a matrix A shared by the B tasks, (D, D) or (..., 1, D, D):
    one (B x D) @ (D x D) product per leading index (as rows: v A^T)."""
    if A.dim() > 2:
        A = A.squeeze(-3)
    return v @ A.transpose(-1, -2)


def per_task_loss(V, W, tasks: LoopedTasks, loops: int, *, freeze_data: bool = False) -> torch.Tensor:
    """(y_hat - y_q)^2 per task (no 1/2, matching looped_gd_loss)."""
    return (predict(V, W, tasks, loops, freeze_data=freeze_data) - tasks.y_q) ** 2


# ---------------------------------------------------------------------------------------------------------
# Exact population loss of the e = 0 sub-model (Wishart moments)
# ---------------------------------------------------------------------------------------------------------
def residual_polynomial(loops: int, *, freeze_data: bool = False, freeze_query: bool = False):
    r"""r(lambda) with y_hat - y_q = -x_q^T U r(S) U^T w* for the reduced model at e = 0 (sympy, in p, q, lam) [D].

    At e = 0, T_l = [[I + p S_l, 0], [q b_l^T, 1]], so every block stays a polynomial in S (they commute):
    S_{l+1} = (I + p S_l)^2 S_l,  b_{l+1} = (I + p S_l)(I + q S_l) b_l,  x_{q,l+1} = (I + p S_l) x_{q,l},
    y_{q,l+1} = y_{q,l} + q b_l^T x_{q,l}, with b_0 = S w*. Per eigenvalue lambda of S:

        r = 1 + q lambda sum_{l<L} h_l f_l,   s_0 = lambda, f_0 = h_0 = 1,
        s_{l+1} = (1 + p s_l)^2 s_l,  f_{l+1} = (1 + p s_l)(1 + q s_l) f_l,  h_{l+1} = (1 + p s_l) h_l,

    and E (y_hat - y_q)^2 = E tr r(S)^2 (x_q, w* ~ N(0, I)). p = 0 gives r = (1 + q lambda)^L: shared-step GD.
    ``freeze_data``: the keys never move (s_l = lambda, f_l = 1), r = 1 + q lambda sum_{l<L} (1 + p lambda)^l.
    ``freeze_query``: a wrong derivation that updates the data columns but forgets that the query's x moves too
    (h_l = 1); a near miss.
    """
    p, q, lam = sp.symbols("p q lam")
    s, f, h, acc = lam, sp.Integer(1), sp.Integer(1), sp.Integer(0)
    for _ in range(positive_int(loops, "loops", "the number of loops L")):
        acc += h * f
        if freeze_data:
            h = h * (1 + p * lam)
        else:
            s, f, h = (1 + p * s) ** 2 * s, (1 + p * s) * (1 + q * s) * f, h if freeze_query else (1 + p * s) * h
    return sp.expand(1 + q * lam * acc), (p, q, lam)


@lru_cache(maxsize=None)
def exact_loss(n: int, d: int, loops: int, freeze_data: bool = False, freeze_query: bool = False):
    """E tr r(S)^2 as a sympy polynomial in (p, q), exact rational coefficients (Wishart moments), and its
    lambdified value and gradient: (expr, (p, q), f(p, q), grad(p, q))."""
    from constructions.gd_cot.wishart import normalized_trace_moments

    r, (p, q, lam) = residual_polynomial(loops, freeze_data=freeze_data, freeze_query=freeze_query)
    poly = sp.Poly(sp.expand(r**2), lam)
    mu = normalized_trace_moments(poly.degree(), n, d)
    expr = sp.expand(sum(c * mu[m[0]] for m, c in zip(poly.monoms(), poly.coeffs())))
    return (expr, (p, q), sp.lambdify((p, q), expr, "math"),
            sp.lambdify((p, q), [sp.diff(expr, p), sp.diff(expr, q)], "math"))


@dataclass(frozen=True)
class ExactOptimum:
    loops: int
    p: float
    q: float
    loss: float
    variant: str


EXACT_VARIANTS = ("full", "frozen_data", "frozen_query", "gd")


@lru_cache(maxsize=None)
def exact_optimum(n: int, d: int, loops: int, variant: str = "full") -> ExactOptimum:
    """min over (p, q) of the exact e = 0 loss (``variant``: 'full', 'frozen_data', 'frozen_query' (see
    :func:`residual_polynomial`), or 'gd' with p = 0).

    BFGS on the exact polynomial from a grid of starts (the GD optimum and p in [-0.5, 0]); L = 1 gives the
    Theorem 3.1 optimum q = -n/(n+d+1), loss d(d+1)/(n+d+1) (p does not enter)."""
    if variant not in EXACT_VARIANTS:
        raise ProofCheckError(f"variant must be one of {EXACT_VARIANTS} (got {variant!r})")
    from constructions.gd_cot.wishart import best_looped_step

    _, _, f, g = exact_loss(n, d, loops, variant == "frozen_data", variant == "frozen_query")
    gamma = best_looped_step(n, d, loops)[0]
    if variant == "gd":
        res = optimize.minimize(lambda x: f(0.0, x[0]), [-gamma], jac=lambda x: [g(0.0, x[0])[1]], method="BFGS",
                                options={"gtol": 1e-12})
        return ExactOptimum(loops, 0.0, float(res.x[0]), float(res.fun), variant)
    best = None
    for p0 in np.linspace(-0.5, 0.0, 11):
        res = optimize.minimize(lambda x: f(*x), [p0, -gamma], jac=lambda x: g(*x), method="BFGS",
                                options={"gtol": 1e-12})
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if loops == 1:  # p does not enter at L = 1; report the GD point
        return ExactOptimum(loops, 0.0, float(best.x[1]), float(best.fun), variant)
    return ExactOptimum(loops, float(best.x[0]), float(best.x[1]), float(best.fun), variant)
