"""The public API of constructions.gd_cot: shapes, dtypes, exact types, clear errors on bad input."""

import numpy as np
import pytest
import sympy as sp

from constructions import ProofCheckError
from constructions.gd_cot import (
    cot_rollout, embed, estimates, gd_construction, gd_iterates, lsa_forward, no_cot_optimum, sample_tasks,
)


def test_embed_layout():
    X = np.arange(6.0).reshape(2, 3)
    y = np.array([1.0, 2.0, 3.0])
    Z = embed(X, y, w0=np.array([7.0, 8.0]))
    assert Z.shape == (6, 4) and Z.dtype == np.float64
    np.testing.assert_array_equal(Z[:2, :3], X)
    np.testing.assert_array_equal(Z[2, :3], y)
    np.testing.assert_array_equal(Z[:, 3], [0, 0, 0, 7, 8, 1])


def test_batched_shapes():
    X, w_star, y = sample_tasks(np.random.default_rng(0), 5, n=7, d=3)
    assert X.shape == (5, 3, 7) and w_star.shape == (5, 3) and y.shape == (5, 7)
    V, W = gd_construction(3, 0.1)
    Zk = cot_rollout(embed(X, y), V, W, k=4, n=7)
    assert Zk.shape == (5, 8, 12)
    assert estimates(Zk, 7).shape == (5, 5, 3)
    assert gd_iterates(X, w_star, 0.1, 4).shape == (5, 5, 3)
    assert lsa_forward(embed(X, y), V, W, 7).shape == (5, 8, 8)


def test_no_cot_optimum_is_exact():
    eta, loss = no_cot_optimum(20, 10)
    assert eta == sp.Rational(20, 31) and loss == sp.Rational(55, 31)
    assert isinstance(eta, sp.Rational)


@pytest.mark.parametrize("call, fragment", [
    (lambda: gd_construction(0, 0.1), "d (the input dimension) must be a positive integer (got d=0)"),
    (lambda: gd_construction(3, -1.0), "eta (the GD step size) must be a finite positive number"),
    (lambda: gd_iterates(np.ones((2, 3)), np.ones(2), 0.1, 0), "k (the number of GD steps)"),
    (lambda: cot_rollout(np.zeros((6, 4)), *gd_construction(2, 0.1), k=2, n=0), "n (the number of in-context"),
    (lambda: cot_rollout(np.zeros((6, 4)), *gd_construction(2, 0.1), k=-1, n=3), "k (the number of CoT steps)"),
    (lambda: embed(np.ones((2, 3)), np.ones(4)), "y must have shape"),
])
def test_bad_input_names_the_value(call, fragment):
    with pytest.raises(ProofCheckError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        call()
