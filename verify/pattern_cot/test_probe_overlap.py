"""pattern_cot.probe_overlap (beyond the paper): test patterns that are only nearly orthogonal."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from constructions.pattern_cot import make_geometry, tsr_patterns
from constructions.pattern_cot.model import nearest
from verify import figures
from verify.pattern_cot.helpers import MAIN, models_errors, solo_models
from verify.stats import ci_reason, mean_and_se, z_value

pytestmark = pytest.mark.claim("pattern_cot.probe_overlap")

OVERLAPS = (0.0, 0.2, 0.4, 0.6, 0.8)
TASK = [np.eye(2), np.eye(2)[[1, 0]]]


@given(m=st.integers(2, 5), overlap=st.floats(0.0, 0.95), seed=st.integers(0, 2**31 - 1))
@example(m=2, overlap=0.8, seed=0)
def test_uniform_overlap_keeps_decoding(evidence, m, overlap, seed):
    evidence.describe("float64: with pairwise overlap eps, <F, mu'_b> = eps + (1 - eps) w_b for F = sum_j w_j mu'_j "
                      "(convex weights), so greedy decoding still returns argmax_j w_j; random m, eps, weights",
                      m="2..5", overlap="0..0.95")
    rng = np.random.default_rng(seed)
    pats = tsr_patterns(make_geometry(6, 2), m, seed=seed % 1000, overlap=overlap)
    w = rng.dirichlet(np.ones(m))
    w[int(rng.integers(m))] += 0.02  # a strict maximum, margin above round-off
    w /= w.sum()
    got = int(nearest((torch.tensor(w) @ pats)[None], pats)[0])
    evidence.check_exact(got == int(np.argmax(w)), measured={"decoded": got}, predicted={"argmax w": int(np.argmax(w))},
                         reason="exact argument; margin (1 - eps) * 2 * (gap in w) above float64 round-off")


def test_negative_control_unequal_overlap(evidence):
    evidence.describe("negative control: with unequal overlaps (mu_2, mu_3 at overlap 0.9, mu_1 orthogonal to both) "
                      "and weights (0.45, 0.30, 0.25) the same identity must fail", role="negative_control")
    c = np.sqrt(1 - 0.9**2)
    pats = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0.9, c]], dtype=torch.float64)
    got = int(nearest((torch.tensor([0.45, 0.30, 0.25], dtype=torch.float64) @ pats)[None], pats)[0])
    evidence.check_exact(got != 0, measured={"decoded": got}, predicted={"must differ from argmax w": 0},
                         reason="exact: the identity needs a uniform overlap", what="decoding with unequal overlaps")


def test_trained_cot_error_against_overlap(evidence, profile):
    models, geom, chosen = solo_models(profile)
    prompts = 1000 if profile == "quick" else 8000
    res = {seed: [] for seed in chosen}
    for i, eps in enumerate(OVERLAPS):
        errs, masses, _ = models_errors(models, geom, TASK, MAIN["l_tr"], MAIN["alpha"], prompts, seed=300 + i,
                                        patterns=tsr_patterns(geom, 2, seed=1, overlap=eps))
        for seed, err, mass in zip(chosen, errs, masses):
            res[seed].append((*mean_and_se(err), float(mass.mean())))
    evidence.describe(f"beyond the paper: the trained one-layer model, every seed ({len(chosen)}, on the same prompts), "
                      f"on noisy test prompts (deterministic two-step task, alpha' = {MAIN['alpha']}, l_ts = "
                      f"{MAIN['l_tr']}) whose two patterns overlap by eps in {OVERLAPS}: CoT error and mean "
                      "same-pattern, same-step mass; with orthogonal patterns the error's upper limit is below 1%, and "
                      "the mass falls as the overlap grows (the attention score gap shrinks by 1 - eps)", prompts=prompts,
                      seeds=list(chosen), results={f"{seed}, {e}": {"error": r[0], "se": r[1], "mass": r[2]}
                                                   for seed, rs in res.items() for e, r in zip(OVERLAPS, rs)})
    z = z_value(len(OVERLAPS) * len(chosen))
    for seed, rs in res.items():
        evidence.check_le(rs[0][0] + z * rs[0][1], 0.01, reason=ci_reason(len(OVERLAPS) * len(chosen), prompts),
                          what=f"seed {seed}: CoT error at eps = 0 (upper limit)")
        masses = [r[2] for r in rs]
        evidence.check_exact(all(np.diff(masses) < 0), measured={"mass": masses}, predicted="strictly decreasing in eps",
                             reason="mean over the prompts; differences far above their spread",
                             what=f"seed {seed}: mass vs overlap")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    n = len(chosen)
    figures.mean_band(ax, OVERLAPS, [[r[0] for r in rs] for rs in res.values()], kind="t", fmt="o-",
                      label="CoT error rate")
    figures.mean_band(ax, OVERLAPS, [[r[2] for r in rs] for rs in res.values()], kind="t", fmt="s--",
                      label="attention mass on same pattern, same step")
    ax.set_xlabel(r"pairwise overlap $\epsilon$ of the test patterns ($\mu_i^\top \mu_j = \epsilon$)")
    ax.set_ylabel("error rate; attention mass"), ax.set_ylim(-0.05, 1.05)
    ax.set_title("Probe: nearly orthogonal patterns", fontsize=10)
    figures.legend(ax, figures.band_handle(f"band: 99% t interval over {n} seeds"), loc="center left",
                   bbox_to_anchor=(0.0, 0.3), title=f"mean of {n} seeds ({prompts} prompts each)", title_fontsize=7)
    evidence.save_figure(fig, "pattern_cot_probe_overlap")
