r"""A-priori float64 round-off bounds for the tree_paths numerics (Higham, *Accuracy and Stability*, ch. 3).

gamma_k = k u / (1 - k u), u = 2^-53: a sum or dot product of k terms has error <= gamma_k sum |terms|.

Backward step of the one-head model with orthonormal A (d x S), B = A H A^T, N keys, unit-norm values:
- B costs one product of length S: |fl(B) - B| <= gamma_S |A| |H| |A|^T; a logit a_x^T B a_y adds gamma_{2d};
  with |H| <= h_max entrywise and unit columns, |Delta logit| <= (gamma_S + gamma_{2d}) h_max S^2 =: dl
  (one-hot A: logits are gathered entries of H, dl = 0).
- softmax: p_j = e^{l_j - l_max} / sum; relative error <= 2 dl + gamma_{N+4} (exp to 1 ulp, the sum, the division).
- y_hat = sum_j p_j y_j: each of its d components is off by <= (2 dl + gamma_{2N+4}) sum_j p_j |y_j|_i, so
  ||Delta y_hat||_2 <= sqrt(d) (2 dl + gamma_{2N+4}) max_j ||y_j||_1 <= d (2 dl + gamma_{2N+4}).
- the norm ||y_hat - a_t|| adds gamma_{d+2} times itself (<= 2).
The closed form sqrt((1 - W_t)^2 + Q/Z^2) of :func:`constructions.tree_paths.bounds.backward_exact_errors`,
evaluated in float64, has |Delta (1 - W_t)| <= gamma_8 and |Delta (Q/Z^2)| <= gamma_8 Q/Z^2 (a few roundings of
positive numbers), so |Delta x| <= 3 gamma_8 x^{1/2} for x = err^2 <= 4 and |Delta sqrt(x)| <= |Delta x| / sqrt(x)
<= 3 gamma_8 ... taken as 3 gamma_16 for the exp and the sqrt.
"""

from __future__ import annotations

U = 2.0 ** -53


def gamma(k: float) -> float:
    k = float(k)
    return k * U / (1 - k * U)


def logit_roundoff(d: int, S: int, h_max: float, one_hot: bool) -> float:
    """|Delta logit| bound for logits a_x^T (A H A^T) a_y in float64 (0 for one-hot gathers)."""
    return 0.0 if one_hot else (gamma(S) + gamma(2 * d)) * h_max * S * S


def step_error_roundoff(N: int, d: int, S: int, h_max: float, one_hot: bool) -> float:
    """Bound on |fl(||y_hat - a_t||) - ||y_hat - a_t|||| for one backward step with N keys (see docstring)."""
    dl = logit_roundoff(d, S, h_max, one_hot)
    return d * (2 * dl + gamma(2 * N + 4)) + 2 * gamma(d + 2)


def closed_form_roundoff() -> float:
    """Bound on the float64 evaluation error of the closed-form step error."""
    return 3 * gamma(16)


def loss_roundoff(N: int, d: int, S: int, h_max: float, one_hot: bool, m: int) -> float:
    """Bound on |fl(loss) - loss| of the backward loss (1/m) sum_k (1/2)||y_hat_k - a_t||^2 of one tree: with
    s = step_error_roundoff, (1/2)| |e + D|^2 - |e|^2 | <= (1/2)(2|e| + s) s <= (2 + s/2) s (|e| <= 2), plus
    gamma_{m+1} times the terms (<= 2) for the mean."""
    s = step_error_roundoff(N, d, S, h_max, one_hot)
    return (2 + s / 2) * s + 2 * gamma(m + 1)


def gradient_roundoff(batch: int, T: int, m: int, d: int) -> float:
    """Bound on the float64 error of a linear functional of dL/dH (e.g. its trace) for a one-hot minibatch loss.

    Backpropagation: dL/dlogit_j = (1/(b m)) p_j (y_j - y_hat)^T (y_hat - a_t) and |(y_j - y_hat)^T (y_hat - a_t)|
    <= 2 * 2, so over all b m steps and keys the absolute contributions to the gradient total <= 4
    (sum_j p_j = 1; with one-hot A each contribution lands in one entry of dL/dH). Every contribution carries the relative error of its forward
    quantities (<= gamma_{2T+d+8}) and is added in a sum of at most b m T terms, so any sum of gradient entries is
    off by <= 4 (gamma_{2T+d+8} + gamma_{b m T}) (the functional's own sum is one of those orders)."""
    return 4 * (gamma(2 * T + d + 8) + gamma(batch * m * T + d * d))


def forward_loss_roundoff(N: int, S: int, m: int, logit_max: float) -> float:
    """Bound on |fl(loss) - loss| of the one-hot forward loss of one tree (two heads, 2m + 1 steps): each logit is a
    sum of two exact gathers, so |Delta logit| <= u logit_max; each head's step error is then bounded as in
    :func:`step_error_roundoff` (d = S for the node head, 2 for the stage head) and enters as in
    :func:`loss_roundoff`."""
    dl = U * logit_max
    total = 0.0
    for d in (S, 2):
        s = d * (2 * dl + gamma(2 * N + 4)) + 2 * gamma(d + 2)
        total += (2 + s / 2) * s
    return total + 4 * gamma(2 * m + 2)
