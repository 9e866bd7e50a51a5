"""Constructions and dynamics added for issue 16 (pattern_cot): partly-in-span TSR patterns, block tasks, weighted
sampling, the sampled seeded SGD loop."""

import numpy as np
import pytest
import torch

from constructions.errors import ProofCheckError
from constructions.pattern_cot import make_geometry, make_task, sample_batch, tsr_patterns
from constructions.pattern_cot.data import block_task, sample_batch_weighted, tsr_patterns_partial
from constructions.pattern_cot.model import SeededOneLayer
from dynamics.pattern_cot import SGDConfig, train_sgd_seeds, train_sgd_seeds_sampled


@pytest.mark.parametrize("f", [1.0, 0.6, 0.25, 0.0])
def test_partial_patterns_orthonormal_with_given_in_span_fraction(f):
    geom = make_geometry(8, 2, d=12)
    p = tsr_patterns_partial(geom, 2, f)
    assert torch.allclose(p @ p.T, torch.eye(2, dtype=p.dtype), atol=1e-12)
    proj = p[:, : geom.M]  # span{TRR} = the first M coordinates
    assert torch.allclose((proj**2).sum(1), torch.full((2,), f, dtype=p.dtype), atol=1e-12)
    pe = geom.pe()
    for half in (slice(0, geom.d), slice(geom.d, 2 * geom.d)):  # orthogonal to the encodings in both halves
        assert torch.allclose(p @ pe[:, half].T, torch.zeros(2, geom.K, dtype=p.dtype), atol=1e-12)
    if f == 1.0:
        assert torch.allclose(p, tsr_patterns(geom, 2, seed=1), atol=1e-12)


def test_partial_patterns_need_room():
    with pytest.raises(ProofCheckError, match="d >= M \\+ K \\+ n"):
        tsr_patterns_partial(make_geometry(8, 2), 2, 0.5)


def test_block_tasks_keep_the_rare_class():
    task = block_task(3, 8, 2, 500, torch.Generator().manual_seed(0))
    assert (task.A.sum(-1) == 1).all() and (task.A.sum(-2) == 1).all()  # permutations
    assert (task.correct[..., 6:] >= 6).all() and (task.correct[..., :6] < 6).all()


def test_weighted_sampling_frequencies_and_same_count():
    gen = torch.Generator().manual_seed(1)
    w = (1, 1, 1, 1, 1, 1, 0.1, 0.1)
    B, l, alpha = 20_000, 10, 0.3
    b = sample_batch_weighted(gen, block_task(2, 8, 2, B, gen), torch.eye(9, dtype=torch.float64)[:8], B, l, alpha, w)
    freq = np.bincount(b.query.numpy(), minlength=8) / B
    expect = np.array(w) / sum(w)
    assert np.abs(freq - expect).max() < 5 * np.sqrt(expect.max() / B)
    assert ((b.paths[:, :, 0] == b.query[:, None]).sum(1) >= 3).all()  # round(0.3 * 10) = 3 copies of the query
    assert (b.paths[:, 3:, 0] != b.query[:, None]).all()  # the others differ from it
    assert ((b.paths[..., 1:] >= 6) == (b.paths[..., :1] >= 6)).all()  # the class is kept along the chain


def test_sampled_loop_equals_train_sgd_seeds_on_the_same_distribution():
    geom = make_geometry(4, 2)
    cfg = SGDConfig(steps=5, batch=8, lr=1.0, l_tr=6, alpha=0.5, record_every=5, eval_prompts=8)
    a, b = SeededOneLayer(geom.d, 2), SeededOneLayer(geom.d, 2)
    log_a = train_sgd_seeds(a, geom, cfg, (3, 4))

    def sample(gen, B):
        return sample_batch(gen, make_task(K=geom.K, n=geom.M, batch=B, gen=gen), geom.trr(), B, cfg.l_tr, cfg.alpha)

    log_b = train_sgd_seeds_sampled(b, geom, cfg, (3, 4), sample)
    assert np.allclose(log_a.losses, log_b.losses, rtol=0, atol=1e-12)
    for name in ("W_Q", "W_K", "W_V"):
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=1e-12)
