r"""Node embeddings A = [a_0, ..., a_{S-1}] in R^{d x S} (columns are nodes).

The analysis assumes orthonormal embeddings, A^T A = I_S ([S1][S2], probably the paper's Assumptions 4-5); the
experiments use one-hot (A = I_S). The other two kinds break orthogonality on purpose: ``perturbed`` (a random
orthonormal basis plus Gaussian noise, columns renormalised) and ``equicorrelated`` (unit columns with every
pairwise inner product equal to ``rho``: Gram matrix (1 - rho) I + rho J), used by the negative controls and the
overlap probe.
"""

from __future__ import annotations

import numpy as np

from constructions.errors import ProofCheckError, positive_int


def one_hot(S: int) -> np.ndarray:
    """A = I_S (d = S): the experiments' embeddings."""
    return np.eye(positive_int(S, "S", "the number of labels"))


def orthonormal(S: int, rng: np.random.Generator, d: int | None = None) -> np.ndarray:
    """A random A in R^{d x S} with A^T A = I_S (QR of a Gaussian matrix; d >= S, default d = S)."""
    S = positive_int(S, "S", "the number of labels")
    d = S if d is None else positive_int(d, "d", "the embedding dimension")
    if d < S:
        raise ProofCheckError(f"orthonormal embeddings need d >= S (got d={d}, S={S})")
    q, r = np.linalg.qr(rng.standard_normal((d, S)))
    return q * np.sign(np.diag(r))


def perturbed(S: int, eps: float, rng: np.random.Generator, d: int | None = None) -> np.ndarray:
    """Near-orthogonal: columns of Q + eps * G / sqrt(d) renormalised (Q orthonormal, G standard normal)."""
    if not 0 <= eps < np.inf:
        raise ProofCheckError(f"eps (the perturbation size) must be finite and >= 0 (got eps={eps})")
    Q = orthonormal(S, rng, d)
    A = Q + eps * rng.standard_normal(Q.shape) / np.sqrt(Q.shape[0])
    return A / np.linalg.norm(A, axis=0)


def equicorrelated(S: int, rho: float) -> np.ndarray:
    """Unit columns with a_i^T a_j = rho for i != j (d = S): A = G^{1/2}, G = (1 - rho) I + rho J, 0 <= rho < 1."""
    S = positive_int(S, "S", "the number of labels")
    if not 0 <= rho < 1:
        raise ProofCheckError(f"rho (the pairwise overlap) must be in [0, 1) (got rho={rho})")
    G = (1 - rho) * np.eye(S) + rho * np.ones((S, S))
    w, V = np.linalg.eigh(G)
    return (V * np.sqrt(w)) @ V.T


def equicorrelated_logit_params(a: float, b: float, rho: float, S: int) -> tuple[float, float]:
    """(alpha', beta') with A^T B A = alpha' I + beta' (J - I) for A = :func:`equicorrelated` (S, rho) and
    B = a I + b (J - I) (derived: A = G^{1/2} commutes with J and G^{1/2} J G^{1/2} = (1 - rho + S rho) J, so
    A^T B A = (a - b) G + b (1 - rho + S rho) J). The construction B* = c A A^T = c G is a = c, b = c rho."""
    beta_ = (a - b) * rho + b * (1 - rho + S * rho)
    return (a - b) * (1 - rho) + beta_, beta_


def coherence(A: np.ndarray) -> float:
    """max_{i != j} |a_i^T a_j| / (|a_i| |a_j|): 0 for orthogonal embeddings."""
    An = A / np.linalg.norm(A, axis=0)
    G = np.abs(An.T @ An)
    np.fill_diagonal(G, 0.0)
    return float(G.max()) if G.size > 1 else 0.0
