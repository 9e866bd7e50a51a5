"""gd_cot.figure1: a dense (V, W) trained on the CoT loss from random init learns the sparse construction."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from constructions.gd_cot.model import blocks, path_outputs, pattern_mass, sparse_pattern
from constructions.gd_cot.torch_model import gd_targets_torch
from verify import figures
from verify.evidence import not_reproduced
from verify.gd_cot.helpers import TRAINING, eval_tasks, seed_matrices, trained_cot

pytestmark = pytest.mark.claim("gd_cot.figure1")

LEVEL = 0.01  # stated: off-pattern entries below 1% of the squared mass are invisible on the figure's colour scale
BLOCK_TOL = 0.01  # stated: learned blocks equal the construction to 1% (relative to eta and to 1)


def _trained(profile):
    cfg = TRAINING[profile]
    return trained_cot(profile, max(cfg["ks"]))


def _params(run):
    return dict(d=run["d"], n=run["n"], k=run["k"], eta=run["eta"], steps=run["steps"], init="N(0, 0.1^2)",
                optimiser="Adam 1e-2, cosine", batch=256, seeds=list(run["seeds"]),
                criterion="every seed passes (deterministic measurement per trained model)")


def _heatmaps(run):
    V, W = seed_matrices(run["model"], 0)
    d = run["d"]
    mv, mw = sparse_pattern(d)
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    for ax, M, mask, title in zip(axes, (run["V0"][0], run["W0"][0], V, W), (mv, mw, mv, mw),
                                  ("V at init", "W at init", "V trained", "W trained")):
        lim = np.abs(M).max()
        im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ys, xs = np.nonzero(mask)
        ax.add_patch(plt.Rectangle((xs.min() - 0.5, ys.min() - 0.5), xs.max() - xs.min() + 1,
                                   ys.max() - ys.min() + 1, fill=False, ec="k", lw=1.2))
        if "W" in title:
            ax.add_patch(plt.Rectangle((2 * d + 0.5, d - 0.5), 1, 1, fill=False, ec="k", lw=1.2))
            ax.axvspan(-0.5, d + 0.5, color="0.5", alpha=0.15)  # x/y columns: never act, stay at init
        ax.set_title(title.replace("V", "$V$").replace("W", "$W$"))
        ax.set_xlabel("column (token coordinate)"), ax.set_ylabel("row (token coordinate)")
        figures.integer_axis(ax, "both")
        fig.colorbar(im, ax=ax, fraction=0.046, label="entry")
    fig.suptitle(f"dense LSA trained with CoT, seed {run['seeds'][0]} ($d = {d}$, $n = {run['n']}$, $k = {run['k']}$, "
                 f"$\\eta = {run['eta']}$); boxes: $V_{{31}}$, $W_{{13}}$, $W_{{24}}$; grey: $W$'s $x$/$y$ columns "
                 "(zero gradient)", fontsize=9)
    fig.tight_layout()
    return fig


def _cot_path_share(run, V, W):
    X, w_star = (t.numpy() for t in eval_tasks(run["n"], run["d"]))
    iterates = gd_targets_torch(*eval_tasks(run["n"], run["d"]), run["eta"], run["k"]).numpy()
    _, out_cot = path_outputs(V, W, X, w_star, iterates)
    return float(np.median(np.linalg.norm(out_cot, axis=1) / np.linalg.norm(iterates[:, -1], axis=1)))


def test_off_pattern_mass_vanishes(evidence, profile):
    run = _trained(profile)
    evidence.describe("dense (V, W) from random init trained on the CoT loss, every seed: share of the squared mass "
                      "outside V31, W13, W24 on the identifiable data path (V[:, x,y], W[x,y rows, w,const cols]), "
                      "and the output of the CoT-column path V[:, w,c] G_wc W[w,c, :] z / n at the last step relative "
                      "to ||w_k|| (median over the evaluation tasks)", **_params(run))
    raw = []
    for s, seed in enumerate(run["seeds"]):
        V, W = seed_matrices(run["model"], s)
        m = pattern_mass(V, W, run["d"])
        raw.append(m["raw_share"])
        evidence.check_le(m["data_share"], LEVEL, what=f"off-pattern share, data path (seed {seed})",
                          reason="stated level: 1% of the squared mass is below what the figure's colour scale shows")
        evidence.check_le(_cot_path_share(run, V, W), LEVEL, what=f"CoT-path output / ||w_k|| (seed {seed})",
                          reason="stated level 1%: the CoT columns must not feed back into the output")
    evidence.params.update(raw_share=raw)
    evidence.save_figure(_heatmaps(run), "gd_cot_figure1_heatmaps")


@not_reproduced("W's x/y columns multiply the zero x/y entries of the query column, so their gradient is exactly 0 "
                "and they keep their random init; the CoT-path entries keep mass under their own rescaling symmetry. "
                "The raw share of all entries outside V31, W13, W24 stays at 7-11% of the squared mass (finding "
                "test_finding_cot_path_entries_keep_mass); the weaker form (identifiable entries) holds")
def test_stated_form_every_other_entry_vanishes(evidence, profile):
    run = _trained(profile)
    evidence.describe("the caption's stated form: EVERY entry of V and W outside V31, W13, W24 ends near 0, i.e. the "
                      "raw share of the squared mass outside the pattern (all entries, identifiable or not) is below "
                      "the 1% level, every seed", **_params(run))
    for s, seed in enumerate(run["seeds"]):
        V, W = seed_matrices(run["model"], s)
        evidence.check_le(pattern_mass(V, W, run["d"])["raw_share"], LEVEL,
                          what=f"raw off-pattern share, all entries (seed {seed})",
                          reason="stated level: 1% of the squared mass is below what the figure's colour scale shows")


def test_negative_control_random_init(evidence, profile):
    run = _trained(profile)
    evidence.describe("negative control: the same shares on each seed's random initialisation must exceed the level",
                      role="negative_control", **_params(run))
    for s, seed in enumerate(run["seeds"]):
        m = pattern_mass(run["V0"][s], run["W0"][s], run["d"])
        evidence.check_ge(m["data_share"], LEVEL, what=f"off-pattern share at init (seed {seed})",
                          reason="the check must reject a dense matrix")
        evidence.check_ge(_cot_path_share(run, run["V0"][s], run["W0"][s]), LEVEL,
                          what=f"CoT-path output share at init (seed {seed})",
                          reason="the check must reject a model whose CoT columns feed back")


def _block_errors(V, W, d, eta):
    """(max |V31 (-W24) + eta I| / eta, max |W13 / (-W24) - I|): the learned blocks against (-eta I, I, -1) up to
    the scale symmetry (V, W) -> (cV, W/c)."""
    b = blocks(d)
    w24 = W[d, 2 * d + 1]
    return (float(np.abs(V[b["w"], b["x"]] * (-w24) + eta * np.eye(d)).max()) / eta,
            float(np.abs(W[b["x"], b["w"]] / (-w24) - np.eye(d)).max()))


def test_learned_blocks_match_construction(evidence, profile):
    run = _trained(profile)
    evidence.describe("learned blocks of every seed against (V31, W13, W24) = (-eta I, I, -1) up to the scale "
                      "symmetry (V, W) -> (cV, W/c): compare V31 (-W24) with -eta I and W13 / (-W24) with I",
                      **_params(run))
    d, eta = run["d"], run["eta"]
    w24 = []
    for s, seed in enumerate(run["seeds"]):
        V, W = seed_matrices(run["model"], s)
        w24.append(float(W[d, 2 * d + 1]))
        v_err, w_err = _block_errors(V, W, d, eta)
        evidence.check_le(v_err, BLOCK_TOL, what=f"max |V31 (-W24) + eta I| / eta (seed {seed})",
                          reason="stated: 1% of eta")
        evidence.check_le(w_err, BLOCK_TOL, what=f"max |W13 / (-W24) - I| (seed {seed})", reason="stated: 1%")
    evidence.params.update(W24=w24)


def test_negative_control_near_miss_w24(evidence, profile):
    run = _trained(profile)
    evidence.describe("near-miss negative control: each trained model with W24 scaled by 0.95 (the construction with "
                      "W24 = -0.95) must fail the same block check", role="negative_control", **_params(run))
    d, eta = run["d"], run["eta"]
    for s, seed in enumerate(run["seeds"]):
        V, W = seed_matrices(run["model"], s)
        W = W.copy()
        W[d, 2 * d + 1] *= 0.95
        v_err, _ = _block_errors(V, W, d, eta)
        evidence.check_ge(v_err, BLOCK_TOL, what=f"max |V31 (-0.95 W24) + eta I| / eta (seed {seed})",
                          reason="the block check must reject a 5% error in W24")


def test_finding_cot_path_entries_keep_mass(evidence, profile):
    run = _trained(profile)
    evidence.describe("finding: W's x/y columns keep their init exactly (zero gradient), and the CoT-path entries "
                      "(V's w/const columns, W's w/const rows) keep a large part of their init mass although the "
                      "path's output vanishes: that path has its own rescaling symmetry (V[:, wc] c, W[wc, :] / c) "
                      "and only its output must go to 0, so the heatmap does not show 'all other entries at 0' "
                      "(raw off-pattern share in params), every seed", role="probe", **_params(run))
    d = run["d"]
    raw, raw0 = [], []
    for s, seed in enumerate(run["seeds"]):
        V, W = seed_matrices(run["model"], s)
        m, m0 = pattern_mass(V, W, d), pattern_mass(run["V0"][s], run["W0"][s], d)
        raw.append(m["raw_share"]), raw0.append(m0["raw_share"])
        frozen = float(np.abs(W[:, : d + 1] - run["W0"][s][:, : d + 1]).max())
        evidence.check_exact(frozen == 0.0, measured={"max |W[:, xy] - init|": frozen}, predicted=0.0,
                             reason="exact: Adam's update of an entry whose gradient is always 0 is exactly 0")
        kept = (m["w_cot_rows"] + m["v_cot_cols"]) / (m0["w_cot_rows"] + m0["v_cot_cols"])
        evidence.check_ge(kept, LEVEL, what=f"CoT-path entries' squared mass, trained / init (seed {seed})",
                          reason="finding: the mass stays above the 1% level the data path falls below")
    evidence.params.update(raw_share=raw, raw_share_init=raw0)
