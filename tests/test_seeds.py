r"""Seeds as a batch dimension: seed s of a batched run is the solo run of seed s.

What is exact (tolerance 0): the init (the same generator draws, copied) and the data streams (the same draws
from the same generator, written in place). What is round-off: the per-seed loss and gradient (batched products
over the seed axis; tests/test_cot_loss.py bounds them per seed by 2 gamma_N p_abs, gamma from
constructions/gd_cot/roundoff.py).

Trajectory tolerance after T = 30 Adam steps (stated a priori, not tuned): per step the seed's gradient differs
from its solo gradient by round-off, relative size delta <= 2 gamma_N p_abs / |g| ~ 1e-12 at these sizes
(N = B k D + ... ~ 10^3 - 10^4, gamma_N ~ 1e-13, p_abs / |g| <= ~10 at init scale 0.1). Adam normalises each
element: a relative gradient error delta changes the step m_hat / (sqrt(v_hat) + eps) by at most
(1 + R) delta with R = |m_hat| / sqrt(v_hat) <= ~3.2 at beta = (0.9, 0.999), so at most lr (1 + R) delta per step
and T lr (1 + R) delta ~ 1.3e-9 lr over 30 steps without feedback. The budget PARAM_TOL = 1e-6 lr leaves a
factor ~800 for the feedback of a parameter difference into later gradients (the "Adam amplifies differences
in early steps" effect: an element whose first gradient were within round-off of zero could flip sign and
move by 2 lr; the first-step check below asserts no element is that close). The errors this test exists for
(seeds out of order, seed 0..S-1 instead of the given seeds, one generator for all seeds, mixed seed slices)
move parameters by O(lr) per step, 10^6 times the budget: the negative control shows one.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from constructions.gd_cot import gd_construction
from constructions.gd_cot.roundoff import gamma, rollout_vs_gd_bound
from constructions.gd_cot.torch_model import (
    LSA, cot_loss, cot_rollout_estimates, embed_torch, no_cot_estimate, no_cot_loss, sample_tasks_torch,
    sample_tasks_torch_seeds,
)
from constructions.errors import ProofCheckError
from dynamics.gd_cot import (
    cot_sampler, cot_sampler_seeds, train_cot, train_cot_seeds, train_no_cot, train_no_cot_seeds,
)
from dynamics.training import TrainConfig

D_IN, N_EX, K, ETA, SEEDS = 4, 8, 5, 0.1, (3, 7, 11)
CONFIG = TrainConfig(steps=30, batch=32, lr=1e-2)
PARAM_TOL = 1e-6 * CONFIG.lr  # see the module docstring
LOSS_RTOL = 1e-6  # PARAM_TOL on O(0.1..1) entries moves the (cubic) loss by a relative <= ~1e-7


def test_seeded_init_is_the_solo_init_exactly():
    model = LSA.seeded(D_IN, SEEDS, init_scale=0.1)
    assert model.n_seeds == 3 and LSA(D_IN).n_seeds is None
    for s, seed in enumerate(SEEDS):
        solo = LSA(D_IN, init_scale=0.1, generator=torch.Generator().manual_seed(seed + 10_000))
        assert torch.equal(model.V[s], solo.V) and torch.equal(model.W[s], solo.W)
        assert torch.equal(model.solo(s).V, solo.V) and model.solo(s).n_seeds is None
    again = LSA.stack([model.solo(s) for s in range(3)])
    assert torch.equal(again.V, model.V) and torch.equal(again.W, model.W)


def test_bad_seeds_are_one_line_errors():
    for bad in ((), (1, 1), (-1,), (1.5,), None):
        with pytest.raises(ProofCheckError):
            LSA.seeded(D_IN, bad)
    with pytest.raises(ProofCheckError):
        TrainConfig(seeds=(0, 0))
    with pytest.raises(ProofCheckError):
        LSA.seeded(D_IN, SEEDS).solo(3)


def test_seeded_data_streams_are_the_solo_streams_exactly():
    gens = [torch.Generator().manual_seed(s) for s in SEEDS]
    solo_gens = [torch.Generator().manual_seed(s) for s in SEEDS]
    sample, solo_sample = cot_sampler_seeds(N_EX, D_IN, K, ETA), cot_sampler(N_EX, D_IN, K, ETA)
    for _ in range(2):  # two consecutive batches: the generators advance as in the solo runs
        X, w_star, targets = sample(gens, 16)
        assert X.shape == (3, 16, D_IN, N_EX) and targets.shape == (3, 16, K + 1, D_IN)
        for s, gen in enumerate(solo_gens):
            Xs, ws, ts = solo_sample(gen, 16)
            assert torch.equal(X[s], Xs) and torch.equal(w_star[s], ws)
            # targets: the same float64 recursion, batched over S*B tasks instead of B; each is within
            # i gamma_{n+d+4} max(1, ||P||_inf)^i ||w*||_inf of the exact iterate (see test_gd_targets_equal_recursion)
            S_mat = Xs @ Xs.transpose(-1, -2) / N_EX
            p_norm = (torch.eye(D_IN, dtype=Xs.dtype) - ETA * S_mat).abs().sum(-1).amax(-1).clamp(min=1.0)
            i = torch.arange(K + 1, dtype=Xs.dtype)
            bound = 2 * i * gamma(N_EX + D_IN + 4) * p_norm[:, None] ** i * ws.abs().amax(-1)[:, None]
            assert torch.all((targets[s] - ts).abs().amax(-1) <= bound)


def _compare(seeded_model, seeded_result, solo_runs):
    for s, (model, result) in enumerate(solo_runs):
        assert np.max(np.abs(seeded_model.V[s].detach().numpy() - model.V.detach().numpy())) <= PARAM_TOL
        assert np.max(np.abs(seeded_model.W[s].detach().numpy() - model.W.detach().numpy())) <= PARAM_TOL
        np.testing.assert_allclose(seeded_result.seed_losses(s), result.losses, rtol=LOSS_RTOL, atol=0)


def test_batched_cot_run_equals_solo_runs():
    model, result = train_cot_seeds(D_IN, N_EX, K, ETA, CONFIG, SEEDS)
    assert model.n_seeds == 3 and len(result.losses) == CONFIG.steps and result.losses[0].shape == (3,)
    assert result.seeds == SEEDS and result.seconds > 0
    _compare(model, result, [train_cot(D_IN, N_EX, K, ETA, replace(CONFIG, seed=s)) for s in SEEDS])


def test_batched_no_cot_run_equals_solo_runs():
    model, result = train_no_cot_seeds(D_IN, N_EX, CONFIG, SEEDS)
    _compare(model, result, [train_no_cot(D_IN, N_EX, replace(CONFIG, seed=s)) for s in SEEDS])


def test_negative_control_wrong_seed_order_exceeds_tolerance():
    """Seeds (7, 3, 11) against the solo runs of (3, 7, 11): the comparison must fail."""
    model, result = train_cot_seeds(D_IN, N_EX, K, ETA, CONFIG, (7, 3, 11))
    with pytest.raises(AssertionError):
        _compare(model, result, [train_cot(D_IN, N_EX, K, ETA, replace(CONFIG, seed=s)) for s in SEEDS])


def test_first_step_gradients_are_far_from_zero():
    """The precondition of the trajectory tolerance: no first-step gradient entry is within 10^3 x its
    round-off bound of zero (so no Adam sign flip at step 1), except the W entries that are exactly zero by
    construction (columns x, y of W: z_i is zero there) in both paths."""
    from tests.test_cot_loss import _tolerances

    model = LSA.seeded(D_IN, SEEDS, init_scale=0.1)
    for s, seed in enumerate(SEEDS):
        batch = cot_sampler(N_EX, D_IN, K, ETA)(torch.Generator().manual_seed(seed), CONFIG.batch)
        solo = model.solo(s).requires_grad_()
        gV, gW = torch.autograd.grad(cot_loss(solo, *batch), [solo.V, solo.W])
        _, tol_V, tol_W = _tolerances(solo, batch)
        assert torch.all(gV.abs() > 1e3 * tol_V)
        live = gW != 0
        assert torch.all(gW[live].abs() > 1e3 * tol_W[live])
        assert torch.all(gW[:, :D_IN + 1] == 0) and live[:, D_IN + 1:].all()


def test_callback_receives_the_seeded_model():
    seen = []
    train_cot_seeds(D_IN, N_EX, K, ETA, replace(CONFIG, steps=3), SEEDS,
                    callback=lambda step, m: seen.append((step, m.n_seeds)) or step == 2)
    assert seen == [(1, 3), (2, 3)]


# ---------------------------------------------------------------------------------------------------------
# Evaluation helpers on shared tasks
# ---------------------------------------------------------------------------------------------------------
def test_no_cot_estimate_of_seeded_model_on_shared_tasks():
    """Seed s's (S, B, d) slice equals the solo estimate within the LSA's local round-off bound,
    gamma_{3D+m+3} |V||Z||Z^T||W||z| / n + u |z| (constructions/gd_cot/roundoff.py), counted twice."""
    model = LSA.seeded(D_IN, SEEDS, init_scale=0.3)
    X, w_star = sample_tasks_torch(torch.Generator().manual_seed(1), 64, N_EX, D_IN)
    with torch.no_grad():
        est = no_cot_estimate(model, X, w_star)
        assert est.shape == (3, 64, D_IN)
        assert no_cot_loss(model, X, w_star).shape == (3,)
        D, m = 2 * D_IN + 2, N_EX + 1
        Za = embed_torch(X.abs(), w_star.abs())
        for s in range(3):
            solo = model.solo(s)
            p_abs = LSA._from_params(D_IN, solo.V.abs(), solo.W.abs()).last_column(Za, N_EX)[..., D_IN + 1:2 * D_IN + 1]
            bound = 2 * (gamma(3 * D + m + 3) * p_abs + 2.0 ** -53 * Za[..., D_IN + 1:2 * D_IN + 1, -1])
            assert torch.all((est[s] - no_cot_estimate(solo, X, w_star)).abs() <= bound)
        # per-seed tasks (S, B, ...) give the per-seed estimates
        Xs, ws = sample_tasks_torch_seeds([torch.Generator().manual_seed(s) for s in SEEDS], 16, N_EX, D_IN)
        per_seed = no_cot_estimate(model, Xs, ws)
        for s in range(3):
            assert torch.allclose(per_seed[s], no_cot_estimate(model.solo(s), Xs[s], ws[s]), rtol=0, atol=1e-12)


def test_no_cot_estimate_equals_the_full_forward_pass():
    """The Gram form of no_cot_estimate equals f_LSA(Z_0)[w, -1] of the full forward pass (LSA.last_column on
    embed_torch), solo and seeded, on shared and per-seed tasks, to float64 round-off (the local bound above)."""
    model = LSA.seeded(D_IN, SEEDS, init_scale=0.3)
    X, w_star = sample_tasks_torch(torch.Generator().manual_seed(2), 64, N_EX, D_IN)
    Xs, ws = sample_tasks_torch_seeds([torch.Generator().manual_seed(s) for s in SEEDS], 16, N_EX, D_IN)
    w = slice(D_IN + 1, 2 * D_IN + 1)
    D, m = 2 * D_IN + 2, N_EX + 1
    with torch.no_grad():
        for mdl, Xt, wt in ((model, X, w_star), (model, Xs, ws), (model.solo(1), X, w_star)):
            full = mdl.last_column(embed_torch(Xt, wt), N_EX)[..., w]
            absm = LSA._from_params(D_IN, mdl.V.abs(), mdl.W.abs())
            bound = 2 * gamma(3 * D + m + 3) * absm.last_column(embed_torch(Xt.abs(), wt.abs()), N_EX)[..., w]
            assert torch.all((no_cot_estimate(mdl, Xt, wt) - full).abs() <= bound)


def test_cot_rollout_of_seeded_construction_on_shared_tasks():
    """Two copies of the GD construction stacked: each seed's rollout equals the solo rollout within the a-priori
    bound for two independently rounded LSA rollouts (rollout_vs_gd_bound, n_rollouts=2), and so does the full
    forward rollout of a seeded model."""
    d, n, k, eta = 4, 10, 6, 0.2
    V, W = gd_construction(d, eta)
    solo = LSA.from_numpy(V, W)
    model = LSA.stack([solo, solo])
    X, w_star = sample_tasks_torch(torch.Generator().manual_seed(2), 5, n, d)
    with torch.no_grad():
        seeded = cot_rollout_estimates(model, X, w_star, k)
        ref = cot_rollout_estimates(solo, X, w_star, k)
        full = model.rollout(embed_torch(X, w_star), k, n)
    assert seeded.shape == (2, 5, k, d) and full.shape == (2, 5, 2 * d + 2, n + 1 + k)
    for b in range(5):
        bound = torch.as_tensor(rollout_vs_gd_bound(X[b].numpy(), w_star[b].numpy(), eta, k, n_rollouts=2)[1:])
        for s in range(2):
            assert torch.all((seeded[s, b] - ref[b]).abs().amax(-1) <= bound)
            assert torch.all((full[s, b, d + 1:2 * d + 1, n + 1:].T - ref[b]).abs().amax(-1) <= bound)
