r"""Step-wise transition matrices of erroneous test examples and the quantities of Theorems 2 and 3.

Li, Lu, Chen, Cui, Wang (ICLR 2025), docs/provenance/pattern_cot.md §1.4. A test task f on M' TSR patterns has K
step-wise
transition matrices A_1..A_K (row-stochastic: A_k[a, b] = P(step k outputs pattern b | step k-1 is pattern a)
[I]); the correct successor c_k(a) of row a is its strict row-argmax (required by the paper). Then

    B       = A_1 A_2 ... A_K                                       (this order; the authors' example fixes it)
    tau     = min_a max_{s_0 = a, s_1..s_K} prod_k A_k[s_{k-1}, s_k]   (min-max trajectory probability)
    tau_o   = min_a max_b B[a, b]                                     (min-max input-label probability)
    rho     = min_{k, a} (A_k[a, c_k(a)] - max_{b != c_k(a)} A_k[a, b]) / A_k[a, c_k(a)]   (normalised [I])
    rho_o   = min_a      (B[a, c(a)]     - max_{b != c(a)}   B[a, b])   / B[a, c(a)]       (c = c_K o .. o c_1)
    Condition 1:  argmax_b B[a, b] = c(a) strictly, for every a.

The formula for rho is not known [NF]: the slides only say "normalized gap of accurate over the most likely
inaccurate reasoning steps"; ``normalized=False`` drops the division (the other reading). ``TAU_READING`` picks
the reading of tau: the most probable trajectory (the slides' words, default) or the correct trajectory (what
the authors' worked example multiplies); both agree on that example.

Exactness: matrices given as sympy matrices or nested lists of ints / ``fractions.Fraction`` / sympy numbers
are computed in exact rationals and results are sympy objects; numpy arrays or Python floats run in float64.
Use :func:`exact` to turn decimal literals like 0.6 into the rational 3/5.
"""

from __future__ import annotations

import numbers
from fractions import Fraction

import numpy as np
import sympy as sp

from constructions.errors import ProofCheckError

TAU_READINGS = ("max_path", "correct_path")
TAU_READING = "max_path"  # re-pinnable once the paper's definition is known
FLOAT_ROW_SUM_TOL = 1e-12  # float64 rows must sum to 1 within this (round-off of a few additions)

# The authors' worked example [S-ICLR p.13-14]: M' = 2, K = 2, correct paths 1 -> 1 -> 2 and 2 -> 2 -> 1.
WORKED_EXAMPLE = (((0.6, 0.4), (0.4, 0.6)), ((0.4, 0.6), (0.8, 0.2)))


def exact(As):
    """Matrices with every entry as an exact rational (decimal floats read through their shortest repr: 0.6 -> 3/5)."""
    def q(v):
        if isinstance(v, sp.Basic):
            return sp.nsimplify(v, rational=True)
        if isinstance(v, float):
            return sp.Rational(repr(v))
        return sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else sp.Rational(v)
    return [sp.Matrix([[q(v) for v in row] for row in _rows(A)]) for A in _as_list(As)]


def _as_list(As) -> list:
    if isinstance(As, np.ndarray) and As.ndim == 2 or isinstance(As, sp.MatrixBase):
        raise ProofCheckError("As must be a sequence of K transition matrices, not a single matrix (wrap it: [A])")
    out = list(As)
    if not out:
        raise ProofCheckError("As must hold at least one transition matrix (got K=0)")
    return out


def _rows(A) -> list[list]:
    if isinstance(A, sp.MatrixBase):
        return [list(A.row(i)) for i in range(A.rows)]
    if isinstance(A, np.ndarray):
        return [[float(v) for v in row] for row in A]
    return [list(row) for row in A]


def _is_exact_entry(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, sp.Basic):
        return v.is_Rational is True
    return isinstance(v, (numbers.Integral, Fraction))


def _load(As):
    """(list of nested-list matrices, exact?) with validation: square, same size, nonnegative, rows sum to 1."""
    raw = [_rows(A) for A in _as_list(As)]
    is_exact = all(_is_exact_entry(v) for M in raw for row in M for v in row)
    mats = ([[[sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else sp.Rational(v) for v in row]
              for row in M] for M in raw] if is_exact else [[[float(v) for v in row] for row in M] for M in raw])
    n = len(mats[0])
    for k, M in enumerate(mats, start=1):
        if len(M) != n or any(len(row) != n for row in M):
            raise ProofCheckError(f"A_{k} must be a square {n} x {n} matrix like A_1 (got {len(M)} rows)")
        for a, row in enumerate(M):
            if any(v < 0 for v in row):
                raise ProofCheckError(f"A_{k} row {a} has a negative entry (transition probabilities are >= 0)")
            s = sum(row)
            if (s != 1) if is_exact else abs(s - 1) > FLOAT_ROW_SUM_TOL:
                raise ProofCheckError(f"A_{k} row {a} sums to {s}, not 1 (rows are distributions over next patterns)")
    return mats, is_exact


def _matmul(X, Y):
    return [[sum(X[i][t] * Y[t][j] for t in range(len(Y))) for j in range(len(Y[0]))] for i in range(len(X))]


def _out(M, is_exact):
    return sp.Matrix(M) if is_exact else np.array(M, dtype=np.float64)


def _strict_argmax(row) -> int | None:
    best = max(row)
    hits = [j for j, v in enumerate(row) if v == best]
    return hits[0] if len(hits) == 1 else None


def _correct(mats, correct):
    """Per-step correct maps: given, or the strict row-argmax of every A_k (the paper's assumption)."""
    n = len(mats[0])
    if correct is not None:
        maps = [tuple(int(v) for v in c) for c in correct]
        if len(maps) != len(mats) or any(len(c) != n or not all(0 <= v < n for v in c) for c in maps):
            raise ProofCheckError(f"correct must give K={len(mats)} maps of length {n} with values in 0..{n - 1}")
        return maps
    maps = []
    for k, M in enumerate(mats, start=1):
        row_max = [_strict_argmax(row) for row in M]
        if None in row_max:
            a = row_max.index(None)
            raise ProofCheckError(f"A_{k} row {a} has no strict maximum, so its correct step is undefined "
                                  "(the paper requires the correct output to be the most probable one); pass correct=")
        maps.append(tuple(row_max))
    return maps


# --- public API -----------------------------------------------------------------------------------------------
def transition_product(As):
    """B = A_1 A_2 ... A_K (left to right). Exact sympy Matrix for rational input, else a float64 array."""
    mats, is_exact = _load(As)
    B = mats[0]
    for M in mats[1:]:
        B = _matmul(B, M)
    return _out(B, is_exact)


def correct_maps(As, correct=None) -> list[tuple[int, ...]]:
    """The per-step correct maps c_k (row-argmax of A_k unless given)."""
    mats, _ = _load(As)
    return _correct(mats, correct)


def composed_map(As, correct=None) -> tuple[int, ...]:
    """c(a) = c_K(...c_1(a)): the correct final pattern for each initial pattern a."""
    maps = correct_maps(As, correct)
    return tuple(_compose(maps, a)[-1] for a in range(len(maps[0])))


def _compose(maps, a) -> list[int]:
    path = [a]
    for c in maps:
        path.append(c[path[-1]])
    return path


def tau(As, reading: str | None = None, correct=None):
    """tau^f = min_a max_{paths from a} prod_k A_k[s_{k-1}, s_k] (reading 'max_path'), or the same along the
    correct path (reading 'correct_path'). Max-product dynamic programming; exact for rational input."""
    reading = TAU_READING if reading is None else reading
    if reading not in TAU_READINGS:
        raise ProofCheckError(f"reading must be one of {TAU_READINGS} (got reading={reading!r})")
    mats, is_exact = _load(As)
    n = len(mats[0])
    if reading == "correct_path":
        maps = _correct(mats, correct)
        vals = []
        for a in range(n):
            path, p = _compose(maps, a), 1
            for k, M in enumerate(mats):
                p = p * M[path[k]][path[k + 1]]
            vals.append(p)
        return min(vals)
    best = []
    for a in range(n):
        v = [1 if j == a else 0 for j in range(n)]  # best probability of reaching each state
        for M in mats:
            v = [max(v[i] * M[i][j] for i in range(n)) for j in range(n)]
        best.append(max(v))
    return min(best) if is_exact else float(min(best))


def tau_o(As):
    """tau_o^f = min_a max_b B[a, b]."""
    B = _rows(transition_product(As))
    return min(max(row) for row in B)


def _gap(row, c, normalized):
    g = row[c] - max(v for j, v in enumerate(row) if j != c)
    return g / row[c] if normalized else g


def rho(As, normalized: bool = True, correct=None):
    """rho^f = min_{k, a} gap of A_k row a, the gap being (correct - best wrong) / correct (normalised, the
    reading [I] that makes alpha' tau rho the expected count gap per example) or correct - best wrong."""
    mats, _ = _load(As)
    maps = _correct(mats, correct)
    return min(_gap(M[a], c[a], normalized) for M, c in zip(mats, maps) for a in range(len(M)))


def rho_o(As, normalized: bool = True, correct=None):
    """rho_o^f = min_a gap of row a of B at the correct final pattern c(a); negative when Condition 1 fails."""
    mats, _ = _load(As)
    maps = _correct(mats, correct)
    B = _rows(transition_product(As))
    return min(_gap(B[a], _compose(maps, a)[-1], normalized) for a in range(len(B)))


def condition1_rows(As, correct=None) -> list[bool]:
    """For each initial pattern a: is the correct final pattern c(a) the strict argmax of row a of B?"""
    mats, _ = _load(As)
    maps = _correct(mats, correct)
    B = _rows(transition_product(As))
    return [_strict_argmax(B[a]) == _compose(maps, a)[-1] for a in range(len(B))]


def condition1(As, correct=None) -> bool:
    """Condition 1 (needed for ICL only): the correct final output is the most probable output of B, every row."""
    return all(condition1_rows(As, correct))


def icl_limit_error(As, correct=None):
    """The ICL error of the hard-attention oracle as l_ts -> infinity [D]: the plurality of y_K among the
    examples with x = a tends to the argmax set of B[a]; ties are broken uniformly. Averaged over a uniform
    query pattern: (1/M') sum_a (1 - 1[c(a) in argmax B[a]] / |argmax B[a]|). Exact for rational input."""
    mats, is_exact = _load(As)
    maps = _correct(mats, correct)
    B = _rows(transition_product(As))
    n = len(B)
    total = 0
    for a in range(n):
        best = max(B[a])
        ties = [j for j, v in enumerate(B[a]) if v == best]
        total += 1 - (sp.Rational(1, len(ties)) if is_exact else 1 / len(ties)) * (_compose(maps, a)[-1] in ties)
    return total / n if is_exact else float(total / n)


def cot_limit_error(As, correct=None):
    """The CoT error of the hard-attention oracle as l_ts -> infinity [D]: at every step the plurality among
    examples at the current state tends to the row-argmax of A_k, so the error is 0 exactly when each row's
    correct entry is its strict maximum; a tied row contributes like :func:`icl_limit_error` (first step only,
    a lower bound used for negative controls)."""
    mats, is_exact = _load(As)
    maps = _correct(mats, correct)
    n = len(mats[0])
    total = 0
    for a in range(n):
        path = _compose(maps, a)
        for k, M in enumerate(mats):
            row, c = M[path[k]], path[k + 1]
            best = max(row)
            ties = [j for j, v in enumerate(row) if v == best]
            if ties != [c]:
                total += 1 - (sp.Rational(1, len(ties)) if is_exact else 1 / len(ties)) * (c in ties)
                break
    return total / n if is_exact else float(total / n)


# --- families of transition matrices for the sweeps -----------------------------------------------------------
def step_matrix(correct, p, q=None):
    """A row-stochastic matrix with ``p`` on each row's correct entry ``correct[a]``; the strongest wrong entry
    (at ``correct[a] + 1 mod M'``) gets ``q`` and the rest share 1 - p - q equally (q defaults to the uniform
    share (1-p)/(M'-1)). Exact when p, q are rationals. With M' = 2, q is forced to 1 - p."""
    n = len(correct)
    if n < 2:
        raise ProofCheckError(f"a transition matrix needs at least 2 patterns (got M'={n})")
    one = sp.Integer(1) if _is_exact_entry(p) and (q is None or _is_exact_entry(q)) else 1.0
    q = (one - p) / (n - 1) if q is None else q
    rest = (one - p - q) / (n - 2) if n > 2 else 0
    if n == 2 and q != one - p:
        raise ProofCheckError(f"with M'=2 the wrong entry must be 1 - p (got q={q}, p={p})")
    if not (0 < p <= 1 and 0 <= q and rest >= 0):
        raise ProofCheckError(f"need 0 < p <= 1, q >= 0 and p + q <= 1 (got p={p}, q={q})")
    rows = []
    for a in range(n):
        row = [rest] * n
        row[correct[a]] = p
        row[(correct[a] + 1) % n] = q
        rows.append(row)
    return sp.Matrix(rows) if one == sp.Integer(1) else np.array(rows, dtype=np.float64)

