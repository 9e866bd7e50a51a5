r"""Patterns, positional encodings, K-step tasks, CoT / ICL prompts (docs/provenance/pattern_cot.md §1, §2, §6.5).

Layout (reconstruction [I], docs/provenance/pattern_cot.md §6.5). Tokens live in R^d (d = d_X). The M
training-relevant (TRR) patterns are
the first M standard basis vectors. A prompt column is (step input; step output) in R^{2d}, plus a periodic
positional encoding c_j (j = column index mod K) on coordinates that no pattern uses: mutually orthogonal, norm
``pe_scale`` (the norm is [NF]). Testing-relevant (TSR) patterns are orthonormal combinations of the TRR patterns
(the poster's "TSR in span{TRR}"); test tokens carry bounded noise of norm ``noise`` (magnitude [NF]).

Prompts are batched tensors of shape (batch, columns, 2d): row j of a prompt is the paper's column p_j.

    CoT example   E_i = [x_i, y_i1 .. y_i,K-1 ; y_i1 .. y_iK]            (K columns, PE c_0 .. c_{K-1})
    CoT query     Q_k = [z_0 .. z_{k-1} ; z_1 .. z_{k-1}, 0]             (k columns, the last is p_query)
    ICL example   E_i = [x_i, 0 .. 0 ; y_iK, 0 .. 0]                    (K columns, zero-padded)
    ICL query     (x_query ; 0)                                          (PE c_0)

Tasks are step-wise transition matrices A_k over the task's patterns: a training task is a composition of
pattern permutations (one-hot rows: every TRR pattern equally likely at every step, Theorem 1's balance), a test
task has stochastic rows whose strict argmax is the correct step (docs/provenance/pattern_cot.md §1.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from constructions.errors import ProofCheckError, positive_float, positive_int
from constructions.pattern_cot import transitions as tr

DTYPE = torch.float64
PE_SCALE = 1.0  # norm of each positional encoding [NF]
TEST_NOISE = 0.1  # norm of the noise added to every test token [NF]; below 1/sqrt(2), half the pattern distance


def fraction(alpha: float, name: str = "alpha") -> float:
    """A fraction in (0, 1]."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0 < alpha <= 1:
        raise ProofCheckError(f"{name} (the fraction of examples sharing the query's pattern) must lie in (0, 1] "
                              f"(got {name}={alpha!r})")
    return float(alpha)


def same_count(l: int, alpha: float) -> int:
    """Number of the l context examples whose input has the query's pattern: alpha * l rounded half up."""
    l = positive_int(l, "l", "the number of context examples")
    return int(math.floor(fraction(alpha) * l + 0.5))


@dataclass(frozen=True)
class Geometry:
    """Sizes of the embedding: M TRR patterns in R^d, K reasoning steps, positional-encoding norm."""

    M: int
    K: int
    d: int
    pe_scale: float = PE_SCALE

    def __post_init__(self):
        positive_int(self.M, "M", "the number of TRR patterns")
        positive_int(self.K, "K", "the number of reasoning steps")
        positive_int(self.d, "d", "the token dimension d_X")
        if self.pe_scale < 0:
            raise ProofCheckError(f"pe_scale must be >= 0 (got pe_scale={self.pe_scale})")
        if self.d < self.M or 2 * (self.d - self.M) < self.K:
            raise ProofCheckError(f"need d >= M and 2(d - M) >= K spare coordinates for the positional encodings "
                                  f"(got d={self.d}, M={self.M}, K={self.K})")

    def trr(self) -> torch.Tensor:
        """The TRR patterns mu_1..mu_M (rows): the first M standard basis vectors of R^d."""
        return torch.eye(self.d, dtype=DTYPE)[: self.M]

    def pe(self) -> torch.Tensor:
        """c_0..c_{K-1} (rows) in R^{2d}: unit vectors times pe_scale on the spare coordinates of the input half,
        then of the output half; orthogonal to every pattern and to each other."""
        spare = [self.M + j for j in range(self.d - self.M)] + [self.d + self.M + j for j in range(self.d - self.M)]
        c = torch.zeros(self.K, 2 * self.d, dtype=DTYPE)
        for j in range(self.K):
            c[j, spare[j]] = self.pe_scale
        return c


def make_geometry(M: int, K: int, d: int | None = None, pe_scale: float = PE_SCALE) -> Geometry:
    """The smallest d with room for K positional encodings unless d is given."""
    M = positive_int(M, "M", "the number of TRR patterns")
    K = positive_int(K, "K", "the number of reasoning steps")
    return Geometry(M, K, M + (K + 1) // 2 if d is None else d, pe_scale)


def tsr_patterns(geom: Geometry, n: int, seed: int = 0, overlap: float = 0.0) -> torch.Tensor:
    """n TSR patterns (rows) mu'_j = sum_i R_ji mu_i with R a seeded random n x M matrix with orthonormal rows,
    so they are orthonormal and lie in span{TRR} [I]. ``overlap`` in [0, 1) makes them only nearly orthogonal:
    the rows are mixed by S = ((1 - overlap) I + overlap 1 1^T)^(1/2), so <mu'_a, mu'_b> = overlap for a != b
    (the near-orthogonality probe, beyond the paper)."""
    n = positive_int(n, "n", "the number of TSR patterns")
    if n > geom.M:
        raise ProofCheckError(f"at most M={geom.M} orthonormal TSR patterns fit in span{{TRR}} (got n={n})")
    if not 0 <= overlap < 1:
        raise ProofCheckError(f"overlap must lie in [0, 1) (got overlap={overlap})")
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(geom.M, geom.M, generator=g, dtype=DTYPE))
    R = (q * torch.sign(torch.diagonal(r)))[:, :n].T  # n x M, orthonormal rows (Haar)
    G = (1 - overlap) * torch.eye(n, dtype=DTYPE) + overlap * torch.ones(n, n, dtype=DTYPE)
    w, V = torch.linalg.eigh(G)
    S = V @ torch.diag(w.clamp_min(0).sqrt()) @ V.T
    return S @ R @ geom.trr()


# --- tasks ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """K step-wise transition matrices over n patterns, and the correct step maps.

    ``A``: (K, n, n) for one task shared by a batch, or (B, K, n, n) for one task per prompt.
    ``correct``: (K, n) or (B, K, n) long, correct[k, a] = c_{k+1}(a).
    """

    A: torch.Tensor
    correct: torch.Tensor

    @property
    def K(self) -> int:
        return self.A.shape[-3]

    @property
    def n(self) -> int:
        return self.A.shape[-1]


def make_task(As=None, *, K: int | None = None, n: int | None = None, batch: int | None = None,
              gen: torch.Generator | None = None, correct=None) -> Task:
    """A test task from transition matrices ``As`` (correct maps: strict row-argmax unless given), or, without
    ``As``, ``batch`` training tasks: compositions of K uniformly random permutations of the n patterns."""
    if As is not None:
        maps = tr.correct_maps(As, correct)
        A = torch.tensor(np.array([np.asarray(tr._rows(M), dtype=np.float64) for M in tr._as_list(As)]), dtype=DTYPE)
        return Task(A, torch.tensor(maps, dtype=torch.long))
    K = positive_int(K, "K", "the number of reasoning steps")
    n = positive_int(n, "n", "the number of patterns")
    batch = positive_int(batch, "batch", "the number of tasks")
    gen = gen if gen is not None else torch.Generator().manual_seed(0)
    perm = torch.argsort(torch.rand(batch, K, n, generator=gen), dim=-1)
    return Task(torch.nn.functional.one_hot(perm, n).to(DTYPE), perm)


def sample_starts(gen: torch.Generator, query: torch.Tensor, l: int, n: int, alpha: float) -> torch.Tensor:
    """(B, l) input patterns x_i: the first same_count(l, alpha) equal the query's pattern, the others are uniform
    over the remaining n - 1 patterns (the order of examples does not matter to the model)."""
    s = same_count(l, alpha)
    B = query.shape[0]
    if n == 1 and s < l:
        raise ProofCheckError("with one pattern every example shares the query's pattern: use alpha=1")
    other = (query[:, None] + 1 + torch.randint(max(n - 1, 1), (B, l - s), generator=gen)) % n
    return torch.cat([query[:, None].expand(B, s), other], dim=1)


def sample_paths(gen: torch.Generator, task: Task, starts: torch.Tensor) -> torch.Tensor:
    """(B, l, K+1) pattern indices y_{i,0..K}: a Markov chain through the task's A_k from y_{i,0} = x_i."""
    B, l = starts.shape
    A = task.A if task.A.dim() == 4 else task.A.expand(B, *task.A.shape)
    cum = A.cumsum(-1)
    path = [starts]
    for k in range(task.K):
        rows = torch.gather(cum[:, k], 1, path[-1][..., None].expand(B, l, task.n))  # (B, l, n)
        u = torch.rand(B, l, 1, generator=gen, dtype=DTYPE)
        path.append((u >= rows).sum(-1).clamp_max(task.n - 1))
    return torch.stack(path, dim=-1)


def correct_path(task: Task, query: torch.Tensor) -> torch.Tensor:
    """(B, K+1) the query's correct trajectory z_0 = x_query, z_k = c_k(z_{k-1})."""
    B = query.shape[0]
    c = task.correct if task.correct.dim() == 3 else task.correct.expand(B, *task.correct.shape)
    z = [query]
    for k in range(task.K):
        z.append(torch.gather(c[:, k], 1, z[-1][:, None])[:, 0])
    return torch.stack(z, dim=-1)


def embed_tokens(patterns: torch.Tensor, idx: torch.Tensor, noise: float = 0.0,
                 gen: torch.Generator | None = None) -> torch.Tensor:
    """Token vectors patterns[idx] plus noise of norm exactly ``noise`` in a uniformly random direction of R^d."""
    tok = patterns[idx]
    if noise:
        positive_float(noise, "noise", "the norm of the test noise")
        xi = torch.randn(tok.shape, generator=gen, dtype=tok.dtype)
        tok = tok + noise * xi / xi.norm(dim=-1, keepdim=True)
    return tok


# --- prompts ----------------------------------------------------------------------------------------------------
def example_columns(geom: Geometry, ex: torch.Tensor) -> torch.Tensor:
    """(B, l*K, 2d): the columns of E_1..E_l, example by example, column k-1 of E_i = (y_{i,k-1}; y_{i,k}) + c_{k-1}."""
    B, l, K1, d = ex.shape
    cols = torch.cat([ex[:, :, :-1], ex[:, :, 1:]], dim=-1) + geom.pe()  # (B, l, K, 2d)
    return cols.reshape(B, l * (K1 - 1), 2 * d)


def query_columns(geom: Geometry, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """From z_0..z_{K-1} (B, K, d): the filled history columns (z_{j-1}; z_j) + c_{j-1}, j = 1..K-1, and the query
    columns (z_{k-1}; 0) + c_{k-1}, k = 1..K. Shapes (B, K-1, 2d) and (B, K, 2d)."""
    c = geom.pe()
    K = z.shape[1]
    hist = torch.cat([z[:, :-1], z[:, 1:]], dim=-1) + c[: K - 1]
    qry = torch.cat([z, torch.zeros_like(z)], dim=-1) + c[:K]
    return hist, qry


def cot_prompt(geom: Geometry, ex: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The CoT prompt P = (E_1, .., E_l, Q_k) with k = z.shape[1], from example tokens ``ex`` (B, l, K+1, d) and
    the query's first k states z_0..z_{k-1} (B, k, d). Shape (B, l*K + k, 2d); the last row is p_query."""
    k = z.shape[1]
    if not 1 <= k <= geom.K:
        raise ProofCheckError(f"the query holds z_0..z_(k-1) with 1 <= k <= K={geom.K} (got k={k})")
    hist, qry = query_columns(geom, z)
    return torch.cat([example_columns(geom, ex), hist, qry[:, -1:]], dim=1)


def icl_prompt(geom: Geometry, ex: torch.Tensor, x_query: torch.Tensor) -> torch.Tensor:
    """The ICL prompt: each example (x_i; y_iK) followed by K-1 zero columns (so the positional encoding keeps its
    period), then p_query = (x_query; 0) + c_0. Shape (B, l*K + 1, 2d)."""
    B, l, K1, d = ex.shape
    first = torch.cat([ex[:, :, 0], ex[:, :, -1]], dim=-1)[:, :, None]  # (B, l, 1, 2d)
    cols = torch.cat([first, torch.zeros(B, l, K1 - 2, 2 * d, dtype=ex.dtype)], dim=2) + geom.pe()
    q = torch.cat([x_query, torch.zeros_like(x_query)], dim=-1) + geom.pe()[0]
    return torch.cat([cols.reshape(B, l * (K1 - 1), 2 * d), q[:, None]], dim=1)


def teacher_forced(geom: Geometry, ex: torch.Tensor, z: torch.Tensor):
    """All K CoT queries of a prompt at once: keys (B, l*K + K-1, 2d) = example and history columns, queries
    (B, K, 2d), and the (K, l*K + K-1) mask letting query k see the history columns j < k only. Row k of the
    result equals :func:`cot_prompt` with z_0..z_{k-1} (same columns, same order)."""
    hist, qry = query_columns(geom, z[:, : geom.K])
    keys = torch.cat([example_columns(geom, ex), hist], dim=1)
    n_ex = ex.shape[1] * geom.K
    mask = torch.ones(geom.K, keys.shape[1], dtype=torch.bool)
    mask[:, n_ex:] = torch.tril(torch.ones(geom.K, geom.K - 1, dtype=torch.bool), diagonal=-1)
    return keys, qry, mask


def column_labels(paths: torch.Tensor, z: torch.Tensor, K: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For the teacher-forced keys: the position j (0..K-1) of every key column, shape (L,), and the pattern index
    of its input half, shape (B, L). Used to split attention into the Proposition's four categories."""
    B, l, _ = paths.shape
    pos = torch.cat([torch.arange(K).repeat(l), torch.arange(K - 1)])
    inp = torch.cat([paths[:, :, :-1].reshape(B, l * K), z[:, : K - 1]], dim=1)
    return pos, inp


@dataclass
class Batch:
    """Pattern indices and token vectors of a batch of CoT prompts."""

    query: torch.Tensor  # (B,) query pattern
    paths: torch.Tensor  # (B, l, K+1) example trajectories
    z: torch.Tensor  # (B, K+1) correct query trajectory
    ex: torch.Tensor  # (B, l, K+1, d) example tokens
    z_tok: torch.Tensor  # (B, K+1, d) query tokens (z_0 noisy at test time, later ones clean)


def sample_batch(gen: torch.Generator, task: Task, patterns: torch.Tensor, B: int, l: int, alpha: float,
                 noise: float = 0.0, balanced: bool = True) -> Batch:
    """B prompts of ``task`` with l examples, a fraction alpha sharing the query's pattern. ``balanced``: query
    patterns cycle through all n patterns (every pattern equally often in each batch, Theorem 1's hypothesis)."""
    n = task.n
    query = (torch.arange(B) % n)[torch.randperm(B, generator=gen)] if balanced else torch.randint(n, (B,), generator=gen)
    paths = sample_paths(gen, task, sample_starts(gen, query, l, n, alpha))
    z = correct_path(task, query)
    ex = embed_tokens(patterns, paths, noise, gen)
    z_tok = patterns[z]
    if noise:
        z_tok = torch.cat([embed_tokens(patterns, z[:, :1], noise, gen), z_tok[:, 1:]], dim=1)
    return Batch(query, paths, z, ex, z_tok)


def tsr_patterns_partial(geom: Geometry, n: int, in_span: float, seed: int = 1) -> torch.Tensor:
    """n orthonormal TSR patterns only partly in span{TRR} (Theorem 2's hypothesis (1), issue 16):
    mu'_a = sqrt(in_span) r_a + sqrt(1 - in_span) e_(M+K+a), with r_a = tsr_patterns(geom, n, seed)[a] (orthonormal,
    in span{TRR}) and e_(M+K+a) unit vectors on token coordinates that neither the TRR patterns nor the positional
    encodings use (the encodings take the spare coordinates M..M+K-1 of the input half). ``in_span`` is the squared
    norm of each pattern's projection on span{TRR}; 1 gives tsr_patterns. Needs d >= M + K + n."""
    n = positive_int(n, "n", "the number of TSR patterns")
    if not 0 <= in_span <= 1:
        raise ProofCheckError(f"in_span (the squared norm of the projection on span{{TRR}}) must lie in [0, 1] "
                              f"(got in_span={in_span})")
    if geom.d < geom.M + geom.K + n:
        raise ProofCheckError(f"need d >= M + K + n = {geom.M + geom.K + n} token coordinates outside span{{TRR}} "
                              f"and the positional encodings (got d={geom.d})")
    out = torch.zeros(n, geom.d, dtype=DTYPE)
    out[:, geom.M + geom.K: geom.M + geom.K + n] = math.sqrt(1 - in_span) * torch.eye(n, dtype=DTYPE)
    return math.sqrt(in_span) * tsr_patterns(geom, n, seed=seed) + out


def block_task(K: int, n: int, rare: int, batch: int, gen: torch.Generator) -> Task:
    """``batch`` training tasks whose K step maps are random permutations that keep the last ``rare`` patterns
    among themselves (and the first n - rare among themselves): a pattern class's frequency is then the same at
    every step, so unbalanced starting frequencies stay unbalanced along the chain (issue 16, Theorem 1's
    hypothesis 1 violated on purpose)."""
    common = n - rare
    if not 0 < rare < n:
        raise ProofCheckError(f"rare must lie in (0, n) (got rare={rare}, n={n})")
    pc = torch.argsort(torch.rand(batch, K, common, generator=gen), dim=-1)
    pr = common + torch.argsort(torch.rand(batch, K, rare, generator=gen), dim=-1)
    perm = torch.cat([pc, pr], dim=-1)
    return Task(torch.nn.functional.one_hot(perm, n).to(DTYPE), perm)


def sample_batch_weighted(gen: torch.Generator, task: Task, patterns: torch.Tensor, B: int, l: int, alpha: float,
                          weights) -> Batch:
    """As :func:`sample_batch` (noise-free training prompts) with unbalanced pattern frequencies: the query's
    pattern is drawn with probabilities proportional to ``weights`` (n,), the round(alpha l) same-pattern
    examples copy it, the other examples' starts are drawn proportionally to ``weights`` over the other n - 1
    patterns. Uniform weights give the balanced distribution up to the per-batch cycling of sample_batch."""
    n = task.n
    w = torch.as_tensor(weights, dtype=DTYPE)
    if w.shape != (n,) or bool((w <= 0).any()):
        raise ProofCheckError(f"weights must be {n} positive numbers (got {tuple(w.shape)})")
    query = torch.multinomial(w.expand(B, n), 1, generator=gen)[:, 0]
    s = same_count(l, alpha)
    wo = w.expand(B, n).clone()
    wo[torch.arange(B), query] = 0.0
    other = torch.multinomial(wo, l - s, replacement=True, generator=gen) if l > s else query[:, None][:, :0]
    starts = torch.cat([query[:, None].expand(B, s), other], dim=1)
    paths = sample_paths(gen, task, starts)
    z = correct_path(task, query)
    return Batch(query, paths, z, patterns[paths], patterns[z])
