"""constructions.tree_paths model and dynamics.tree_paths: decoding a known tree, numpy = torch, shapes, errors."""

import numpy as np
import pytest
import sympy as sp
import torch

from constructions import ProofCheckError
from constructions.tree_paths import (
    BackwardModel, Tree, backward_construction, decode_path, forward_construction, one_hot, orthonormal,
    perfect_binary_tree,
)
from constructions.tree_paths import bounds as bd
from constructions.tree_paths.torch_model import (
    backward_outputs, forward_outputs, pad_embeddings, sample_backward, sample_forward,
)
from dynamics import tree_paths as dyn

KNOWN = Tree((10, 11, 12, 13, 14, 15), (-1, 10, 10, 11, 13, 13))  # 10 -> {11, 12}, 11 -> {13}, 13 -> {14, 15}


def test_decode_known_tree_backward_and_forward():
    A = one_hot(16)
    dec = decode_path(backward_construction(3.0, A), KNOWN, 15, A)
    assert dec.correct and dec.path == [15, 13, 11, 10] and dec.context == [6, 7, 8]
    fwd = decode_path(forward_construction(6.0, A), KNOWN, 15, A)
    assert fwd.correct and fwd.nodes == [13, 11, 10, 10, 11, 13, 15] and fwd.path == [10, 11, 13, 15]
    assert fwd.stages == [0, 0, 0, 1, 1, 1, 1] and len(fwd.attention) == 2 and len(fwd.margins[1]) == 7


def test_decode_with_random_orthonormal_embeddings():
    A = orthonormal(16, np.random.default_rng(3), d=20)
    assert decode_path(backward_construction(3.0, A), KNOWN, 14, A).path == [14, 13, 11, 10]


def test_exact_error_and_threshold_of_known_tree():
    # step 1: current 13 (2 children + its CoT token -> n = 3), target 11 (one child) -> need 3: c* = ln 3
    assert bd.backward_argmax_need(KNOWN, 15) == 3
    c = 2.0
    dec = decode_path(backward_construction(c, one_hot(16)), KNOWN, 15, one_hot(16), feedback="teacher")
    np.testing.assert_allclose(dec.errors, bd.backward_exact_errors(KNOWN, 15, c), atol=1e-14)


@pytest.mark.parametrize("task", ["backward", "forward"])
def test_torch_teacher_forcing_equals_numpy(task):
    gen = torch.Generator().manual_seed(0)
    S = 17
    A = orthonormal(S, np.random.default_rng(0), d=19)
    if task == "backward":
        batch = sample_backward(gen, 4, 3, S)
        model = backward_construction(1.7, A)
        y, p = backward_outputs(torch.tensor(model.B), pad_embeddings(A), batch)
        assert y.shape == (4, 3, 19) and p.shape == (4, 3, 15 + 2)
        refs = [(y[i].numpy(), None) for i in range(4)]
    else:
        batch = sample_forward(gen, 4, 3, S)
        model = forward_construction(1.3, A)
        y, s, probs = forward_outputs(tuple(map(torch.tensor, model.U)), tuple(map(torch.tensor, model.V)),
                                      pad_embeddings(A), batch)
        assert y.shape == (4, 7, 19) and s.shape == (4, 7, 2) and probs[0].shape == (4, 7, 15 + 1 + 6)
        refs = [(y[i].numpy(), s[i].numpy()) for i in range(4)]
    for i, (yi, si) in enumerate(refs):
        tree, goal = batch.tree(i)
        dec = decode_path(model, tree, goal, A, feedback="teacher")
        np.testing.assert_allclose(np.array(dec.outputs), yi, atol=1e-13)
        if si is not None:
            np.testing.assert_allclose(np.array(dec.stage_outputs), si, atol=1e-13)


def test_reduced_loss_api():
    L = dyn.backward_reduced_loss(4)
    assert L.free_symbols == {dyn.alpha, dyn.beta}
    assert sp.nsimplify(L.subs({dyn.alpha: 0, dyn.beta: 0})) == sp.Rational(583172343553, 1238822424576)
    parts = dyn.symmetric_parts(dyn.symmetric_H(2.0, -0.5, 5))
    assert parts["alpha"] == 2.0 and parts["beta"] == -0.5 and parts["diag_spread"] == 0.0


def test_short_training_runs_have_the_documented_shapes():
    B, tr = dyn.train_backward(2, 7, 1.0, 5, 8, log_every=1)
    assert B.shape == (7, 7) and tr.steps == [0, 1, 2, 3, 4, 5] and tr.seconds_per_step > 0
    red = dyn.reduced_forward_gd(2, 9, 0.2, 3)
    assert set(red.final) == {"alpha1", "beta1", "alpha2", "beta2", "V1", "V2"} and len(red["V2_fb"]) == 4
    P, ftr = dyn.train_forward(2, 9, 0.2, 3, 4)
    assert P["U1"].shape == (9, 9) and P["V2"].shape == (2, 2)


@pytest.mark.parametrize("call, fragment", [
    (lambda: decode_path(BackwardModel(np.eye(3)), perfect_binary_tree(1, range(3)), 1, np.eye(3), feedback="raw"),
     "feedback must be 'argmax' or 'teacher'"),
    (lambda: decode_path(BackwardModel(np.eye(4)), perfect_binary_tree(1, range(3)), 1, np.eye(3)),
     "embeddings have dimension d=3 but the model has d=4"),
    (lambda: decode_path(BackwardModel(np.eye(3)), Tree((0, 5), (-1, 0)), 5, np.eye(3)), "tree label 5 has no column"),
    (lambda: backward_construction(float("nan"), np.eye(3)), "c (the attention scale) must be a finite real number"),
    (lambda: dyn.train_backward(2, 7, -1.0, 5, 8), "lr (the learning rate) must be a finite positive number"),
    (lambda: dyn.reduced_backward_gd(0, 1.0, 5), "m (the depth of the perfect binary trees)"),
    (lambda: sample_backward(torch.Generator(), 0, 2, 7), "batch (the batch size) must be a positive integer"),
])
def test_bad_input_names_the_value(call, fragment):
    with pytest.raises(ProofCheckError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_batched_backward_seeds_equal_solo_runs_with_embeddings():
    """Seed s of train_backward_seeds is the solo train_backward run of seed s (plain SGD, the same tree stream), with
    non-orthonormal embeddings as the assumption maps use. Tolerance 1e-10: the summed loss has block-separate
    gradients, so the runs differ only by float64 round-off of batched products (~1e-16 per step relative to
    |B| <= ~10, over 20 steps of a step map with Lipschitz constant ~1 at lr 1). Near miss: the seeds given in
    another order move B by O(lr)."""
    from constructions.tree_paths import equicorrelated

    A = equicorrelated(15, 0.2)
    Bs, trajs = dyn.train_backward_seeds(3, 15, 1.0, 20, 16, (5, 2), embeddings=A, log_every=20)
    for s, seed in enumerate((5, 2)):
        B, traj = dyn.train_backward(3, 15, 1.0, 20, 16, embeddings=A, seed=seed, log_every=20)
        assert np.abs(Bs[s] - B).max() <= 1e-10
        assert abs(trajs[s]["alpha"][-1] - traj["alpha"][-1]) <= 1e-10
    swapped, _ = dyn.train_backward_seeds(3, 15, 1.0, 20, 16, (2, 5), embeddings=A, log_every=20)
    assert np.abs(swapped[0] - Bs[0]).max() > 1e-3


@pytest.mark.parametrize("sample", [sample_backward, sample_forward])
def test_seeded_sampler_draws_the_solo_batches(sample):
    """A list of generators gives the solo batches of each generator stacked on a leading axis, bitwise (the same
    draws in the same order, processed in one vectorised pass); a generator mix-up would change them."""
    from constructions.tree_paths.torch_model import stack_batches

    m, S = (4, 31) if sample is sample_backward else (3, 25)
    seeded = sample([torch.Generator().manual_seed(s) for s in (5, 1, 9)], 16, m, S)
    solo = stack_batches([sample(torch.Generator().manual_seed(s), 16, m, S) for s in (5, 1, 9)])
    for field in ("labels", "goal_pos", "keys_x", "keys_y", "keys_s", "targets", "stage_targets"):
        a, b = getattr(seeded, field), getattr(solo, field)
        assert (a is None and b is None) or torch.equal(a, b), field
    assert torch.equal(seeded.query_pos, solo.query_pos)
    assert not torch.equal(seeded.labels[0], seeded.labels[1])
