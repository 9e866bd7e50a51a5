r"""Exact (sympy) derivations for Huang–Wang–Lee: Theorems 3.1, 3.2 and Corollary 3.1.

Everything here is exact: rationals and polynomials, no floats. Expectations over Gaussians are taken with
:func:`gaussian_expectation` (moments of independent N(0, 1): E g^{2m} = (2m-1)!!, odd moments 0), so the
Wishart identities used by Theorem 3.1 are derived here, not typed in.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from constructions.gd_cot.model import LOSS_FACTOR

LOSS = sp.nsimplify(LOSS_FACTOR)  # 1/2: reported losses are LOSS * E||w_hat - w*||^2


# ---------------------------------------------------------------------------------------------------------
# Gaussian and Wishart moments
# ---------------------------------------------------------------------------------------------------------
def gaussian_expectation(expr: sp.Expr, gs) -> sp.Expr:
    """E[expr] for a polynomial in independent standard normals ``gs`` (other symbols are constants)."""
    poly = sp.Poly(sp.expand(expr), *gs)
    total = sp.Integer(0)
    for powers, coeff in poly.terms():
        if any(p % 2 for p in powers):
            continue
        total += coeff * sp.prod([sp.factorial2(p - 1) for p in powers])
    return sp.simplify(total)


def expected_SMS(M: sp.Matrix, Sigma: sp.Matrix, n) -> sp.Matrix:
    r"""E[S M S] = ((n+1)/n) Sigma M Sigma + (tr(M Sigma)/n) Sigma for symmetric M, x ~ N(0, Sigma).

    Derived from the fourth-moment identity E[g g^T A g g^T] = A + A^T + tr(A) I for g ~ N(0, I)
    (checked exactly by :func:`fourth_moment_identity`) and S = (1/n) sum_i x_i x_i^T with independent x_i:
    E[SMS] = (1/n) E[x x^T M x x^T] + ((n-1)/n) Sigma M Sigma. docs/provenance/gd_cot.md §6 [D].
    """
    return (n + 1) / sp.S(n) * Sigma * M * Sigma + (M * Sigma).trace() / sp.S(n) * Sigma


def fourth_moment_identity(d: int) -> tuple[sp.Matrix, sp.Matrix]:
    """(E[g g^T A g g^T], A + A^T + tr(A) I) for a symbolic d x d matrix A: must be equal."""
    g = sp.symbols(f"g0:{d}")
    A = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"A{i}{j}"))
    gv = sp.Matrix(g)
    lhs = (gv * gv.T * A * gv * gv.T).applyfunc(lambda e: gaussian_expectation(e, g))
    return lhs, A + A.T + A.trace() * sp.eye(d)


def sms_identity(d: int) -> tuple[sp.Matrix, sp.Matrix]:
    """(E[S M S] by Gaussian calculus, :func:`expected_SMS`) for diagonal Sigma, symmetric M, symbolic n."""
    n = sp.Symbol("n", positive=True, integer=True)
    r = sp.symbols(f"r0:{d}", positive=True)
    root = sp.diag(*r)
    Sigma = root * root
    M = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"M{min(i, j)}{max(i, j)}"))
    g = sp.symbols(f"g0:{d}")
    x = root * sp.Matrix(g)
    one = (x * x.T * M * x * x.T).applyfunc(lambda e: gaussian_expectation(e, g))
    exx = (x * x.T).applyfunc(lambda e: gaussian_expectation(e, g))
    lhs = (one + (n - 1) * exx * M * exx) / n
    return lhs.applyfunc(sp.simplify), expected_SMS(M, Sigma, n).applyfunc(sp.simplify)


def identity_cov_moments(n, d) -> tuple[sp.Expr, sp.Expr]:
    """(c1, c2) with E S = c1 I and E S^2 = c2 I for Sigma = I: c1 = 1, c2 = (n + d + 1)/n.

    c2 is :func:`expected_SMS` at M = Sigma = I written per diagonal entry, with tr(I) = d kept symbolic.
    """
    return sp.Integer(1), sp.simplify((n + 1) / sp.S(n) + sp.S(d) / n)


# ---------------------------------------------------------------------------------------------------------
# Theorem 3.1 / Corollary 3.1: the no-CoT optimum
# ---------------------------------------------------------------------------------------------------------
def no_cot_loss_along_eta(n, d, eta, moments=None) -> sp.Expr:
    r"""L(eta) = LOSS * E||(eta S - I) w*||^2 = LOSS * (eta^2 E tr S^2 - 2 eta E tr S + d), Sigma = I.

    E over w* ~ N(0, I) first gives tr((eta S - I)^2); then E tr S = d c1, E tr S^2 = d c2.
    Equals LOSS * (d (1 - eta)^2 + eta^2 d (d+1)/n). docs/provenance/gd_cot.md §6 [D].
    ``moments(n, d) -> (c1, c2)`` replaces the Wishart moments (negative controls use E S^2 = I).
    """
    c1, c2 = (moments or identity_cov_moments)(n, d)
    return LOSS * (eta**2 * d * c2 - 2 * eta * d * c1 + d)


@lru_cache(maxsize=None)
def _no_cot_optimum_symbolic():
    n, d, eta = sp.symbols("n d eta", positive=True)
    L = no_cot_loss_along_eta(n, d, eta)
    (eta_star,) = sp.solve(sp.diff(L, eta), eta)
    return n, d, sp.simplify(eta_star), sp.factor(sp.simplify(L.subs(eta, eta_star)))


def no_cot_optimum(n, d) -> tuple[sp.Expr, sp.Expr]:
    r"""(eta*, min loss) of Theorem 3.1: eta* = n/(n+d+1), min LOSS * E||w_hat - w*||^2 = LOSS d(d+1)/(n+d+1).

    Obtained by solving dL/d eta = 0 for :func:`no_cot_loss_along_eta`. Exact sympy numbers for integer
    inputs (e.g. ``no_cot_optimum(20, 10) == (20/31, 55/31)``), expressions for symbols.
    """
    ns, ds, eta_star, min_loss = _no_cot_optimum_symbolic()
    sub = {ns: sp.sympify(n), ds: sp.sympify(d)}
    return sp.simplify(eta_star.subs(sub)), sp.simplify(min_loss.subs(sub))


def odd_excess_loss_coefficient(n, d) -> sp.Expr:
    r"""c with L(M) - L(M*) = c ||M - M*||_F^2 for the odd map w_hat = M S w* (Sigma = I).

    The loss LOSS (tr(M E[S^2] M^T) - 2 tr M + d) is quadratic in M with stationary point M*, so the excess is
    LOSS tr((M - M*) E[S^2] (M - M*)^T) = LOSS c2 ||M - M*||_F^2, c2 = (n+d+1)/n.
    """
    return LOSS * identity_cov_moments(n, d)[1]


def general_sigma_optimum(Sigma: sp.Matrix, n) -> sp.Matrix:
    """M* = Gamma^{-1}, Gamma = ((n+1)/n) Sigma + (tr Sigma / n) I (docs/provenance/gd_cot.md §6 [D])."""
    d = Sigma.shape[0]
    Gamma = (n + 1) / sp.S(n) * Sigma + Sigma.trace() / sp.S(n) * sp.eye(d)
    return Gamma.inv()


def general_sigma_stationary_point(d: int) -> tuple[sp.Matrix, sp.Matrix]:
    """(argmin over M of E||(M S - I) w*||^2 by solving the gradient, :func:`general_sigma_optimum`).

    Loss: tr(M E[S^2] M^T) - 2 tr(M Sigma) + d with E[S^2] from :func:`expected_SMS`; diagonal Sigma, symbolic n.
    """
    n = sp.Symbol("n", positive=True)
    s = sp.symbols(f"s0:{d}", positive=True)
    Sigma = sp.diag(*s)
    M = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"m{i}{j}"))
    ES2 = expected_SMS(sp.eye(d), Sigma, n)
    loss = (M * ES2 * M.T).trace() - 2 * (M * Sigma).trace() + d
    sol = sp.solve([sp.diff(loss, m) for m in M], list(M), dict=True)[0]
    return M.subs(sol).applyfunc(sp.simplify), general_sigma_optimum(Sigma, n).applyfunc(sp.simplify)


def _symbolic_data(d: int, n: int):
    X = sp.Matrix(d, n, lambda i, j: sp.Symbol(f"x{i}_{j}"))
    w_star = sp.Matrix(d, 1, lambda i, _: sp.Symbol(f"ws{i}"))
    return X, w_star


def _sym_embed(X: sp.Matrix, w_star: sp.Matrix, cot_columns: list[sp.Matrix]) -> sp.Matrix:
    d, n = X.shape
    data = sp.Matrix.vstack(X, (X.T * w_star).T, sp.zeros(d + 1, n))
    cols = [sp.Matrix.vstack(sp.zeros(d + 1, 1), w, sp.ones(1, 1)) for w in cot_columns]
    return sp.Matrix.hstack(data, *cols)


def dense_no_cot_output(d: int, n: int) -> dict[str, sp.Matrix]:
    """Theorem 3.1 forward map with dense symbolic V, W: the w-block of f_LSA(Z_0)[:, -1] (w_0 = 0).

    Returns ``output`` (computed from f_LSA), ``decomposition`` (M S w* + even part, docs/provenance/gd_cot.md §6),
    ``odd`` and ``even`` parts, and the symbols. Exact for the given small d, n.
    """
    D = 2 * d + 2
    V = sp.Matrix(D, D, lambda i, j: sp.Symbol(f"V{i}_{j}"))
    W = sp.Matrix(D, D, lambda i, j: sp.Symbol(f"W{i}_{j}"))
    X, w_star = _symbolic_data(d, n)
    Z = _sym_embed(X, w_star, [sp.zeros(d, 1)])
    out = (Z + V * Z * (Z.T * W * Z) / n)[:, -1]
    S = X * X.T / n
    u = W[:, -1]
    ux, uy, u1 = u[0:d, 0], u[d, 0], u[2 * d + 1, 0]
    V31, V32, V34 = V[d + 1:2 * d + 1, 0:d], V[d + 1:2 * d + 1, d], V[d + 1:2 * d + 1, 2 * d + 1]
    M = uy * V31 + V32 * ux.T
    odd = M * S * w_star
    even = V31 * S * ux + uy * V32 * (w_star.T * S * w_star)[0, 0] + V34 * u1 / n
    return {"output": out[d + 1:2 * d + 1, 0], "decomposition": odd + even, "odd": odd, "even": even,
            "w_star": w_star, "full_column": out}


# ---------------------------------------------------------------------------------------------------------
# Theorem 3.2: the CoT construction
# ---------------------------------------------------------------------------------------------------------
def cot_step_general_blocks(d: int, n: int, n_prev: int) -> dict[str, sp.Matrix]:
    r"""Last output column of f_LSA on Z_i with symbolic blocks A = V31, B = W13, W24 = -1
    (docs/provenance/gd_cot.md §5).

    Z_i holds n symbolic data columns, ``n_prev`` earlier CoT columns (0, 0, u_j, 1) and the current one
    (0, 0, w_hat, 1), all entries symbols. Returns the computed column, the predicted column
    (0_d, 0, w_hat + A S (B w_hat - w*), 1) and the symbols A, B, w_hat, S, w*.
    """
    D = 2 * d + 2
    A = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"a{i}{j}"))
    B = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"b{i}{j}"))
    V, W = sp.zeros(D, D), sp.zeros(D, D)
    V[d + 1:2 * d + 1, 0:d] = A
    W[0:d, d + 1:2 * d + 1] = B
    W[d, 2 * d + 1] = -1
    X, w_star = _symbolic_data(d, n)
    prev = [sp.Matrix(d, 1, lambda i, _, j=j: sp.Symbol(f"u{j}_{i}")) for j in range(n_prev)]
    w_hat = sp.Matrix(d, 1, lambda i, _: sp.Symbol(f"wh{i}"))
    Z = _sym_embed(X, w_star, prev + [w_hat])
    col = (Z + V * Z * (Z.T * W * Z) / n)[:, -1].applyfunc(sp.expand)
    S = X * X.T / n
    predicted = sp.Matrix.vstack(sp.zeros(d + 1, 1), w_hat + A * S * (B * w_hat - w_star), sp.ones(1, 1))
    return {"column": col, "predicted": predicted.applyfunc(sp.expand), "A": A, "B": B, "w_hat": w_hat,
            "S": S, "w_star": w_star}


def gd_error_recursion(d: int, k: int) -> dict[str, sp.Matrix]:
    r"""Exact closed form of the k-step error: w_k - w* = -(I - eta S)^k w* (docs/provenance/gd_cot.md §5 [D]).

    With symbolic symmetric S, w* and eta, iterates the GD map from w_0 = 0 k times and returns the error
    and the closed form; also the one-step identity F(w) - w* = (I - eta S)(w - w*) for symbolic w.
    """
    eta = sp.Symbol("eta", positive=True)
    S = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"S{min(i, j)}{max(i, j)}"))
    w_star = sp.Matrix(d, 1, lambda i, _: sp.Symbol(f"ws{i}"))
    w = sp.Matrix(d, 1, lambda i, _: sp.Symbol(f"w{i}"))
    P = sp.eye(d) - eta * S

    def step(v):
        return v - eta * S * (v - w_star)

    it = sp.zeros(d, 1)
    for _ in range(k):
        it = step(it)
    return {"step_error": (step(w) - w_star).applyfunc(sp.expand), "step_predicted": (P * (w - w_star)).applyfunc(sp.expand),
            "error": (it - w_star).applyfunc(sp.expand), "closed_form": (-(P**k) * w_star).applyfunc(sp.expand)}


# ---------------------------------------------------------------------------------------------------------
# Corollary 3.1: Theta(d^2/n) sandwich, proved by non-negative polynomial certificates
# ---------------------------------------------------------------------------------------------------------
def sandwich_certificates(assume_n_ge_d_plus_1: bool = True) -> dict[str, object]:
    r"""Prove d^2/(2n) <= d(d+1)/(n+d+1) <= 2 d^2/n for d >= 1 and n >= d + 1.

    Both sides cleared of their positive denominators give polynomials that must be >= 0. With d = 1 + s and
    n = d + 1 + t (s, t >= 0), a polynomial whose expanded coefficients in (s, t) are all >= 0 is >= 0 on
    the whole region: that is the certificate. ``assume_n_ge_d_plus_1=False`` drops the assumption
    (n = 1 + t only): the lower certificate must then fail.
    Returns the polynomials and whether each certificate holds.
    """
    s, t = sp.symbols("s t", nonnegative=True)
    n, d = sp.symbols("n d", positive=True)
    err = d * (d + 1) / (n + d + 1)
    lower = sp.numer(sp.together(err - d**2 / (2 * n)))  # denominators 2 n (n+d+1) > 0
    upper = sp.numer(sp.together(2 * d**2 / n - err))  # denominators n (n+d+1) > 0
    sub = {d: 1 + s}
    sub_n = {n: (2 + s + t) if assume_n_ge_d_plus_1 else (1 + t)}
    out: dict[str, object] = {}
    for name, poly in (("lower", lower), ("upper", upper)):
        p = sp.Poly(sp.expand(poly.subs(sub_n).subs(sub)), s, t)
        out[name] = p.as_expr()
        out[f"{name}_certified"] = all(c >= 0 for c in p.coeffs())
    return out


def no_cot_ood_loss(Sigma: sp.Matrix, n) -> sp.Expr:
    r"""OOD loss of the no-CoT optimum trained on Sigma = I (w_hat = eta* S w*, eta* = n/(n+d+1)) on x ~ N(0, Sigma):

        LOSS * E||(eta* S - I) w*||^2 = LOSS * (eta*^2 tr E[S S] - 2 eta* tr Sigma + d)
                                      = LOSS * (||I - eta* Sigma||_F^2 + (eta*^2 / n)(tr Sigma^2 + (tr Sigma)^2)),

    with E[S S] from :func:`expected_SMS` at M = I (docs/provenance/gd_cot.md §7.5 [D]). Exact for rational Sigma.
    """
    d = Sigma.shape[0]
    eta_star = no_cot_optimum(n, d)[0]  # the verified Theorem 3.1 optimum, not a re-typed copy of n/(n+d+1)
    ESS = expected_SMS(sp.eye(d), Sigma, n)
    return sp.nsimplify(LOSS * (eta_star**2 * ESS.trace() - 2 * eta_star * Sigma.trace() + d))
