"""Evidence records: what a check predicted, measured, with which tolerance and why, and its verdict.

A check calls one of the ``check_*`` methods; each asserts (so a test fails when the claim fails) and keeps
the worst case seen (property-based tests call it once per example). The pytest plugin sets the verdict from
the test's outcome, so a failing assertion still leaves a record with verdict ``fail``.

Margin convention (one number per record, reported in the summary): the factor by which the checked
inequality holds. ``check_le(m, b)``: b/m; ``check_ge(m, t)``: m/t; ``check_close(m, p, tol)``: tol/|m-p|.
A margin > 1 passes, < 1 fails; ``None`` for exact (symbolic) checks, which pass or fail with no slack.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# The evidence contract, shared by the plugin that writes results.json and the report that reads it.
SCHEMA_VERSION = 3  # 2: claim verdict vocabulary, record verdicts known_failure / not_reproduced, margin_kind,
# Claim.tested. 3: stable check ids (``check`` = "<claim>/<short name>", ``nodeid`` = the pytest node id), per-claim
# ``verdict`` / ``known_failure``, non-finite numbers as {"nonfinite": "inf" | "-inf" | "nan"}, ``git``, record
# ``seeds``. The JSON Schema is reports/results.schema.json.
ROLES = ("check", "negative_control", "probe")
# Record verdicts. ``known_failure``: a strict xfail marked with :func:`known_failure` (an expected failure
# inside the reconstruction); ``not_reproduced``: a strict xfail marked with :func:`not_reproduced` (the
# paper's stated form fails here, for a reason the suite gives). Neither is a regression; both are shown.
VERDICTS = ("pass", "fail", "error", "skipped", "known_failure", "not_reproduced")
EXPECTED_FAILURES = {"known failure": "known_failure", "not reproduced": "not_reproduced", "finding not met": "fail"}


COUNTED_ROLES = ("check", "negative_control")  # probes carry a finding and never count toward a claim's verdict

# Claim verdicts, in the order the summary lists them. EXPECTED ones leave the exit status at 0.
CLAIM_VERDICTS = ("holds", "holds (weaker)", "not reproduced", "known failure", "fail", "error", "not run", "finding")
EXPECTED_CLAIM_VERDICTS = ("holds", "holds (weaker)", "not reproduced", "known failure", "not run", "finding")
CLAIM_VERDICT_MEANING = {
    "holds": "the paper's statement, as tested, passed",
    "holds (weaker)": "what passed is weaker than the statement; the claim's tested-vs-stated line names the "
                      "missing part",
    "not reproduced": "the stated form fails here; the failing check gives the suite's explanation",
    "known failure": "an expected failure inside the suite's reconstruction (not a regression)",
    "fail": "an unexpected failure",
    "error": "a check crashed",
    "not run": "no counted check ran (skipped, or not in this profile)",
    "finding": "a probe beyond the paper: its records report findings and count toward no paper's verdict",
}
MARGIN_KINDS = ("deterministic", "statistical", "exact")


def is_probe_claim(claim_id: str) -> bool:
    """A probe claim (``<paper>.probe_*``) goes beyond the paper: all its records report findings."""
    return str(claim_id).split(".", 1)[-1].startswith("probe")


def claim_verdict(records: list[dict], relation: str = "same", *, probe: bool = False) -> str:
    """One claim's verdict from its records (``to_json`` dicts) and its tested-vs-stated relation.

    error > fail > not run (no counted record ran) > not reproduced > known failure > holds (weaker) > holds.
    Probes never count; a probe claim (``probe=True``, or only probe records) reads "finding". A claim holds only
    "weaker" when its relation is weaker or different, or when some of its
    counted checks were skipped (what passed is then less than what the claim's checks test)."""
    if records and (probe or all(r["role"] == "probe" for r in records)):  # a probe claim: findings only
        vs = [r["verdict"] for r in records]
        if "error" in vs:
            return "error"
        if "fail" in [r["verdict"] for r in records if r["role"] in COUNTED_ROLES]:
            return "fail"  # a probe's own check or control failed: a red run, not a finding
        return "not run" if all(v == "skipped" for v in vs) else "finding"
    verdicts = [r["verdict"] for r in records if r["role"] in COUNTED_ROLES]
    if "error" in verdicts:
        return "error"
    if "fail" in verdicts:
        return "fail"
    if all(v == "skipped" for v in verdicts):  # also when there are none
        return "not run"
    if "not_reproduced" in verdicts:
        return "not reproduced"
    if "known_failure" in verdicts:
        return "known failure"
    if relation in ("weaker", "different") or "skipped" in verdicts:
        return "holds (weaker)"
    return "holds"


def record_label(rec: dict) -> str:
    """How one record's verdict is shown: probes carry a finding ("finding", or "finding: not met" when the
    probe's own expectation failed), never a pass; skipped records read "not run"."""
    v = rec["verdict"]
    if rec["role"] == "probe" and v in ("pass", "fail"):
        return "finding" if v == "pass" else "finding: not met"
    return {"known_failure": "known failure", "not_reproduced": "not reproduced", "skipped": "not run"}.get(v, v)


def known_failure(reason: str):
    """Mark a check that is expected to fail inside the suite's reconstruction (strict: it must fail).

    The record's verdict becomes ``known_failure``; the claim shows "known failure", not a regression."""
    import pytest

    return pytest.mark.xfail(strict=True, reason=f"known failure: {reason}")


def not_reproduced(reason: str):
    """Mark a check of the paper's stated form that fails here, with the suite's explanation (strict).

    The record's verdict becomes ``not_reproduced``; the claim shows "not reproduced"."""
    import pytest

    return pytest.mark.xfail(strict=True, reason=f"not reproduced: {reason}")


def finding_not_met(reason: str, profile: str = "paper"):
    """Mark a probe whose expectation is known not to be met in ``profile`` (strict there: if it is ever met, the
    run fails and the mark must go). Its record reads "finding: not met", as an unmarked miss would, but pytest
    and the report's exit status stay green; in the other profiles the probe runs unmarked (a miss fails)."""
    import pytest

    return pytest.mark.xfail(condition=f"config.getoption('--proofcheck-profile') == {profile!r}", strict=True,
                             reason=f"finding not met: {reason}")


def expected_failure_kind(reason: str | None) -> str:
    """The record verdict of a strict xfail from its reason's prefix (unmarked xfails count as known failures)."""
    for prefix, verdict in EXPECTED_FAILURES.items():
        if str(reason or "").startswith(prefix):
            return verdict
    return "known_failure"


def nonfinite(value: float) -> dict:
    """The JSON form of a non-finite float (results.json schema 3): ``{"nonfinite": "inf" | "-inf" | "nan"}``.
    JSON has no inf or NaN; every writer of the suite uses this form, never bare ``NaN``/``Infinity``."""
    return {"nonfinite": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def number_value(value: Any) -> float | None:
    """Read a number written by :func:`to_jsonable`: a JSON number, or the non-finite form (also the strings
    "inf"/"-inf"/"nan" of schema 2); None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict) and set(value) == {"nonfinite"}:
        value = value["nonfinite"]
    if isinstance(value, str) and value in ("inf", "-inf", "nan", "Infinity", "-Infinity", "NaN"):
        return float(value)
    return None


def to_jsonable(value: Any) -> Any:
    """Numbers, arrays, sympy objects and containers as JSON values: floats stay floats, non-finite floats
    become :func:`nonfinite` objects, so ``json.dumps(..., allow_nan=False)`` never fails."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else nonfinite(v)
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    try:  # sympy numbers and expressions
        import sympy

        if isinstance(value, sympy.Basic):
            if value.is_Integer:
                return int(value)
            if value.is_Float or value in (sympy.oo, -sympy.oo, sympy.nan):
                return to_jsonable(float(value))
            return str(value)
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def record_seeds(params: dict, stat_tests: list) -> list[int]:
    """The seeds of one record: ``params["seeds"]`` (a list) or ``params["seed"]``, and the seeds of its
    statistical tests; sorted, without repeats; empty when the check names none."""
    seeds: set[int] = set()
    for value in (params.get("seeds"), params.get("seed"), [t.get("seed") for t in stat_tests]):
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, int) and not isinstance(v, bool):
                seeds.add(v)
    return sorted(seeds)


def _margin(num: float, den: float) -> float:
    """The factor by which ``den <= num`` holds, for finite values of either sign: at least 1 exactly when it
    holds. num / den when both are positive, den / num when both are negative (|den| >= |num| then), inf when
    den <= 0 < num or den < 0 <= num (the signs alone settle it), 1 when both are 0, and 0 when it fails on sign."""
    if num > 0 and den > 0:
        return num / den
    if num < 0 and den < 0:
        return den / num
    if den <= 0 <= num:
        return 1.0 if num == den == 0 else math.inf
    return 0.0


@dataclass
class Evidence:
    """The record of one check (one test function). Fill it through :meth:`check_le` and friends."""

    claim: str
    paper: str
    statement: str
    provenance: str
    check: str  # the stable check id, "<claim>/<short name>[params]" (verify.plugin.check_id)
    figures_dir: Path
    nodeid: str = ""  # the pytest node id
    role: str = "check"
    description: str = ""
    predicted: Any = None
    measured: Any = None
    tolerance: Any = None
    tolerance_reason: str = ""
    margin: float | None = None
    verdict: str = "error"
    message: str | None = None
    params: dict = field(default_factory=dict)
    figure: str | None = None  # figures/<name>.png
    figure_svg: str | None = None  # figures/<name>.svg (the same figure as vector graphics)
    seconds: float = 0.0
    cases: int = 0
    stat_tests: list = field(default_factory=list)  # every statistical test of this record (verify.stats)
    statistical: bool = False  # the margin is a confidence-interval ratio (set by check_stat or statistical=True)
    _start: float = field(default_factory=time.perf_counter, repr=False)

    # --- description -------------------------------------------------------------------------------
    def describe(self, description: str, *, role: str = "check", **params) -> "Evidence":
        """Say what this check does (one line), its role and its parameters."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        self.description, self.role = description, role
        self.params.update({k: to_jsonable(v) for k, v in params.items()})
        return self

    # --- checks ------------------------------------------------------------------------------------
    def _keep(self, margin, measured, predicted, tolerance, reason) -> bool:
        """Keep the worst case (smallest margin) over repeated calls; return whether this one is it."""
        self.cases += 1
        worse = self.margin is None or (margin is not None and margin < self.margin)
        if self.cases == 1 or worse:
            self.margin = margin
            self.measured = to_jsonable(measured)
            self.predicted = to_jsonable(predicted)
            self.tolerance = to_jsonable(tolerance)
            self.tolerance_reason = reason
        return worse

    def check_le(self, measured: float, bound: float, *, reason: str, predicted: Any = None, what: str = "",
                 statistical: bool = False):
        """Assert ``measured <= bound`` (e.g. an error below a derived bound). ``statistical``: the bound or the
        measured value is a confidence limit (the margin is then reported as statistical, not deterministic)."""
        self.statistical |= statistical
        measured, bound = float(measured), float(bound)
        ok = math.isfinite(measured) and measured <= bound
        m = _margin(bound, measured) if math.isfinite(measured) and math.isfinite(bound) else (math.inf if ok else 0.0)
        self._keep(m, measured, predicted, bound, reason)
        assert ok, f"{what or 'measured'} = {measured:.6g} exceeds the bound {bound:.6g} ({reason})"

    def check_ge(self, measured: float, threshold: float, *, reason: str, predicted: Any = None, what: str = "",
                 statistical: bool = False):
        """Assert ``measured >= threshold`` (negative controls: an error must be large); ``statistical`` as in
        :meth:`check_le`."""
        self.statistical |= statistical
        measured, threshold = float(measured), float(threshold)
        ok = (not math.isnan(measured)) and measured >= threshold
        m = _margin(measured, threshold) if math.isfinite(measured) and math.isfinite(threshold) else (
            math.inf if ok else 0.0)
        self._keep(m, measured, predicted, threshold, reason)
        assert ok, f"{what or 'measured'} = {measured:.6g} is below the threshold {threshold:.6g} ({reason})"

    def check_close(self, measured: float, predicted: float, tol: float, *, reason: str, what: str = "",
                    statistical: bool = False):
        """Assert ``|measured - predicted| <= tol`` (e.g. a confidence interval contains the closed form);
        ``statistical`` as in :meth:`check_le`."""
        self.statistical |= statistical
        measured, predicted, tol = float(measured), float(predicted), float(tol)
        diff = abs(measured - predicted)
        ok = math.isfinite(diff) and diff <= tol
        self._keep(_margin(tol, diff) if math.isfinite(diff) else 0.0, measured, predicted, tol, reason)
        assert ok, f"{what or 'measured'} = {measured:.6g} differs from {predicted:.6g} by {diff:.3g} > {tol:.3g} ({reason})"

    def check_stat(self, test, *, expect: str = "pass", seed: int | None = None, predicted: Any = None,
                   what: str = ""):
        """Record and assert one :class:`verify.stats.StatTest`.

        ``expect="pass"``: the confidence bound(s) must lie inside the criterion at the per-check level; the
        test then joins the run's Holm family (the plugin may still fail the record family-wise).
        ``expect="reject"`` (near-miss negative controls): the whole interval must lie beyond the criterion,
        so that the wrong theory is rejected with confidence, not by noise. ``seed`` is recorded per test, so
        the margin distribution over seeds can be shown.
        """
        if expect not in ("pass", "reject"):
            raise ValueError("expect must be 'pass' or 'reject'")
        what = what or test.what or "statistic"
        if expect == "pass":
            if test.direction == "band":
                m = min(_margin(test.hi, test.high), _margin(test.low, test.lo))
            elif test.direction == "le":
                m = _margin(test.hi, test.high)
            else:
                m = _margin(test.low, test.lo)
            ok = test.passed
        else:
            if test.direction == "band":
                m = max(_margin(test.low, test.hi), _margin(test.lo, test.high))
            elif test.direction == "le":
                m = _margin(test.opposite, test.hi)
            else:
                m = _margin(test.lo, test.opposite)
            ok = test.rejected
        m = m if math.isfinite(m) or ok else 0.0
        self.statistical = True
        entry = {**test.to_json(), "expect": expect, "seed": seed, "margin": m, "holm": None}
        self.stat_tests.append(to_jsonable(entry))
        self._keep(m, {"estimate": test.estimate, "interval": [test.low, test.high]}, predicted,
                   {"criterion": [test.lo, test.hi], "resolution": test.resolution}, test.reason())
        where = f" (seed {seed})" if seed is not None else ""
        assert ok, (f"{what}{where}: estimate {test.estimate:.6g}, interval [{test.low:.6g}, {test.high:.6g}] "
                    f"{'not inside' if expect == 'pass' else 'not confidently outside'} [{test.lo:.6g}, "
                    f"{test.hi:.6g}] ({test.method}, n = {test.n})")

    def check_exact(self, ok: bool, *, measured: Any, predicted: Any, reason: str = "exact (sympy)", what: str = ""):
        """Assert an exact, symbolic identity; no margin."""
        self.cases += 1
        if self.cases == 1 or not ok:
            self.measured, self.predicted = to_jsonable(measured), to_jsonable(predicted)
            self.tolerance, self.tolerance_reason = 0, reason
        assert ok, f"{what or 'identity'} does not hold exactly: {measured} != {predicted}"

    # --- figures -----------------------------------------------------------------------------------
    def save_figure(self, fig, name: str) -> str:
        """Save a matplotlib figure as ``figures/<name>.png`` (the Markdown report) and ``figures/<name>.svg``
        (vector, embedded in the PDF) and attach both to this record. The report sizes a figure by its aspect
        ratio (wide multi-panel figures at full text width), so draw at the size meant to be read."""
        import matplotlib
        import matplotlib.pyplot as plt

        self.figures_dir.mkdir(parents=True, exist_ok=True)
        # bbox_inches="tight" draws the figure once more per file to measure it: measure once for both files
        fig.canvas.draw()  # lays out the artists (legends, layout engines) as a save would
        tight = fig.get_tightbbox(fig.canvas.get_renderer()).padded(matplotlib.rcParams["savefig.pad_inches"])
        fig.savefig(self.figures_dir / f"{name}.png", dpi=130, bbox_inches=tight)
        fig.savefig(self.figures_dir / f"{name}.svg", bbox_inches=tight)
        plt.close(fig)
        self.figure, self.figure_svg = f"figures/{name}.png", f"figures/{name}.svg"
        return self.figure

    # --- output ------------------------------------------------------------------------------------
    @property
    def margin_kind(self) -> str:
        """'statistical' (a confidence-interval ratio), 'deterministic' (a derived bound or round-off) or
        'exact' (a symbolic identity: no margin)."""
        if self.statistical:
            return "statistical"
        return "exact" if self.margin is None else "deterministic"

    def to_json(self) -> dict:
        return {
            "claim": self.claim,
            "paper": self.paper,
            "statement": self.statement,
            "provenance": self.provenance,
            "check": self.check,
            "nodeid": self.nodeid or self.check,
            "role": self.role,
            "description": self.description,
            "predicted": self.predicted,
            "measured": self.measured,
            "tolerance": self.tolerance,
            "tolerance_reason": self.tolerance_reason,
            "margin": to_jsonable(self.margin),
            "margin_kind": self.margin_kind,
            "verdict": self.verdict,
            "message": self.message,
            "params": self.params,
            "figure": self.figure,
            "figure_svg": self.figure_svg,
            "seconds": round(self.seconds, 3),
            "cases": self.cases,
            "stat_tests": self.stat_tests,
            "seeds": record_seeds(self.params, self.stat_tests),
        }
