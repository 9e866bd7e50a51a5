"""pattern_cot.proposition1: the trained model attends to same-step columns that share the query's current pattern."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from constructions.pattern_cot import make_geometry, make_task, sample_batch
from constructions.pattern_cot.model import CATEGORIES, OneLayer, nearest
from dynamics.pattern_cot import cot_loss
from verify.pattern_cot.helpers import MAIN, model_errors, trained_main

pytestmark = pytest.mark.claim("pattern_cot.proposition1")

DOMINANT = 0.5  # above it the same-step, same-pattern columns outweigh all others together (derived below)
PERMUTATION_TASK = [np.eye(2), np.eye(2)[[1, 0]]]  # a noiseless test task: categories are unambiguous


@given(m=st.integers(2, 6), seed=st.integers(0, 2**31 - 1), top=st.floats(0.5001, 1.0))
@example(m=2, seed=0, top=0.5001)
def test_dominant_mass_decodes_correctly(evidence, m, seed, top):
    evidence.describe("float64: for orthonormal patterns and F = sum_j w_j mu_j (W_V = [0 I] reading the output halves), "
                      "a weight w_c > 1/2 on the correct pattern makes greedy decoding return it, since "
                      "||F - mu_b||^2 = ||F||^2 + 1 - 2 w_b; random m, weights and patterns", m="2..6")
    rng = np.random.default_rng(seed)
    pats = torch.tensor(np.linalg.qr(rng.standard_normal((8, m)))[0].T)  # m orthonormal rows in R^8
    rest = rng.dirichlet(np.ones(m - 1)) * (1 - top)
    c = int(rng.integers(m))
    w = np.insert(rest, c, top)
    F = torch.tensor(w) @ pats
    evidence.check_exact(int(nearest(F[None], pats)[0]) == c, measured={"decoded": int(nearest(F[None], pats)[0])},
                         predicted={"decoded": c}, reason="exact argument; the margin 2(w_c - max_b w_b) > 0 exceeds "
                         "float64 round-off (w_c >= 0.5001)")


def _train_masses(model, geom, prompts: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    task = make_task(K=geom.K, n=geom.M, batch=prompts, gen=gen)
    b = sample_batch(gen, task, geom.trr(), prompts, MAIN["l_tr"], MAIN["alpha"])
    with torch.no_grad():
        _, masses = cot_loss(model, geom, b, with_masses=True)
    return masses  # (B, K, 4)


def test_trained_attention_is_dominant(evidence, profile):
    model, geom, log = trained_main(profile)
    prompts = 4000
    masses = _train_masses(model, geom, prompts, seed=5)
    same = masses[..., 0]
    err, test_mass = model_errors(model, geom, PERMUTATION_TASK, MAIN["l_tr"], MAIN["alpha"], prompts, seed=6)
    evidence.describe("trained one-layer model: on every one of 4000 fresh training prompts and every step, and on 4000 "
                      "noisy TSR test prompts (alpha' = 0.3, l_ts = 10), the attention mass on same-step columns whose "
                      "input half carries the query's current pattern exceeds 1/2; then the test CoT error is 0",
                      prompts=prompts, mean_mass_train=float(same.mean()), mean_mass_test=float(test_mass.mean()),
                      test_error=float(err.mean()), final_masses=dict(zip(CATEGORIES, log.masses[-1])))
    reason = "derived threshold 1/2: the correct pattern then has the largest weight in F, so decoding is correct"
    evidence.check_ge(float(same.min()), DOMINANT, reason=reason, what="min mass, training prompts")
    evidence.check_ge(float(test_mass.min()), DOMINANT, reason=reason, what="min mass, test prompts")
    evidence.check_exact(float(err.max()) == 0.0, measured={"test CoT error": float(err.mean())},
                         predicted={"test CoT error": 0.0}, reason="Proposition part 2: greedy decoding is correct on "
                         "every prompt", what="test CoT error")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    m = np.array(log.masses)
    for j, name in enumerate(CATEGORIES):
        ax.plot(log.record_steps, m[:, j], label=name)
    ax.axhline(DOMINANT, ls=":", color="gray", label="1/2 (dominance)")
    ax.set_xlabel("SGD iteration")
    ax.set_ylabel("attention mass (mean over prompts, steps)")
    ax.set_title("Proposition 1: attention by column category")
    ax.legend(fontsize=7)
    evidence.save_figure(fig, "pattern_cot_proposition1_masses")


def test_negative_control_untrained_model(evidence):
    geom = make_geometry(MAIN["M"], MAIN["K"])
    masses = _train_masses(OneLayer(geom.d), geom, 4000, seed=5)
    evidence.describe("negative control: the same dominance check on the model at initialisation must fail",
                      role="negative_control")
    evidence.check_le(float(masses[..., 0].min()), DOMINANT, reason="must not exceed 1/2", what="min mass at init")


def test_negative_control_no_positional_encoding(evidence, profile):
    model, geom, _ = trained_main(profile, pe_scale=0.0)
    masses = _train_masses(model, geom, 4000, seed=5)
    evidence.describe("negative control: a model trained the same way but without positional encodings (pe_scale = 0: "
                      "a column's step cannot be told) must fail the dominance check", role="negative_control")
    evidence.check_le(float(masses[..., 0].min()), DOMINANT, reason="must not exceed 1/2", what="min mass, no PE")
