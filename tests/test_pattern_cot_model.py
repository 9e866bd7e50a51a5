"""constructions.pattern_cot data and model: layouts, shapes, the teacher-forced pass equals F(cot_prompt)."""

import pytest
import torch

from constructions import ProofCheckError
from constructions.pattern_cot import WORKED_EXAMPLE, cot_prompt, icl_prompt, make_geometry, make_task, tsr_patterns
from constructions.pattern_cot.data import column_labels, sample_batch, teacher_forced
from constructions.pattern_cot.model import MultiLayer, OneLayer, category_masses, cot_rollout, icl_readout
from dynamics.pattern_cot import SGDConfig, cot_loss, train_sgd


def _batch(noise=0.0, B=5, l=4):
    geom = make_geometry(4, 3)
    gen = torch.Generator().manual_seed(0)
    task = make_task(K=3, n=4, batch=B, gen=gen)
    return geom, task, sample_batch(gen, task, geom.trr(), B, l, 0.5, noise=noise)


def test_geometry_is_orthogonal():
    geom = make_geometry(4, 3)
    pe, mu = geom.pe(), geom.trr()
    assert geom.d == 6 and pe.shape == (3, 12)
    assert torch.equal(pe @ pe.T, torch.eye(3, dtype=pe.dtype))
    assert (pe[:, :6] @ mu.T).abs().max() == 0 and (pe[:, 6:] @ mu.T).abs().max() == 0


def test_tsr_patterns_span_and_overlap():
    geom = make_geometry(5, 2)
    p = tsr_patterns(geom, 3, seed=2)
    assert torch.allclose(p @ p.T, torch.eye(3, dtype=p.dtype), atol=1e-12)
    assert p[:, 5:].abs().max() == 0  # in span{TRR}
    q = tsr_patterns(geom, 3, seed=2, overlap=0.3)
    gram = q @ q.T
    assert torch.allclose(gram, 0.7 * torch.eye(3, dtype=q.dtype) + 0.3, atol=1e-12)


def test_training_tasks_are_permutations_and_paths_follow_them():
    geom, task, b = _batch()
    assert task.A.shape == (5, 3, 4, 4) and torch.equal(task.A.sum(-1), torch.ones(5, 3, 4, dtype=task.A.dtype))
    for k in range(3):
        assert torch.equal(torch.gather(task.correct[:, k], 1, b.paths[:, :, k]), b.paths[:, :, k + 1])
    assert (b.paths[:, :2, 0] == b.query[:, None]).all() and (b.paths[:, 2:, 0] != b.query[:, None]).all()
    assert torch.equal(b.ex, geom.trr()[b.paths])


def test_noise_has_the_stated_norm():
    geom, _, b = _batch(noise=0.1)
    assert torch.allclose((b.ex - geom.trr()[b.paths]).norm(dim=-1), torch.tensor(0.1, dtype=b.ex.dtype))


def test_cot_prompt_layout_and_teacher_forcing_agree():
    geom, _, b = _batch()
    model = OneLayer(geom.d, init_scale=0.7)
    torch.nn.init.normal_(model.W_V, generator=torch.Generator().manual_seed(1))
    keys, qry, mask = teacher_forced(geom, b.ex, b.z_tok)
    out, attn = model.attend(keys, qry, mask)
    for k in range(1, 4):
        P = cot_prompt(geom, b.ex, b.z_tok[:, :k])
        assert P.shape == (5, 4 * 3 + k, 12)
        assert torch.equal(P[:, -1, 6:], geom.pe()[k - 1, 6:].expand(5, 6))  # (z_{k-1}; 0) + c_{k-1}
        F, a = model(P)
        assert torch.allclose(F, out[:, k - 1], atol=1e-13) and torch.allclose(a, attn[:, k - 1, : P.shape[1] - 1])
    assert torch.allclose(attn.sum(-1), torch.ones(5, 3, dtype=attn.dtype))


def test_icl_prompt_is_zero_padded():
    geom, _, b = _batch()
    P = icl_prompt(geom, b.ex, b.z_tok[:, 0])
    assert P.shape == (5, 13, 12)
    assert torch.equal(P[:, 1], geom.pe()[1].expand(5, 12)) and torch.equal(P[:, 2], geom.pe()[2].expand(5, 12))
    assert torch.equal(P[:, 0, 6:], b.ex[:, 0, -1] + geom.pe()[0, 6:])


def test_category_masses_partition_the_attention():
    geom, _, b = _batch()
    keys, qry, mask = teacher_forced(geom, b.ex, b.z_tok)
    _, attn = OneLayer(geom.d).attend(keys, qry, mask)
    pos, inp = column_labels(b.paths, b.z, 3)
    m = category_masses(attn, pos, inp, torch.arange(3), b.z[:, :3])
    assert m.shape == (5, 3, 4) and torch.allclose(m.sum(-1), torch.ones(5, 3, dtype=m.dtype))


def test_rollout_and_readout_shapes():
    geom = make_geometry(4, 2)
    pats = tsr_patterns(geom, 2)
    gen = torch.Generator().manual_seed(0)
    b = sample_batch(gen, make_task(WORKED_EXAMPLE), pats, 6, 5, 1.0, noise=0.1)
    dec, attns = cot_rollout(OneLayer(geom.d), geom, b.ex, b.z_tok[:, 0], pats)
    assert dec.shape == (6, 2) and [a.shape[-1] for a in attns] == [10, 11]
    v, a = icl_readout(OneLayer(geom.d), geom, b.ex, b.z_tok[:, 0], pats)
    assert v.shape == (6,) and a.shape == (6, 10)


def test_sgd_lowers_the_loss_and_multilayer_runs():
    geom = make_geometry(4, 2)
    log = train_sgd(OneLayer(geom.d), geom, SGDConfig(steps=40, lr=1.0, l_tr=6, alpha=0.5, record_every=20,
                                                      eval_prompts=64))
    assert log.record_steps == [0, 20, 40] and log.eval_losses[-1] < log.eval_losses[0]
    model = MultiLayer(geom.d, layers=2, heads=2)
    _, _, b = _batch()
    geom3 = make_geometry(4, 3)
    loss, masses = cot_loss(MultiLayer(geom3.d, layers=2, heads=2), geom3, b, with_masses=True)
    assert masses.shape == (5, 3, 2, 2, 4) and loss.item() > 0 and model.W_V.shape == (2, 2, 10, 10)


@pytest.mark.parametrize("call, fragment", [
    (lambda: make_geometry(4, 3, d=4), "need d >= M and 2(d - M) >= K"),
    (lambda: make_geometry(0, 2), "M (the number of TRR patterns) must be a positive integer (got M=0)"),
    (lambda: tsr_patterns(make_geometry(3, 2), 4), "at most M=3 orthonormal TSR patterns"),
    (lambda: SGDConfig(alpha=0.0), "alpha (the fraction of examples sharing the query's pattern) must lie in (0, 1]"),
    (lambda: SGDConfig(lr=-1.0), "lr (the SGD step size) must be a finite positive number"),
    (lambda: OneLayer(3, init_scale=0), "init_scale"),
])
def test_bad_input_names_the_value(call, fragment):
    with pytest.raises(ProofCheckError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_collapse_step():
    from dynamics.pattern_cot import collapse_step

    assert collapse_step([0, 10, 20, 30], [0.4, 0.2, 0.09, 0.05]) == 20.0
    assert collapse_step([0, 10, 20], [0.4, 0.05, 0.3]) == float("inf")  # must stay collapsed


def test_multilayer_attend_matches_run():
    geom, _, b = _batch()
    model = MultiLayer(geom.d, layers=2, heads=2)
    keys, qry, mask = teacher_forced(geom, b.ex, b.z_tok)
    out, attn = model.attend(keys, qry, mask)
    assert out.shape == (5, 3, 6) and attn.shape == (5, 3, 2, 2, keys.shape[1])
    P = cot_prompt(geom, b.ex, b.z_tok[:, :2])  # query k = 2 sees the first history column only
    F, a = model.run(P, torch.ones(P.shape[:2], dtype=torch.bool).index_fill(1, torch.tensor([P.shape[1] - 1]), False))
    assert torch.allclose(F, out[:, 1], atol=1e-12)


def test_seeded_one_layer_is_the_solo_runs():
    """Seeds as a batch dimension: slice s of train_sgd_seeds follows train_sgd(seed = seeds[s]). The data streams
    are the same draws (exact); the per-seed gradient differs from the solo one by round-off only (the per-seed
    batch mean is the same sum, summed in another order), ~1e-15 relative per step; 30 SGD steps of step 1 at
    these sizes stay below 1e-10 (a seed mix-up or a shared generator moves the weights by O(1e-2) per step)."""
    from constructions.pattern_cot.model import SeededOneLayer
    from dynamics.pattern_cot import train_sgd_seeds

    geom = make_geometry(4, 2)
    cfg = SGDConfig(steps=30, batch=8, lr=1.0, l_tr=4, alpha=0.5, record_every=10, eval_prompts=16,
                    steps_per_prompt="one")
    seeds = (3, 0, 7)
    model = SeededOneLayer(geom.d, len(seeds))
    log = train_sgd_seeds(model, geom, cfg, seeds)
    for s, seed in enumerate(seeds):
        solo = OneLayer(geom.d)
        slog = train_sgd(solo, geom, SGDConfig(**{**cfg.__dict__, "seed": seed}))
        got = model.solo(s)
        for name in ("W_Q", "W_K", "W_V"):
            assert (getattr(got, name) - getattr(solo, name)).abs().max() < 1e-10, (seed, name)
        assert abs(log.solo(s).eval_losses[-1] - slog.eval_losses[-1]) < 1e-10
        assert max(abs(a - b) for a, b in zip(log.solo(s).losses, slog.losses)) < 1e-10
    # the seeds differ (different data streams), so a mix-up would show
    assert (model.W_V[0] - model.W_V[1]).abs().max() > 1e-3
    with pytest.raises(ProofCheckError, match="n_seeds"):
        model.attend(torch.zeros(4, 3, 2 * geom.d, dtype=torch.float64), torch.zeros(4, 1, 2 * geom.d, dtype=torch.float64))


def test_seeded_multi_layer_is_the_solo_runs():
    """SeededMultiLayer through train_sgd_seeds: slice s follows train_sgd of MultiLayer(gen = seed) with
    config seed = seeds[s] (same draws; round-off only, below 1e-10 after 30 steps at lr 0.3), as for the
    one-layer model; the seeds' weights differ (a mix-up would show)."""
    from constructions.pattern_cot.model import SeededMultiLayer
    from dynamics.pattern_cot import train_sgd_seeds

    geom = make_geometry(4, 2)
    cfg = SGDConfig(steps=30, batch=8, lr=0.3, l_tr=4, alpha=0.5, record_every=10, eval_prompts=16)
    seeds = (2, 0, 5)
    model = SeededMultiLayer(geom.d, seeds, layers=2, heads=2)
    log = train_sgd_seeds(model, geom, cfg, seeds)
    for s, seed in enumerate(seeds):
        solo = MultiLayer(geom.d, layers=2, heads=2, gen=torch.Generator().manual_seed(seed))
        slog = train_sgd(solo, geom, SGDConfig(**{**cfg.__dict__, "seed": seed}))
        got = model.solo(s)
        for name in ("W_Q", "W_K", "W_V", "W_O"):
            assert (getattr(got, name) - getattr(solo, name)).abs().max() < 1e-10, (seed, name)
        assert max(abs(a - b) for a, b in zip(log.solo(s).losses, slog.losses)) < 1e-10
        assert torch.allclose(torch.tensor(log.solo(s).masses), torch.tensor(slog.masses), rtol=0, atol=1e-10)
    assert (model.W_V[0] - model.W_V[1]).abs().max() > 1e-3
    with pytest.raises(ProofCheckError, match="n_seeds"):
        model.run(torch.zeros(4, 3, 2 * geom.d, dtype=torch.float64), torch.ones(4, 3, dtype=torch.bool))
