"""Formulas of tree_paths checked once against an independent computation (kills mutants of bench/mutants.py).

Each test calls the function under test and compares it with a computation that does not share its code path:
geometry of the decoding boundary, the full-matrix gradient of the torch model, a high-precision evaluation at
finite alpha.
"""

import numpy as np
import pytest
import sympy as sp
import torch

import dynamics.tree_paths as dyn
from constructions.tree_paths import bounds, orthonormal
from constructions.tree_paths.symbolic import alpha, beta
from constructions.tree_paths.torch_model import backward_loss, pad_embeddings, sample_backward


@pytest.mark.parametrize("N", [2, 5, 31, 1000])
def test_margin_threshold_meets_the_decoding_boundary(N):
    """At margin = margin_threshold(N) the margin bound must equal the largest error that argmax decoding over
    orthonormal candidates always survives. That radius is measured here from the embeddings: the decision
    boundary between a_t and a_u is their bisecting hyperplane, at distance ||a_t - a_u|| / 2 from a_t (the
    closest wrong decision; it is 1/sqrt 2, but is computed, not typed). A point just beyond it decodes wrong."""
    A = orthonormal(4, np.random.default_rng(N), d=6)
    a_t, a_u = A[:, 0], A[:, 1]
    radius = np.linalg.norm(a_t - a_u) / 2
    y = (a_t + a_u) / 2 + 1e-9 * (a_u - a_t)  # just past the boundary: distance radius + ~1e-9 from a_t
    assert np.argmax(A.T @ y) == 1 and np.linalg.norm(y - a_t) > radius
    # the lambdified log and the norm of a 6-vector: a few ulp of values O(1)
    assert float(bounds.margin_bound(bounds.margin_threshold(N), N)) == pytest.approx(radius, rel=1e-14)


@pytest.mark.parametrize("m", [2, 3])
def test_reduced_backward_step_is_full_matrix_gd_projected(m):
    """One step of reduced_backward_gd from (alpha, beta) = (0, 0) equals one full-matrix GD step on B (one-hot
    embeddings, H = B) with the torch model's autograd gradient, projected on span{I, J - I} by symmetric_parts.
    At H = 0 every labelled perfect tree has the same loss and the gradient's diagonal and off-diagonal sums are
    labelling-invariant, so one tree is the population. Kills a wrong learning-rate normalisation per entry."""
    S, lr = 2 ** (m + 1) - 1, 0.7
    B = torch.zeros(S, S, dtype=torch.float64, requires_grad=True)
    data = sample_backward(torch.Generator().manual_seed(0), 1, m, S)
    (g,) = torch.autograd.grad(backward_loss(B, pad_embeddings(np.eye(S)), data), B)
    want = dyn.symmetric_parts(-lr * g.numpy())
    traj = dyn.reduced_backward_gd(m, lr, 1)
    # float64 sums of S^2 <= 225 gradient entries of size <= 1 against sympy-lambdified closed forms: < 1e-13
    assert traj["alpha"][-1] == pytest.approx(want["alpha"], rel=1e-10, abs=1e-13)
    assert traj["beta"][-1] == pytest.approx(want["beta"], rel=1e-10, abs=1e-13)


@pytest.mark.parametrize("m", [2, 3])
def test_asymptotic_direction_matches_finite_alpha_gd(m):
    """r(beta) of backward_asymptotics is the direction d beta / d alpha of full-matrix GD on H = alpha I +
    beta (J - I) as alpha -> oo. Here that direction is evaluated at alpha = 60 directly: GD moves every
    diagonal entry by -lr dL/dalpha / (#diagonal entries) and every off-diagonal entry by
    -lr dL/dbeta / (#off-diagonal entries), the counts read off the matrix symmetric_H builds. L = x^2 F + O(x^3)
    with x = e^-alpha, so the finite-alpha ratio differs from the limit by a relative O(e^-60) ~ 1e-26; the sympy
    evaluation uses 60 digits (the loss itself cancels to ~e^-120 there)."""
    S = 2 ** (m + 1) - 1
    pattern = dyn.symmetric_H(0.0, 1.0, S)
    n_diag, n_off = int(S), int(np.count_nonzero(pattern))
    L = dyn.backward_reduced_loss(m)
    at = {alpha: 60, beta: sp.Rational(-3, 2)}
    ratio = (sp.diff(L, beta).subs(at).evalf(60) / n_off) / (sp.diff(L, alpha).subs(at).evalf(60) / n_diag)
    r = dyn.backward_asymptotics(m)["r"].subs(beta, sp.Rational(-3, 2)).evalf(60)
    assert abs(float(ratio / r) - 1) <= 1e-15


@pytest.mark.parametrize("a, b", [(4.0, -1.3), (2.0, 0.4), (0.3, -0.05)])
def test_backward_symmetric_steps_match_the_model(a, b):
    """bounds.backward_symmetric_steps (multiplicities, no model run) against the numpy model with H = a I +
    b (J - I), teacher-forced, on random trees: errors and value margins per step. Kills a wrong key weight."""
    from constructions.tree_paths import BackwardModel, decode_path, random_leaf, random_test_tree

    rng = np.random.default_rng(5)
    S = 31
    for _ in range(40):
        tree = random_test_tree(S, rng, max_children=3)
        goal = random_leaf(tree, rng)
        dec = decode_path(BackwardModel(dyn.symmetric_H(a, b, S)), tree, goal, np.eye(S), feedback="teacher")
        e, m = bounds.backward_symmetric_steps(tree, goal, a, b)
        # softmax and norms of <= 60 terms of size <= 1 in float64
        assert np.allclose(dec.errors, e, rtol=1e-12, atol=1e-14)
        assert np.allclose(dec.margins[0], m, rtol=0, atol=1e-13)


@pytest.mark.parametrize("rho", [0.0, 0.05, 0.3])
def test_equicorrelated_logit_params_match_the_matrix_product(rho):
    """embeddings.equicorrelated_logit_params against A^T B A computed from the matrices."""
    from constructions.tree_paths import equicorrelated
    from constructions.tree_paths.embeddings import equicorrelated_logit_params

    S, a, b = 9, 3.0, -0.4
    A = equicorrelated(S, rho)
    H = A.T @ dyn.symmetric_H(a, b, S) @ A
    al, be = equicorrelated_logit_params(a, b, rho, S)
    assert np.allclose(H, dyn.symmetric_H(al, be, S), rtol=0, atol=1e-12)  # eigh square root: ~1e-15 relative


def test_padded_batches_match_the_reference_model():
    """The padded torch/numpy paths (constructions.tree_paths.padded) against the independent references: the
    teacher-forced loss equals torch_model.backward_loss on perfect trees, and batched argmax decoding gives the
    same exact/wrong verdict per tree as model.decode_path on random trees (0-3 children), for a B with mixed
    verdicts."""
    from constructions.tree_paths import BackwardModel, decode_path, random_leaf, random_test_tree
    from constructions.tree_paths.padded import decode_cot, from_perfect, pad_trees, padded_backward_loss

    S = 31
    B = np.random.default_rng(0).normal(size=(S, S)) + 2.5 * np.eye(S)
    batch = sample_backward(torch.Generator().manual_seed(1), 32, 4, S)
    ref = float(backward_loss(torch.tensor(B), pad_embeddings(np.eye(S)), batch))
    assert float(padded_backward_loss(torch.tensor(B), pad_trees(from_perfect(batch), S))) == pytest.approx(ref, rel=1e-12)
    rng = np.random.default_rng(2)
    items = []
    for _ in range(200):
        t = random_test_tree(S, rng)
        items.append((t, random_leaf(t, rng)))
    want = np.array([decode_path(BackwardModel(B), t, g, np.eye(S)).correct for t, g in items])
    assert 0 < want.mean() < 1
    assert (decode_cot(B, pad_trees(items, S)) == want).all()


@pytest.mark.parametrize("kind", ["equicorrelated", "random"])
def test_batched_decoding_with_embeddings_matches_the_reference_model(kind):
    """decode_cot with embeddings A (logits from A^T B A, nodes by argmax_i a_i^T y_hat) gives decode_path's
    exact/wrong verdict per tree: for the equicorrelated A of the tree_paths map and for a random non-orthogonal A
    (no symmetry to lean on), with a B whose verdicts are mixed."""
    from constructions.tree_paths import BackwardModel, decode_path, equicorrelated, random_leaf, random_test_tree
    from constructions.tree_paths.padded import decode_cot, pad_trees

    S = 31
    rng = np.random.default_rng(3)
    A = equicorrelated(S, 0.3) if kind == "equicorrelated" else np.eye(S) + 0.3 * rng.normal(size=(S, S)) / np.sqrt(S)
    B = rng.normal(size=(S, S)) + 2.5 * np.eye(S)
    items = []
    for _ in range(200):
        t = random_test_tree(S, rng)
        items.append((t, random_leaf(t, rng)))
    want = np.array([decode_path(BackwardModel(B), t, g, A).correct for t, g in items])
    assert 0 < want.mean() < 1
    assert (decode_cot(B, pad_trees(items, S), embeddings=A) == want).all()
    assert not (decode_cot(B, pad_trees(items, S)) == want).all()  # the one-hot rule is not the same decoder
