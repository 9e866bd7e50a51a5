"""A synthetic results.json (schema 3) for the report tests: two claims with every verdict and role."""

from __future__ import annotations

import copy
import json
from pathlib import Path

FIGURE = "figures/convergence.png"


def _claim(cid: str, title: str, provenance: str, formula: str, formula_typst: str, notes: str = "") -> dict:
    return {"id": cid, "title": title, "statement": f"Statement of {title.lower()}.", "provenance": provenance,
            "formula": formula, "formula_typst": formula_typst, "notes": notes, "sources": ["Sec. 3"],
            "paper": cid.split(".")[0], "tested": ["same", ""], "verdict": "not run", "known_failure": False,
            "records": 0}


def _record(claim: str, name: str, verdict: str, *, role: str = "check", margin=2.0, message=None,
            figure=None, measured=0.5, predicted=1.0) -> dict:
    return {"claim": claim, "paper": claim.split(".")[0], "statement": "", "provenance": "paper",
            "check": f"{claim}/{name.removeprefix('test_')}", "nodeid": f"verify/demo/test_demo.py::{name}",
            "role": role, "description": f"{name} description",
            "predicted": predicted, "measured": measured, "tolerance": 1e-3, "tolerance_reason": f"{name} reason",
            "margin": margin, "verdict": verdict, "message": message, "params": {"n": 4}, "figure": figure,
            "seconds": 0.25, "cases": 1, "margin_kind": "exact" if margin is None else "deterministic",
            "stat_tests": [], "seeds": []}


BASE = {
    "schema_version": 3,
    "profile": "quick",
    "created": "2026-01-02T03:04:05+00:00",
    "environment": {"python": "3.11.7", "platform": "Linux-x86_64", "machine": "x86_64", "cpus": 2,
                    "numpy": "2.4.6", "scipy": "1.17.1", "sympy": "1.14.0", "torch": "2.13.0",
                    "hypothesis": "6", "pytest": "9", "matplotlib": "3", "typst": "0.15.2"},
    "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
    "command": "pytest verify -q --proofcheck-profile quick",
    "only": None,
    "papers": {"demo": {"id": "demo", "title": "A Demo Paper on Chain of Thought", "authors": "A. Author, B. Author",
                        "venue": "Demo Conference 2026", "digest": "docs/provenance/demo.md"}},
    "claims": {
        "demo.theorem1": _claim("demo.theorem1", "Gradient step", "paper", "w_{i+1} = w_i - eta S (w_i - w*)",
                                "w_(i+1) = w_i - eta S (w_i - w^*)"),
        "demo.lemma2": _claim("demo.lemma2", "Optimal step size", "reconstructed", "eta* = n/(n+d+1)",
                              "eta^* = n/(n+d+1)", notes="the constant 1 in n+d+1 is re-pinnable"),
        "demo.corollary3": _claim("demo.corollary3", "Sandwich bound", "derived",
                                  "d^2/(2n) <= d(d+1)/(n+d+1) <= 2d^2/n",
                                  "(d^2)/(2n) <= (d(d+1))/(n+d+1) <= (2 d^2)/n"),
        "demo.unrun4": _claim("demo.unrun4", "Claim without evidence", "paper", "x = x", "x = x"),
    },
    "evidence": [
        _record("demo.theorem1", "test_step_pass", "pass", margin=3200.0, figure=FIGURE,
                predicted=list(range(40)), measured={"loss": [0.123456789] * 12}),
        _record("demo.theorem1", "test_wrong_step_rejected", "pass", role="negative_control", margin={"nonfinite": "inf"}),
        _record("demo.theorem1", "test_probe_fails", "fail", role="probe", margin=0.1, message="probe only"),
        _record("demo.lemma2", "test_eta_fail", "fail", margin=0.5,
                message="AssertionError: measured = 0.5 exceeds the bound 0.25 (reason)"),
        _record("demo.lemma2", "test_eta_skipped", "skipped", margin=None, message="Skipped: no GPU"),
        _record("demo.corollary3", "test_sandwich_exact", "pass", margin=None, predicted="d*(d+1)/(n+d+1)",
                measured="d*(d+1)/(n+d+1)"),
    ],
    "family": {"method": "Holm", "alpha": 0.05, "per_check_confidence": 0.95, "size": 0, "failed": []},
    "timings": [],
    "unchecked": {"demo": [{"statement": "The rate of Theorem 9", "reason": "not known"}]},
    "not_run": [{"check": "demo.theorem1/big", "nodeid": "verify/demo/test_demo.py::test_big", "claim": "demo.theorem1",
                 "reason": "slow: runs in the paper profile only"}],
}


def _with_verdicts(data: dict) -> dict:
    """Fill each claim's verdict, known_failure and records as the plugin does at the end of a session."""
    from verify.plugin import claim_verdicts

    for cid, v in claim_verdicts(data["evidence"], data["claims"]).items():
        data["claims"][cid].update(v)
    return data


def results(**changes) -> dict:
    """A deep copy of the synthetic results, with top-level keys replaced by ``changes``."""
    out = _with_verdicts(copy.deepcopy(BASE))
    out.update(changes)
    return out


def write(folder: Path, data: dict | None = None, figure: bool = True) -> Path:
    """Write results.json (and the figure PNG, made with matplotlib Agg) into ``folder``; return the json path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(json.dumps(results() if data is None else data, indent=1))
    if figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 2.5))
        ax.semilogy([1, 2, 3, 4], [1, 0.1, 0.01, 0.001], marker="o")
        ax.set_xlabel("step")
        ax.set_ylabel("error")
        (folder / "figures").mkdir(exist_ok=True)
        fig.savefig(folder / FIGURE, dpi=80)
        plt.close(fig)
    return path
