r"""Exact spectral moments of the real Wishart matrix W = X X^T, X in R^{d x n} with i.i.d. N(0, 1) entries.

The reduced CoT loss of Section 4 (docs/provenance/gd_cot.md §7.2) needs E tr S^m, S = W / n, for m up to
2k + 2; §6 there lists them only for m <= 4. They follow exactly from Gaussian integration by parts (Stein's lemma,
E[X_ab f(X)] = E[df/dX_ab]) applied to tr W^m = sum_ab X_ab (X^T W^(m-1))_ba [D]:

    E[tr W^m F] = (n + m - 1) E[tr W^(m-1) F]
                  + sum_{j=0}^{m-2} E[tr W^(j+1) tr W^(m-2-j) F]
                  + sum_l 2 q_l E[tr W^(m+q_l-1) F / tr W^(q_l)],      F = prod_l tr W^(q_l),  tr W^0 = d.

Every term has total degree one lower, so the recursion over multisets of exponents ends at E[1] = 1. With
integer n, d all values are exact Python integers; with sympy symbols they are polynomials in n and d (the
m <= 4 cases reproduce the table of docs/provenance/gd_cot.md §6, which :mod:`constructions.gd_cot.symbolic` derives
from Gaussian moments independently).
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from constructions.errors import ProofCheckError, positive_int


def _mixed(exps: tuple[int, ...], n, d):
    """E[prod_l tr W^(exps_l)] for a sorted tuple of positive exponents (memoised per (n, d))."""
    return _mixed_cached(exps, n, d)


@lru_cache(maxsize=None)
def _mixed_cached(exps: tuple[int, ...], n, d):
    if not exps:
        return 1
    m, rest = exps[-1], exps[:-1]  # peel the largest exponent: it keeps the state space smallest

    def E(*parts, others=rest):
        zeros = sum(1 for p in parts if p == 0)
        key = tuple(sorted([p for p in parts if p > 0] + list(others)))
        return d**zeros * _mixed_cached(key, n, d)

    total = (n + m - 1) * E(m - 1)
    for j in range(m - 1):
        total += E(j + 1, m - 2 - j)
    for idx, q in enumerate(rest):
        others = rest[:idx] + rest[idx + 1:]
        total += 2 * q * E(m + q - 1, others=others)
    return sp.expand(total) if isinstance(total, sp.Expr) else total


def mixed_trace_moment(exponents, n, d):
    """E[prod_l tr W^(m_l)] exactly (integers for integer n, d; polynomials for sympy symbols)."""
    exps = tuple(sorted(int(e) for e in exponents))
    if any(e < 0 for e in exps):
        raise ProofCheckError(f"trace exponents must be non-negative integers (got {exponents})")
    zeros = sum(1 for e in exps if e == 0)
    return d**zeros * _mixed(tuple(e for e in exps if e > 0), n, d)


MAX_ORDER = 50  # the recursion visits every multiset of exponents with sum <= m: ~1e6 states at m = 50


def trace_moment(m: int, n, d):
    """E tr W^m for W = X X^T, X in R^{d x n} standard Gaussian; exact. Orders up to :data:`MAX_ORDER`
    (m = 42, what k = 20 CoT steps need, takes about 2 s; the cost grows like the partition numbers)."""
    if int(m) != m or m < 0:
        raise ProofCheckError(f"the moment order m must be a non-negative integer (got m={m})")
    if m > MAX_ORDER:
        raise ProofCheckError(f"exact Wishart moments are available up to order {MAX_ORDER} (k <= "
                              f"{(MAX_ORDER - 2) // 2} CoT steps for the scalar model); got order {m}: use the "
                              "eigenspace model, whose coefficients are sampled")
    if not isinstance(n, sp.Basic):
        n = positive_int(n, "n", "the number of in-context examples")
    if not isinstance(d, sp.Basic):
        d = positive_int(d, "d", "the input dimension")
    return mixed_trace_moment((int(m),), n, d)


def normalized_trace_moments(m_max: int, n: int, d: int) -> list[sp.Rational]:
    """[E tr S^m for m = 0..m_max] with S = X X^T / n, as exact rationals (E tr S^0 = d)."""
    n = positive_int(n, "n", "the number of in-context examples")
    d = positive_int(d, "d", "the input dimension")
    return [sp.Rational(trace_moment(m, n, d), n**m) for m in range(m_max + 1)]


def expected_gd_error(n: int, d: int, k: int, eta) -> sp.Rational:
    r"""(1/2) E||w_k - w*||^2 = (1/2) E tr (I - eta S)^{2k} for k GD steps from 0 (Theorems 3.2, 4.1, 4.2 [D]),
    exact: sum_m binom(2k, m) (-eta)^m E tr S^m. ``eta`` is taken as the exact rational of its decimal string."""
    k = positive_int(k, "k", "the number of CoT steps")
    eta = sp.Rational(str(eta)) if not isinstance(eta, sp.Basic) else eta
    mu = normalized_trace_moments(2 * k, n, d)
    return sp.Rational(1, 2) * sum(sp.binomial(2 * k, m) * (-eta) ** m * mu[m] for m in range(2 * k + 1))


def looped_gd_loss(n: int, d: int, loops: int, gamma) -> sp.Expr:
    r"""Query loss of the looped LSA reconstruction of Theorem 4.3
    (docs/provenance/gd_cot.md §7.6 [?], reconstructed [D]):
    L loops of GD on the in-context least squares with step gamma predict y_hat = x_q^T (I - (I - gamma S)^L) w*,
    so E(y_hat - y_q)^2 = E tr (I - gamma S)^{2L} (x_q, w* ~ N(0, I)), exact in gamma (symbol or number)."""
    loops = positive_int(loops, "loops", "the number of loops L")
    mu = normalized_trace_moments(2 * loops, n, d)
    return sp.expand(sum(sp.binomial(2 * loops, m) * (-gamma) ** m * mu[m] for m in range(2 * loops + 1)))


def best_looped_step(n: int, d: int, loops: int) -> tuple[float, float]:
    """(gamma_L, min loss) minimising :func:`looped_gd_loss` over gamma > 0 (real roots of the derivative of the
    exact polynomial); for L = 1 this is Theorem 3.1: gamma_1 = n/(n+d+1), loss d(d+1)/(n+d+1)."""
    g = sp.Symbol("gamma")
    poly = sp.Poly(looped_gd_loss(n, d, loops, g), g)
    crit = [float(r) for r in sp.Poly(poly.diff(g)).nroots(n=30) if abs(sp.im(r)) < 1e-20 and sp.re(r) > 0]
    values = [(float(poly.eval(c)), c) for c in crit]
    best, gamma = min(values)
    return gamma, best


# ---------------------------------------------------------------------------------------------------------
# Sampling: the spectrum of S = X X^T / n without forming X
# ---------------------------------------------------------------------------------------------------------
def sample_spectra(n: int, d: int, samples: int, seed: int):
    r"""Eigenvalues of S = X X^T / n, X in R^{d x n} with i.i.d. N(0, 1) entries, one sorted row per sample
    (samples, d), from the bidiagonal model of Dumitriu and Edelman (2002, beta-Laguerre ensemble, beta = 1):
    X X^T has the spectrum of B B^T with B lower bidiagonal, independent entries

        B_ii ~ chi_{n - i + 1} (i = 1..d),   B_{i+1, i} ~ chi_{d - i} (i = 1..d-1),

    and B B^T is tridiagonal (diagonal B_ii^2 + B_{i,i-1}^2, off-diagonal B_ii B_{i+1,i}): O(d^2) per sample
    (LAPACK stemr) instead of O(d^2 n) to form X X^T and O(d^3) to solve it (d = 256, n = 1024: 0.9 ms against
    34 ms of CPU per sample, measured). For d > n, X X^T has d - n zero eigenvalues and the spectrum of X^T X
    (the roles of n and d swapped).
    Checked against the exact moments E tr S^m (tests/test_formulas_gd_cot.py)."""
    import numpy as np
    from scipy.linalg import eigvalsh_tridiagonal

    n = positive_int(n, "n", "the number of in-context examples")
    d = positive_int(d, "d", "the input dimension")
    samples = positive_int(samples, "samples", "the number of Wishart samples")
    rng = np.random.default_rng(seed)
    m, p = min(n, d), max(n, d)  # the nonzero spectrum: m x m tridiagonal with degrees from p
    a2 = rng.chisquare(p - np.arange(m), size=(samples, m))
    b2 = rng.chisquare(m - 1 - np.arange(m - 1), size=(samples, m - 1))
    diag = a2.copy()
    diag[:, 1:] += b2
    off = np.sqrt(a2[:, :-1] * b2)
    lam = np.stack([eigvalsh_tridiagonal(diag[s], off[s]) for s in range(samples)]) / n
    return np.concatenate([np.zeros((samples, d - m)), lam], axis=1) if d > m else lam
