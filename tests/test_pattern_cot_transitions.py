"""constructions.pattern_cot.transitions: the authors' worked example exactly, float path, brute force, errors."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from constructions import ProofCheckError
from constructions.pattern_cot import (
    WORKED_EXAMPLE, composed_map, condition1, exact, icl_limit_error, rho, rho_o, step_matrix, tau, tau_o,
    transition_product,
)
from constructions.pattern_cot import transitions as tr

R = sp.Rational


def test_worked_example_is_exact():
    As = exact(WORKED_EXAMPLE)
    assert transition_product(As) == sp.Matrix([[R(14, 25), R(11, 25)], [R(16, 25), R(9, 25)]])
    assert tau(As) == R(9, 25) and tau(As, "correct_path") == R(9, 25) and tau_o(As) == R(14, 25)
    assert rho(As) == R(1, 3) and rho(As, normalized=False) == R(1, 5)
    assert condition1(As) is False and tr.condition1_rows(As) == [False, True]
    assert composed_map(As) == (1, 0)
    assert icl_limit_error(As) == R(1, 2) and tr.cot_limit_error(As) == 0
    assert isinstance(tau(As), sp.Rational)


def test_fraction_and_int_input_is_exact():
    As = [[[Fraction(3, 5), Fraction(2, 5)], [Fraction(2, 5), Fraction(3, 5)]], [[1, 0], [0, 1]]]
    assert tau_o(As) == R(3, 5)


def test_float_input_runs_in_float64():
    B = transition_product(WORKED_EXAMPLE)
    assert B.dtype == np.float64
    np.testing.assert_allclose(B, [[0.56, 0.44], [0.64, 0.36]], rtol=0, atol=1e-15)
    assert abs(tau(WORKED_EXAMPLE) - 0.36) < 1e-15
    assert abs(rho_o(WORKED_EXAMPLE) - (-3 / 11)) < 1e-15


def test_product_order_matters():
    A1, A2 = exact(WORKED_EXAMPLE)
    assert transition_product([A2, A1]) == A2 * A1 != transition_product([A1, A2])


@given(st.lists(st.lists(st.integers(1, 9), min_size=9, max_size=9), min_size=1, max_size=3))
def test_tau_dynamic_program_matches_brute_force(raw):
    As = [sp.Matrix(3, 3, [R(v, sum(w[3 * i:3 * i + 3])) for i in range(3) for v in w[3 * i:3 * i + 3]])
          for w in raw]
    brute = min(max(sp.prod([As[k][([a] + list(p))[k], p[k]] for k in range(len(As))])
                    for p in itertools.product(range(3), repeat=len(As))) for a in range(3))
    assert tau(As) == brute


def test_step_matrix_family():
    A = step_matrix((1, 2, 0), R(3, 5), R(3, 10))
    assert A.row(0) == sp.Matrix([[R(1, 10), R(3, 5), R(3, 10)]]) and all(sum(A.row(i)) == 1 for i in range(3))
    assert rho([A]) == R(1, 2)
    assert np.allclose(step_matrix((0, 1), 0.7), [[0.7, 0.3], [0.3, 0.7]])


@pytest.mark.parametrize("call, fragment", [
    (lambda: tau([]), "at least one transition matrix"),
    (lambda: tau(np.eye(2)), "not a single matrix"),
    (lambda: rho([[[0.5, 0.5], [0.5, 0.5]]]), "row 0 has no strict maximum"),
    (lambda: tau([[[0.6, 0.5], [0.4, 0.6]]]), "row 0 sums to 1.1"),
    (lambda: tau([[[1.2, -0.2], [0.4, 0.6]]]), "negative entry"),
    (lambda: tau([[[1, 0], [0, 1]], [[1]]]), "A_2 must be a square 2 x 2"),
    (lambda: tau(WORKED_EXAMPLE, reading="mean"), "reading must be one of"),
    (lambda: rho(WORKED_EXAMPLE, correct=[(0, 1)]), "correct must give K=2 maps"),
    (lambda: step_matrix((0, 1), 0.7, 0.2), "with M'=2 the wrong entry must be 1 - p"),
])
def test_bad_input_names_the_value(call, fragment):
    with pytest.raises(ProofCheckError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        call()
