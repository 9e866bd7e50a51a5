r"""One-layer multi-head softmax attention with merged key-query matrices and fixed value read-outs (numpy).

docs/provenance/tree_paths.md §3.2 [R]. A head acting on Z = [z_1 ... z_N] with query q = z_N:

    TF(Z) = sum_j softmax_j(z_j^T W^{KQ} q) W^V z_j .

Backward model (Theorem 1, one head): W^{KQ} = [[0, B], [0, 0]] in (x, y) blocks, so the logit of key j is
x_j^T B y_q, and W^V = [0, I_d] reads the y-slot. With orthonormal A only H = A^T B A matters.
Forward model (Theorem 2, two heads): W^{KQ}_l = blockdiag(U_l, 0, V_l) in (x, y, s) blocks, so
logit_{l,j} = x_j^T U_l x_q + s_j^T V_l s_q; head 1 reads the y-slot (a node), head 2 the s-slot (a stage).

Constructions [R]: backward B* = c A A^T (so A^T B* A = c I); forward U_1 = c A A^T, V_1 = c [[-1, 1], [0, -1]],
U_2 = 2c A A^T, V_2 = c [[1, 0], [2, 2]] (V[key stage, query stage], rows/columns (b, f)). The constants are
re-pinnable module-level values below.

Decoding is autoregressive: the output node is argmax_i a_i^T y_hat over all S columns of A, the stage is
argmax over (s_b, s_f); the decoded node (not the raw vector) is written into the next token ([NF] in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from constructions.errors import ProofCheckError
from constructions.tree_paths.bounds import value_margin
from constructions.tree_paths.tokens import (
    STAGES, backward_schedule, backward_slots, backward_token, backward_tokens, forward_schedule, forward_slots,
    forward_token, forward_tokens,
)
from constructions.tree_paths.trees import Tree

# Forward construction constants (docs/provenance/tree_paths.md §5.2 [R]); re-pin here.
FORWARD_U_SCALE = (1.0, 2.0)  # U_l = FORWARD_U_SCALE[l] * c * A A^T
FORWARD_V = (np.array([[-1.0, 1.0], [0.0, -1.0]]),  # head 1 (path): V_1 / c
             np.array([[1.0, 0.0], [2.0, 2.0]]))  # head 2 (stage): V_2 / c


def _finite(c, name="c", meaning="the attention scale") -> float:
    c = float(c)
    if not np.isfinite(c):
        raise ProofCheckError(f"{name} ({meaning}) must be a finite real number (got {name}={c!r})")
    return c


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def attention_head(Z: np.ndarray, WKQ: np.ndarray, WV: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One head on Z (D, N), query the last column: (output W^V Z p, attention p, logits)."""
    logits = Z.T @ (WKQ @ Z[:, -1])
    p = softmax(logits)
    return WV @ (Z @ p), p, logits


@dataclass(frozen=True, eq=False)
class BackwardModel:
    """One head, logit x_j^T B y_q, value = y-slot. ``B`` is d x d."""

    B: np.ndarray

    @property
    def d(self) -> int:
        return self.B.shape[0]

    def heads(self) -> list[tuple[np.ndarray, np.ndarray]]:
        d = self.d
        sl = backward_slots(d)
        WKQ = np.zeros((2 * d, 2 * d))
        WKQ[sl["x"], sl["y"]] = self.B
        WV = np.zeros((d, 2 * d))
        WV[:, sl["y"]] = np.eye(d)
        return [(WKQ, WV)]


@dataclass(frozen=True, eq=False)
class ForwardModel:
    """Two heads: logit_l = x_j^T U_l x_q + s_j^T V_l s_q; head 1 reads the y-slot, head 2 the s-slot."""

    U: tuple[np.ndarray, np.ndarray]
    V: tuple[np.ndarray, np.ndarray]

    @property
    def d(self) -> int:
        return self.U[0].shape[0]

    def heads(self) -> list[tuple[np.ndarray, np.ndarray]]:
        d = self.d
        sl = forward_slots(d)
        D = 2 * d + 2
        out = []
        for l, read in enumerate(("y", "s")):
            WKQ = np.zeros((D, D))
            WKQ[sl["x"], sl["x"]] = self.U[l]
            WKQ[sl["s"], sl["s"]] = self.V[l]
            rows = d if read == "y" else 2
            WV = np.zeros((rows, D))
            WV[:, sl[read]] = np.eye(rows)
            out.append((WKQ, WV))
        return out


def backward_construction(c: float, embeddings: np.ndarray) -> BackwardModel:
    """Theorem 1 [R]: B* = c A A^T, so that H = A^T B* A = c I_S for orthonormal A."""
    A = np.asarray(embeddings, dtype=np.float64)
    return BackwardModel(_finite(c) * A @ A.T)


def forward_construction(c: float, embeddings: np.ndarray) -> ForwardModel:
    """Theorem 2 [R]: U_1 = c A A^T, V_1 = c [[-1, 1], [0, -1]]; U_2 = 2c A A^T, V_2 = c [[1, 0], [2, 2]]."""
    c = _finite(c)
    A = np.asarray(embeddings, dtype=np.float64)
    P = A @ A.T
    return ForwardModel(U=(FORWARD_U_SCALE[0] * c * P, FORWARD_U_SCALE[1] * c * P),
                        V=(c * FORWARD_V[0], c * FORWARD_V[1]))


def forward_from_symmetric(params: dict, S: int) -> ForwardModel:
    """One-hot forward model with U_l = alpha_l I + beta_l (J - I) and free 2x2 V_l (the 12 symmetric scalars)."""
    I, J = np.eye(S), np.ones((S, S))
    U = tuple(params[f"alpha{l}"] * I + params[f"beta{l}"] * (J - I) for l in (1, 2))
    V = tuple(np.asarray(params[f"V{l}"], dtype=np.float64) for l in (1, 2))
    return ForwardModel(U=U, V=V)


@dataclass
class Decoding:
    """One autoregressive run. Per step k: decoded node, target node, output vector, error, attention, N_k."""

    task: str
    goal: int
    nodes: list[int] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    outputs: list[np.ndarray] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    context: list[int] = field(default_factory=list)  # N_k, the number of columns at step k
    attention: list[list[np.ndarray]] = field(default_factory=list)  # [head][step] -> p over keys
    logits: list[list[np.ndarray]] = field(default_factory=list)
    margins: list[list[float]] = field(default_factory=list)  # [head][step] value margin (bounds.value_margin)
    stages: list[int] = field(default_factory=list)  # forward only
    stage_targets: list[int] = field(default_factory=list)
    stage_outputs: list[np.ndarray] = field(default_factory=list)
    stage_errors: list[float] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        """Every decoded node (and stage) equals the schedule."""
        return self.nodes == self.targets and self.stages == self.stage_targets

    @property
    def path(self) -> list[int]:
        """The decoded path: backward g, v_1, ..., r; forward (outputs m+1 .. 2m+1) r, ..., g."""
        if self.task == "backward":
            return [self.goal] + self.nodes
        m = (len(self.nodes) - 1) // 2
        return self.nodes[m:]


def _decode_node(y_hat: np.ndarray, A: np.ndarray) -> int:
    return int(np.argmax(A.T @ y_hat))


def _margin(Z: np.ndarray, WV: np.ndarray, logits: np.ndarray, target: np.ndarray) -> float:
    """Value margin of one head: keys whose value W^V z_j equals the target (exactly: tokens copy columns)."""
    return value_margin(logits, np.all(WV @ Z == target[:, None], axis=0))


def decode_path(model: BackwardModel | ForwardModel, tree: Tree, goal: int, embeddings: np.ndarray, *,
                feedback: str = "argmax") -> Decoding:
    """Run the model autoregressively on (tree, goal) for the known number of steps (m backward, 2m+1 forward).

    ``feedback="argmax"`` writes the decoded node/stage into the next token (inference); ``"teacher"`` writes
    the true ones (teacher forcing, as in training). Errors are ||y_hat_k - a_{target_k}|| (and for the
    forward task ||s_hat_k - s_{target_k}||).
    """
    if feedback not in ("argmax", "teacher"):
        raise ProofCheckError(f"feedback must be 'argmax' or 'teacher' (got {feedback!r})")
    A = np.asarray(embeddings, dtype=np.float64)
    if A.shape[0] != model.d:
        raise ProofCheckError(f"embeddings have dimension d={A.shape[0]} but the model has d={model.d}")
    if max(tree.labels) >= A.shape[1]:
        raise ProofCheckError(f"tree label {max(tree.labels)} has no column in the {A.shape[1]} embeddings")
    heads = model.heads()
    if isinstance(model, BackwardModel):
        out = Decoding("backward", goal, attention=[[]], logits=[[]], margins=[[]])
        Z = backward_tokens(tree, goal, A)
        targets = backward_schedule(tree, goal)
        current = goal
        for t in targets:
            y_hat, p, lg = attention_head(Z, *heads[0])
            node = _decode_node(y_hat, A)
            out.nodes.append(node), out.targets.append(t), out.outputs.append(y_hat)
            out.errors.append(float(np.linalg.norm(y_hat - A[:, t])))
            out.context.append(Z.shape[1]), out.attention[0].append(p), out.logits[0].append(lg)
            out.margins[0].append(_margin(Z, heads[0][1], lg, A[:, t]))
            new = node if feedback == "argmax" else t
            Z = np.concatenate([Z, backward_token(current, new, A)[:, None]], axis=1)
            current = new
        return out
    if not isinstance(model, ForwardModel):
        raise ProofCheckError(f"model must be a BackwardModel or ForwardModel (got {type(model).__name__})")
    out = Decoding("forward", goal, attention=[[], []], logits=[[], []], margins=[[], []])
    Z = forward_tokens(tree, goal, A)
    targets, stage_targets = forward_schedule(tree, goal)
    current = goal
    for t, st in zip(targets, stage_targets):
        y_hat, p1, l1 = attention_head(Z, *heads[0])
        s_hat, p2, l2 = attention_head(Z, *heads[1])
        node, stage = _decode_node(y_hat, A), int(np.argmax(STAGES @ s_hat))
        out.nodes.append(node), out.targets.append(t), out.outputs.append(y_hat)
        out.errors.append(float(np.linalg.norm(y_hat - A[:, t])))
        out.stages.append(stage), out.stage_targets.append(st), out.stage_outputs.append(s_hat)
        out.stage_errors.append(float(np.linalg.norm(s_hat - STAGES[st])))
        out.context.append(Z.shape[1])
        for l, (p, lg, tv) in enumerate(((p1, l1, A[:, t]), (p2, l2, STAGES[st]))):
            out.attention[l].append(p), out.logits[l].append(lg)
            out.margins[l].append(_margin(Z, heads[l][1], lg, tv))
        new_node, new_stage = (node, stage) if feedback == "argmax" else (t, st)
        Z = np.concatenate([Z, forward_token(new_node, current, new_stage, A)[:, None]], axis=1)
        current = new_node
    return out
