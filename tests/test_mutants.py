"""The mutation harness itself (bench/mutants.py): its data matches the tree and its CLI answers bad input in one
line. Fast: no mutant is run here."""

import subprocess
import sys
from pathlib import Path

import pytest

from bench import mutants

REPO = Path(__file__).resolve().parents[1]


def test_every_snippet_matches_exactly_once():
    ids = [m.id for m in mutants.MUTANTS]
    assert len(ids) == len(set(ids))
    for m in mutants.MUTANTS:
        mutated = mutants.validate(m)  # raises unless the snippet occurs exactly once
        assert mutated != (REPO / m.file).read_text()
        for t in m.tests:
            assert (REPO / t.split("::")[0]).exists(), (m.id, t)


def test_spread_over_papers_and_folders():
    live = [m for m in mutants.MUTANTS if not m.equivalent]
    assert len(live) >= 20
    for paper in mutants.PAPERS:
        assert sum(m.paper == paper for m in live) >= 5, paper
    assert {m.file.split("/")[0] for m in live} == {"constructions", "dynamics"}


def test_snippet_that_does_not_match_is_a_clear_error():
    bad = mutants.Mutant("x", "gd_cot", "constructions/gd_cot/wishart.py", "no such text", "y", "d", ("tests/",))
    with pytest.raises(ValueError, match="exactly once.*found 0 times"):
        mutants.validate(bad)


def test_classify_and_score():
    assert mutants.classify(0, "3 passed")[0] == "survived"
    assert mutants.classify(1, "FAILED tests/a.py::t - x\n1 failed")[0] == "caught"
    assert mutants.classify(2, "ERROR tests/a.py - ImportError")[0] == "error"
    assert mutants.classify(None, "")[0] == "error"
    rs = [{"paper": "gd_cot", "status": s} for s in ("caught", "error", "survived", "equivalent")]
    s = mutants.score(rs)
    assert (s["caught"], s["total"], s["equivalent"], s["by_error"]) == (2, 3, 1, 1)
    assert s["per_paper"]["gd_cot"]["caught"] == 2


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "bench", "mutants", *args], cwd=REPO, capture_output=True, text=True)


def test_list():
    proc = _cli("--list")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == len(mutants.MUTANTS)
    assert mutants.MUTANTS[0].id in proc.stdout


@pytest.mark.parametrize("args", [("--only", "no_such_mutant"), ("--only", "gd_wishart_stein,nope", "--list"),
                                  ("--only", "gd_wishart_stein", "--json", "/dev/null/x.json"),
                                  ("--only", "gd_wishart_stein", "--jobs", "0")])
def test_bad_input_is_one_line_exit_2(args):
    proc = _cli(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert proc.stderr.startswith("error: ")
