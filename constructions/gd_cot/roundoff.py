r"""A-priori float64 round-off bound for the Theorem 3.2 rollout against the GD recursion.

Standard componentwise bounds (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 3.13 and
Lemma 3.3): for a product computed in any summation order, |fl(AB) - AB| <= gamma_p |A||B| with p the inner
dimension and gamma_p = p u / (1 - p u), u = 2^-53; chained products and the final add/divide accumulate
gamma_{p1 + p2 + ...}. No assumption is made about the BLAS summation order, so the bound covers numpy and torch.

Local error of one LSA step on Z with m columns (only the w-block of the last column matters: under the
construction the x/y rows of the new column are exact zeros and its last entry is exactly 1):

    delta_lsa <= gamma_{3D+m+3} (|V||Z||Z^T||W||z_last|)_w / n + u |z_last,w|
                 + eta gamma_{d+1} (|X||X^T||w*|) / n          (y = X^T w* itself is rounded)

Local error of the GD step w - eta X (X^T (w - w*)) / n:

    delta_gd <= gamma_{n+d+5} eta (|X||X^T|(|w| + |w*|)) / n + u |w_new|

Both rollouts apply the same exact affine map w -> P w + eta S w* (P = I - eta S) plus their local errors, so
their difference after k steps is at most sum_i ||P||_inf^{k-1-i} (||delta_lsa,i||_inf + ||delta_gd,i||_inf).
"""

from __future__ import annotations

import numpy as np

from constructions.gd_cot.model import blocks, embed, gd_construction, lsa_forward, token_dim

U = 2.0 ** -53


def gamma(p: int) -> float:
    """gamma_p = p u / (1 - p u)."""
    return p * U / (1.0 - p * U)


def rollout_vs_gd_bound(X: np.ndarray, w_star: np.ndarray, eta: float, k: int,
                        *, n_rollouts: int = 1) -> np.ndarray:
    """Bound on max_i ||w_hat_i(LSA rollout) - w_i(GD)||_inf for each i <= k, for ONE task (X: (d, n)).

    ``n_rollouts=2`` bounds the difference of two independently rounded LSA rollouts (numpy vs torch) instead:
    the same local LSA bound counted twice, no GD term.
    Returns an array of length k+1 (entry 0 is 0: both start from w_0 = 0 exactly).
    """
    X = np.asarray(X, dtype=np.float64)
    d, n = X.shape
    D = token_dim(d)
    V, W = gd_construction(d, eta)
    absX, absV, absW = np.abs(X), np.abs(V), np.abs(W)
    S = X @ X.T / n
    P = np.eye(d) - eta * S
    norm_p = np.abs(P).sum(axis=1).max() * (1.0 + gamma(n + d + 2))
    XXw = absX @ (absX.T @ np.abs(w_star)) / n
    y = X.T @ w_star
    wb = blocks(d)["w"]

    # Exact GD iterates (up to round-off that is itself covered) drive the magnitudes in the bound.
    Z = embed(X, y)
    w = np.zeros(d)
    local = []
    for i in range(k):
        m = n + 1 + i
        absZ = np.abs(Z)
        prod = absV @ absZ @ (absZ.T @ (absW @ absZ[:, -1])) / n
        d_lsa = gamma(3 * D + m + 3) * prod[wb] + U * absZ[wb, -1] + eta * gamma(d + 1) * XXw
        w_new = w - eta * (S @ (w - w_star))
        d_gd = gamma(n + d + 5) * eta * (absX @ (absX.T @ (np.abs(w) + np.abs(w_star)))) / n + U * np.abs(w_new)
        if n_rollouts == 2:
            d_gd = d_lsa
        local.append(np.max(d_lsa + d_gd))
        col = lsa_forward(Z, V, W, n)[:, -1:]
        Z = np.concatenate([Z, col], axis=1)
        w = w_new
    bound = [0.0]
    for i in range(1, k + 1):
        bound.append(bound[-1] * norm_p + local[i - 1])
    # Inflate by (1 + 1e-6) for the rounding of the bound's own arithmetic (a relative error of order k*D*u).
    return np.asarray(bound) * (1.0 + 1e-6)
