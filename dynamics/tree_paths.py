r"""Yang–Huang–Liang–Chi: training dynamics of the backward and forward models (reconstruction [R]).

Backward (Theorem 3, docs/provenance/tree_paths.md §6.2). The population loss over relabelled perfect binary trees is
permutation-equivariant, so GD from B = 0 keeps H = A^T B A in the commutant H = alpha I + beta (J - I). For a
depth-m tree (n = 2^{m+1} - 1 = S labels, all used) at step k = 0..m-1:

    Z_k = e^alpha + (n - 2 + k) e^beta + 1,     W_t = (e^alpha + e^beta) / Z_k,
    L_k = 1/2 [ (1 - W_t)^2 + ((2^m - 2 - k)(2 e^beta)^2 + k (3 e^beta)^2 + 1) / Z_k^2 ],
    L(alpha, beta) = (1/m) sum_k L_k ,

and GD on H is the reduced map alpha <- alpha - (eta/S) dL/dalpha, beta <- beta - (eta/(S(S-1))) dL/dbeta
(dL/dalpha = tr G, dL/dbeta = sum of the off-diagonal entries of G = dL/dH).

Forward (Theorem 5): the same symmetry gives U_l = alpha_l I + beta_l (J - I) and a free 2x2 V_l (12 scalars).
No closed form is derived: every labelled perfect tree gives the same loss at a symmetric point (all forward keys
have a nonzero x-slot), so the reduced loss is the exact teacher-forced loss of one canonical tree.

Training loops here are plain (minibatch) gradient descent with a fixed step, as in the paper's Appendix A
(not the shared Adam loop of dynamics/training.py).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, wraps

import numpy as np
import sympy as sp
import torch

from constructions.errors import positive_float, positive_int
from dynamics.training import progress
from constructions.tree_paths.symbolic import alpha, beta
from constructions.tree_paths.torch_model import (
    LOSS_FACTOR, TreeBatch, backward_loss, forward_loss, pad_embeddings, sample_backward, sample_forward,
)

@contextmanager
def one_thread():
    """Run torch on one intra-op thread, then restore: the matrices here are tiny, and extra threads only add
    synchronisation (about 10x slower on a loaded 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _one_thread(fn):
    @wraps(fn)
    def run(*args, **kwargs):
        with one_thread():
            return fn(*args, **kwargs)
    return run


# --- backward: the closed-form reduced loss -------------------------------------------------------------
@lru_cache(maxsize=None)
def backward_reduced_terms(m: int) -> tuple[sp.Expr, ...]:
    """L_0, ..., L_{m-1} (sympy in alpha, beta) for perfect binary trees of depth m with S = n labels."""
    m = positive_int(m, "m", "the depth of the perfect binary trees")
    n = 2 ** (m + 1) - 1
    half = sp.nsimplify(LOSS_FACTOR)
    ea, eb = sp.exp(alpha), sp.exp(beta)
    out = []
    for k in range(m):
        Z = ea + (n - 2 + k) * eb + 1
        Wt = (ea + eb) / Z
        rest = ((2 ** m - 2 - k) * (2 * eb) ** 2 + k * (3 * eb) ** 2 + 1) / Z ** 2
        out.append(half * ((1 - Wt) ** 2 + rest))
    return tuple(out)


@lru_cache(maxsize=None)
def backward_reduced_loss(m: int) -> sp.Expr:
    """L(alpha, beta) = (1/m) sum_k L_k: the population backward loss on H = alpha I + beta (J - I)."""
    return sp.Add(*backward_reduced_terms(m)) / m


@lru_cache(maxsize=None)
def backward_reduced_functions(m: int):
    """Lambdified (loss, dL/dalpha, dL/dbeta) of :func:`backward_reduced_loss`."""
    L = backward_reduced_loss(m)
    return tuple(sp.lambdify((alpha, beta), e, "numpy") for e in (L, sp.diff(L, alpha), sp.diff(L, beta)))


def symmetric_H(a: float, b: float, S: int) -> np.ndarray:
    return a * np.eye(S) + b * (np.ones((S, S)) - np.eye(S))


def symmetric_parts(H: np.ndarray) -> dict[str, float]:
    """Projection of H on span{I, J - I}: alpha = mean diagonal, beta = mean off-diagonal; and the spreads
    (standard deviations) of the diagonal and of the off-diagonal entries around them."""
    S = H.shape[0]
    off = H[~np.eye(S, dtype=bool)]
    diag = np.diag(H)
    return {"alpha": float(diag.mean()), "beta": float(off.mean()),
            "diag_spread": float(diag.std()), "off_spread": float(off.std())}


@dataclass
class Trajectory:
    """Logged values of a training run (index 0 = initialisation) and the time per step."""

    steps: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    seconds_per_step: float = 0.0
    final: dict = field(default_factory=dict)

    def log(self, step: int, **vals):
        self.steps.append(step)
        for k, v in vals.items():
            self.values.setdefault(k, []).append(float(v))

    def __getitem__(self, key: str) -> np.ndarray:
        return np.asarray(self.values[key])


def reduced_backward_gd(m: int, lr: float, steps: int, log_every: int = 1) -> Trajectory:
    """Population GD on H restricted to alpha I + beta (J - I), from 0 (exact reduced map, S = n)."""
    m = positive_int(m, "m", "the depth of the perfect binary trees")
    lr = positive_float(lr, "lr", "the learning rate")
    steps = positive_int(steps, "steps", "the number of GD steps")
    S = 2 ** (m + 1) - 1
    L, da, db = backward_reduced_functions(m)
    a = b = 0.0
    out = Trajectory()
    t0 = time.perf_counter()
    for t in progress(range(steps + 1), steps + 1, "tree_paths training"):
        if t % log_every == 0 or t == steps:
            out.log(t, alpha=a, beta=b, loss=L(a, b), H11=a, H12=b)
        if t < steps:
            a, b = a - lr / S * da(a, b), b - lr / (S * (S - 1)) * db(a, b)
    out.seconds_per_step = (time.perf_counter() - t0) / (steps + 1)
    return out


@_one_thread
def train_backward(m: int, S: int, lr: float, steps: int, batch: int, *, embeddings=None, seed: int = 0,
                   log_every: int = 1, B0: np.ndarray | None = None) -> tuple[np.ndarray, Trajectory]:
    """Minibatch SGD with fixed step on the full d x d matrix B (from 0 unless B0), fresh perfect trees every step.

    Returns (B, trajectory of H = A^T B A: H11, H12, alpha/beta projections and spreads, minibatch loss).
    """
    m = positive_int(m, "m", "the depth of the perfect binary trees")
    lr = positive_float(lr, "lr", "the learning rate")
    steps = positive_int(steps, "steps", "the number of SGD steps")
    A = np.eye(S) if embeddings is None else np.asarray(embeddings, dtype=np.float64)
    A_pad = pad_embeddings(A)
    At = torch.as_tensor(A)
    B = torch.zeros(A.shape[0], A.shape[0], dtype=torch.float64) if B0 is None else torch.tensor(B0)
    B.requires_grad_(True)
    gen = torch.Generator().manual_seed(seed)
    out = Trajectory()
    elapsed = 0.0

    def record(t, loss):
        H = (At.T @ B.detach() @ At).numpy()
        out.log(t, H11=H[0, 0], H12=H[0, 1], loss=loss, **symmetric_parts(H))

    for t in progress(range(steps + 1), steps + 1, "tree_paths training"):
        t0 = time.perf_counter()
        data = sample_backward(gen, batch, m, S)
        loss = backward_loss(B, A_pad, data)
        if t % log_every == 0 or t == steps:
            record(t, loss.item())
        if t == steps:
            break
        (g,) = torch.autograd.grad(loss, B)
        with torch.no_grad():
            B -= lr * g
        elapsed += time.perf_counter() - t0
    out.seconds_per_step = elapsed / steps
    return B.detach().numpy(), out


def _seeds(seeds) -> tuple[int, ...]:
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds must name at least one training seed")
    return seeds


@_one_thread
def train_backward_seeds(m: int, S: int, lr: float, steps: int, batch: int, seeds, *, embeddings=None,
                         log_every: int = 1) -> tuple[np.ndarray, list[Trajectory]]:
    """:func:`train_backward` for several seeds in one batched computation: B carries a leading seed axis, and
    seed s draws its trees from its own generator ``manual_seed(seeds[s])``, so seed s is the run
    ``train_backward(..., embeddings=embeddings, seed=seeds[s])`` up to float64 round-off (the summed loss has
    block-separate gradients). Returns (B (s, d, d), one trajectory of H = A^T B A per seed)."""
    m = positive_int(m, "m", "the depth of the perfect binary trees")
    lr = positive_float(lr, "lr", "the learning rate")
    steps = positive_int(steps, "steps", "the number of SGD steps")
    seeds = _seeds(seeds)
    A = np.eye(S) if embeddings is None else np.asarray(embeddings, dtype=np.float64)
    A_pad = pad_embeddings(A)
    B = torch.zeros(len(seeds), A.shape[0], A.shape[0], dtype=torch.float64, requires_grad=True)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    outs = [Trajectory() for _ in seeds]
    elapsed = 0.0
    for t in progress(range(steps + 1), steps + 1, "tree_paths training"):
        t0 = time.perf_counter()
        data = sample_backward(gens, batch, m, S)  # stacked over seeds
        loss = backward_loss(B, A_pad, data)  # (s,)
        if t % log_every == 0 or t == steps:
            Hs = A.T @ B.detach().numpy() @ A if embeddings is not None else B.detach().numpy()
            for out, H, L in zip(outs, Hs, loss.detach().numpy()):
                out.log(t, H11=H[0, 0], H12=H[0, 1], loss=L, **symmetric_parts(H))
        if t == steps:
            break
        (g,) = torch.autograd.grad(loss.sum(), B)
        with torch.no_grad():
            B -= lr * g
        elapsed += time.perf_counter() - t0
    for out in outs:
        out.seconds_per_step = elapsed / steps
    return B.detach().numpy().copy(), outs


@_one_thread
def backward_gradient(B: np.ndarray, embeddings: np.ndarray, batch: TreeBatch) -> np.ndarray:
    """dL/dB of the mean minibatch loss (float64)."""
    Bt = torch.tensor(B, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(backward_loss(Bt, pad_embeddings(embeddings), batch), Bt)
    return g.numpy()


# --- forward: 12 symmetric scalars ---------------------------------------------------------------------
FORWARD_KEYS = ("alpha1", "beta1", "alpha2", "beta2", "V1", "V2")


def _sym_U(a: torch.Tensor, b: torch.Tensor, S: int) -> torch.Tensor:
    I = torch.eye(S, dtype=torch.float64)
    return a * I + b * (1 - I)


@lru_cache(maxsize=None)
def canonical_forward_batch(m: int, S: int) -> TreeBatch:
    """One labelled perfect tree (any: the loss at a symmetric point does not depend on the labelling)."""
    return sample_forward(torch.Generator().manual_seed(0), 1, m, S)


def forward_reduced_loss(params: dict, m: int, S: int, parts: bool = False):
    """The forward population loss at U_l = alpha_l I + beta_l (J - I), V_l (torch tensors, differentiable)."""
    U = (_sym_U(params["alpha1"], params["beta1"], S), _sym_U(params["alpha2"], params["beta2"], S))
    return forward_loss(U, (params["V1"], params["V2"]), _one_hot_pad(S), canonical_forward_batch(m, S),
                        parts=parts)


@lru_cache(maxsize=None)
def _one_hot_pad(S: int) -> torch.Tensor:
    return pad_embeddings(np.eye(S))


def _zero_params():
    z = lambda *shape: torch.zeros(*shape, dtype=torch.float64, requires_grad=True)
    return {"alpha1": z(()), "beta1": z(()), "alpha2": z(()), "beta2": z(()), "V1": z(2, 2), "V2": z(2, 2)}


def _log_forward(out: Trajectory, t: int, p: dict, loss, node, stage):
    flat = {k: float(v) for k, v in p.items() if not k.startswith("V")}
    for l in (1, 2):
        V = p[f"V{l}"]
        for i, si in enumerate("bf"):
            for j, sj in enumerate("bf"):
                flat[f"V{l}_{si}{sj}"] = float(V[i, j])
    out.log(t, loss=float(loss), node_loss=float(node), stage_loss=float(stage), **flat)


@_one_thread
def reduced_forward_gd(m: int, S: int, lr: float, steps: int, log_every: int = 1, *, frozen: tuple = (),
                       unscaled: bool = False) -> Trajectory:
    """Population GD from 0 on the 12 scalars: alpha_l -= (lr/S) dL/dalpha_l, beta_l -= (lr/(S(S-1))) dL/dbeta_l,
    V_l -= lr dL/dV_l (the exact image of GD on the full U_l, V_l).

    ``frozen`` names parameters kept at 0 (e.g. ("V1", "V2")); ``unscaled=True`` drops the 1/S and 1/(S(S-1))
    factors (a wrong reduction): both only for negative controls."""
    lr = positive_float(lr, "lr", "the learning rate")
    steps = positive_int(steps, "steps", "the number of GD steps")
    p = _zero_params()
    scale = {"alpha1": 1 / S, "alpha2": 1 / S, "beta1": 1 / (S * (S - 1)), "beta2": 1 / (S * (S - 1)),
             "V1": 1.0, "V2": 1.0}
    if unscaled:
        scale = dict.fromkeys(scale, 1.0)
    for k in frozen:
        scale[k] = 0.0
    out = Trajectory()
    t0 = time.perf_counter()
    for t in progress(range(steps + 1), steps + 1, "tree_paths training"):
        loss, node, stage = forward_reduced_loss(p, m, S, parts=True)
        if t % log_every == 0 or t == steps:
            _log_forward(out, t, {k: v.detach() for k, v in p.items()}, loss.item(), node.item(), stage.item())
        if t == steps:
            break
        grads = torch.autograd.grad(loss, list(p.values()))
        with torch.no_grad():
            for (k, v), g in zip(p.items(), grads):
                v -= lr * scale[k] * g
    out.seconds_per_step = (time.perf_counter() - t0) / (steps + 1)
    out.final = {k: v.detach().numpy().copy() for k, v in p.items()}
    return out


@_one_thread
def train_forward(m: int, S: int, lr: float, steps: int, batch: int, *, seed: int = 0,
                  log_every: int = 1) -> tuple[dict, Trajectory]:
    """Minibatch SGD with fixed step on the full U_1, U_2 (S x S, one-hot embeddings) and V_1, V_2 (2 x 2), from 0.

    Returns ({'U1', 'U2', 'V1', 'V2'} as numpy, trajectory of the 12 symmetric projections and the losses)."""
    lr = positive_float(lr, "lr", "the learning rate")
    steps = positive_int(steps, "steps", "the number of SGD steps")
    z = lambda *shape: torch.zeros(*shape, dtype=torch.float64, requires_grad=True)
    U, V = [z(S, S), z(S, S)], [z(2, 2), z(2, 2)]
    A_pad = pad_embeddings(np.eye(S))
    gen = torch.Generator().manual_seed(seed)
    out = Trajectory()
    elapsed = 0.0
    for t in progress(range(steps + 1), steps + 1, "tree_paths training"):
        t0 = time.perf_counter()
        data = sample_forward(gen, batch, m, S)
        loss, node, stage = forward_loss(U, V, A_pad, data, parts=True)
        if t % log_every == 0 or t == steps:
            sym = {}
            for l in (1, 2):
                parts = symmetric_parts(U[l - 1].detach().numpy())
                sym[f"alpha{l}"], sym[f"beta{l}"] = parts["alpha"], parts["beta"]
                sym[f"diag_spread{l}"] = parts["diag_spread"]
            _log_forward(out, t, {**sym, "V1": V[0].detach(), "V2": V[1].detach()}, loss.item(), node.item(),
                         stage.item())
        if t == steps:
            break
        grads = torch.autograd.grad(loss, U + V)
        with torch.no_grad():
            for v, g in zip(U + V, grads):
                v -= lr * g
        elapsed += time.perf_counter() - t0
    out.seconds_per_step = elapsed / steps
    params = {"U1": U[0].detach().numpy(), "U2": U[1].detach().numpy(),
              "V1": V[0].detach().numpy(), "V2": V[1].detach().numpy()}
    return params, out


@_one_thread
def train_forward_seeds(m: int, S: int, lr: float, steps: int, batch: int, seeds, *,
                        log_every: int = 1) -> tuple[list[dict], list[Trajectory]]:
    """:func:`train_forward` for several seeds in one batched computation (a leading seed axis on U_l, V_l; seed
    s draws from ``manual_seed(seeds[s])``, so it is the run ``train_forward(..., seed=seeds[s])`` up to
    round-off). Returns (one {'U1', 'U2', 'V1', 'V2'} per seed, one trajectory per seed)."""
    lr = positive_float(lr, "lr", "the learning rate")
    steps = positive_int(steps, "steps", "the number of SGD steps")
    seeds = _seeds(seeds)
    z = lambda *shape: torch.zeros(len(seeds), *shape, dtype=torch.float64, requires_grad=True)
    U, V = [z(S, S), z(S, S)], [z(2, 2), z(2, 2)]
    A_pad = pad_embeddings(np.eye(S))
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    outs = [Trajectory() for _ in seeds]
    elapsed = 0.0
    for t in progress(range(steps + 1), steps + 1, "tree_paths training"):
        t0 = time.perf_counter()
        data = sample_forward(gens, batch, m, S)  # stacked over seeds
        loss, node, stage = forward_loss(U, V, A_pad, data, parts=True)  # (s,) each
        if t % log_every == 0 or t == steps:
            for i, out in enumerate(outs):
                sym = {}
                for l in (1, 2):
                    parts = symmetric_parts(U[l - 1][i].detach().numpy())
                    sym[f"alpha{l}"], sym[f"beta{l}"] = parts["alpha"], parts["beta"]
                    sym[f"diag_spread{l}"] = parts["diag_spread"]
                _log_forward(out, t, {**sym, "V1": V[0][i].detach(), "V2": V[1][i].detach()}, loss[i].item(),
                             node[i].item(), stage[i].item())
        if t == steps:
            break
        grads = torch.autograd.grad(loss.sum(), U + V)
        with torch.no_grad():
            for v, g in zip(U + V, grads):
                v -= lr * g
        elapsed += time.perf_counter() - t0
    for out in outs:
        out.seconds_per_step = elapsed / steps
    params = [{"U1": U[0][i].detach().numpy().copy(), "U2": U[1][i].detach().numpy().copy(),
               "V1": V[0][i].detach().numpy().copy(), "V2": V[1][i].detach().numpy().copy()}
              for i in range(len(seeds))]
    return params, outs


@lru_cache(maxsize=None)
def backward_asymptotics(m: int) -> dict[str, sp.Expr]:
    """Large-alpha behaviour of the reduced backward GD (docs/provenance/tree_paths.md §6.2, derived here).

    With x = e^{-alpha}, L = x^2 F(beta) + O(x^3), F = lim_{x -> 0} L / x^2. The reduced map moves
    (alpha, beta) along d beta / d alpha = (dL/dbeta) / ((S - 1) dL/dalpha) -> r(beta) = F'(beta) / (-2 (S - 1) F(beta)).
    If r < 0 and r(beta) ~ -K e^beta as beta -> -oo, then e^{-beta} ~ K alpha: beta -> -oo only logarithmically, so
    beta / alpha -> 0 and H / ||H|| -> I / sqrt(S) (convergence in direction to the construction)."""
    S = 2 ** (m + 1) - 1
    L = backward_reduced_loss(m)
    x = sp.Symbol("x", positive=True)
    F = sp.simplify(sp.limit(sp.together(L.subs(alpha, -sp.log(x)) / x ** 2), x, 0))
    r = sp.simplify(sp.diff(F, beta) / (-2 * (S - 1) * F))
    K = -sp.limit(r * sp.exp(-beta), beta, -sp.oo)
    return {"F": F, "r": r, "K": K, "r_at_minus_inf": sp.limit(r, beta, -sp.oo)}


def forward_params_at(traj: Trajectory, i: int) -> dict:
    """The 12 symmetric scalars at logged index i, as the dict :func:`forward_from_symmetric` takes."""
    out = {k: traj[k][i] for k in ("alpha1", "beta1", "alpha2", "beta2")}
    for l in (1, 2):
        out[f"V{l}"] = np.array([[traj[f"V{l}_bb"][i], traj[f"V{l}_bf"][i]], [traj[f"V{l}_fb"][i], traj[f"V{l}_ff"][i]]])
    return out


FORWARD_STEP_TYPES = ("stage, non-turning steps", "path, forward steps", "path, backward steps",
                      "path, turning point (root repeated)", "stage, turning point (flip to s_f)")


def forward_phases(traj: Trajectory, m: int, S: int) -> dict[str, int | None]:
    """Per step type, the first logged iteration from which teacher-forced argmax decoding of that type stays
    correct to the end of the run (None if it is wrong at the end), measured from the 12 symmetric scalars on one
    canonical tree (the decisions are the same on every labelled perfect tree at a symmetric point)."""
    from constructions.tree_paths import decode_path, forward_from_symmetric, one_hot, perfect_binary_tree

    n = 2 ** (m + 1) - 1
    tree, goal, A = perfect_binary_tree(m, range(n)), n - 1, one_hot(S)
    groups = {FORWARD_STEP_TYPES[0]: ("stage", [k for k in range(2 * m + 1) if k != m]),
              FORWARD_STEP_TYPES[1]: ("node", list(range(m + 1, 2 * m + 1))),
              FORWARD_STEP_TYPES[2]: ("node", list(range(m))),
              FORWARD_STEP_TYPES[3]: ("node", [m]),
              FORWARD_STEP_TYPES[4]: ("stage", [m])}
    since: dict[str, int | None] = dict.fromkeys(groups)
    for i, step in enumerate(traj.steps):
        dec = decode_path(forward_from_symmetric(forward_params_at(traj, i), S), tree, goal, A, feedback="teacher")
        for name, (kind, ks) in groups.items():
            got, want = (dec.nodes, dec.targets) if kind == "node" else (dec.stages, dec.stage_targets)
            ok = all(got[k] == want[k] for k in ks)
            if ok and since[name] is None:
                since[name] = step
            elif not ok:
                since[name] = None
    return since


FORWARD_GROUPS = {"U1": ("alpha1", "beta1"), "U2": ("alpha2", "beta2"),
                  "V1": ("V1_bb", "V1_bf", "V1_fb", "V1_ff"), "V2": ("V2_bb", "V2_bf", "V2_fb", "V2_ff")}


def group_half_times(traj: Trajectory) -> dict[str, int]:
    """Per parameter group of the 12-scalar reduction (U_1 = (alpha_1, beta_1), U_2, V_1, V_2): the first logged
    iteration at which the group's displacement from its start, ||theta_g(t) - theta_g(0)||, reaches half of its
    displacement at the end of the run (a phase time read from the parameters, not from decoding)."""
    out = {}
    for g, keys in FORWARD_GROUPS.items():
        X = np.stack([traj[k] for k in keys], axis=1)
        d = np.linalg.norm(X - X[0], axis=1)
        out[g] = int(traj.steps[int(np.argmax(d >= 0.5 * d[-1]))])
    return out


def phases_from_times(times: dict[str, int], separation: float) -> list[tuple[str, ...]]:
    """Groups sorted by time and merged into phases: a new phase starts where a group's time exceeds the previous
    group's by at least the factor ``separation``; groups closer than that share a phase."""
    order = sorted(times, key=lambda g: (times[g], g))
    phases = [[order[0]]]
    for prev, g in zip(order, order[1:]):
        if times[g] >= separation * max(times[prev], 1):
            phases.append([g])
        else:
            phases[-1].append(g)
    return [tuple(sorted(p)) for p in phases]


# --- issue 16: CoT vs depth (one-shot model), finite training sets, non-perfect training trees ----------------
def _sgd_loop(params: list[torch.Tensor], loss_fn, data_fn, steps: int, lr: float, n_runs: int,
              log_every: int) -> list[Trajectory]:
    """Plain GD with fixed step on ``params`` (each with a leading run axis), loss_fn(data) -> (runs,) losses
    (summed for the gradient: the runs' gradients are block-separate), fresh data_fn(t) every step."""
    outs = [Trajectory() for _ in range(n_runs)]
    elapsed = 0.0
    for t in progress(range(steps + 1), steps + 1, "tree_paths training"):
        t0 = time.perf_counter()
        loss = loss_fn(data_fn(t))
        if t % log_every == 0 or t == steps:
            for out, L in zip(outs, loss.detach().numpy()):
                out.log(t, loss=L)
        if t == steps:
            break
        grads = torch.autograd.grad(loss.sum(), params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= lr * g
        elapsed += time.perf_counter() - t0
    for out in outs:
        out.seconds_per_step = elapsed / steps
    return outs


@_one_thread
def train_oneshot_seeds(m: int, S: int, lr: float, steps: int, batch: int, seeds, *,
                        log_every: int = 50) -> tuple[np.ndarray, np.ndarray, list[Trajectory]]:
    """The one-shot (no-CoT) model of constructions.tree_paths.padded (m output queries with their own Bx_k, By_k,
    from 0) trained by minibatch SGD on the same perfect trees as :func:`train_backward_seeds`: seed s draws its
    trees from ``manual_seed(seeds[s])``, the same stream as the CoT run of that seed. Returns (Bx (s, m, S, S),
    By (s, m, S, S), one trajectory per seed)."""
    from constructions.tree_paths.padded import oneshot_loss

    m = positive_int(m, "m", "the depth of the perfect binary trees")
    seeds = _seeds(seeds)
    z = lambda: torch.zeros(len(seeds), m, S, S, dtype=torch.float64, requires_grad=True)
    Bx, By = z(), z()
    gens = [torch.Generator().manual_seed(s) for s in seeds]

    def data(_t):
        return sample_backward(gens, batch, m, S)  # stacked over seeds

    def loss(batch_: TreeBatch):
        return oneshot_loss(Bx, By, _perfect_padded(batch_), m)

    outs = _sgd_loop([Bx, By], loss, data, positive_int(steps, "steps"), positive_float(lr, "lr"), len(seeds),
                     log_every)
    return Bx.detach().numpy().copy(), By.detach().numpy().copy(), outs


def _perfect_padded(batch: TreeBatch):
    """A perfect-tree TreeBatch (stacked over runs: a leading axis) as a stacked PaddedBatch (no Python per tree:
    the perfect layout is edges, goal, CoT tokens, exactly the padded layout with nothing padded)."""
    from constructions.tree_paths.padded import PaddedBatch

    n = 2 ** (batch.m + 1) - 1
    paths = torch.cat([batch.keys_y[..., n - 1:n], batch.targets], dim=-1)
    return PaddedBatch(batch.S, n - 1, batch.keys_x, batch.keys_y, torch.ones(batch.keys_x.shape, dtype=torch.bool),
                       paths, torch.full(paths.shape[:-1], batch.m))


@_one_thread
def train_backward_finite(m: int, S: int, lr: float, steps: int, batch: int, seeds, sizes, *,
                          log_every: int = 50) -> tuple[np.ndarray, list[Trajectory]]:
    """CoT backward SGD (full B from 0, one-hot) on FINITE training sets: for each seed, ``max(sizes)`` (tree,
    goal) examples are drawn once from ``manual_seed(seeds[s])``; the run (size N, seed s) trains on the first N
    of them (nested sets), drawing each minibatch of ``batch`` uniformly with replacement from its set (indices
    from ``manual_seed(10_000 + seeds[s])``, shared by all sizes of a seed). All len(sizes) * len(seeds) runs in
    one batched computation. Returns (B (len(sizes), len(seeds), S, S), trajectories in the same order, flat)."""
    from constructions.tree_paths.padded import padded_backward_loss

    seeds, sizes = _seeds(seeds), tuple(positive_int(N, "size") for N in sizes)
    pools = [_perfect_padded(sample_backward([torch.Generator().manual_seed(s)], max(sizes), m, S)) for s in seeds]
    idx_gens = [torch.Generator().manual_seed(10_000 + s) for s in seeds]
    runs = [(i, N) for N in sizes for i in range(len(seeds))]
    B = torch.zeros(len(runs), S, S, dtype=torch.float64, requires_grad=True)
    fields = ("keys_x", "keys_y", "key_valid", "paths", "lengths")

    def data(_t):
        u = [torch.rand(batch, generator=g, dtype=torch.float64) for g in idx_gens]
        picks = [(pools[i], (u[i] * N).long()) for i, N in runs]
        from constructions.tree_paths.padded import PaddedBatch
        return PaddedBatch(S, pools[0].E, *(torch.stack([getattr(P, f)[0][ix] for P, ix in picks]) for f in fields))

    outs = _sgd_loop([B], lambda d: padded_backward_loss(B, d), data, positive_int(steps, "steps"),
                     positive_float(lr, "lr"), len(runs), log_every)
    return B.detach().numpy().reshape(len(sizes), len(seeds), S, S).copy(), outs


@_one_thread
def train_backward_random_trees(S: int, lr: float, steps: int, batch: int, seeds, *, max_children: int = 3,
                                chunk: int = 25, log_every: int = 50) -> tuple[np.ndarray, list[Trajectory]]:
    """CoT backward SGD (full B from 0, one-hot) on fresh random NON-perfect trees (padded.sample_random_backward:
    n uniform in [2, S], 0..max_children children, goal a uniform leaf), seed s from ``manual_seed(seeds[s])``.
    Trees are drawn ``chunk`` steps at a time (one call per seed; the draw is the same as step by step up to the
    order of the random stream). Returns (B (s, S, S), one trajectory per seed)."""
    from constructions.tree_paths.padded import padded_backward_loss, sample_random_backward, stack_padded

    seeds = _seeds(seeds)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    B = torch.zeros(len(seeds), S, S, dtype=torch.float64, requires_grad=True)
    state = {}

    def data(t):
        if t % chunk == 0:
            state["pool"] = stack_padded([sample_random_backward(g, batch * chunk, S, max_children=max_children)
                                          for g in gens])
        P, sl = state["pool"], slice((t % chunk) * batch, (t % chunk + 1) * batch)
        return type(P)(P.S, P.E, P.keys_x[:, sl], P.keys_y[:, sl], P.key_valid[:, sl], P.paths[:, sl],
                       P.lengths[:, sl])

    outs = _sgd_loop([B], lambda d: padded_backward_loss(B, d), data, positive_int(steps, "steps"),
                     positive_float(lr, "lr"), len(seeds), log_every)
    return B.detach().numpy().copy(), outs
