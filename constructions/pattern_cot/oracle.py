r"""The hard-attention oracle: CoT and ICL error rates without training (docs/provenance/pattern_cot.md §6.3,
reconstruction [I]).

Suppose attention sits entirely on the columns the Proposition names and W_V = [0 I]. Then
  * CoT, step k: the output is the average output half of the example columns at step k whose input pattern is
    the current decoded state v_{k-1}; with orthonormal patterns greedy decoding returns the **plurality label**
    among them (ties broken uniformly; no such column: a uniform guess). Only v_{k-1} matters, so examples that
    reach v_{k-1} off the query's path vote too.
  * ICL: the plurality of y_{i,K} among the examples with x_i equal to x_query's pattern.
The noise of test tokens is assumed below half the pattern distance, so it changes no label (noise-free oracle).

Errors (docs/provenance/pattern_cot.md §2.2, §2.3), averaged over a uniform query pattern a:
    R_CoT = E (1/K) sum_k 1[v_k != z_k],        R_ICL = E 1[v != z_K].

Methods: ``exact`` sums the multinomial probabilities (ICL: any M' <= 3; CoT: M' = 2 and any K, by a dynamic
program over (decoded state, number of examples at it, ...)), exact up to float64 round-off of FFT convolutions
(absolute error ~1e-15); ``mc`` samples ``trials`` prompts (any M', K) and reports the standard error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal, special, stats

from constructions.errors import ProofCheckError, positive_int
from constructions.pattern_cot import transitions as tr
from constructions.pattern_cot.data import same_count

MODES = ("cot", "icl")
METHODS = ("exact", "mc")
EXACT_MAX_PATTERNS_ICL = 3  # enumeration over count vectors: O(n^(M'-1))


@dataclass(frozen=True)
class OracleResult:
    error: float
    se: float  # standard error of a Monte-Carlo estimate; 0 for exact
    method: str
    trials: int  # Monte-Carlo prompts; 0 for exact


def _float_mats(As, correct):
    mats, _ = tr._load(As)
    maps = tr._correct(mats, correct)
    return np.array(mats, dtype=np.float64), np.array(maps, dtype=np.int64)


# --- exact pieces -----------------------------------------------------------------------------------------------
def plurality_win_prob(n: int, probs, correct: int) -> float:
    """P(category ``correct`` is chosen) when n votes are Multinomial(n, probs) and the plurality wins, ties
    broken uniformly (n = 0: a uniform guess). Exact enumeration over count vectors (M' <= 3)."""
    p = np.asarray(probs, dtype=np.float64)
    m = p.size
    if n < 0:
        raise ProofCheckError(f"n (the number of votes) must be >= 0 (got n={n})")
    if m > EXACT_MAX_PATTERNS_ICL:
        raise ProofCheckError(f"exact plurality needs M' <= {EXACT_MAX_PATTERNS_ICL} (got M'={m}); use method='mc'")
    if n == 0:
        return 1.0 / m
    if m == 2:
        k = np.arange(n + 1)
        pmf = stats.binom.pmf(k, n, p[correct])
        return float((pmf * ((k > n - k) + 0.5 * (k == n - k))).sum())
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    ok = i + j <= n
    counts = np.stack([i[ok], j[ok], n - i[ok] - j[ok]], axis=-1)
    with np.errstate(divide="ignore"):
        logp = np.where(counts > 0, counts * np.log(p), 0.0).sum(-1)
    logpmf = special.gammaln(n + 1) - special.gammaln(counts + 1).sum(-1) + logp
    top = counts.max(-1, keepdims=True)
    is_top = counts == top
    win = is_top[:, correct] / is_top.sum(-1)
    return float((np.exp(logpmf) * win).sum())


def _icl_exact(A, maps, l, alpha):
    B = A[0]
    for M in A[1:]:
        B = B @ M
    s = same_count(l, alpha)
    err = 0.0
    for a in range(B.shape[0]):
        c = a
        for mp in maps:
            c = mp[c]
        err += 1.0 - plurality_win_prob(s, B[a], c)
    return err / B.shape[0]


def _binom_rows(l: int, p: float) -> np.ndarray:
    """(l+1, l+1) matrix: row N is the Binomial(N, p) pmf (zero beyond N)."""
    N = np.arange(l + 1)[:, None]
    x = np.arange(l + 1)[None, :]
    return np.where(x <= N, stats.binom.pmf(x, N, p), 0.0)


def _cot_exact_binary(A, maps, l, alpha, metric):
    """Dynamic program for M' = 2. State after step k-1: decoded state s, flag 'all steps so far correct',
    N = number of examples whose y_{k-1} equals s (the other l - N sit at the other pattern)."""
    K = A.shape[0]
    s0 = same_count(l, alpha)
    N = np.arange(l + 1)
    total = 0.0
    for a in (0, 1):
        z = [a]
        for mp in maps:
            z.append(mp[z[-1]])
        P = np.zeros((2, 2, l + 1))  # [state, ok, N]
        P[a, 1, s0] = 1.0
        step_err = 0.0
        for k in range(K):
            Q = np.zeros_like(P)
            for s in (0, 1):
                X = _binom_rows(l, A[k, s, 0])  # examples at s labelled 0
                Y = _binom_rows(l, A[k, 1 - s, 0])[::-1]  # row N: Binomial(l - N) of the others labelled 0
                diff = 2 * np.arange(l + 1)[None, :] - N[:, None]  # X0 - (N - X0)
                w0 = (diff > 0) + 0.5 * (diff == 0)
                S0 = signal.fftconvolve(X * w0, Y, axes=1)[:, : l + 1]  # S = X0 + Y0 and v = 0
                S1 = signal.fftconvolve(X * (1 - w0), Y, axes=1)[:, : l + 1]  # and v = 1
                for ok in (0, 1):
                    mass = P[s, ok]
                    if not mass.any():
                        continue
                    for v, S in ((0, S0), (1, S1)):
                        out = np.clip(mass @ S, 0.0, None)  # distribution of S = X0 + Y0
                        nxt = out if v == 0 else out[::-1]  # N' = S if v = 0 else l - S
                        good = ok and v == z[k + 1]
                        Q[v, int(good)] += nxt
                        if v != z[k + 1]:
                            step_err += nxt.sum() / K
            P = Q
        total += step_err if metric == "steps" else P[:, 0].sum()
    return float(total / 2)


def cot_error_exact(As, l: int, alpha: float, correct=None, metric: str = "steps") -> float:
    """Exact CoT error of the oracle for M' = 2. metric 'steps': (1/K) sum_k P(v_k != z_k) (the paper's);
    'path': P(some v_k != z_k)."""
    A, maps = _float_mats(As, correct)
    if A.shape[-1] != 2:
        raise ProofCheckError(f"the exact CoT oracle handles M'=2 patterns (got M'={A.shape[-1]}); use method='mc'")
    if metric not in ("steps", "path"):
        raise ProofCheckError(f"metric must be 'steps' or 'path' (got metric={metric!r})")
    return _cot_exact_binary(A, maps, positive_int(l, "l", "the number of test examples"), alpha, metric)


def icl_error_exact(As, l: int, alpha: float, correct=None) -> float:
    """Exact ICL error of the oracle: sum over query patterns of the plurality error of Multinomial(s, B[a])."""
    A, maps = _float_mats(As, correct)
    return _icl_exact(A, maps, positive_int(l, "l", "the number of test examples"), alpha)


# --- Monte Carlo ------------------------------------------------------------------------------------------------
def oracle_mc(As, l: int, alpha: float, mode: str = "cot", trials: int = 10_000, seed: int = 0,
              correct=None) -> np.ndarray:
    """Per-prompt errors of the oracle on ``trials`` sampled prompts (vectorised): CoT (1/K) sum_k 1[v_k != z_k],
    ICL 1[v != z_K]."""
    A, maps = _float_mats(As, correct)
    K, n = A.shape[0], A.shape[-1]
    l = positive_int(l, "l", "the number of test examples")
    trials = positive_int(trials, "trials", "the number of Monte-Carlo prompts")
    rng = np.random.default_rng(seed)
    s = same_count(l, alpha)
    a = rng.integers(n, size=trials)
    x = np.empty((trials, l), dtype=np.int64)
    x[:, :s] = a[:, None]
    x[:, s:] = (a[:, None] + 1 + rng.integers(max(n - 1, 1), size=(trials, l - s))) % n
    paths = [x]
    for k in range(K):
        cum = np.cumsum(A[k], axis=1)[paths[-1]]  # (trials, l, n)
        paths.append(np.minimum((rng.random((trials, l, 1)) >= cum).sum(-1), n - 1))
    z = [a]
    for k in range(K):
        z.append(maps[k][z[-1]])
    return oracle_errors_on_paths(np.stack(paths, axis=-1), np.stack(z, axis=-1), n, mode, rng)


def oracle_errors_on_paths(paths, z, n: int, mode: str = "cot", rng: np.random.Generator | None = None) -> np.ndarray:
    """Per-prompt errors of the hard-attention oracle on given prompts: ``paths`` (B, l, K+1) the examples'
    pattern indices y_{i,0..K}, ``z`` (B, K+1) the query's correct trajectory (z_0 = the query's pattern), n the
    number of patterns. CoT: v_0 = z_0, v_k = plurality of y_{i,k} over the examples with y_{i,k-1} = v_{k-1}
    (ties uniform, no voter: uniform guess), error (1/K) sum_k 1[v_k != z_k]; ICL: plurality of y_{i,K} over the
    examples with y_{i,0} = z_0, error 1[v != z_K]. For paired comparisons with a trained model on the same
    prompts (common random numbers); ``rng`` breaks ties."""
    paths, z = np.asarray(paths, dtype=np.int64), np.asarray(z, dtype=np.int64)
    rng = rng if rng is not None else np.random.default_rng(0)
    trials, K = paths.shape[0], paths.shape[-1] - 1

    def vote(mask, labels):
        counts = (np.eye(n, dtype=np.int64)[labels] * mask[..., None]).sum(1)
        return np.argmax(counts + 0.5 * rng.random(counts.shape), axis=1)  # uniform among tied maxima

    if mode == "icl":
        return (vote(paths[..., 0] == z[:, :1], paths[..., K]) != z[:, K]).astype(np.float64)
    if mode != "cot":
        raise ProofCheckError(f"mode must be one of {MODES} (got mode={mode!r})")
    v, err = z[:, 0], np.zeros(trials)
    for k in range(1, K + 1):
        v = vote(paths[..., k - 1] == v[:, None], paths[..., k])
        err += v != z[:, k]
    return err / K


def oracle_error(As, l: int, alpha: float = 1.0, mode: str = "cot", method: str = "exact", trials: int = 10_000,
                 seed: int = 0, correct=None) -> OracleResult:
    """CoT or ICL error of the hard-attention oracle on l test examples, a fraction alpha (= alpha') sharing the
    query's pattern, examples drawn from the transition matrices ``As``."""
    if mode not in MODES:
        raise ProofCheckError(f"mode must be one of {MODES} (got mode={mode!r})")
    if method == "exact":
        err = cot_error_exact(As, l, alpha, correct) if mode == "cot" else icl_error_exact(As, l, alpha, correct)
        return OracleResult(err, 0.0, "exact", 0)
    if method == "mc":
        e = oracle_mc(As, l, alpha, mode, trials, seed, correct)
        return OracleResult(float(e.mean()), float(e.std(ddof=1) / np.sqrt(e.size)), "mc", e.size)
    raise ProofCheckError(f"method must be one of {METHODS} (got method={method!r})")


def threshold(error_at, delta: float, l_max: int, l_min: int = 1) -> float:
    """Smallest l in [l_min, l_max] with error_at(l) <= delta, by doubling then bisection (error assumed
    non-increasing in l, true for the plurality vote up to parity ties); linear interpolation in log(error)
    between the bracketing integers gives a continuous l*. inf when no l <= l_max reaches delta.
    ``error_at`` is evaluated once per l (cached here)."""
    cache: dict[int, float] = {}

    def err(l):
        if l not in cache:
            cache[l] = float(error_at(l))
        return cache[l]

    lo, hi = l_min, l_min
    while err(hi) > delta:
        if hi >= l_max:
            return float("inf")
        lo, hi = hi, min(2 * hi, l_max)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if err(mid) > delta else (lo, mid)
    e_lo, e_hi = err(lo), err(hi)
    if hi == lo or e_lo <= delta or e_hi <= 0:
        return float(hi)
    return float(lo + (np.log(e_lo) - np.log(delta)) / (np.log(e_lo) - np.log(e_hi)) * (hi - lo))


# --- derived bounds on the oracle's errors [D] ------------------------------------------------------------------
def cot_error_bound(As, l: int, alpha: float, correct=None) -> float:
    r"""Upper bound on the oracle's CoT error (both metrics), derived here [D]:

        R_CoT <= (1/M') sum_a sum_k (M'-1) (1 - pi_k(a) (1 - exp(-g_k(a)^2 / 2)))^n,   n = same_count(l, alpha')

    with pi_k(a) = prod_{j<k} A_j[z_{j-1}, z_j] (the query's correct prefix) and g_k(a) = A_k[z_{k-1}, z_k] -
    max_{b != z_k} A_k[z_{k-1}, b] (the un-normalised gap). Proof: on the event that steps 1..k-1 were right, the
    examples at z_{k-1} vote iid from row z_{k-1} of A_k (Markov), and there are at least W ~ Bin(n, pi_k) of
    them (the query-pattern examples still on the correct path); Hoeffding for each wrong label b gives
    P(step k wrong | N) <= (M'-1) exp(-N g^2/2), and E exp(-W g^2/2) is the binomial generating function. A step
    error implies a path error, so the bound covers (1/K) sum_k 1[v_k != z_k] too. Needs every g_k(a) > 0."""
    A, maps = _float_mats(As, correct)
    K, m = A.shape[0], A.shape[-1]
    n = same_count(l, alpha)
    total = 0.0
    for a in range(m):
        z, pi = a, 1.0
        for k in range(K):
            c = maps[k][z]
            row = A[k, z]
            g = row[c] - np.delete(row, c).max()
            if g <= 0:
                raise ProofCheckError(f"A_{k + 1} row {z}: the correct entry is not the strict maximum (gap {g:.3g})")
            total += (m - 1) * (1 - pi * (1 - np.exp(-g * g / 2))) ** n
            pi *= row[c]
            z = c
    return float(total / m)


def icl_error_limits(As, l: int, alpha: float, correct=None) -> tuple[float, float, float]:
    r"""(floor, limit, deviation) for the oracle's ICL error, derived here [D]. With n = same_count(l, alpha'),
    c(a) the correct final pattern and B = A_1..A_K:

      * floor = (1/M') #{a : B[a, c(a)] < max_b B[a, b]} / 2 <= R_ICL for every l: if some label b is strictly
        more likely than c(a), swapping the two labels shows P(c(a) wins) <= P(b wins), so P(c(a) wins) <= 1/2;
      * limit = icl_limit_error (the l -> infinity value) and |R_ICL - limit| <= deviation =
        (1/M') sum_a (M'-1) exp(-n g_a^2 / 2), g_a = |B[a, c(a)] - max_{b != c(a)} B[a, b]| (Hoeffding per pair).
    Rows with a tie at the top are not covered (deviation = inf)."""
    A, maps = _float_mats(As, correct)
    B = A[0]
    for M in A[1:]:
        B = B @ M
    m = B.shape[0]
    n = same_count(l, alpha)
    bad, dev = 0, 0.0
    for a in range(m):
        c = a
        for mp in maps:
            c = mp[c]
        other = np.delete(B[a], c).max()
        g = abs(B[a, c] - other)
        bad += B[a, c] < B[a].max()
        dev += (m - 1) * np.exp(-n * g * g / 2) if g > 0 else np.inf
    return bad / (2 * m), float(tr.icl_limit_error(A.tolist(), [tuple(mp) for mp in maps])), float(dev / m)
