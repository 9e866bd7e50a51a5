"""``python -m reports diff OLD NEW``: claim verdict flips, margin changes, exit status as a CI gate."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reports import cli, diff
from tests import report_fixture as fx

REPO = Path(__file__).resolve().parents[1]


def _write(folder: Path, data: dict) -> Path:
    return fx.write(folder, fx._with_verdicts(copy.deepcopy(data)), figure=False)


def _rec(data: dict, name: str) -> dict:
    return next(r for r in data["evidence"] if r["check"].endswith("/" + name))


def test_same_file_is_no_change(tmp_path, capsys):
    path = _write(tmp_path / "a", fx.results())
    assert cli.main(["diff", str(path), str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "4 claims: 4 same" and "no claim got worse (exit 0)" in out


def test_a_claim_that_fails_now_is_worse_exit_1(tmp_path, capsys):
    old = fx.results()
    new = fx.results()
    rec = _rec(new, "step_pass")
    rec["verdict"], rec["margin"] = "fail", 0.5
    assert cli.main(["diff", str(_write(tmp_path / "a", old)), str(_write(tmp_path / "b", new))]) == 1
    out = capsys.readouterr().out
    assert "WORSE         demo.theorem1: holds -> fail" in out
    assert "demo.theorem1/step_pass: margin ×3.2e+03 -> ×0.5 (pass -> fail)" in out
    assert out.rstrip().endswith("WORSE (exit 1)")
    # the other way round it got better: exit 0
    assert cli.main(["diff", str(tmp_path / "b"), str(tmp_path / "a")]) == 0
    assert "BETTER        demo.theorem1: fail -> holds" in capsys.readouterr().out


def test_margin_changes_and_the_margin_gate(tmp_path, capsys):
    old, new = fx.results(), fx.results()
    _rec(new, "step_pass")["margin"] = 1.1  # still passes: the claim still holds
    _rec(new, "wrong_step_rejected")["margin"] = 40.0  # from inf
    a, b = str(_write(tmp_path / "a", old)), str(_write(tmp_path / "b", new))
    assert diff.main([a, b]) == 0
    out = capsys.readouterr().out
    assert "demo.theorem1/step_pass: margin ×3.2e+03 -> ×1.1 (pass)" in out
    assert "demo.theorem1/wrong_step_rejected: margin ×∞ -> ×40 (pass)" in out
    assert diff.main([a, b, "--fail-on-margin", "10"]) == 1
    assert "2 check margin(s) shrank beyond --fail-on-margin" in capsys.readouterr().out
    assert diff.main([a, b, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["worse"] is False and {c["check"] for c in result["checks"]} == {
        "demo.theorem1/step_pass", "demo.theorem1/wrong_step_rejected"}


def test_not_run_is_not_compared_and_checks_added_removed(tmp_path, capsys):
    old, new = fx.results(), fx.results()
    new["evidence"] = [r for r in new["evidence"] if r["claim"] != "demo.lemma2"]  # a partial run
    new["evidence"].append(dict(_rec(new, "step_pass"), check="demo.theorem1/extra", nodeid="x::test_extra"))
    assert diff.main([str(_write(tmp_path / "a", old)), str(_write(tmp_path / "b", new))]) == 0
    out = capsys.readouterr().out
    assert "NOT COMPARED  demo.lemma2: fail -> not run" in out
    assert "1 check(s) new: demo.theorem1/extra" in out
    assert "2 check(s) gone: demo.lemma2/eta_fail, demo.lemma2/eta_skipped" in out


@pytest.mark.parametrize("case", ["missing", "not-json", "schema", "factor"])
def test_bad_input_one_line_exit_2(tmp_path, case):
    good = _write(tmp_path / "good", fx.results())
    bad = tmp_path / "bad.json"
    args = {"missing": [str(good), str(tmp_path / "nope.json")],
            "not-json": [str(good), str(bad)],
            "schema": [str(good), str(bad)],
            "factor": [str(good), str(good), "--margin-change", "0.5"]}[case]
    bad.write_text("{not json" if case == "not-json" else json.dumps(fx.results(schema_version=2)))
    proc = subprocess.run([sys.executable, "-m", "reports", "diff", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") or "error: argument --margin-change" in last
    if case in ("missing", "schema"):
        assert last.startswith("error: NEW: ") and ("no such file" in last or "schema_version is 2" in last)
