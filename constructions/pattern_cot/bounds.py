r"""The bound functionals of Theorems 1-3 as sympy expressions, with their unknown constants as symbols.

Slides-level statements [S-ICLR p.15-17] (constants, log factors and the step size eta are [NF]):

    Theorem 1:  l_tr >= C_l / alpha,   B >= C_B / eps^2,
                T = C_1 alpha^-2 K^3 + C_2 M K / alpha + C_3 M K / eps          (Theta(a^-2 K^3 + MK(a^-1 + e^-1)))
    Theorem 2:  l_ts >= C (alpha' tau rho)^-2              (v1 slides: C (alpha' tau)^-2)
    Theorem 3:  l_ts >= C (alpha' tau_o rho_o)^-2          (v1 slides: C (alpha' tau_o)^-2), only under Condition 1

Each term of T carries its own constant (the slides' Theta hides them), so the scaling of T in one variable is
a **band**, not a number: :func:`exponent_band` gives the range of the local log-log slope over all positive
constants (e.g. 0..2 in 1/alpha and 1..3 in K). The measured training cost of Theorem 1 is checked against it.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

alpha, alpha_p, tau, rho, tau_o, rho_o = sp.symbols("alpha alpha' tau rho tau_o rho_o", positive=True)
K, M, eps, C, C1, C2, C3 = sp.symbols("K M epsilon C C_1 C_2 C_3", positive=True)


def cot_examples_bound(a=alpha_p, t=tau, r=rho, c=C):
    """Theorem 2 (ICLR version): test examples needed for zero CoT error, C (alpha' tau rho)^-2."""
    return c * (a * t * r) ** -2


def cot_examples_bound_v1(a=alpha_p, t=tau, c=C):
    """Theorem 2 (arXiv v1 slides): C (alpha' tau)^-2."""
    return c * (a * t) ** -2


def icl_examples_bound(a=alpha_p, t=tau_o, r=rho_o, c=C):
    """Theorem 3 part 2 (ICLR version, Condition 1 holds): C (alpha' tau_o rho_o)^-2."""
    return c * (a * t * r) ** -2


def training_examples_bound(a=alpha, c=C):
    """Theorem 1: context examples per training prompt, C / alpha."""
    return c / a


def batch_bound(e=eps, c=C):
    """Theorem 1: batch size, C / eps^2."""
    return c * e ** -2


def iterations_bound(a=alpha, k=K, m=M, e=eps, c1=C1, c2=C2, c3=C3):
    """Theorem 1: iterations T = C_1 alpha^-2 K^3 + C_2 M K / alpha + C_3 M K / eps."""
    return c1 * a ** -2 * k ** 3 + c2 * m * k / a + c3 * m * k / e


def local_exponent(expr, var):
    """d log(expr) / d log(var): the log-log slope of expr in var at a point."""
    return sp.simplify(var * sp.diff(expr, var) / expr)


@lru_cache(maxsize=None)
def exponent_band(variable: str) -> tuple[sp.Expr, sp.Expr]:
    """(inf, sup) of the local log-log slope of T over all positive constants and all other variables, for
    ``variable`` in {'inv_alpha', 'K', 'M', 'inv_eps'}. T is a sum of monomials, so its slope is a weighted average
    of the monomials' exponents (weights = their shares of T); the band spans the smallest and largest exponent."""
    inv_a, inv_e = sp.symbols("a_inv e_inv", positive=True)
    T = iterations_bound(1 / inv_a, K, M, 1 / inv_e)
    var = {"inv_alpha": inv_a, "K": K, "M": M, "inv_eps": inv_e}[variable]
    exps = [local_exponent(t, var) for t in monomials(T)]
    return min(exps), max(exps)


def monomials(expr) -> tuple:
    """The terms of an expanded sum (the weights of the slope average in :func:`exponent_band`)."""
    return sp.Add.make_args(sp.expand(expr))


# --- the normal (CLT) approximation of the oracle's threshold [D] ---------------------------------------------
def clt_step_error(n, gap):
    """Normal approximation of P(a binary plurality of n votes is wrong) when the votes are +-1 with mean ``gap``:
    Phi(-sqrt(n) gap / sqrt(1 - gap^2)). numpy in, numpy out."""
    import numpy as np
    from scipy import stats

    n, gap = np.asarray(n, dtype=np.float64), np.asarray(gap, dtype=np.float64)
    return stats.norm.cdf(-np.sqrt(n) * gap / np.sqrt(1 - gap**2))


def clt_threshold_symmetric(g: float, K: int, delta: float, alpha: float = 1.0) -> float:
    """CLT threshold of the CoT oracle on the symmetric binary family (every A_k has correct entry (1+g)/2), with
    alpha' = ``alpha``: the l at which (1/K) sum_k Phi(-sqrt(n_k) g / sqrt(1-g^2)) = delta, where
    n_k = alpha' l ((1+g)/2)^(k-1) is the expected number of query-pattern examples still on the correct path
    (re-entering examples ignored). Solved by bisection in l (the error decreases in l)."""
    from scipy import optimize

    p = (1 + g) / 2

    def excess(l):
        return float(sum(clt_step_error(alpha * l * p**k, g) for k in range(K)) / K - delta)

    return float(optimize.brentq(excess, 1e-6, 1e9, xtol=1e-9, rtol=1e-12))


def symmetric_threshold_exponent_limit():
    """sympy: the CLT threshold shape L(g) = (1 - g^2) / (p g^2), p = (1+g)/2 (last step binding), against
    x = tau rho for the symmetric two-step family; returns (lim_{g->0} dlogL/dlogx, L, x) for both readings of rho."""
    g = sp.symbols("g", positive=True)
    p = (1 + g) / 2
    L = (1 - g**2) / (p * g**2)
    out = {}
    for name, r in (("normalized", (2 * p - 1) / p), ("unnormalized", 2 * p - 1)):
        x = p**2 * r
        slope = sp.simplify(sp.diff(sp.log(L), g) / sp.diff(sp.log(x), g))
        out[name] = sp.limit(slope, g, 0, "+")
    return out
