"""The evidence plugin: verdicts follow outcomes, failing checks still leave records, empty checks are errors."""

import json
import os
import sys
from pathlib import Path

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
    verdicts = {e["check"].split("::")[1]: e["verdict"] for e in data["evidence"]}
    assert verdicts == {"test_passes": "pass", "test_fails": "fail", "test_records_nothing": "error",
                        "test_crashes": "error", "test_skipped": "skipped", "test_known_failure": "known_failure",
                        "test_not_reproduced": "not_reproduced"}
    fail = next(e for e in data["evidence"] if e["check"].endswith("test_fails"))
    assert fail["margin"] < 1 and "exceeds the bound" in fail["message"]
    known = next(e for e in data["evidence"] if e["check"].endswith("test_known_failure"))
    assert known["message"].startswith("claim does not hold: AssertionError") and known["margin"] < 1
    notrep = next(e for e in data["evidence"] if e["check"].endswith("test_not_reproduced"))
    assert notrep["message"].startswith("not reproduced: the stated form fails here") and notrep["margin"] < 1
    assert data["not_run"] == [{"check": "test_checks.py::test_slow", "claim": "gd_cot.theorem3_2",
                                "reason": "slow: runs in the paper profile only"}]
    assert data["schema_version"] == 2 and data["profile"] == "quick"
    assert "gd_cot.theorem3_2" in data["claims"]
    # test_records_nothing passes its call and errors at teardown: counted in both.
    result.assert_outcomes(passed=2, failed=2, errors=1, skipped=1, deselected=1, xfailed=2)


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

    assert len(serial["evidence"]) == 10  # 7 records of CHECKS (the slow one deselected) + 3
    assert strip(parallel) == strip(serial)
    assert parallel["not_run"] == serial["not_run"] and parallel["family"] == serial["family"]
    assert serial["family"]["size"] == 3 and "@" not in "".join(r["check"] for r in parallel["evidence"])


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
