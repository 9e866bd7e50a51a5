"""Formulas of pattern_cot checked once against an independent computation (kills mutants of bench/mutants.py).

Each test calls the function under test and compares it with a computation that does not share its code path:
a special case with a closed form, exact enumeration, or the quantity the formula's proof bounds.
"""

import numpy as np
import pytest
from scipy import stats

from constructions.pattern_cot import bounds
from constructions.pattern_cot import oracle as o
from constructions.pattern_cot import transitions as tr
from constructions.pattern_cot.data import same_count
from constructions.pattern_cot.transitions import WORKED_EXAMPLE


@pytest.mark.parametrize("g, delta, alpha", [(0.2, 0.05, 1.0), (0.5, 0.01, 0.7), (0.05, 0.2, 0.3)])
def test_clt_threshold_one_step_closed_form(g, delta, alpha):
    """K = 1: only the query's own examples vote (n_1 = alpha' l, nothing lost on earlier steps), so
    Phi(-sqrt(alpha' l) g / sqrt(1 - g^2)) = delta has the closed form l = z_delta^2 (1 - g^2) / (alpha' g^2),
    z_delta = Phi^-1(delta). Kills an off-by-one in the path-survival power p^k."""
    want = stats.norm.ppf(delta) ** 2 * (1 - g * g) / (alpha * g * g)
    got = bounds.clt_threshold_symmetric(g, 1, delta, alpha)
    # brentq stops at |dl| <= xtol + rtol |l| = 1e-9 + 1e-12 l; ppf and the closed form add ~1e-15 relative
    assert abs(got - want) <= 1e-9 + 1e-12 * want + 1e-13 * want


def test_clt_threshold_two_steps_uses_first_step_unattenuated():
    """K = 2: step 1 sees all alpha' l query examples, step 2 the fraction p = (1+g)/2 still on the correct path.
    At the returned l the two step errors computed from those counts (scipy's normal cdf, not the module's
    helper) average to delta."""
    g, delta, alpha = 0.3, 0.05, 1.0
    l = bounds.clt_threshold_symmetric(g, 2, delta, alpha)
    p = (1 + g) / 2
    s = np.sqrt(1 - g * g)
    avg = (stats.norm.cdf(-np.sqrt(alpha * l) * g / s) + stats.norm.cdf(-np.sqrt(alpha * l * p) * g / s)) / 2
    # brentq tolerance 1e-9 in l moves the average by at most |d avg/dl| 1e-9 < 1e-9 (density <= 1/sqrt(2 pi))
    assert abs(avg - delta) <= 1e-9


def _three_pattern_task():
    """M' = 3, K = 2 with distinct gaps per step and row (rows: correct 0.6 / 0.5, strongest wrong 0.25 / 0.3)."""
    A1 = tr.step_matrix([1, 2, 0], 0.6, 0.25)
    A2 = tr.step_matrix([0, 1, 2], 0.5, 0.3)
    return [np.asarray(A1, dtype=float), np.asarray(A2, dtype=float)]


def _three_step_task():
    """M' = 3, K = 3: from step 3 on the correct prefix has two factors, so a prefix that keeps only the last
    factor differs from the product."""
    return _three_pattern_task() + [np.asarray(tr.step_matrix([2, 0, 1], 0.7, 0.2), dtype=float)]


@pytest.mark.parametrize("As, l, alpha", [(WORKED_EXAMPLE, 7, 0.7), (WORKED_EXAMPLE, 40, 1.0),
                                          (_three_pattern_task(), 9, 0.6), (_three_pattern_task(), 30, 1.0),
                                          (_three_step_task(), 12, 1.0)])
def test_cot_error_bound_is_the_binomial_expectation_of_its_proof(As, l, alpha):
    """cot_error_bound's closed form (1 - pi (1 - e^{-g^2/2}))^n is E[exp(-W g^2/2)], W ~ Bin(n, pi): here that
    expectation is summed term by term with scipy's binomial pmf, pi_k is the product of the correct entries
    along the query's path before step k, and each step carries the union factor (M' - 1) over wrong labels.
    M' = 3 rows make a dropped union factor visible; K = 3 a wrong prefix product."""
    mats = [np.asarray(A, dtype=float) for A in As]
    maps = tr.correct_maps(As)
    m, n = mats[0].shape[0], same_count(l, alpha)
    w = np.arange(n + 1)
    total = 0.0
    for a in range(m):
        path = [a]
        for mp in maps:
            path.append(mp[path[-1]])
        for k, A in enumerate(mats):
            row, c = A[path[k]], path[k + 1]
            g = row[c] - max(v for j, v in enumerate(row) if j != c)
            pi = np.prod([mats[j][path[j], path[j + 1]] for j in range(k)])
            total += (m - 1) * float((stats.binom.pmf(w, n, pi) * np.exp(-w * g * g / 2)).sum())
    want = total / m
    # both are sums of <= 2 K M' terms of size <= M' - 1 (and n + 1 pmf terms each): float64 round-off < 1e-12
    assert o.cot_error_bound(As, l, alpha) == pytest.approx(want, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("l", [1, 2, 3, 5, 8])
def test_icl_floor_holds_at_small_l(l):
    """The floor is a lower bound at every l, also where a violating row still decides right often: on the worked
    example (row 0 of B = (14/25, 11/25) violates Condition 1, its correct label is the second) one vote
    (l = 1) gives the exact error (14/25 + 9/25)/2 = 23/50, below a floor that counted a bad row as a sure error."""
    floor = o.icl_error_limits(WORKED_EXAMPLE, l, 1.0)[0]
    assert floor <= o.icl_error_exact(WORKED_EXAMPLE, l, 1.0) + 1e-15  # float64 sum of <= l + 1 binomial terms


def test_icl_floor_is_half_a_row_per_violating_row():
    """Value of the floor from its proof: a violating row's correct label wins with probability <= 1/2 (swap
    argument), so the floor is (1/2) x (fraction of violating rows). The fraction is counted with
    condition1_rows, independently of icl_error_limits; the bound is attained in the limit only by a tie,
    and its factor 1/2 is checked against the exact error of a 1-vote ICL prompt on a 2-pattern task whose bad
    row puts 1/2 + e on the wrong label: error -> 1/2 as e -> 0."""
    bad = sum(not ok for ok in tr.condition1_rows(WORKED_EXAMPLE))
    assert o.icl_error_limits(WORKED_EXAMPLE, 10, 1.0)[0] == pytest.approx(bad / (2 * 2), abs=0)
    e = 1e-6
    As = [[[0.5 + e, 0.5 - e], [0.5 - e, 0.5 + e]]]
    correct = [(1, 0)]  # the correct label is the less likely one in both rows: both rows violate Condition 1
    floor = o.icl_error_limits(As, 1, 1.0, correct=correct)[0]
    exact = o.icl_error_exact(As, 1, 1.0, correct=correct)  # one vote: wrong with probability 1/2 + e
    assert floor <= exact and exact - floor <= e + 1e-15  # floor 1/2 is tight up to e


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("probs", [(0.7, 0.3), (0.5, 0.5), (0.2, 0.5, 0.3)])
def test_plurality_win_prob_by_enumerating_vote_sequences(n, probs):
    """P(correct label wins the plurality, ties broken uniformly) summed over all M'^n ordered vote sequences
    (itertools.product), independently of the binomial / multinomial pmf code: a tie among t labels gives the
    correct one 1/t. Even n makes ties; for n = 2, probs (p, 1-p), the value is p exactly."""
    import itertools

    for correct in range(len(probs)):
        want = 0.0
        for seq in itertools.product(range(len(probs)), repeat=n):
            counts = np.bincount(seq, minlength=len(probs))
            top = counts == counts.max()
            want += np.prod([probs[v] for v in seq]) * top[correct] / top.sum()
        # <= 3^6 = 729 products of <= 6 factors summed in float64: relative round-off < 1e-13
        assert o.plurality_win_prob(n, probs, correct) == pytest.approx(want, rel=1e-13, abs=1e-15)


def test_cot_loss_is_half_the_mean_squared_step_error_of_the_prompted_model():
    """cot_loss (teacher-forced, all K steps in one pass) against the inference path: each prompt P_k built by
    cot_prompt and fed to the model on its own, loss (1/2) mean_{prompts, k} ||z_k - F(P_k)||^2 as documented
    (the factor 1/2 sets the effective learning rate of train_sgd). Different code paths, same float64 numbers:
    round-off of sums of <= 60 products of entries O(1), < 1e-12."""
    import torch

    from constructions.pattern_cot import cot_prompt, make_geometry, make_task
    from constructions.pattern_cot.data import sample_batch
    from constructions.pattern_cot.model import OneLayer
    from dynamics.pattern_cot import cot_loss

    geom, gen = make_geometry(4, 3), torch.Generator().manual_seed(0)
    b = sample_batch(gen, make_task(K=3, n=4, batch=5, gen=gen), geom.trr(), 5, 4, 0.5)
    model = OneLayer(geom.d, init_scale=0.7)
    torch.nn.init.normal_(model.W_V, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        loss, _ = cot_loss(model, geom, b)
        sq = [((model(cot_prompt(geom, b.ex, b.z_tok[:, :k]))[0] - b.z_tok[:, k]) ** 2).sum(-1)
              for k in range(1, geom.K + 1)]
    want = 0.5 * torch.stack(sq).mean()
    assert float(loss) == pytest.approx(float(want), rel=1e-12)
