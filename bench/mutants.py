r"""Mutation harness: how many plausible wrong theories does the quick check suite catch?

Each mutant (:class:`Mutant`, listed in :data:`MUTANTS`) is one small change to a formula in ``constructions/`` or
``dynamics/`` that a reviewer could believe: a wrong Wishart correction, a dropped 1/n, an off-by-one in a CoT step
range, a transposed product. The harness copies the tracked tree (``git ls-files``) to a temporary folder, applies
one mutant there (the original snippet must occur exactly once), runs the mutant's pytest selection in the quick
profile (``-x -q``, per-mutant timeout) and classifies the outcome:

* ``caught``: a check failed (the suite rejects the wrong theory);
* ``error``: collection or import crashed, or the run timed out: counted as caught, listed separately (a
  failing check is the better catch);
* ``survived``: every selected check passed;
* ``equivalent``: marked provably unable to change any result (with the reason); not run, not in the total.

The score "caught X of N (equivalent: E)" counts ``caught`` + ``error`` over the non-equivalent mutants; the JSON
(``--json``) carries it as a top-level ``score`` object (caught, total, equivalent, per_paper) and one record
per mutant. The working tree is never modified. ``python -m bench mutants --help`` lists the options.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from dataclasses import asdict, dataclass
from pathlib import Path

from constructions.errors import ProofCheckError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = "bench/out/mutants.json"
DEFAULT_TIMEOUT_S = 600
PAPERS = ("gd_cot", "tree_paths", "pattern_cot")


@dataclass(frozen=True)
class Mutant:
    """One wrong-theory change: replace ``original`` (exactly one occurrence in ``file``) by ``replacement``."""

    id: str
    paper: str
    file: str
    original: str
    replacement: str
    description: str  # the wrong theory, one line
    tests: tuple[str, ...]  # pytest selection that should catch it (quick profile; verify/ or tests/ only)
    equivalent: bool = False
    why_equivalent: str = ""


M = Mutant
MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------------ gd_cot ----------------------------------
    M("gd_wishart_stein", "gd_cot", "constructions/gd_cot/wishart.py",
      "total = (n + m - 1) * E(m - 1)", "total = (n + m) * E(m - 1)",
      "Stein recursion for E tr W^m with the diagonal term (n + m) instead of (n + m - 1)",
      ("tests/test_integrate_cli.py", "verify/gd_cot/test_theorem4_1.py")),
    M("gd_wishart_n_plus_d", "gd_cot", "constructions/gd_cot/symbolic.py",
      "return sp.Integer(1), sp.simplify((n + 1) / sp.S(n) + sp.S(d) / n)",
      "return sp.Integer(1), sp.simplify(sp.S(n) / sp.S(n) + sp.S(d) / n)",
      "Wishart correction E S^2 = (n + d)/n I instead of (n + d + 1)/n I (eta* = n/(n+d))",
      ("verify/gd_cot/test_theorem3_1.py",)),
    M("gd_sms_drop_1_over_n", "gd_cot", "constructions/gd_cot/symbolic.py",
      "return (n + 1) / sp.S(n) * Sigma * M * Sigma + (M * Sigma).trace() / sp.S(n) * Sigma",
      "return (n + 1) / sp.S(n) * Sigma * M * Sigma + (M * Sigma).trace() * Sigma",
      "E[S M S]: the trace term tr(M Sigma) Sigma without its 1/n",
      ("verify/gd_cot/test_theorem3_1.py",)),
    M("gd_general_sigma_gamma", "gd_cot", "constructions/gd_cot/symbolic.py",
      "Gamma = (n + 1) / sp.S(n) * Sigma + Sigma.trace() / sp.S(n) * sp.eye(d)",
      "Gamma = (n + 1) / sp.S(n) * Sigma + Sigma.trace() / sp.S(n + 1) * sp.eye(d)",
      "general-Sigma optimum with tr(Sigma)/(n+1) instead of tr(Sigma)/n",
      ("verify/gd_cot/test_theorem3_1.py", "verify/gd_cot/test_lemmaC_2.py")),
    M("gd_ood_eta_star", "gd_cot", "constructions/gd_cot/symbolic.py",
      "eta_star = no_cot_optimum(n, d)[0]", "eta_star = sp.S(n) / (n + d)",
      "OOD loss of the no-CoT optimum at a re-typed eta* = n/(n+d) (a second, wrong copy of eta*)",
      ("tests/test_formulas_gd_cot.py",)),
    M("gd_gd_error_half", "gd_cot", "constructions/gd_cot/wishart.py",
      "return sp.Rational(1, 2) * sum(sp.binomial(2 * k, m) * (-eta) ** m * mu[m] for m in range(2 * k + 1))",
      "return sum(sp.binomial(2 * k, m) * (-eta) ** m * mu[m] for m in range(2 * k + 1))",
      "expected k-step GD error without the loss factor 1/2 (E||w_k - w*||^2 reported as the loss)",
      ("verify/gd_cot/test_theorem4_1.py", "tests/test_formulas_gd_cot.py")),
    M("gd_looped_power_L", "gd_cot", "constructions/gd_cot/wishart.py",
      "return sp.expand(sum(sp.binomial(2 * loops, m) * (-gamma) ** m",
      "return sp.expand(sum(sp.binomial(loops, m) * (-gamma) ** m",
      "looped LSA loss E tr (I - gamma S)^L instead of E tr (I - gamma S)^{2L}",
      ("verify/gd_cot/test_theorem4_3.py", "tests/test_formulas_gd_cot.py")),
    M("gd_looped_key_update", "gd_cot", "constructions/gd_cot/looped.py",
      "return step(l - 1, gram(l - 1, step(l - 1, v, transpose=True)))",
      "return step(l - 1, gram(l - 1, v))",
      "looped LSA's Gram recursion moves the keys by T on one side only (G_{l+1} = T G_l, not T G_l T^T)",
      ("verify/gd_cot/test_theorem4_3.py",)),
    M("gd_scalar_loss_steps", "gd_cot", "dynamics/gd_cot.py",
      "(1 - eta * lam) ** i) ** 2 for i in range(k))",
      "(1 - eta * lam) ** i) ** 2 for i in range(1, k + 1))",
      "scalar reduced CoT loss summed over steps i = 1..k instead of i = 0..k-1 (off-by-one)",
      ("tests/test_integrate_cli.py", "verify/gd_cot/test_theorem4_1.py")),
    M("gd_eval_loss_power", "gd_cot", "dynamics/gd_cot.py",
      "q = -(step**k) + (a * b - a)", "q = -(step**(k + 1)) + (a * b - a)",
      "autoregressive evaluation loss with (1 + a b s)^(k+1) instead of ^k (exponent off by one)",
      ("tests/test_integrate_cli.py", "verify/gd_cot/test_theorem4_1.py")),
    M("gd_flow_trB2_chain", "gd_cot", "dynamics/gd_cot.py",
      'p["b"] + p["T1"].sum() + 2 * b * p["T2"].sum()', 'p["b"] + p["T1"].sum() + b * p["T2"].sum()',
      "eigenspace flow gradient: d tr B^2 / d b_j = b_j instead of 2 b_j (chain rule)",
      ("tests/test_integrate_cli.py", "verify/gd_cot/test_theorem4_1.py")),
    M("gd_gd_iterates_sign", "gd_cot", "constructions/gd_cot/model.py",
      "r = w - w_star\n", "r = w_star - w\n",
      "GD iterate with the residual sign flipped (gradient ascent on the in-context loss)",
      ("tests/test_gd_cot_api.py", "tests/test_cot_loss.py")),
    M("gd_stage_target_at_end", "gd_cot", "dynamics/gd_cot.py",
      "target = stage_one_target(flow, traj.b[0])", "target = stage_one_target(flow, np.ones(flow.dim))",
      "two-stage criterion: V31's stage-1 target taken at W13 = I (its end) instead of W13(0)",
      ("verify/gd_cot/test_theorem4_1.py",)),
    M("gd_regime_mc_power", "gd_cot", "dynamics/gd_cot.py",
      "return LOSS_FACTOR * ((1 - eta * _spectra(n, d, samples, seed)) ** (2 * k)).sum(-1)",
      "return LOSS_FACTOR * ((1 - eta * _spectra(n, d, samples, seed)) ** k).sum(-1)",
      "k-step GD evaluation loss with (I - eta S)^k instead of (I - eta S)^(2k)",
      ("verify/gd_cot/test_theorem4_1_regime.py",)),
    M("gd_wishart_bidiagonal_degree", "gd_cot", "constructions/gd_cot/wishart.py",
      "a2 = rng.chisquare(p - np.arange(m), size=(samples, m))",
      "a2 = rng.chisquare(p - 1 - np.arange(m), size=(samples, m))",
      "sampled Wishart spectra with the bidiagonal's chi degrees off by one (n - i instead of n - i + 1)",
      ("tests/test_formulas_gd_cot.py", "verify/gd_cot/test_theorem4_1_regime.py")),
    M("gd_regime_k_fixed", "gd_cot", "dynamics/gd_cot.py",
      "return REGIME_N_PER_D * d, max(1, math.ceil(REGIME_K_PER_LOG_D * math.log(d)))",
      "return REGIME_N_PER_D * d, max(1, math.ceil(REGIME_K_PER_LOG_D * math.log(4)))",
      "Theorem 4.1's regime with k not tied to d",
      ("verify/gd_cot/test_theorem4_1_regime.py",)),
    M("gd_softmax_future_tokens", "gd_cot", "constructions/gd_cot/softmax_model.py",
      "mask[:, n:] = torch.tril(torch.ones(k, k, dtype=torch.bool))  # query i sees z_0..z_i",
      "mask[:, n:] = torch.ones(k, k, dtype=torch.bool)  # query i sees z_0..z_i",
      "softmax CoT loss whose queries see later CoT tokens (the teacher-forced targets leak)",
      ("tests/test_softmax_model.py", "verify/gd_cot/test_softmax.py")),
    M("gd_no_cot_query_term", "gd_cot", "constructions/gd_cot/torch_model.py",
      "const = (V[..., w, c] * W[..., c, c, None])  # ([S,] d)",
      "const = 0 * (V[..., w, c] * W[..., c, c, None])  # ([S,] d)",
      "no-CoT estimate through the data Gram matrix that drops the query column's own term V[w, c] W[c, c] of "
      "Z_0 Z_0^T (the Gram form's shortcut with the query column forgotten)",
      ("tests/test_seeds.py", "verify/gd_cot/test_theorem3_1.py")),
    # ------------------------------------------------------------------ tree_paths ------------------------------
    M("tp_bound_denominator", "tree_paths", "constructions/tree_paths/bounds.py",
      "return 2 * (N - 1) / (sp.exp(c) + N - 1)", "return 2 * (N - 1) / (sp.exp(c) + N)",
      "Theorem 1 per-step bound 2(N-1)/(e^c + N) instead of 2(N-1)/(e^c + N - 1)",
      ("verify/tree_paths/test_theorem1.py",)),
    M("tp_margin_threshold", "tree_paths", "constructions/tree_paths/bounds.py",
      "sp.Eq(margin_bound_expr(), 1 / sp.sqrt(2))", "sp.Eq(margin_bound_expr(), sp.Rational(1, 2))",
      "argmax-safe margin ln(4 (N-1)) (error < 1/2) instead of ln(2 sqrt 2 (N-1)) (error < 1/sqrt 2)",
      ("verify/tree_paths/test_theorem1.py", "verify/tree_paths/test_theorem2.py", "tests/test_formulas_tree_paths.py")),
    M("tp_general_threshold", "tree_paths", "constructions/tree_paths/bounds.py",
      "subs({n_max: D + 1, n_t: 0})", "subs({n_max: D, n_t: 0})",
      "tree-free argmax threshold ln(D) instead of ln(D + 1) (off by one in the sibling count)",
      ("verify/tree_paths/test_theorem1.py",)),
    M("tp_cot_tokens_range", "tree_paths", "constructions/tree_paths/bounds.py",
      "+ [goal] + path[1:k + 1]", "+ [goal] + path[1:k]",
      "backward step k counts only k - 1 earlier CoT tokens as keys (off-by-one in the CoT range)",
      ("tests/test_tree_paths_model.py", "verify/tree_paths/test_theorem1.py")),
    M("tp_reduced_Z", "tree_paths", "dynamics/tree_paths.py",
      "Z = ea + (n - 2 + k) * eb + 1", "Z = ea + (n - 1 + k) * eb + 1",
      "reduced backward loss: one beta-key too many in the softmax normaliser",
      ("verify/tree_paths/test_theorem3.py",)),
    M("tp_reduced_lr_offdiag", "tree_paths", "dynamics/tree_paths.py",
      "b - lr / (S * (S - 1)) * db(a, b)", "b - lr / (S * S) * db(a, b)",
      "reduced GD on beta normalised by S^2 instead of S (S - 1) off-diagonal entries",
      ("tests/test_tree_paths_model.py", "verify/tree_paths/test_theorem3.py", "tests/test_formulas_tree_paths.py")),
    M("tp_asymptotics_S", "tree_paths", "dynamics/tree_paths.py",
      "r = sp.simplify(sp.diff(F, beta) / (-2 * (S - 1) * F))", "r = sp.simplify(sp.diff(F, beta) / (-2 * S * F))",
      "direction of the large-alpha flow with S instead of S - 1 off-diagonal entries",
      ("verify/tree_paths/test_theorem3.py", "tests/test_formulas_tree_paths.py")),
    M("tp_equicorrelated_sqrt", "tree_paths", "constructions/tree_paths/embeddings.py",
      "return (V * np.sqrt(w)) @ V.T", "return (V * w) @ V.T",
      "equicorrelated embeddings A = G instead of G^{1/2} (A^T A = G^2)",
      ("tests/test_tree_paths_trees.py", "verify/tree_paths/test_probe_overlap.py")),
    M("tp_backward_transpose", "tree_paths", "constructions/tree_paths/model.py",
      "return BackwardModel(_finite(c) * A @ A.T)", "return BackwardModel(_finite(c) * A.T @ A)",
      "Theorem 1 construction B* = c A^T A instead of c A A^T (transposed product)",
      ("verify/tree_paths/test_theorem1.py", "tests/test_tree_paths_model.py")),
    M("tp_decode_embeddings_gram", "tree_paths", "constructions/tree_paths/padded.py",
      "dec = (scores[:, :S] if gram is None else scores[:, :S] @ gram).argmax(1)",
      "dec = scores[:, :S].argmax(1)",
      "batched decoding with embeddings A that reads the node off the attention mass per label, not off "
      "a_i^T y_hat (A^T A dropped: the one-hot rule)",
      ("tests/test_formulas_tree_paths.py", "verify/tree_paths/test_map_overlap_depth.py")),
    # ------------------------------------------------------------------ pattern_cot -----------------------------
    M("pc_product_order", "pattern_cot", "constructions/pattern_cot/transitions.py",
      "B = _matmul(B, M)", "B = _matmul(M, B)",
      "B = A_K ... A_1 instead of A_1 ... A_K (transposed order of the step product)",
      ("tests/test_pattern_cot_transitions.py",)),
    M("pc_rho_o_unnormalised", "pattern_cot", "constructions/pattern_cot/transitions.py",
      "return g / row[c] if normalized else g", "return g / max(row) if normalized else g",
      "normalised gap divided by the row maximum instead of the correct entry",
      ("tests/test_pattern_cot_transitions.py", "verify/pattern_cot/test_theorem3.py")),
    M("pc_hoeffding_const", "pattern_cot", "constructions/pattern_cot/oracle.py",
      "total += (m - 1) * (1 - pi * (1 - np.exp(-g * g / 2))) ** n",
      "total += (1 - pi * (1 - np.exp(-g * g / 2))) ** n",
      "CoT error bound without the union factor (M' - 1) over wrong labels",
      ("tests/test_pattern_cot_oracle.py", "verify/pattern_cot/test_theorem2.py", "tests/test_formulas_pattern_cot.py")),
    M("pc_bound_prefix", "pattern_cot", "constructions/pattern_cot/oracle.py",
      "            pi *= row[c]\n            z = c\n", "            pi = row[c]\n            z = c\n",
      "CoT error bound with the last step's probability instead of the whole correct prefix prod_{j<k}",
      ("tests/test_pattern_cot_oracle.py", "tests/test_formulas_pattern_cot.py")),
    M("pc_icl_floor", "pattern_cot", "constructions/pattern_cot/oracle.py",
      "return bad / (2 * m), float(", "return bad / m, float(",
      "ICL error floor counts a bad row as a sure error instead of at least 1/2",
      ("verify/pattern_cot/test_theorem3.py", "tests/test_formulas_pattern_cot.py")),
    M("pc_tie_weight", "pattern_cot", "constructions/pattern_cot/oracle.py",
      "return float((pmf * ((k > n - k) + 0.5 * (k == n - k))).sum())",
      "return float((pmf * ((k > n - k) + 1.0 * (k == n - k))).sum())",
      "binary plurality: a tie counted as a win instead of a coin flip",
      ("tests/test_pattern_cot_oracle.py", "tests/test_formulas_pattern_cot.py")),
    M("pc_clt_path_power", "pattern_cot", "constructions/pattern_cot/bounds.py",
      "clt_step_error(alpha * l * p**k, g)", "clt_step_error(alpha * l * p**(k + 1), g)",
      "CLT threshold: examples on the correct path after k steps p^(k+1) instead of p^k (off by one)",
      ("verify/pattern_cot/test_theorem2.py", "tests/test_formulas_pattern_cot.py")),
    M("pc_T_exponent_K", "pattern_cot", "constructions/pattern_cot/bounds.py",
      "return c1 * a ** -2 * k ** 3 + c2", "return c1 * a ** -2 * k ** 2 + c2",
      "Theorem 1 iterations C_1 alpha^-2 K^2 instead of K^3",
      ("verify/pattern_cot/test_theorem1.py",)),
    M("pc_loss_half", "pattern_cot", "dynamics/pattern_cot.py",
      "per = 0.5 * ((out - batch.z_tok[:, 1:]) ** 2).sum(-1)", "per = ((out - batch.z_tok[:, 1:]) ** 2).sum(-1)",
      "training loss without its factor 1/2 (twice the gradient at the same learning rate)",
      ("tests/test_pattern_cot_model.py", "tests/test_formulas_pattern_cot.py")),
    M("pc_collapse_fraction", "pattern_cot", "dynamics/pattern_cot.py",
      "if all(m <= limit for m in masses[i:]):", "if all(m <= limit for m in masses[i + 1:]):",
      "collapse step: the mass must stay low only from the next record on (off-by-one)",
      ("tests/test_pattern_cot_model.py", "verify/pattern_cot/test_figure10.py")),
)
del M


# --- applying one mutant ---------------------------------------------------------------------------------------
def mutant_by_id() -> dict[str, Mutant]:
    return {m.id: m for m in MUTANTS}


def select(only: str | None) -> list[Mutant]:
    """The mutants named in ``only`` ('ID[,ID]'), in that order, or all of them."""
    if not only:
        return list(MUTANTS)
    table = mutant_by_id()
    ids = [s.strip() for s in only.split(",") if s.strip()]
    unknown = [i for i in ids if i not in table]
    if unknown or not ids:
        raise ProofCheckError(f"--only: unknown mutant id(s) {', '.join(unknown) or '(none given)'} "
                              f"(see --list; {len(table)} mutants)")
    return [table[i] for i in ids]


def validate(mutant: Mutant, root: Path = REPO) -> str:
    """The text of the mutant's file after the change; ProofCheckError unless the snippet occurs exactly once and
    the selection is quick-profile checks in verify/ or tests/."""
    if mutant.paper not in PAPERS:
        raise ProofCheckError(f"mutant {mutant.id}: paper must be one of {PAPERS} (got {mutant.paper!r})")
    if not mutant.tests or any(not (t.startswith("verify/") or t.startswith("tests/")) for t in mutant.tests):
        raise ProofCheckError(f"mutant {mutant.id}: tests must be a non-empty selection in verify/ or tests/ "
                              f"(got {list(mutant.tests)})")
    if mutant.equivalent and not mutant.why_equivalent.strip():
        raise ProofCheckError(f"mutant {mutant.id}: equivalent=True needs a written why_equivalent")
    path = root / mutant.file
    if not path.is_file():
        raise ProofCheckError(f"mutant {mutant.id}: file {mutant.file} does not exist")
    text = path.read_text()
    count = text.count(mutant.original)
    if count != 1:
        raise ProofCheckError(f"mutant {mutant.id}: the original snippet must occur exactly once in {mutant.file} "
                              f"(found {count} times): {mutant.original[:60]!r}")
    if mutant.original == mutant.replacement:
        raise ProofCheckError(f"mutant {mutant.id}: the replacement equals the original")
    return text.replace(mutant.original, mutant.replacement)


def tracked_files(root: Path = REPO) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p and (root / p).is_file()]


def copy_tree(dest: Path, files: list[str], root: Path = REPO) -> None:
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)


_FAILED = re.compile(r"^(FAILED|ERROR) (\S+)", re.M)


def classify(returncode: int | None, output: str) -> tuple[str, list[str]]:
    """('caught' | 'error' | 'survived', failing node ids) from a pytest run (None: timed out).

    pytest exits 0 when all pass, 1 when tests failed, 2 on interruption (collection errors), 5 when nothing was
    collected (a bad selection: reported as an error of the harness, never as caught)."""
    failed = [m.group(2) for m in _FAILED.finditer(output)]
    if returncode is None:
        return "error", failed
    if returncode == 0:
        return "survived", failed
    if returncode == 5:
        raise ProofCheckError("pytest collected no tests: the mutant's selection is wrong")
    kinds = {m.group(1) for m in _FAILED.finditer(output)}
    if returncode == 1 and "FAILED" in kinds:
        return "caught", failed
    return "error", failed


def run_one(mutant: Mutant, files: list[str], timeout_s: float, root: Path = REPO) -> dict:
    """Apply ``mutant`` in a fresh copy of the tracked tree, run its selection, classify; the copy is removed."""
    record = {k: v for k, v in asdict(mutant).items()}
    record["tests"] = list(mutant.tests)
    if mutant.equivalent:
        return {**record, "status": "equivalent", "seconds": 0.0, "failed": [], "tail": ""}
    mutated = validate(mutant, root)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.id}-") as tmp:
        dest = Path(tmp)
        copy_tree(dest, files, root)
        (dest / mutant.file).write_text(mutated)
        env = {**os.environ, "PYTHONPATH": str(dest), "PYTHONDONTWRITEBYTECODE": "1"}
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests]
        try:
            proc = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, timeout=timeout_s)
            rc, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, output = None, f"timed out after {timeout_s:g} s\n" + (exc.stdout or b"").decode(errors="replace")
    status, failed = classify(rc, output)
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    return {**record, "status": status, "seconds": round(time.perf_counter() - t0, 2), "failed": failed,
            "tail": "\n".join(lines[-3:])}


# --- score, table, CLI ----------------------------------------------------------------------------------------
def score(results: list[dict]) -> dict:
    """caught (failing check or crash) over the non-equivalent mutants, overall and per paper."""

    def count(rs):
        live = [r for r in rs if r["status"] != "equivalent"]
        return {"caught": sum(r["status"] in ("caught", "error") for r in live), "total": len(live),
                "by_failing_check": sum(r["status"] == "caught" for r in live),
                "by_error": sum(r["status"] == "error" for r in live),
                "survived": sum(r["status"] == "survived" for r in live),
                "equivalent": len(rs) - len(live)}

    out = count(results)
    out["per_paper"] = {p: count([r for r in results if r["paper"] == p])
                        for p in PAPERS if any(r["paper"] == p for r in results)}
    return out


def table(results: list[dict]) -> str:
    rows = [("id", "paper", "status", "seconds", "description")]
    rows += [(r["id"], r["paper"], r["status"], f"{r['seconds']:.1f}", r["description"]) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4]  # noqa: E731
    return "\n".join([fmt(rows[0]), "  ".join("-" * w for w in widths) + "  " + "-" * 11] + [fmt(r) for r in rows[1:]])


def score_line(s: dict) -> str:
    per = ", ".join(f"{p} {v['caught']}/{v['total']}" for p, v in s["per_paper"].items())
    return (f"caught {s['caught']} of {s['total']} (equivalent: {s['equivalent']}; by a failing check "
            f"{s['by_failing_check']}, by an error {s['by_error']}); {per}")


def _check_json_path(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_file():
        raise ProofCheckError(f"--json {out}: exists and is not a file")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProofCheckError(f"--json {out}: cannot create {parent} ({exc.strerror or exc})") from None
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise ProofCheckError(f"--json {out}: not writable")
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench mutants",
                                description="Mutation score of the quick check suite (not part of CI).")
    p.add_argument("--only", help="comma-separated mutant ids (default: all)")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--json", default=DEFAULT_JSON, help=f"where to write the JSON result (default {DEFAULT_JSON})")
    p.add_argument("--jobs", type=int, default=1, help="mutants run in parallel (default 1)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help=f"seconds per mutant before it counts as an error (default {DEFAULT_TIMEOUT_S})")
    return p


def _progress(total: int):
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    t0 = time.perf_counter()
    bar = tqdm(total=total, unit="mutant") if tqdm else None

    def step(i: int, r: dict) -> None:
        msg = f"[{i}/{total}] {r['id']}: {r['status']} ({r['seconds']:.1f} s; elapsed {time.perf_counter() - t0:.0f} s)"
        if bar is not None:
            bar.set_postfix_str(f"{r['id']}: {r['status']}")
            bar.update(1)
        else:
            print(msg, flush=True)

    return step, (bar.close if bar is not None else (lambda: None))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        mutants = select(args.only)
        if args.list:
            for m in mutants:
                flag = " [equivalent]" if m.equivalent else ""
                print(f"{m.id:24s} {m.paper:12s} {m.file}: {m.description}{flag}")
            return 0
        if args.jobs < 1:
            raise ProofCheckError(f"--jobs must be a positive integer (got {args.jobs})")
        if not args.timeout > 0:
            raise ProofCheckError(f"--timeout must be positive seconds (got {args.timeout})")
        out = _check_json_path(args.json)
        for m in mutants:  # every snippet must match before anything runs
            validate(m)
        files = tracked_files()
        t0 = time.perf_counter()
        step, close = _progress(len(mutants))
        results: dict[str, dict] = {}
        with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(run_one, m, files, args.timeout): m for m in mutants}
            for i, fut in enumerate(cf.as_completed(futures), start=1):
                r = fut.result()
                results[r["id"]] = r
                step(i, r)
        close()
        ordered = [results[m.id] for m in mutants]
        s = score(ordered)
        wall = round(time.perf_counter() - t0, 1)
        out.write_text(json.dumps({"created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                   "score": s, "wall_seconds": wall, "jobs": args.jobs, "timeout_s": args.timeout,
                                   "python": sys.version.split()[0], "mutants": ordered}, indent=1))
        print(table(ordered))
        print(score_line(s))
        print(f"wall time {wall:.0f} s; JSON: {out}")
    except (ValueError, OSError, subprocess.CalledProcessError) as exc:  # ProofCheckError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
