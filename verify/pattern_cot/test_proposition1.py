"""pattern_cot.proposition1: the trained model attends to same-step columns that share the query's current pattern."""

from __future__ import annotations

from functools import lru_cache

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
from verify import figures, stats
from verify.pattern_cot.helpers import (
    MAIN, T2_ALPHAS, T2_LS, T2_PROMPTS, models_errors, seeds, solo_models, theorem2_prompts, trained_seeds,
)
from verify.pattern_cot.test_figure10 import FIGURE_FINAL as STATED
from verify.pattern_cot.test_figure10 import reading_band

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


@given(m=st.integers(2, 6), seed=st.integers(0, 2**31 - 1))
@example(m=2, seed=0)
def test_negative_control_mass_just_below_half(evidence, m, seed):
    evidence.describe("near-miss negative control of the derivation: with weight 1/2 - 0.01 on the correct pattern and "
                      "1/2 + 0.01 on one wrong pattern (orthonormal patterns), decoding returns the wrong one: 1/2 is the "
                      "exact threshold of the argument, not a loose one", role="negative_control", m="2..6")
    rng = np.random.default_rng(seed)
    pats = torch.tensor(np.linalg.qr(rng.standard_normal((8, m)))[0].T)
    c, wrong = rng.choice(m, 2, replace=False)
    w = np.zeros(m)
    w[c], w[wrong] = 0.49, 0.51
    got = int(nearest((torch.tensor(w) @ pats)[None], pats)[0])
    evidence.check_exact(got == int(wrong), measured={"decoded": got}, predicted={"decoded (wrong)": int(wrong)},
                         reason="exact argument: ||F - mu_b||^2 = ||F||^2 + 1 - 2 w_b, margin 0.04", what="decoding")


def _train_masses(model, geom, prompts: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    task = make_task(K=geom.K, n=geom.M, batch=prompts, gen=gen)
    b = sample_batch(gen, task, geom.trr(), prompts, MAIN["l_tr"], MAIN["alpha"])
    with torch.no_grad():
        _, masses = cot_loss(model, geom, b, with_masses=True)
    return masses  # (B, K, 4)


PROMPTS = 4000


@lru_cache(maxsize=8)
def _same_masses(profile: str, pe_scale: float = 1.0, steps: int | None = None):
    """Per seed: the same-step, same-pattern mass (PROMPTS, K) on the same fresh training prompts."""
    models, geom, _ = solo_models(profile, pe_scale, steps)
    return [_train_masses(mdl, geom, PROMPTS, seed=5)[..., 0] for mdl in models]
HALF_REASON = "derived threshold 1/2: the correct pattern then has the largest weight in F, so decoding is correct"


def test_trained_attention_is_dominant(evidence, profile):
    models, geom, chosen = solo_models(profile)
    _, _, log, _ = trained_seeds(profile)
    same = _same_masses(profile)
    errs, test_mass, _ = models_errors(models, geom, PERMUTATION_TASK, MAIN["l_tr"], MAIN["alpha"], PROMPTS, seed=6)
    evidence.describe(f"trained one-layer model, every seed: on every one of {PROMPTS} fresh training prompts and every "
                      f"step, and on {PROMPTS} noisy TSR test prompts of a noiseless permutation task (alpha' = 0.3, "
                      "l_ts = 10; every example correct), the attention mass on same-step columns whose input half "
                      "carries the query's current pattern exceeds 1/2; then the test CoT error is 0 (every example "
                      "is correct, so the attended columns all carry the correct next pattern)", prompts=PROMPTS,
                      seeds=list(chosen), mean_mass_train=[float(m.mean()) for m in same],
                      mean_mass_test=[float(m.mean()) for m in test_mass], test_error=[float(e.mean()) for e in errs],
                      final_masses=[dict(zip(CATEGORIES, x)) for x in log.masses[-1]])
    evidence.check_ge(min(float(m.min()) for m in same), DOMINANT, reason=HALF_REASON,
                      what="min over seeds and prompts of the mass, training prompts")
    evidence.check_ge(min(float(m.min()) for m in test_mass), DOMINANT, reason=HALF_REASON,
                      what="min over seeds and prompts of the mass, test prompts")
    evidence.check_exact(max(float(e.max()) for e in errs) == 0.0,
                         measured={"test CoT error": [float(e.mean()) for e in errs]},
                         predicted={"test CoT error": 0.0}, reason="Proposition part 2: greedy decoding is correct on "
                         "every prompt of every seed", what="test CoT error")
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    m = np.array(log.masses)  # (records, seeds, 4)
    for j, name in enumerate(CATEGORIES):
        figures.mean_band(ax, log.record_steps, m[:, :, j], axis=1, kind="t", label=name)
    ax.axhline(DOMINANT, ls=":", color="gray", label="1/2 (dominance threshold)")
    ax.axvline(CHECKPOINT, ls="--", color="gray", lw=0.8, label=f"near-miss checkpoint ({CHECKPOINT})")
    ax.set_xlabel("SGD iteration")
    ax.set_ylabel("attention mass of the query")
    ax.set_title(f"Proposition 1: attention by column category (mean of {len(chosen)} seeds)", fontsize=10)
    figures.legend(ax, figures.band_handle(f"band: 99% t interval over {len(chosen)} seeds"), loc="center right",
                   bbox_to_anchor=(1.0, 0.4))
    evidence.save_figure(fig, "pattern_cot_proposition1_masses")


def test_trained_attention_dominant_on_noisy_wrong_prompts(evidence, profile):
    data, chosen = theorem2_prompts(profile)
    evidence.describe("trained one-layer model, every seed, on Theorem 2's noisy TSR prompts of the authors' worked "
                      f"example (steps partly wrong: correct entries 0.6 / 0.6 and 0.6 / 0.8), alpha' in {T2_ALPHAS}, "
                      f"l_ts in {T2_LS}, {T2_PROMPTS} prompts each: on every prompt and step the mass on same-step "
                      "columns whose input half carries the current (decoded) pattern exceeds 1/2. Here that makes the "
                      "read-out a vote among the right columns, not a correct decoding: some of those columns carry a "
                      "wrong next pattern (whether the vote is right is the oracle's error, checked in theorem2)",
                      seeds=list(chosen), min_mass={f"{s},{a},{l}": float(v[3].min()) for (s, a, l), v in data.items()},
                      mean_mass={f"{s},{a},{l}": float(v[3].mean()) for (s, a, l), v in data.items()})
    evidence.check_ge(min(float(v[3].min()) for v in data.values()), DOMINANT, reason="derived threshold 1/2, every "
                      "prompt, seed and (alpha', l_ts)", what="min mass on partly wrong prompts")


STATED_LOW = reading_band(STATED)[0]  # 0.922: the lower end of the reading band of the stated 0.94
STATED_REASON = ("one-sided 99% t bound over the prompts, per seed and prompt set; criterion: the lower end 0.922 of "
                 "the stated 0.94's reading band (+-30% of the residual 1 - 0.94, as in figure10); one-sided because "
                 "the stated form is 'at least 1 - small' and the mass keeps rising with training")
CHECKPOINT = 300  # about twice the diff-step collapse (140 iterations): position learned, pattern stage under way


def _stated_value(evidence, profile, steps, expect):
    data, chosen = theorem2_prompts(profile, steps, with_oracle=steps is None)
    for seed, masses in zip(chosen, _same_masses(profile, 1.0, steps)):
        same = masses.mean(1).numpy()
        evidence.check_stat(stats.mean_ge(same, STATED_LOW, what="mean mass, training prompts"), seed=seed,
                            expect=expect, predicted=STATED)
        for a in T2_ALPHAS:
            for l in T2_LS:
                evidence.check_stat(stats.mean_ge(data[(seed, a, l)][3], STATED_LOW,
                                                  what=f"mean mass, Theorem 2 prompts, alpha'={a}, l={l}"),
                                    seed=seed, expect=expect, predicted=STATED)
    return data, chosen


def test_trained_attention_near_stated_value(evidence, profile):
    evidence.describe(f"the stated concentration (about {STATED}): per seed, the mean mass on same-step, same-pattern "
                      f"columns over {PROMPTS} training prompts and over Theorem 2's prompts at every (alpha', l_ts) has a "
                      f"lower 99% t bound >= {STATED_LOW:.3f}; every seed and prompt set", seeds=list(seeds(profile)),
                      reason=STATED_REASON, criterion=STATED_LOW)
    _stated_value(evidence, profile, None, "pass")


def test_negative_control_checkpoint_before_pattern_stage(evidence, profile):
    evidence.describe(f"near-miss negative control: the same run stopped at iteration {CHECKPOINT} (about twice the "
                      "diff-step collapse: position learned, the pattern stage under way) must be rejected by the "
                      "stated-value check on every seed and prompt set", role="negative_control",
                      seeds=list(seeds(profile)), iterations=CHECKPOINT, criterion=STATED_LOW)
    _stated_value(evidence, profile, CHECKPOINT, "reject")


def test_probe_half_threshold_passed_before_pattern_stage(evidence, profile):
    data, chosen = theorem2_prompts(profile, CHECKPOINT, with_oracle=False)
    train_min = min(float(m.min()) for m in _same_masses(profile, 1.0, CHECKPOINT))
    test_min = min(float(v[3].min()) for v in data.values())
    evidence.describe(f"probe (what the 1/2 threshold does not establish): the checkpoint at iteration {CHECKPOINT}, "
                      "which the stated-value check rejects, already passes the 1/2 dominance check on training prompts "
                      "and on Theorem 2's prompts: the threshold shows dominance, not the stated concentration",
                      role="probe", seeds=list(chosen), min_mass_train=train_min, min_mass_theorem2=test_min)
    evidence.check_ge(min(train_min, test_min), DOMINANT, reason=HALF_REASON, what="min mass at the checkpoint")


def test_probe_untrained_model(evidence):
    geom = make_geometry(MAIN["M"], MAIN["K"])
    masses = _train_masses(OneLayer(geom.d), geom, PROMPTS, seed=5)
    evidence.describe("probe (a structural contrast, not a near miss): the dominance check on the model at "
                      "initialisation fails", role="probe")
    evidence.check_le(float(masses[..., 0].min()), DOMINANT, reason="must not exceed 1/2", what="min mass at init")


def test_probe_no_positional_encoding(evidence, profile):
    chosen = seeds(profile)
    worst = max(float(m.min()) for m in _same_masses(profile, 0.0))
    evidence.describe("probe (a structural contrast: a column's step cannot be told without positional encodings): "
                      "models trained the same way with pe_scale = 0 fail the dominance check on every seed",
                      role="probe", seeds=list(chosen))
    evidence.check_le(worst, DOMINANT, reason="must not exceed 1/2", what="max over seeds of the min mass, no PE")
