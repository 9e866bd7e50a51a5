r"""Labelled rooted trees as parent maps, the training and test distributions, and root paths.

docs/provenance/tree_paths.md §2 ([S1][S2], layout [R]). A tree has ``n`` nodes with unique labels
from ``{0, ..., S-1}`` (label ``i`` is column ``a_i`` of the embedding matrix A; the paper's ``[S] = {1..S}``
shifted by one). The path of a goal ``g`` is ``v_0 = g, v_{k+1} = par(v_k), ..., v_m = root``.

- Training distribution [S1][S2]: perfect binary trees of depth m (n = 2^{m+1} - 1 nodes), labels drawn without
  replacement from [S], goal a uniform leaf, so every path has exactly m steps.
- Test distribution [S1][S2], generation rule [R]: random trees in which every node has 0..max_children children
  (a new node is attached to a uniformly chosen node that still has room), labels a random subset of [S], goal a
  uniform leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from constructions.errors import ProofCheckError, positive_int


@dataclass(frozen=True, eq=False)
class Tree:
    """A rooted tree: ``labels[i]`` is a node, ``parent[i]`` the label of its parent (-1 for the root)."""

    labels: tuple[int, ...]
    parent: tuple[int, ...]

    def __post_init__(self):
        if len(self.labels) != len(self.parent) or not self.labels:
            raise ProofCheckError(f"a tree needs equally many labels and parents, at least one "
                                  f"(got {len(self.labels)} labels, {len(self.parent)} parents)")
        if len(set(self.labels)) != len(self.labels) or min(self.labels) < 0:
            raise ProofCheckError(f"tree labels must be unique non-negative integers (got {self.labels})")
        roots = [u for u, p in zip(self.labels, self.parent) if p == -1]
        if len(roots) != 1:
            raise ProofCheckError(f"a tree has exactly one root (parent -1); got {len(roots)}")
        known = set(self.labels)
        bad = [p for p in self.parent if p != -1 and p not in known]
        if bad:
            raise ProofCheckError(f"parent labels {bad} are not nodes of the tree")
        for u in self.labels:  # acyclic: every walk up reaches the root within n steps
            self.path_to_root(u)

    @property
    def n(self) -> int:
        return len(self.labels)

    @cached_property
    def par(self) -> dict[int, int]:
        return dict(zip(self.labels, self.parent))

    @property
    def root(self) -> int:
        return next(u for u, p in zip(self.labels, self.parent) if p == -1)

    @cached_property
    def children(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {u: [] for u in self.labels}
        for u, p in zip(self.labels, self.parent):
            if p != -1:
                out[p].append(u)
        return out

    @property
    def leaves(self) -> list[int]:
        return [u for u in self.labels if not self.children[u]]

    @property
    def max_children(self) -> int:
        return max(len(c) for c in self.children.values())

    def edges(self) -> list[tuple[int, int]]:
        """(child, parent) for every non-root node, in the order of ``labels``."""
        return [(u, p) for u, p in zip(self.labels, self.parent) if p != -1]

    def path_to_root(self, goal: int) -> list[int]:
        """[v_0 = goal, v_1 = par(goal), ..., v_m = root]."""
        if goal not in self.par:
            raise ProofCheckError(f"goal {goal} is not a node of the tree (nodes: {sorted(self.labels)})")
        path = [goal]
        while self.par[path[-1]] != -1:
            path.append(self.par[path[-1]])
            if len(path) > self.n:
                raise ProofCheckError("the parent map has a cycle")
        return path

    def depth(self, u: int) -> int:
        return len(self.path_to_root(u)) - 1

    def relabel(self, mapping) -> "Tree":
        """The same tree with every label u replaced by mapping[u] (a permutation of labels)."""
        return Tree(tuple(int(mapping[u]) for u in self.labels),
                    tuple(-1 if p == -1 else int(mapping[p]) for p in self.parent))


def _labels(labels, n: int, what: str) -> tuple[int, ...]:
    labels = tuple(int(x) for x in labels)
    if len(labels) != n:
        raise ProofCheckError(f"{what} needs exactly {n} labels (got {len(labels)})")
    return labels


def perfect_binary_tree(m: int, labels) -> Tree:
    """The perfect binary tree of depth m; ``labels`` (length 2^{m+1} - 1) in heap order.

    Heap position i has parent position (i - 1) // 2; position 0 is the root; the leaves are positions
    2^m - 1 ... 2^{m+1} - 2.
    """
    m = positive_int(m, "m", "the depth of the perfect binary tree")
    n = 2 ** (m + 1) - 1
    labels = _labels(labels, n, f"a perfect binary tree of depth m={m}")
    parent = (-1,) + tuple(labels[(i - 1) // 2] for i in range(1, n))
    return Tree(labels, parent)


def random_perfect_tree(m: int, S: int, rng: np.random.Generator) -> Tree:
    """A training tree: depth-m perfect binary tree, labels drawn without replacement from [S]."""
    m = positive_int(m, "m", "the depth of the perfect binary tree")
    n = 2 ** (m + 1) - 1
    S = positive_int(S, "S", "the number of labels")
    if S < n:
        raise ProofCheckError(f"S (the number of labels) must be at least n = 2^(m+1) - 1 = {n} (got S={S})")
    return perfect_binary_tree(m, rng.choice(S, size=n, replace=False))


def random_tree(n_nodes: int, max_children: int, labels, rng: np.random.Generator) -> Tree:
    """A random tree on ``n_nodes`` of ``labels`` (chosen at random, in random order) with at most
    ``max_children`` children per node: node i >= 1 is attached to a uniformly chosen earlier node that has
    fewer than ``max_children`` children ([R] generation rule)."""
    n_nodes = positive_int(n_nodes, "n_nodes", "the number of nodes")
    max_children = positive_int(max_children, "max_children", "the largest number of children per node")
    pool = np.asarray(list(labels), dtype=np.int64)
    if len(pool) < n_nodes:
        raise ProofCheckError(f"n_nodes={n_nodes} needs at least that many labels (got {len(pool)})")
    chosen = rng.choice(pool, size=n_nodes, replace=False)
    counts = np.zeros(n_nodes, dtype=np.int64)
    parent = [-1]
    for i in range(1, n_nodes):
        open_ = np.flatnonzero(counts[:i] < max_children)
        j = int(open_[rng.integers(len(open_))])  # the draw of rng.choice(open_), without its overhead
        counts[j] += 1
        parent.append(int(chosen[j]))
    return Tree(tuple(int(x) for x in chosen), tuple(parent))


def random_test_tree(S: int, rng: np.random.Generator, *, max_children: int = 3, min_nodes: int = 2,
                     max_nodes: int | None = None) -> Tree:
    """A test tree: n uniform in [min_nodes, max_nodes] (default [2, S]), labels a random subset of [S]."""
    S = positive_int(S, "S", "the number of labels")
    hi = S if max_nodes is None else min(S, positive_int(max_nodes, "max_nodes"))
    if not 2 <= min_nodes <= hi:
        raise ProofCheckError(f"min_nodes must be in [2, {hi}] (got min_nodes={min_nodes})")
    n = int(rng.integers(min_nodes, hi + 1))
    return random_tree(n, max_children, range(S), rng)


def random_leaf(tree: Tree, rng: np.random.Generator, *, min_depth: int = 1) -> int:
    """A uniformly chosen leaf of depth >= min_depth (the goal)."""
    leaves = [u for u in tree.leaves if tree.depth(u) >= min_depth]
    if not leaves:
        raise ProofCheckError(f"the tree has no leaf of depth >= {min_depth}")
    return int(leaves[int(rng.integers(len(leaves)))])
