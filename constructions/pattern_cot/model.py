r"""The one-layer single-head softmax transformer of the paper, a multi-layer variant, greedy CoT and ICL inference.

Model [S-ICLR p.9 eq.(1)]: for a prompt P with columns p_1..p_L (the last is p_query),

    F(Psi; P) = sum_{i < L} W_V p_i softmax_i( (W_K p_i)^T W_Q p_query ),   Psi = {W_Q, W_K, W_V}

W_V in R^{d x 2d} (F is compared with a token in R^d); W_Q, W_K in R^{m x 2d} with m = 2d by default (the
shapes are [NF]). Initialisation [NF]: W_Q = W_K = ``init_scale`` * I (the authors' ICL precursor used a small
scaling of the identity [S-ICL]) and W_V = 0 [I]. No MLP, residual or LayerNorm.

Greedy decoding [S-ICLR p.10]: v = argmin_u ||F - u|| over the allowed patterns (the TSR patterns at test time).

The multi-layer model (Figure 11, beyond the slides' formal model [I]): a residual stream of width 2d, L layers of
H softmax heads over the context columns (the query column is never a key, as in F), readout W_O h_query.
"""

from __future__ import annotations

import torch

from constructions.errors import ProofCheckError, positive_float, positive_int
from constructions.pattern_cot.data import DTYPE, Geometry, example_columns, icl_prompt

INIT_SCALE = 0.1  # W_Q = W_K = INIT_SCALE * I at initialisation [NF]
CATEGORIES = ("same pattern, same step", "same pattern, diff step", "diff pattern, same step",
              "diff pattern, diff step")


class OneLayer(torch.nn.Module):
    """F(P) = sum_i W_V p_i softmax((W_K p_i)^T W_Q p_query)."""

    def __init__(self, d: int, m: int | None = None, init_scale: float = INIT_SCALE):
        super().__init__()
        d = positive_int(d, "d", "the token dimension d_X")
        m = 2 * d if m is None else positive_int(m, "m", "the rows of W_Q and W_K")
        init_scale = positive_float(init_scale, "init_scale", "the scale of the identity initialisation")
        self.d = d
        self.W_Q = torch.nn.Parameter(init_scale * torch.eye(m, 2 * d, dtype=DTYPE))
        self.W_K = torch.nn.Parameter(init_scale * torch.eye(m, 2 * d, dtype=DTYPE))
        self.W_V = torch.nn.Parameter(torch.zeros(d, 2 * d, dtype=DTYPE))

    def attend(self, keys: torch.Tensor, queries: torch.Tensor, mask: torch.Tensor | None = None):
        """Outputs (B, Q, d) and attention (B, Q, L) of queries (B, Q, 2d) over key columns (B, L, 2d); ``mask``
        (Q, L) marks the keys each query may see."""
        scores = (queries @ self.W_Q.T) @ (keys @ self.W_K.T).transpose(1, 2)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        attn = torch.softmax(scores, dim=-1)
        return attn @ (keys @ self.W_V.T), attn

    def forward(self, P: torch.Tensor):
        """F(P) for prompts (B, L, 2d) whose last column is p_query: output (B, d), attention (B, L-1)."""
        out, attn = self.attend(P[:, :-1], P[:, -1:])
        return out[:, 0], attn[:, 0]


class SeededOneLayer(torch.nn.Module):
    """S one-layer models in one, trained as one batch (seeds as a batch dimension): W_Q, W_K (S, m, 2d), W_V
    (S, d, 2d), every slice initialised as :class:`OneLayer` (the initialisation is deterministic, so seeds differ
    by their data streams). Inputs are S blocks of b prompts stacked along the batch axis, seed-major (rows
    s b .. (s+1) b - 1 belong to seed s); outputs keep that layout, so :func:`dynamics.pattern_cot.cot_loss`
    works unchanged and its per-prompt losses reshape to (S, b)."""

    def __init__(self, d: int, n_seeds: int, m: int | None = None, init_scale: float = INIT_SCALE):
        super().__init__()
        solo = OneLayer(d, m, init_scale)
        self.d = solo.d
        self.n_seeds = positive_int(n_seeds, "n_seeds", "the number of seeds trained together")
        for name in ("W_Q", "W_K", "W_V"):
            w = getattr(solo, name).detach()
            setattr(self, name, torch.nn.Parameter(w.expand(self.n_seeds, *w.shape).clone()))

    def attend(self, keys: torch.Tensor, queries: torch.Tensor, mask: torch.Tensor | None = None):
        """As :meth:`OneLayer.attend`, seed s's weights on seed s's block of the batch."""
        S, (B, L, D), Q = self.n_seeds, keys.shape, queries.shape[1]
        if B % S:
            raise ProofCheckError(f"a seeded batch holds n_seeds={S} equal blocks (got batch {B})")
        k, q = keys.reshape(S, B // S, L, D), queries.reshape(S, B // S, Q, D)
        scores = torch.einsum("sbqi,smi->sbqm", q, self.W_Q) @ torch.einsum("sbli,smi->sblm", k, self.W_K).transpose(-1, -2)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        attn = torch.softmax(scores, dim=-1)
        out = attn @ torch.einsum("sbli,sdi->sbld", k, self.W_V)
        return out.reshape(B, Q, self.d), attn.reshape(B, Q, L)

    def solo(self, s: int) -> OneLayer:
        """A solo copy (detached) of seed index s."""
        if not 0 <= s < self.n_seeds:
            raise ProofCheckError(f"the seed index s must be in [0, {self.n_seeds}) (got s={s})")
        m = OneLayer(self.d, self.W_Q.shape[1])
        with torch.no_grad():
            for name in ("W_Q", "W_K", "W_V"):
                getattr(m, name).copy_(getattr(self, name)[s])
        return m


class MultiLayer(torch.nn.Module):
    """L layers of H heads on a residual stream of width 2d; context columns attend to context columns, the query
    column reads them; F = W_O h_query. Init: W_Q, W_K = init_scale I + N(0, head_noise^2), W_V ~ N(0, value_init^2),
    W_O = [0 I] (all [I])."""

    def __init__(self, d: int, layers: int = 3, heads: int = 2, init_scale: float = INIT_SCALE,
                 value_init: float = 0.01, head_noise: float = 0.05, gen: torch.Generator | None = None):
        super().__init__()
        self.d, self.layers, self.heads = d, positive_int(layers, "layers"), positive_int(heads, "heads")
        D = 2 * d
        gen = gen if gen is not None else torch.Generator().manual_seed(0)
        eye = torch.eye(D, dtype=DTYPE).expand(layers, heads, D, D)
        # a small random perturbation breaks the symmetry between heads
        self.W_Q = torch.nn.Parameter(init_scale * eye + head_noise * torch.randn(eye.shape, generator=gen, dtype=DTYPE))
        self.W_K = torch.nn.Parameter(init_scale * eye + head_noise * torch.randn(eye.shape, generator=gen, dtype=DTYPE))
        self.W_V = torch.nn.Parameter(value_init * torch.randn(layers, heads, D, D, generator=gen, dtype=DTYPE))
        self.W_O = torch.nn.Parameter(torch.cat([torch.zeros(d, d), torch.eye(d)], dim=1).to(DTYPE))

    def attend(self, keys: torch.Tensor, queries: torch.Tensor, mask: torch.Tensor | None = None):
        """Same interface as :meth:`OneLayer.attend`: one sequence (keys, query q) per query, keys hidden by ``mask``
        (Q, L). Returns F (B, Q, d) and the query's attention over the keys (B, Q, layers, heads, L)."""
        B, L, D = keys.shape
        Q = queries.shape[1]
        mask = torch.ones(Q, L, dtype=torch.bool) if mask is None else mask
        seq = torch.cat([keys[:, None].expand(B, Q, L, D), queries[:, :, None]], dim=2).reshape(B * Q, L + 1, D)
        km = torch.cat([mask, torch.zeros(Q, 1, dtype=torch.bool)], dim=1)[None].expand(B, Q, L + 1)
        out, attn = self.run(seq, km.reshape(B * Q, L + 1))
        return out.reshape(B, Q, -1), attn[..., :L].reshape(B, Q, self.layers, self.heads, L)

    def run(self, seq: torch.Tensor, key_mask: torch.Tensor):
        """seq (N, L, 2d) with the query last; key_mask (N, L) marks the context columns present. Returns F (N, d)
        and the query's attention per layer and head (N, layers, heads, L)."""
        h, q_attn = seq, []
        neg = torch.zeros(key_mask.shape, dtype=DTYPE).masked_fill(~key_mask, float("-inf"))[:, None, None, :]
        for ell in range(self.layers):
            q = torch.einsum("hij,nlj->nhli", self.W_Q[ell], h)
            k = torch.einsum("hij,nlj->nhli", self.W_K[ell], h)
            v = torch.einsum("hij,nlj->nhli", self.W_V[ell], h)
            attn = torch.softmax(q @ k.transpose(-1, -2) + neg, dim=-1)  # (N, H, L, L)
            h = h + (attn @ v).sum(1)
            q_attn.append(attn[:, :, -1])
        return h[:, -1] @ self.W_O.T, torch.stack(q_attn, dim=1)


class SeededMultiLayer(MultiLayer):
    """S :class:`MultiLayer` models in one (seeds as a batch dimension), each slice initialised as the solo model
    of its seed (``gen=Generator().manual_seed(seed)``); parameters carry a leading seed axis. Inputs are S
    blocks of b prompts stacked seed-major, as :class:`SeededOneLayer`; the sequences that :meth:`attend`
    builds keep that order, so :meth:`run` reads seed s's rows with seed s's weights."""

    def __init__(self, d: int, seeds, layers: int = 3, heads: int = 2, **kwargs):
        torch.nn.Module.__init__(self)
        seeds = tuple(int(s) for s in seeds)
        solos = [MultiLayer(d, layers, heads, gen=torch.Generator().manual_seed(s), **kwargs) for s in seeds]
        self.d, self.layers, self.heads = solos[0].d, solos[0].layers, solos[0].heads
        self.n_seeds = positive_int(len(seeds), "n_seeds", "the number of seeds trained together")
        for name in ("W_Q", "W_K", "W_V", "W_O"):
            setattr(self, name, torch.nn.Parameter(torch.stack([getattr(m, name).detach() for m in solos])))

    def run(self, seq: torch.Tensor, key_mask: torch.Tensor):
        """As :meth:`MultiLayer.run` on S seed-major blocks of sequences (N = S n rows)."""
        S = self.n_seeds
        if seq.shape[0] % S:
            raise ProofCheckError(f"a seeded batch holds n_seeds={S} equal blocks (got {seq.shape[0]} sequences)")
        h = seq.reshape(S, -1, *seq.shape[1:])  # (S, n, L, 2d)
        neg = torch.zeros(key_mask.shape, dtype=DTYPE).masked_fill(~key_mask, float("-inf"))
        neg = neg.reshape(S, -1, 1, 1, key_mask.shape[-1])
        q_attn = []
        for ell in range(self.layers):
            q = torch.einsum("shij,snlj->snhli", self.W_Q[:, ell], h)
            k = torch.einsum("shij,snlj->snhli", self.W_K[:, ell], h)
            v = torch.einsum("shij,snlj->snhli", self.W_V[:, ell], h)
            attn = torch.softmax(q @ k.transpose(-1, -2) + neg, dim=-1)  # (S, n, H, L, L)
            h = h + (attn @ v).sum(2)
            q_attn.append(attn[:, :, :, -1])
        out = h[:, :, -1] @ self.W_O.transpose(-1, -2)  # (S, n, d)
        return out.reshape(-1, out.shape[-1]), torch.stack(q_attn, dim=2).flatten(0, 1)

    def solo(self, s: int) -> MultiLayer:
        """A solo copy (detached) of seed index s."""
        if not 0 <= s < self.n_seeds:
            raise ProofCheckError(f"the seed index s must be in [0, {self.n_seeds}) (got s={s})")
        m = MultiLayer(self.d, self.layers, self.heads)
        with torch.no_grad():
            for name in ("W_Q", "W_K", "W_V", "W_O"):
                getattr(m, name).copy_(getattr(self, name)[s])
        return m


def nearest(out: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """Greedy decoding: index of the nearest allowed pattern, argmin_u ||F - u||."""
    return torch.cdist(out.reshape(-1, out.shape[-1]), patterns).argmin(-1).reshape(out.shape[:-1])


@torch.no_grad()
def cot_rollout(model, geom: Geometry, ex: torch.Tensor, z0: torch.Tensor, patterns: torch.Tensor):
    """Greedy CoT inference [S-ICLR p.10]: query column (v_{k-1}; 0) + c_{k-1}; decode v_k; fill the column to
    (v_{k-1}; v_k) and append the next query. Returns decoded indices (B, K) and per-step attention over the
    keys (list of (B, l*K + k - 1)); v_0 is the (noisy) query token z0 (B, d)."""
    cols, c = example_columns(geom, ex), geom.pe()
    prev, hist, decoded, attns = z0, [], [], []
    for k in range(geom.K):
        q = torch.cat([prev, torch.zeros_like(prev)], dim=-1) + c[k]
        out, attn = model.attend(torch.cat([cols, *hist], dim=1), q[:, None])
        idx = nearest(out[:, 0], patterns)
        v = patterns[idx]
        hist.append((torch.cat([prev, v], dim=-1) + c[k])[:, None])
        decoded.append(idx)
        attns.append(attn[:, 0])  # (B, L), or (B, layers, heads, L) for the multi-layer model
        prev = v
    return torch.stack(decoded, dim=1), attns


@torch.no_grad()
def icl_readout(model: OneLayer, geom: Geometry, ex: torch.Tensor, x_query: torch.Tensor, patterns: torch.Tensor):
    """ICL inference [S-ICLR p.11]: v = nearest pattern to F(icl_prompt). Returns indices (B,) and attention."""
    out, attn = model(icl_prompt(geom, ex, x_query))
    return nearest(out, patterns), attn


def category_masses(attn: torch.Tensor, key_pos: torch.Tensor, key_pattern: torch.Tensor, query_pos: torch.Tensor,
                    query_pattern: torch.Tensor) -> torch.Tensor:
    """Attention mass on the Proposition's four column categories (order: CATEGORIES), per prompt and query.

    attn (B, Q, L); key_pos (L,) position j of each key column; key_pattern (B, L) pattern of its input half;
    query_pos (Q,) and query_pattern (B, Q) the query's step position k-1 and current pattern. Returns (B, Q, 4).
    """
    if attn.shape[-1] != key_pos.shape[0]:
        raise ProofCheckError(f"attention has {attn.shape[-1]} keys but key_pos labels {key_pos.shape[0]}")
    step = key_pos[None, None, :] == query_pos[None, :, None]
    pat = key_pattern[:, None, :] == query_pattern[:, :, None]
    masks = (pat & step, pat & ~step, ~pat & step, ~pat & ~step)
    return torch.stack([(attn * m).sum(-1) for m in masks], dim=-1)
