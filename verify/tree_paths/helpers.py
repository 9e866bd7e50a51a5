"""Measurements shared by the tree_paths checks: tree/embedding draws, cached training runs (no formulas here:
those live in constructions/tree_paths and dynamics/tree_paths)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from hypothesis import strategies as st

from constructions.tree_paths import (
    one_hot, orthonormal, perfect_binary_tree, random_leaf, random_test_tree, random_tree,
)
from dynamics import tree_paths as dyn
from verify import timings
from verify.cache import disk_cached

# Paper sizes (docs/provenance/tree_paths.md §7): backward m = 4, S = 31, lr 1; forward m = 3, S = 25, lr 0.2; batch
# 256.
BACKWARD = dict(m=4, S=31, lr=1.0, batch=256)
FORWARD = dict(m=3, S=25, lr=0.2, batch=256)
TEST_TREES = 1024  # the paper's test-set size (docs/provenance/tree_paths.md §7)
# The trained forward instance over seeds: quick trains a smaller instance (depth-2 perfect trees, S = 13, lr 0.5,
# batch 256), whose 12-scalar GD learns every step type by iteration 550 and decodes all 1024 random test trees
# from iteration 800 on (measured; the paper's instance needs ~6000 steps), so that three seeds train in the quick
# budget; the paper profile trains the paper's instance.
FORWARD_TRAINED = {"quick": dict(m=2, S=13, lr=0.5, batch=256), "paper": FORWARD}
FORWARD_LOG_EVERY = {"quick": 10, "paper": 50}  # logging of the trained instance (phase times are read from it)
STEPS = {  # training steps per profile; the paper's counts are [NF]
    "quick": dict(backward_sgd=2000, backward_reduced=20000, forward_reduced=8000, forward_sgd=1000,
                  finite_sgd=2000, nonperfect_sgd=1000),
    "paper": dict(backward_sgd=6000, backward_reduced=20000, forward_reduced=20000, forward_sgd=8000,
                  finite_sgd=6000, nonperfect_sgd=6000),
}
# Finite training sets (tree_paths.train_size): nested sets of (perfect tree, goal) examples per seed, minibatches
# of FINITE_BATCH drawn with replacement (64, not 256: a 4-tree set gains nothing from a larger batch, and all
# size x seed runs train in one batched computation).
TRAIN_SIZES = {"quick": (4, 16, 64, 256), "paper": (4, 16, 64, 256, 1024)}
FINITE_BATCH = 64
SEEDS = {"quick": (0, 1, 2), "paper": tuple(range(8))}  # the evidence standard: >= 3 quick, >= 8 paper


def seeds(profile: str) -> tuple[int, ...]:
    """The training seeds of a profile (each an independent stream of training trees; the init is 0)."""
    return SEEDS[profile]


def draw_tree(kind: str, size: int, max_children: int, extra_labels: int, seed: int):
    """(tree, goal, S): a perfect binary tree of depth ``size`` or a random tree on ``size`` nodes with at most
    ``max_children`` children; labels a random subset of [S], S = n + extra_labels; goal a uniform leaf."""
    rng = np.random.default_rng(seed)
    if kind == "perfect":
        n = 2 ** (size + 1) - 1
        S = n + extra_labels
        tree = perfect_binary_tree(size, rng.choice(S, size=n, replace=False))
    else:
        S = size + extra_labels
        tree = random_tree(size, max_children, range(S), rng)
    return tree, random_leaf(tree, rng), S


def draw_embeddings(kind: str, S: int, extra_dim: int, seed: int) -> np.ndarray:
    if kind == "one_hot":
        return one_hot(S)
    if kind == "orthonormal":
        return orthonormal(S, np.random.default_rng(seed + 1), S + extra_dim)
    raise ValueError(kind)


@lru_cache(maxsize=None)
def random_test_set(S: int, count: int = TEST_TREES, seed: int = 2024, max_children: int = 3):
    """[(tree, goal)]: random test trees with n uniform in [2, S], labels a random subset of [S]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        tree = random_test_tree(S, rng, max_children=max_children)
        out.append((tree, random_leaf(tree, rng)))
    return tuple(out)


@lru_cache(maxsize=None)
def deep_random_set(S: int, depths: tuple[int, int], count: int, seed: int, max_children: int = 3):
    """Random test trees (n uniform in [depth_lo + 1, S]) with a goal leaf at depth in [depth_lo, depth_hi];
    trees without such a leaf are redrawn."""
    rng = np.random.default_rng(seed)
    lo, hi = depths
    out = []
    while len(out) < count:
        tree = random_test_tree(S, rng, max_children=max_children, min_nodes=lo + 1)
        leaves = [u for u in tree.leaves if lo <= tree.depth(u) <= hi]
        if leaves:
            out.append((tree, int(leaves[int(rng.integers(len(leaves)))])))
    return tuple(out)


@lru_cache(maxsize=None)
@disk_cached
def backward_sgd_seeds(profile: str):
    """Full-matrix SGD on B (one-hot, the paper's backward setting) from 0, one run per seed, all seeds in one
    batched computation: (B (s, S, S), [trajectory per seed], seeds)."""
    p, steps, chosen = BACKWARD, STEPS[profile]["backward_sgd"], seeds(profile)
    Bs, trajs = dyn.train_backward_seeds(p["m"], p["S"], p["lr"], steps, p["batch"], chosen, log_every=50)
    timings.record("tree_paths backward SGD (theorems 3, 4), seeds batched", steps=steps, batch=p["batch"],
                   seeds=len(chosen), seconds=trajs[0].seconds_per_step * steps, m=p["m"], S=p["S"])
    return Bs, trajs, chosen


def backward_sgd(profile: str):
    """The first seed's (B, trajectory) of :func:`backward_sgd_seeds` (for probes that show one model)."""
    Bs, trajs, _ = backward_sgd_seeds(profile)
    return Bs[0], trajs[0]


@lru_cache(maxsize=None)
def backward_reduced_at(lr: float, steps: int):
    """Reduced population GD (alpha, beta) after ``steps`` steps at step size ``lr`` (the paper's m = 4, S = 31):
    the prediction of a trained model's H, independent of its logits (lr != 1 only for the near-miss control)."""
    red = dyn.reduced_backward_gd(BACKWARD["m"], lr, steps, log_every=steps)
    return float(red["alpha"][-1]), float(red["beta"][-1])


@lru_cache(maxsize=None)
@disk_cached
def backward_reduced(profile: str, steps: int | None = None):
    p = BACKWARD
    return dyn.reduced_backward_gd(p["m"], p["lr"], steps or STEPS[profile]["backward_reduced"], log_every=50)


@lru_cache(maxsize=None)
@disk_cached
def forward_reduced(profile: str):
    p = FORWARD
    return dyn.reduced_forward_gd(p["m"], p["S"], p["lr"], STEPS[profile]["forward_reduced"], log_every=50)


@lru_cache(maxsize=None)
@disk_cached
def forward_sgd_seeds(profile: str):
    """Full-matrix SGD on U_1, U_2, V_1, V_2 from 0 on the profile's trained instance (FORWARD_TRAINED), one run
    per seed in one batched computation: ([params per seed], [trajectory per seed], seeds)."""
    p, steps, chosen = FORWARD_TRAINED[profile], STEPS[profile]["forward_sgd"], seeds(profile)
    params, trajs = dyn.train_forward_seeds(p["m"], p["S"], p["lr"], steps, p["batch"], chosen,
                                            log_every=FORWARD_LOG_EVERY[profile])
    timings.record("tree_paths forward SGD (theorems 5, 6), seeds batched", steps=steps, batch=p["batch"],
                   seeds=len(chosen), seconds=trajs[0].seconds_per_step * steps, m=p["m"], S=p["S"])
    return params, trajs, chosen


@lru_cache(maxsize=None)
@disk_cached
def forward_trained_reduced(profile: str, lr_factor: float = 1.0):
    """12-scalar population GD on the profile's trained instance for as many steps as its SGD runs (the
    prediction of the SGD models; ``lr_factor`` != 1 only for near-miss controls)."""
    p = FORWARD_TRAINED[profile]
    return dyn.reduced_forward_gd(p["m"], p["S"], p["lr"] * lr_factor, STEPS[profile]["forward_sgd"],
                                  log_every=FORWARD_LOG_EVERY[profile])


# Hypothesis strategy for one tree case: perfect binary (depth 1..PERFECT_MAX_DEPTH) or random (2..31 nodes, 1..4
# children); labels a subset of [S]; one-hot or random orthonormal embeddings (d = S + 0..4).
# The depth of perfect trees is clipped at 6 (n = 127 nodes, S and d up to ~135): every example builds and decodes
# d x N token matrices, and depth 7 (255 nodes) would cost ~4-8x more per example while adding no new structure
# (the same binary branching; the paper trains at depth 4 and 3). Random trees stay at <= 31 nodes for the same cost
# reason. The shared ``size`` draw maps onto depths 1..6 evenly (it used to clip every size >= 4 to depth 4).
PERFECT_MAX_DEPTH = 6
TREE_CASES = dict(kind=st.sampled_from(["perfect", "random"]), size=st.integers(1, 31),
                  max_children=st.integers(1, 4), extra_labels=st.integers(0, 6),
                  emb=st.sampled_from(["one_hot", "orthonormal"]), extra_dim=st.integers(0, 4),
                  seed=st.integers(0, 2**32 - 1))


def tree_case(kind, size, max_children, extra_labels, emb, extra_dim, seed):
    """(tree, goal, embeddings A) for one drawn case of :data:`TREE_CASES`."""
    size = 1 + (size - 1) % PERFECT_MAX_DEPTH if kind == "perfect" else max(size, 2)
    tree, goal, S = draw_tree(kind, size, max_children, extra_labels, seed)
    return tree, goal, draw_embeddings(emb, S, extra_dim, seed)


@lru_cache(maxsize=None)
@disk_cached
def oneshot_sgd_seeds(profile: str):
    """The one-shot (no-CoT) model (constructions.tree_paths.padded) trained like :func:`backward_sgd_seeds`: same
    trees per seed, steps, batch and step size. (Bx (s, m, S, S), By, trajectories, seeds)."""
    p, steps, chosen = BACKWARD, STEPS[profile]["backward_sgd"], seeds(profile)
    Bx, By, trajs = dyn.train_oneshot_seeds(p["m"], p["S"], p["lr"], steps, p["batch"], chosen)
    timings.record("tree_paths one-shot (no-CoT) SGD (cot_vs_depth), seeds batched", steps=steps,
                   batch=p["batch"], seeds=len(chosen), seconds=trajs[0].seconds_per_step * steps)
    return Bx, By, trajs, chosen


@lru_cache(maxsize=None)
@disk_cached
def finite_sgd(profile: str):
    """CoT backward SGD on finite nested training sets of TRAIN_SIZES[profile] examples, every seed:
    (B (sizes, seeds, S, S), sizes, seeds)."""
    p, steps, chosen, sizes = BACKWARD, STEPS[profile]["finite_sgd"], seeds(profile), TRAIN_SIZES[profile]
    B, trajs = dyn.train_backward_finite(p["m"], p["S"], p["lr"], steps, FINITE_BATCH, chosen, sizes)
    timings.record("tree_paths finite training sets (train_size), sizes x seeds batched", steps=steps,
                   batch=FINITE_BATCH, runs=len(trajs), seconds=trajs[0].seconds_per_step * steps)
    return B, sizes, chosen


@lru_cache(maxsize=None)
@disk_cached
def nonperfect_sgd_seeds(profile: str):
    """CoT backward SGD on fresh random non-perfect trees (0-3 children, n uniform in [2, 31]): (B (s, S, S),
    trajectories, seeds)."""
    p, steps, chosen = BACKWARD, STEPS[profile]["nonperfect_sgd"], seeds(profile)
    B, trajs = dyn.train_backward_random_trees(p["S"], p["lr"], steps, p["batch"], chosen)
    timings.record("tree_paths non-perfect training trees (probe_nonperfect), seeds batched", steps=steps,
                   batch=p["batch"], seeds=len(chosen), seconds=trajs[0].seconds_per_step * steps)
    return B, trajs, chosen


@lru_cache(maxsize=None)
def padded_set(kind: str, count: int = TEST_TREES, seed: int = 2024, depth: int | None = None):
    """Unseen test trees as a padded batch: "random" (:func:`random_test_set`), "perfect" (fresh labelled depth-4
    perfect trees from ``manual_seed(10**6 + seed)``, a stream no training seed uses), "depth" (random trees,
    0-3 children, goal leaf at exactly ``depth``: :func:`deep_random_set`)."""
    import torch

    from constructions.tree_paths.padded import from_perfect, pad_trees
    from constructions.tree_paths.torch_model import sample_backward

    S = BACKWARD["S"]
    if kind == "random":
        return pad_trees(random_test_set(S, count, seed), S)
    if kind == "perfect":
        gen = torch.Generator().manual_seed(10 ** 6 + seed)
        return pad_trees(from_perfect(sample_backward(gen, count, BACKWARD["m"], S)), S)
    if kind == "depth":
        return pad_trees(deep_random_set(S, (depth, depth), count, seed), S)
    raise ValueError(kind)
