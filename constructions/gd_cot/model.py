r"""Huang–Wang–Lee (ICLR 2025): embedding, one-layer linear self-attention, CoT rollout, GD iterates (numpy).

Setting (docs/provenance/gd_cot.md §1, §2, §3 [P-2603]): x_i ~ N(0, I_d), w* ~ N(0, I_d),
y_i = <w*, x_i>, X = [x_1 | ... | x_n] in R^{d x n}, S = X X^T / n. A token column has row blocks
(x, y, w, 1) of sizes (d, 1, d, 1), D = 2d + 2.

    Z_0 = [[X, 0], [y^T, 0], [0, w_0], [0, 1]],     f_LSA(Z) = Z + V Z (Z^T W Z) / n

A CoT step appends the whole last output column; the estimate is its w-block. No attention mask.
All functions are numpy in, numpy out, float64, and accept leading batch dimensions.
"""

from __future__ import annotations

import numpy as np

from constructions.errors import ProofCheckError, positive_float, positive_int

# Reported losses are LOSS_FACTOR * E||w_hat - w*||^2. Per docs/provenance/gd_cot.md §4 [?] the paper's losses
# probably carry
# the 1/2 (as arXiv 2603.01293 does); re-pin here if the paper's text says otherwise.
LOSS_FACTOR = 0.5


def blocks(d: int) -> dict[str, slice]:
    """Row slices of the four blocks of a token column: x (d), y (1), w (d), const (1)."""
    return {"x": slice(0, d), "y": slice(d, d + 1), "w": slice(d + 1, 2 * d + 1), "c": slice(2 * d + 1, 2 * d + 2)}


def token_dim(d: int) -> int:
    return 2 * d + 2


def embed(X: np.ndarray, y: np.ndarray, w0: np.ndarray | None = None) -> np.ndarray:
    """Z_0 in R^{(2d+2) x (n+1)}: data columns (x_j, y_j, 0, 0) and the last column (0, 0, w_0, 1).

    X: (..., d, n) with the examples as columns; y: (..., n); w0: (..., d), default 0.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim < 2:
        raise ProofCheckError(f"X must have shape (..., d, n) (got shape {X.shape})")
    d, n = X.shape[-2:]
    if y.shape != X.shape[:-2] + (n,):
        raise ProofCheckError(f"y must have shape {X.shape[:-2] + (n,)} to match X (got {y.shape})")
    b = blocks(d)
    Z = np.zeros(X.shape[:-2] + (token_dim(d), n + 1))
    Z[..., b["x"], :n] = X
    Z[..., d, :n] = y
    if w0 is not None:
        Z[..., b["w"], n] = np.asarray(w0, dtype=np.float64)
    Z[..., 2 * d + 1, n] = 1.0
    return Z


def lsa_forward(Z: np.ndarray, V: np.ndarray, W: np.ndarray, n: int) -> np.ndarray:
    """f_LSA(Z) = Z + V Z (Z^T W Z) / n, normalised by n, the number of examples [P-2603 eq. 3.1 with /n]."""
    n = positive_int(n, "n", "the number of in-context examples")
    return Z + V @ Z @ (np.swapaxes(Z, -1, -2) @ W @ Z) / n


def cot_rollout(Z0: np.ndarray, V: np.ndarray, W: np.ndarray, k: int, n: int, *,
                feedback: str = "column") -> np.ndarray:
    """Run k CoT steps: Z_{i+1} = [Z_i, f_LSA(Z_i)[:, -1]]. Returns Z_k, shape (..., D, n+1+k).

    The w-block of column n+i of Z_k is the estimate w_hat_i (i = 0 is w_0).
    ``feedback="column"`` appends the whole output column (the paper). ``feedback="w_only"`` appends only its
    w-block (other rows 0): a deliberately wrong rollout, used as a negative control.
    """
    k = positive_int(k, "k", "the number of CoT steps")
    if feedback not in ("column", "w_only"):
        raise ProofCheckError(f"feedback must be 'column' or 'w_only' (got {feedback!r})")
    d = (Z0.shape[-2] - 2) // 2
    w = blocks(d)["w"]
    Z = np.asarray(Z0, dtype=np.float64)
    for _ in range(k):
        col = lsa_forward(Z, V, W, n)[..., -1:]
        if feedback == "w_only":
            only = np.zeros_like(col)
            only[..., w, :] = col[..., w, :]
            col = only
        Z = np.concatenate([Z, col], axis=-1)
    return Z


def estimates(Zk: np.ndarray, n: int) -> np.ndarray:
    """The w-blocks of the columns n, n+1, ...: (..., k+1, d) with w_hat_0 = w_0 first."""
    d = (Zk.shape[-2] - 2) // 2
    return np.swapaxes(Zk[..., blocks(d)["w"], n:], -1, -2)


def gd_iterates(X: np.ndarray, w_star: np.ndarray, eta: float, k: int) -> np.ndarray:
    """GD on L_n(w) = (1/2n) sum_j (w^T x_j - y_j)^2 from w_0 = 0: w_{i+1} = w_i - eta S (w_i - w*).

    docs/provenance/gd_cot.md §4 [P-rev]/[D]. Returns (..., k+1, d): w_0, ..., w_k. S is never formed:
    the step is computed as w - eta * X (X^T (w - w*)) / n (the grouping the round-off bound assumes).
    """
    eta = positive_float(eta, "eta", "the GD step size")
    k = positive_int(k, "k", "the number of GD steps")
    X = np.asarray(X, dtype=np.float64)
    w_star = np.asarray(w_star, dtype=np.float64)
    n = X.shape[-1]
    Xt = np.swapaxes(X, -1, -2)
    out = [np.zeros_like(w_star)]
    for _ in range(k):
        w = out[-1]
        r = w - w_star
        g = (X @ (Xt @ r[..., None]))[..., 0] / n
        out.append(w - eta * g)
    return np.stack(out, axis=-2)


def gd_construction(d: int, eta: float) -> tuple[np.ndarray, np.ndarray]:
    """Theorem 3.2 construction: V31 = -eta I_d, W13 = I_d, W24 = -1, all other blocks 0.

    Block pattern [P-2603] (Lemma C.2 of the paper); values [D]. V31 maps x-rows into w-rows; W13 pairs x-rows
    with w-columns; W24 pairs the y-row with the const column.
    """
    d = positive_int(d, "d", "the input dimension")
    eta = positive_float(eta, "eta", "the GD step size")
    b = blocks(d)
    D = token_dim(d)
    V, W = np.zeros((D, D)), np.zeros((D, D))
    V[b["w"], b["x"]] = -eta * np.eye(d)
    W[b["x"], b["w"]] = np.eye(d)
    W[d, 2 * d + 1] = -1.0
    return V, W


def sparse_pattern(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the Theorem 3.2 / Lemma C.2 pattern: V31 in V; W13 and W24 in W ([P-2603])."""
    b = blocks(d)
    D = token_dim(d)
    mv, mw = np.zeros((D, D), bool), np.zeros((D, D), bool)
    mv[b["w"], b["x"]] = True
    mw[b["x"], b["w"]] = True
    mw[d, 2 * d + 1] = True
    return mv, mw


def no_cot_decomposition(V: np.ndarray, W: np.ndarray, d: int) -> dict[str, np.ndarray]:
    r"""Odd/even split of the no-CoT output of a dense LSA (Theorem 3.1, docs/provenance/gd_cot.md §6 [D]).

    With w_0 = 0 and u = W[:, -1] = (u_x, u_y, u_w, u_1):
        w_hat = M S w*  +  [V31 S u_x + u_y V32 (w*^T S w*) + V34 u_1 / n],   M = u_y V31 + V32 u_x^T.
    M is invariant under the scale symmetry (V, W) -> (cV, W/c), so trained models are compared through it.
    Returns M and the even-part coefficients a = V31 u_x (times S), b = u_y V32 (times w*^T S w*),
    c = V34 u_1 (divided by n).
    """
    b = blocks(d)
    u = W[:, -1]
    ux, uy, u1 = u[b["x"]], u[d], u[2 * d + 1]
    V31, V32, V34 = V[b["w"], b["x"]], V[b["w"], d], V[b["w"], 2 * d + 1]
    return {"M": uy * V31 + np.outer(V32, ux), "a": V31 @ ux, "b": uy * V32, "c": V34 * u1}


def sample_tasks(rng: np.random.Generator, batch: int, n: int, d: int,
                 sigma_sqrt: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw `batch` tasks: X (batch, d, n) with columns x ~ N(0, Sigma), w* ~ N(0, I_d), y = X^T w*."""
    batch = positive_int(batch, "batch", "the number of tasks")
    n = positive_int(n, "n", "the number of in-context examples")
    d = positive_int(d, "d", "the input dimension")
    X = rng.standard_normal((batch, d, n))
    if sigma_sqrt is not None:
        X = np.asarray(sigma_sqrt) @ X
    w_star = rng.standard_normal((batch, d))
    y = np.einsum("bdn,bd->bn", X, w_star)
    return X, w_star, y


def pattern_mass(V: np.ndarray, W: np.ndarray, d: int) -> dict[str, float]:
    r"""How far a dense (V, W) is from the sparse pattern, split by the two paths of the last-column map [D].

    Under teacher forcing data columns are zero in the w/const rows and CoT columns zero in the x/y rows, so
    Z Z^T is block diagonal and  V Z Z^T W = V[:, xy] G_xy W[xy, :] + V[:, wc] G_wc W[wc, :].  The query column
    is zero in x/y, so W[:, xy] never acts (exactly zero gradient). Returns
      data_share: squared mass off the pattern / total, over the identifiable data-path entries V[:, xy], W[xy, wc];
      cot_path:   ||V[:, wc]||_F ||W[wc, wc]||_F / (||V31||_F ||W13||_F), the size of the CoT-column path;
      raw_share:  the same share over every entry except W[:, xy] (what a heatmap shows);
      w_cot_rows, v_cot_cols: squared mass of W[wc, wc] and V[:, wc].
    """
    b = blocks(d)
    xy, wc = slice(0, d + 1), slice(d + 1, 2 * d + 2)
    mv, mw = sparse_pattern(d)
    sq = lambda a: float(np.sum(np.asarray(a) ** 2))  # noqa: E731
    data_V, data_W = V[:, xy], W[xy, wc]
    off_data = sq(data_V[~mv[:, xy]]) + sq(data_W[~mw[xy, wc]])
    total_data = sq(data_V) + sq(data_W)
    ident = np.ones_like(mw)
    ident[:, xy] = False
    off_raw = sq(V[~mv]) + sq(W[~mw & ident])
    total_raw = sq(V) + sq(W[ident])
    return dict(data_share=off_data / total_data, raw_share=off_raw / total_raw, w_cot_rows=sq(W[wc, wc]),
                v_cot_cols=sq(V[:, wc]))


def path_outputs(V: np.ndarray, W: np.ndarray, X: np.ndarray, w_star: np.ndarray, iterates: np.ndarray):
    r"""The two paths' contributions to the last output column at the last teacher-forced step i = k-1 [D]:
    data path V[:, xy] G_xy W[xy, :] z / n and CoT path V[:, wc] G_wc W[wc, :] z / n, with
    G_xy = sum_j (x_j, y_j)(x_j, y_j)^T, G_wc = sum_{j<k} (w_j, 1)(w_j, 1)^T, z = (0, 0, w_(k-1), 1).
    X (B, d, n), w_star (B, d), iterates (B, k+1, d) (GD targets). Returns two (B, 2d+2) arrays."""
    B, d, n = X.shape
    xy, wc = slice(0, d + 1), slice(d + 1, 2 * d + 2)
    data = np.concatenate([X, np.einsum("bdn,bd->bn", X, w_star)[:, None, :]], axis=1)
    cols = np.concatenate([iterates[:, :-1], np.ones(iterates[:, :-1].shape[:2] + (1,))], axis=2)  # (B, k, d+1)
    z = cols[:, -1]
    G_xy = data @ data.swapaxes(1, 2)
    G_wc = cols.swapaxes(1, 2) @ cols
    Wz_xy, Wz_wc = z @ W[xy, wc].T, z @ W[wc, wc].T
    out_data = np.einsum("bij,bj->bi", G_xy, Wz_xy) @ V[:, xy].T / n
    out_cot = np.einsum("bij,bj->bi", G_wc, Wz_wc) @ V[:, wc].T / n
    return out_data, out_cot
