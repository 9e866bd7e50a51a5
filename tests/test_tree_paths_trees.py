"""constructions.tree_paths: trees, tokens and embeddings (shapes, layouts, argument errors)."""

import numpy as np
import pytest

from constructions import ProofCheckError
from constructions.tree_paths import (
    STAGE_B, STAGE_F, Tree, backward_schedule, backward_tokens, coherence, equicorrelated, forward_schedule,
    forward_tokens, one_hot, orthonormal, perfect_binary_tree, random_leaf, random_perfect_tree, random_test_tree,
    random_tree,
)


def test_perfect_binary_tree_shape():
    t = perfect_binary_tree(3, range(100, 115))
    assert t.n == 15 and t.root == 100 and len(t.leaves) == 8 and len(t.edges()) == 14
    assert t.par[107] == 103 and t.par[103] == 101 and t.par[101] == 100
    assert t.path_to_root(107) == [107, 103, 101, 100]
    assert all(t.depth(u) == 3 for u in t.leaves) and t.max_children == 2


def test_random_tree_respects_limits():
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = random_tree(25, 3, range(40), rng)
        assert t.n == 25 and t.max_children <= 3 and set(t.labels) <= set(range(40))
    t = random_test_tree(31, rng)
    assert 2 <= t.n <= 31
    assert random_leaf(t, rng) in t.leaves
    rp = random_perfect_tree(2, 9, rng)
    assert rp.n == 7 and set(rp.labels) <= set(range(9))


def test_relabel_keeps_structure():
    t = perfect_binary_tree(2, range(7))
    perm = np.array([6, 5, 4, 3, 2, 1, 0])
    r = t.relabel(perm)
    assert r.root == 6 and r.path_to_root(0) == [0, 4, 6] and t.path_to_root(6) == [6, 2, 0]


@pytest.mark.parametrize("call, fragment", [
    (lambda: perfect_binary_tree(0, []), "m (the depth of the perfect binary tree) must be a positive integer (got m=0)"),
    (lambda: perfect_binary_tree(2, range(6)), "needs exactly 7 labels (got 6)"),
    (lambda: Tree((0, 1), (-1, -1)), "exactly one root"),
    (lambda: Tree((0, 0), (-1, 0)), "unique"),
    (lambda: Tree((0, 1, 2), (-1, 2, 1)), "cycle"),
    (lambda: Tree((0, 1), (-1, 5)), "not nodes of the tree"),
    (lambda: perfect_binary_tree(1, range(3)).path_to_root(9), "goal 9 is not a node"),
    (lambda: random_tree(5, 0, range(5), np.random.default_rng(0)), "max_children"),
    (lambda: random_tree(6, 2, range(5), np.random.default_rng(0)), "needs at least that many labels"),
    (lambda: random_perfect_tree(3, 10, np.random.default_rng(0)), "at least n = 2^(m+1) - 1 = 15"),
    (lambda: random_test_tree(5, np.random.default_rng(0), min_nodes=1), "min_nodes must be in [2, 5]"),
    (lambda: orthonormal(5, np.random.default_rng(0), d=3), "need d >= S"),
    (lambda: equicorrelated(4, 1.0), "rho (the pairwise overlap) must be in [0, 1)"),
])
def test_bad_input_names_the_value(call, fragment):
    with pytest.raises(ProofCheckError, match=fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("^", r"\^").replace("+", r"\+")):
        call()


def test_embeddings():
    rng = np.random.default_rng(1)
    A = orthonormal(6, rng, d=9)
    assert A.shape == (9, 6)
    np.testing.assert_allclose(A.T @ A, np.eye(6), atol=1e-14)
    E = equicorrelated(5, 0.3)
    np.testing.assert_allclose(E.T @ E, 0.7 * np.eye(5) + 0.3, atol=1e-14)
    assert coherence(one_hot(4)) == 0.0 and abs(coherence(E) - 0.3) < 1e-12


def test_backward_token_layout():
    t = Tree((0, 1, 2, 3), (-1, 0, 0, 1))  # 0 -> {1, 2}, 1 -> {3}
    Z = backward_tokens(t, 3, one_hot(4))
    assert Z.shape == (8, 4)  # 3 edges + goal
    np.testing.assert_array_equal(Z[:4, 0], [0, 1, 0, 0]), np.testing.assert_array_equal(Z[4:, 0], [1, 0, 0, 0])
    np.testing.assert_array_equal(Z[:4, -1], 0), np.testing.assert_array_equal(Z[4:, -1], [0, 0, 0, 1])
    assert backward_schedule(t, 3) == [1, 0]


def test_forward_token_layout_and_schedule():
    t = Tree((0, 1, 2, 3), (-1, 0, 0, 1))
    Z = forward_tokens(t, 3, one_hot(4))
    assert Z.shape == (10, 5)  # 3 edges + root + goal
    np.testing.assert_array_equal(Z[:, 3], [1, 0, 0, 0, 1, 0, 0, 0, 0, 1])  # root (a_r; a_r; s_f)
    np.testing.assert_array_equal(Z[:, 4], [0, 0, 0, 1, 0, 0, 0, 0, 1, 0])  # goal (a_g; 0; s_b)
    nodes, stages = forward_schedule(t, 3)
    assert nodes == [1, 0, 0, 1, 3] and stages == [STAGE_B, STAGE_B, STAGE_F, STAGE_F, STAGE_F]
