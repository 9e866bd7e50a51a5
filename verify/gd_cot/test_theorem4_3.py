"""gd_cot.theorem4_3 (reconstructed): looping one LSA layer lowers the in-context regression loss.

Reconstruction (constructions/gd_cot/looped.py): the optimum of the looped LSA over its own parameters, reduced by
the symmetry x -> Q x, w* -> +-Q w* to V = diag(p I, q), W = diag(I, e); the (p, q) optimum at e = 0 is exact
(Wishart moments). The older reconstruction (L loops of GD with one shared step on fixed data) is kept as a
finding: the trained model beats it by a factor (issue 11, item 6).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import sympy as sp
import torch

from constructions.gd_cot.looped import (
    exact_loss, exact_optimum, per_task_loss, predict, reduced_matrices, residual_polynomial, sample_looped_tasks,
    tasks_from,
)
from constructions.gd_cot.symbolic import no_cot_optimum
from constructions.gd_cot.torch_model import LoopedLSA, sample_tasks_torch
from constructions.gd_cot.wishart import best_looped_step, looped_gd_loss
from dynamics.gd_cot import train_looped_seeds
from dynamics.training import TrainConfig
from verify.cache import disk_cached
from verify.evidence import finding_not_met
from verify.stats import mean_in_band, mean_le, ratio_of_means_ge

pytestmark = pytest.mark.claim("gd_cot.theorem4_3")

D, N = 5, 20

# A-priori optimisation tolerance for "the trained L = 2 model reaches the reduced optimum": an excess of at most
# 5% of the optimum (paired, per seed). Why 5%: Adam with a cosine schedule leaves the slow anisotropic directions
# of W's x-block (its diagonal spread) partly unconverged; 5% is far below every alternative on the table (the
# nearest, the frozen-query near miss, is +42%; shared-step GD is +320%).
EXCESS_TOL = 0.05
# "The trained model does not beat the reduced optimum" (the symmetry reduction side): the e = 0 optimum is not the
# optimum of the full symmetric (p, q, e) model (W_yy enters at order w*^3 and is not zero by parity), and the
# measured first-order gain from e is below ~1% (test_dense_gradient_at_reduced_optimum); allow 2%.
BELOW_TOL = 0.02


def _profile_sizes(profile: str):
    """(seeds, steps, batch, lr, eval tasks) per profile. lr = 1e-2: at 2e-2 seed 0 stalls at the single-layer
    loss (~1.13); at 3000 steps one seed was still 28% above the optimum, hence 12000 steps. Paper: at 12000 steps
    seed 3 was still 9.4% above it (the other seven within +-0.1%), at 20000 steps 1.1% below (measured)."""
    if profile == "paper":
        return tuple(range(8)), 20000, 256, 1e-2, 400_000
    return (0, 1, 2), 12000, 256, 1e-2, 100_000


def test_reduced_optimum_exact(evidence):
    evidence.describe("exact (sympy, Wishart moments): the reduced looped model at e = 0 has E(y_hat - y_q)^2 = "
                      "E tr r(S)^2; p = 0 is shared-step looped GD (r = (1 + q lam)^L, equal to looped_gd_loss with "
                      "gamma = -q); L = 1 is the Theorem 3.1 optimum d(d+1)/(n+d+1); the optimum over (p, q) falls "
                      "with L = 1, 2, 3 and lies below shared-step GD for L >= 2", n=N, d=D, loops=(1, 2, 3))
    g = sp.Symbol("gamma")
    gd_ok = True
    for L in (1, 2, 3):
        expr, (p, q) = exact_loss(N, D, L)[:2]
        gd_ok &= sp.expand(expr.subs(p, 0).subs(q, -g) - looped_gd_loss(N, D, L, g)) == 0
    r1 = residual_polynomial(1)[0]
    opt = [exact_optimum(N, D, L) for L in (1, 2, 3)]
    gd = [best_looped_step(N, D, L)[1] for L in (1, 2, 3)]
    single = float(2 * no_cot_optimum(N, D)[1])
    evidence.params.update(optimum={o.loops: {"p": o.p, "q": o.q, "loss": o.loss} for o in opt},
                           shared_step_gd=dict(zip((1, 2, 3), gd)))
    ok = (gd_ok and abs(opt[0].loss - single) < 1e-12 and not r1.has(sp.Symbol("p"))
          and opt[0].loss > opt[1].loss > opt[2].loss and all(o.loss < b - 1e-6 for o, b in zip(opt[1:], gd[1:])))
    evidence.check_exact(ok, measured={"p=0 equals looped GD": gd_ok, "L=1": opt[0].loss,
                                       "optimum by L": [o.loss for o in opt], "GD by L": gd},
                         predicted="identities hold; L = 1 at d(d+1)/(n+d+1); strictly decreasing; below GD",
                         reason="exact rational polynomials; minimisers by BFGS on the exact polynomial (|grad| < 1e-6)")


def test_gram_recursion_equals_looped_lsa(evidence):
    evidence.describe("round-off: the Gram recursion (every column moves by T_l = I + V G_l W / n) equals "
                      "LoopedLSA.forward on the full Z for random dense V, W, L = 1..3", n=N, d=D, tasks=64)
    gen = torch.Generator().manual_seed(3)
    X, w = sample_tasks_torch(gen, 64, N, D)
    x_q = torch.randn(64, D, generator=gen, dtype=torch.float64)
    worst = 0.0
    for L in (1, 2, 3):
        model = LoopedLSA(D, L, init_scale=0.3, generator=gen)
        with torch.no_grad():
            a = model(X, torch.einsum("bdn,bd->bn", X, w), x_q)
            b = predict(model.V, model.W, tasks_from(X, w, x_q), L)
        worst = max(worst, float(((a - b).abs() / (1 + a.abs())).max()))
    evidence.check_le(worst, 1e-10, what="max relative difference", reason="float64 round-off of ~100 products")


@lru_cache(maxsize=None)
def _dense_gradient(tasks: int, chunks: int):
    o = exact_optimum(N, D, 2)
    ev = sample_looped_tasks(tasks, N, D, seed=99)
    V0, W0 = reduced_matrices([o.p, o.q, 0.0], D)
    V, W = V0.clone().requires_grad_(), W0.clone().requires_grad_()
    grads = []
    for idx in torch.arange(tasks).view(chunks, -1):
        V.grad = W.grad = None
        sub = type(ev)(ev.G[idx], ev.q[idx], ev.y_q[idx], N)
        per_task_loss(V, W, sub, 2).mean().backward()
        grads.append(torch.cat([V.grad.flatten(), W.grad.flatten()]).numpy().copy())
    return np.array(grads)


def test_dense_gradient_at_reduced_optimum(evidence, profile):
    tasks = 100_000 if profile == "quick" else 400_000
    chunks = 50
    evidence.describe("Monte Carlo (chunked, t over chunks): at the exact e = 0 optimum (L = 2) the gradient of the "
                      "dense looped loss in the 71 entries of (V, W) other than W_yy is zero within its statistical "
                      "error (two-sided t, Bonferroni over 71 entries at 99%); this is the symmetry reduction's "
                      "first-order check. The W_yy entry (e) is reported separately and not tested: it is not zero by "
                      "parity (at 400k tasks its t is -5.5, measured)", n=N, d=D, loops=2, tasks=tasks, chunks=chunks)
    from scipy import stats

    g = _dense_gradient(tasks, chunks)
    m, se = g.mean(0), g.std(0, ddof=1) / np.sqrt(chunks)
    t = m / se
    tested = np.abs(t[:-1])  # every entry but W_yy (the last of W's flattened (d+1) x (d+1) block)
    crit = float(stats.t.ppf(1 - 0.01 / (2 * tested.size), chunks - 1))
    evidence.params.update(max_abs_t=float(tested.max()), argmax=int(tested.argmax()), t_critical=crit,
                           grad_Wyy=[float(m[-1]), float(se[-1])], t_Wyy=float(t[-1]),
                           t_by_entry=t.reshape(2, D + 1, D + 1).round(2).tolist())
    evidence.check_le(float(tested.max()), crit, what="max |t| over the 71 dense gradient entries (W_yy excluded)",
                      reason=f"Bonferroni two-sided t_(1 - 0.01/142, {chunks - 1}); detects a gradient entry of about "
                             f"{crit + 2.33:.1f} of its chunk SE", statistical=True)


@lru_cache(maxsize=None)
@disk_cached
def _trained_excess(profile: str):
    seeds, steps, batch, lr, eval_tasks = _profile_sizes(profile)
    model, result = train_looped_seeds(D, N, 2, seeds, TrainConfig(steps=steps, batch=batch, lr=lr))
    ev = sample_looped_tasks(eval_tasks, N, D, seed=7)
    out = {}
    with torch.no_grad():
        for name, variant in (("optimum", "full"), ("gd", "gd")):
            o = exact_optimum(N, D, 2, variant)
            out[name] = per_task_loss(*reduced_matrices([o.p, o.q, 0.0], D), ev, 2).numpy()
        out["trained"] = [per_task_loss(model.V[i], model.W[i], ev, 2).numpy() for i in range(len(seeds))]
    return seeds, out, result.seconds, (model.V.detach().numpy(), model.W.detach().numpy())


def test_trained_reaches_reduced_optimum(evidence, profile):
    seeds, out, secs, _ = _trained_excess(profile)
    opt = exact_optimum(N, D, 2).loss
    evidence.describe(f"torch, per seed, paired on the same tasks: the dense looped LSA trained at L = 2 has an excess "
                      f"over the exact reduced optimum (e = 0) at most {EXCESS_TOL:.0%} of it (one-sided t). The e = 0 value "
                      "is only an upper bound on the symmetric optimum, so the excess may be slightly negative: "
                      "that side is a probe finding, not checked", n=N, d=D, loops=2,
                      seeds=seeds, optimum=opt, train_seconds=secs, **dict(zip(
                          ("steps", "batch", "lr", "eval_tasks"), _profile_sizes(profile)[1:])))
    evidence.params["trained_loss"] = [float(t.mean()) for t in out["trained"]]
    evidence.params["trained_excess"] = [float((t - out["optimum"]).mean()) for t in out["trained"]]
    evidence.save_figure(_figure(seeds, out), "gd_cot_theorem4_3_looped")
    for s, tr in zip(seeds, out["trained"]):
        evidence.check_stat(mean_le(tr - out["optimum"], EXCESS_TOL * opt, what="trained minus optimum"), seed=s)


@finding_not_met("paper (8 seeds, 20000 steps): seed 2 ends 7.6e-4 above the e = 0 optimum, where the probe expects "
                 "it below (its excess is inside the main check's tolerance; sessions 7 and 8, measured)")
def test_finding_trained_below_e0_optimum(evidence, profile):
    seeds, out, _, _ = _trained_excess(profile)
    opt = exact_optimum(N, D, 2).loss
    evidence.describe("finding: the e = 0 optimum is only an upper bound on the symmetric optimum (W_yy = e enters at "
                      "order w*^3 and parity does not make it vanish); per seed, the paired mean excess of the trained "
                      "model over it is negative (in the quick profile about -1.3 to -1.6%). The lower side (trained "
                      f"not below the optimum by more than {BELOW_TOL:.0%}) would need the (p, q, e) optimum, which is "
                      "not derived: it is not checked, and the claim's verdict says so", role="probe", n=N, d=D,
                      loops=2, seeds=seeds, optimum=opt,
                      relative_excess=[float((tr - out["optimum"]).mean() / opt) for tr in out["trained"]])
    for s, tr in zip(seeds, out["trained"]):
        evidence.check_le(float((tr - out["optimum"]).mean()), 0.0, what=f"paired mean excess (seed {s})",
                          reason="finding: the point estimate lies below the e = 0 optimum (not a confidence "
                                 "statement)")


def test_finding_trained_beats_shared_step_gd(evidence, profile):
    seeds, out, _, _ = _trained_excess(profile)
    evidence.describe("finding (the old reconstruction is contradicted): per seed, paired, the best shared-step "
                      "looped GD (exact value 0.499 at L = 2) has at least 3x the query loss of the trained L = 2 "
                      "model: shared-step looped GD does not describe what the model learns", role="probe",
                      n=N, d=D, loops=2, seeds=seeds, gd_exact=best_looped_step(N, D, 2)[1])
    for s, tr in zip(seeds, out["trained"]):
        evidence.check_stat(ratio_of_means_ge(out["gd"], tr, 3.0, what="GD loss / trained loss"), seed=s)


def test_negative_control_near_miss_reconstructions(evidence, profile):
    seeds, out, _, _ = _trained_excess(profile)
    fq = exact_optimum(N, D, 2, "frozen_query")
    evidence.describe("near-miss negative control: the same per-seed comparison, with the optimum of a plausible "
                      "wrong derivation (data columns updated, but the query's x kept fixed: exact optimum "
                      f"{fq.loss:.4f}, 42% above the true one) as the reference, must be rejected: the trained model "
                      "is confidently more than 5% below it", role="negative_control", n=N, d=D, seeds=seeds,
                      frozen_query={"p": fq.p, "q": fq.q, "loss": fq.loss})
    opt = exact_optimum(N, D, 2).loss
    for s, tr in zip(seeds, out["trained"]):
        # the same paired estimate as the real checks, shifted to the alternative's value: mean(trained - optimum
        # per task) + (exact optimum - alternative optimum); the band is the union of the two one-sided checks
        test = mean_in_band(tr - out["optimum"] + (opt - fq.loss), -BELOW_TOL * fq.loss, EXCESS_TOL * fq.loss,
                            what="trained minus frozen-query optimum")
        evidence.check_stat(test, expect="reject", seed=s)


def _figure(seeds, out):
    """Query loss vs L: shared-step looped GD (exact), the reduced optimum (exact, e = 0), its frozen-data
    variant, and the trained L = 2 models per seed (99% CI)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ls = [1, 2, 3, 4]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.semilogy(Ls, [best_looped_step(N, D, L)[1] for L in Ls], "o-", label="shared-step looped GD (exact)")
    ax.semilogy(Ls[:3], [exact_optimum(N, D, L).loss for L in Ls[:3]], "s-",
                label=r"reduced optimum $V = \mathrm{diag}(pI, q)$, $W = \mathrm{diag}(I, 0)$ (exact)")
    ax.semilogy(Ls[:3], [exact_optimum(N, D, L, "frozen_data").loss for L in Ls[:3]], "^--",
                label="same, data columns frozen (exact)")
    for i, (s, tr) in enumerate(zip(seeds, out["trained"])):
        se = tr.std(ddof=1) / np.sqrt(tr.size)
        ax.errorbar(2 + 0.04 * (i - len(seeds) / 2), tr.mean(), yerr=2.58 * se, fmt="kx",
                    label="trained dense, $L = 2$ (per seed, 99% CI)" if i == 0 else None)
    ax.set_xlabel("loops $L$")
    ax.set_ylabel(r"query loss $\mathbb{E}(\hat y - y_q)^2$")
    ax.set_xticks(Ls)
    ax.set_title(f"Looped LSA, $d = {D}$, $n = {N}$", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    return fig
