"""The evidence plugin: verdicts follow outcomes, failing checks still leave records, empty checks are errors."""

import json
import os
import sys
from pathlib import Path

from reports import render
from verify.evidence import record_label

REPO = Path(__file__).resolve().parents[1]

# A throw-away test module run under pytester: its failing, crashing, empty and skipped checks are on purpose,
# to show that each gets the right verdict (a skip must become 'skipped', never 'pass').
CHECKS = '''
import pytest

pytestmark = pytest.mark.claim("gd_cot.theorem3_2")

def test_passes(evidence):
    evidence.describe("passes")
    evidence.check_le(1.0, 2.0, reason="r")

def test_fails(evidence):
    evidence.describe("fails")
    evidence.check_le(3.0, 2.0, reason="r")

def test_records_nothing(evidence):
    evidence.describe("asserts nothing")

def test_crashes(evidence):
    raise RuntimeError("boom")

@pytest.mark.slow
def test_slow(evidence):
    evidence.check_le(1.0, 2.0, reason="r")

@pytest.mark.skip(reason="not today")
def test_skipped(evidence):
    evidence.check_le(1.0, 2.0, reason="r")

def test_skipped_inside(evidence):
    evidence.describe("skips itself once it sees that nothing can be checked")
    pytest.skip("nothing to check at these sizes")

@pytest.mark.xfail(strict=True, reason="claim does not hold")
def test_known_failure(evidence):
    evidence.describe("a claim known not to hold")
    evidence.check_le(3.0, 2.0, reason="r")

from verify.evidence import not_reproduced

@not_reproduced("the stated form fails here")
def test_not_reproduced(evidence):
    evidence.describe("the paper's form, not reproduced")
    evidence.check_le(3.0, 2.0, reason="r")
'''


def _run(pytester, *args):
    pytester.makepyfile(test_checks=CHECKS)
    out = pytester.path / "out" / "results.json"
    env = {"PYTHONPATH": str(REPO)}
    os.environ.update(env)
    result = pytester.runpytest_subprocess("-p", "verify.plugin", "-p", "no:cacheprovider", f"--evidence-out={out}",
                                           "--rootdir", str(pytester.path), *args)
    return result, json.loads(out.read_text())


def test_verdicts_follow_outcomes(pytester):
    result, data = _run(pytester)
    verdicts = {e["nodeid"].split("::")[1]: e["verdict"] for e in data["evidence"]}
    assert verdicts == {"test_passes": "pass", "test_fails": "fail", "test_records_nothing": "error",
                        "test_crashes": "error", "test_skipped": "skipped", "test_skipped_inside": "skipped",
                        "test_known_failure": "known_failure",
                        "test_not_reproduced": "not_reproduced"}
    fail = next(e for e in data["evidence"] if e["nodeid"].endswith("test_fails"))
    assert fail["margin"] < 1 and "exceeds the bound" in fail["message"]
    known = next(e for e in data["evidence"] if e["nodeid"].endswith("test_known_failure"))
    assert known["message"].startswith("claim does not hold: AssertionError") and known["margin"] < 1
    notrep = next(e for e in data["evidence"] if e["nodeid"].endswith("test_not_reproduced"))
    assert notrep["message"].startswith("not reproduced: the stated form fails here") and notrep["margin"] < 1
    assert data["not_run"] == [{"check": "gd_cot.theorem3_2/slow", "nodeid": "test_checks.py::test_slow",
                                "claim": "gd_cot.theorem3_2", "reason": "slow: runs in the paper profile only"}]
    assert data["schema_version"] == 3 and data["profile"] == "quick"
    assert {e["check"] for e in data["evidence"]} == {
        "gd_cot.theorem3_2/" + name for name in ("passes", "fails", "records_nothing", "crashes", "skipped",
                                                 "skipped_inside", "known_failure", "not_reproduced")}
    claim = data["claims"]["gd_cot.theorem3_2"]
    assert (claim["verdict"], claim["known_failure"], claim["records"]) == ("error", True, 8)
    inside = next(e for e in data["evidence"] if e["nodeid"].endswith("test_skipped_inside"))
    assert inside["message"] == "nothing to check at these sizes"  # a skip in the body: not run, no teardown error
    assert data["claims"]["gd_cot.theorem3_1"]["verdict"] == "not run"
    assert render.schema_errors(data) == []
    # test_records_nothing passes its call and errors at teardown: counted in both.
    result.assert_outcomes(passed=2, failed=2, errors=1, skipped=2, deselected=1, xfailed=2)


STAT_CHECKS = '''
import numpy as np
import pytest
from verify.stats import mean_le

pytestmark = pytest.mark.claim("gd_cot.theorem3_1")

@pytest.mark.parametrize("shift", [0.0, 0.5, 0.95])
def test_stat(evidence, shift):
    evidence.describe("a one-sided paired test", seeds=[0, 1, 2])
    x = np.random.default_rng(int(10 * shift)).normal(shift, 0.1, 50)
    evidence.check_stat(mean_le(x, 1.0), seed=0)
'''


def test_xdist_run_gives_the_serial_results(pytester):
    """Under pytest-xdist (-n 2) the workers' records reach the controller: results.json has the same records,
    in the same order, with the same Holm family, as a serial run (timings excepted)."""
    pytester.makepyfile(test_stats_demo=STAT_CHECKS)
    _, serial = _run(pytester)
    _, parallel = _run(pytester, "-n", "2")

    def strip(data):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in data["evidence"]]

    assert len(serial["evidence"]) == 11  # 8 records of CHECKS (the slow one deselected) + 3
    assert strip(parallel) == strip(serial)
    assert parallel["not_run"] == serial["not_run"] and parallel["family"] == serial["family"]
    assert serial["family"]["size"] == 3 and "@" not in "".join(r["nodeid"] for r in parallel["evidence"])
    assert [r["check"] for r in serial["evidence"][-3:]] == [
        f"gd_cot.theorem3_1/stat[{shift}]" for shift in ("0.0", "0.5", "0.95")]
    assert serial["evidence"][-1]["seeds"] == [0, 1, 2]
    assert render.schema_errors(serial) == [] and render.schema_errors(parallel) == []


def test_paper_profile_runs_slow_checks(pytester):
    _, data = _run(pytester, "--proofcheck-profile", "paper", "-k", "slow")
    assert [e["verdict"] for e in data["evidence"]] == ["pass"] and data["not_run"] == []


def test_unknown_profile_and_claim_are_usage_errors(pytester):
    pytester.makepyfile(test_checks=CHECKS)
    os.environ["PYTHONPATH"] = str(REPO)
    for args, text in ((["--proofcheck-profile", "huge"], "unknown profile 'huge'"),
                       (["--only", "nope.*"], "matches no claim id")):
        result = pytester.runpytest_subprocess("-p", "verify.plugin", *args)
        assert result.ret != 0
        assert text in result.stderr.str()


def test_margin_is_at_least_one_exactly_when_the_check_holds():
    """check_le / check_ge margins for values of either sign: >= 1 iff the inequality holds (a pass never shows
    a margin below 1, a failure never one above)."""
    import itertools
    import math

    import pytest

    from verify.evidence import Evidence

    values = [-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, math.inf, -math.inf]
    for a, b in itertools.product(values, values):
        # check_le needs a finite measurement (an overflow never passes an upper bound); check_ge accepts inf
        for method, holds in (("check_le", math.isfinite(a) and a <= b), ("check_ge", a >= b)):
            ev = Evidence(claim="c", paper="p", statement="s", provenance="paper", check="t", figures_dir=Path("."))
            if holds:
                getattr(ev, method)(a, b, reason="r")
            else:
                with pytest.raises(AssertionError):
                    getattr(ev, method)(a, b, reason="r")
            assert (ev.margin >= 1) == holds, (method, a, b, ev.margin)


NONFINITE_CHECKS = """
import math
import pytest

pytestmark = pytest.mark.claim("gd_cot.theorem3_2")

@pytest.mark.parametrize("bound", [math.inf, 2.0], ids=["b <= inf", "b=2"])
def test_infinite(evidence, bound):
    evidence.describe("bounds and values that are not finite", seed=4, values=[math.nan, -math.inf, 1.5])
    evidence.check_le(1.0, bound, reason="r", predicted=math.inf)
"""


def test_results_json_is_strict_json_and_valid(pytester):
    """Non-finite values are written as {"nonfinite": ...} (never bare NaN/Infinity, which are not JSON), ids with
    spaces and '<=' become stable check ids, and the file validates against reports/results.schema.json."""
    pytester.makepyfile(test_checks=NONFINITE_CHECKS)
    out = pytester.path / "out" / "results.json"
    os.environ["PYTHONPATH"] = str(REPO)
    pytester.runpytest_subprocess("-p", "verify.plugin", "-p", "no:cacheprovider", f"--evidence-out={out}")
    text = out.read_text()

    def no_constants(name):
        raise AssertionError(f"bare {name} in results.json")

    data = json.loads(text, parse_constant=no_constants)
    inf = next(r for r in data["evidence"] if "inf" in r["nodeid"])
    assert inf["check"] == "gd_cot.theorem3_2/infinite[b-le-inf]"
    assert inf["margin"] == {"nonfinite": "inf"} and inf["tolerance"] == {"nonfinite": "inf"}
    assert inf["predicted"] == {"nonfinite": "inf"}
    assert inf["params"]["values"] == [{"nonfinite": "nan"}, {"nonfinite": "-inf"}, 1.5]
    assert inf["seeds"] == [4]
    assert set(data["git"]) == {"commit", "dirty"}
    assert render.schema_errors(data) == []
    assert render.margin_value(inf["margin"]) == float("inf")


def test_no_temporary_folder_left_without_evidence_out(pytester, tmp_path):
    """A run without --evidence-out saves figures in a temporary folder and removes it at the end."""
    pytester.makepyfile(test_fig="""
import pytest
pytestmark = pytest.mark.claim("gd_cot.theorem3_2")

def test_figure(evidence):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    evidence.save_figure(fig, "demo")
    evidence.check_le(1.0, 2.0, reason="r")
""")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    os.environ["PYTHONPATH"] = str(REPO)
    result = _run_with_tmpdir(pytester, tmp)
    result.assert_outcomes(passed=1)
    assert list(tmp.glob("proofcheck-*")) == []


def _run_with_tmpdir(pytester, tmp):
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    try:
        return pytester.runpytest_subprocess("-p", "verify.plugin", "-p", "no:cacheprovider")
    finally:
        if old is None:
            os.environ.pop("TMPDIR")
        else:
            os.environ["TMPDIR"] = old


def test_empty_only_is_a_usage_error(pytester):
    pytester.makepyfile(test_checks=CHECKS)
    os.environ["PYTHONPATH"] = str(REPO)
    for only in ("", "  "):
        result = pytester.runpytest_subprocess("-p", "verify.plugin", "--only", only)
        assert result.ret == 4 and "--only is empty" in result.stderr.str()


def test_progress_per_claim(pytester):
    pytester.makepyfile(test_checks=CHECKS)
    result, _ = _run(pytester)
    assert "proofcheck: claim 1/1 gd_cot.theorem3_2 done (8 checks), elapsed 0:0" in result.stdout.str()


PROBE_CHECKS = '''
import pytest
from verify.evidence import finding_not_met

pytestmark = pytest.mark.claim("gd_cot.theorem3_2")

@finding_not_met("the expectation is not met at paper sizes")
def test_probe_missed(evidence):
    evidence.describe("a probe whose expectation fails", role="probe")
    evidence.check_le(3.0, 2.0, reason="r")

@finding_not_met("marked, but met")
def test_probe_met(evidence):
    evidence.describe("a probe whose expectation holds", role="probe")
    evidence.check_le(1.0, 2.0, reason="r")
'''


def test_finding_not_met_is_expected_only_in_its_profile(pytester):
    """finding_not_met: in the paper profile a missed probe reads 'finding: not met' and pytest stays green, while
    a marked probe that is met fails (strict: its record reads 'error', the mark must go); in quick the mark is
    inert (a miss fails as usual)."""
    pytester.makepyfile(test_probe=PROBE_CHECKS)
    for profile, outcomes, met_verdict in (("paper", dict(xfailed=1, failed=1), "error"),
                                           ("quick", dict(failed=1, passed=1), "pass")):
        result, data = _run(pytester, "test_probe.py", "--proofcheck-profile", profile)
        result.assert_outcomes(**outcomes)
        rec = {e["nodeid"].split("::")[1]: e for e in data["evidence"]}
        assert rec["test_probe_missed"]["verdict"] == "fail" and rec["test_probe_missed"]["role"] == "probe"
        assert record_label(rec["test_probe_missed"]) == "finding: not met"
        assert rec["test_probe_met"]["verdict"] == met_verdict
