"""verify/schedule.py: the heaviest-first file order for xdist's loadfile distribution."""

from __future__ import annotations

import json

from verify import schedule

LOG = """
============================= slowest durations =============================
83.72s call     verify/gd_cot/test_theorem4_3.py::test_trained_reaches_reduced_optimum
0.50s setup    verify/gd_cot/test_theorem4_3.py::test_reduced_optimum_exact
2.00s call     verify/tree_paths/test_theorem1.py::test_symbolic_construction_identity[3]
1.00s call     verify/tree_paths/test_theorem1.py::test_symbolic_construction_identity[4]
(3 durations < 0.005s hidden.  Use -vv to show these durations.)
"""


def test_parse_durations_sums_per_file():
    got = schedule.parse_durations(LOG)
    assert got == {"verify/gd_cot/test_theorem4_3.py": 84.22, "verify/tree_paths/test_theorem1.py": 3.0}


def test_heaviest_first_with_unknown_files(tmp_path, monkeypatch):
    table = tmp_path / "file_seconds.json"
    table.write_text(json.dumps({"quick": {"b.py": 50.0, "c.py": 0.2}}))
    monkeypatch.setattr(schedule, "TABLE", table)
    rank = schedule.heaviest_first(["a.py", "c.py", "b.py", "a.py"], "quick")
    assert rank == {"b.py": 0, "a.py": 1, "c.py": 2}  # a.py unknown: UNKNOWN_SECONDS (1 s) sits between
    assert schedule.heaviest_first(["a.py", "c.py"], "paper") == {"a.py": 0, "c.py": 1}  # no table: kept as is


def test_cli_writes_the_table(tmp_path, monkeypatch, capsys):
    log = tmp_path / "log.txt"
    log.write_text(LOG)
    monkeypatch.setattr(schedule, "TABLE", tmp_path / "file_seconds.json")
    assert schedule.main([str(log), "--profile", "quick"]) == 0
    assert list(json.loads((tmp_path / "file_seconds.json").read_text())["quick"]) == [
        "verify/gd_cot/test_theorem4_3.py", "verify/tree_paths/test_theorem1.py"]  # heaviest first
    empty = tmp_path / "empty.txt"
    empty.write_text("no durations here\n")
    assert schedule.main([str(empty), "--profile", "quick"]) == 2
    assert "no duration lines" in capsys.readouterr().err


def test_cli_reads_a_results_json(tmp_path, monkeypatch, capsys):
    """A run's results.json is a source too: its records' seconds summed per file."""
    table = tmp_path / "file_seconds.json"
    table.write_text(json.dumps({"quick": {"x.py": 1.0}}))
    monkeypatch.setattr(schedule, "TABLE", table)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"evidence": [
        {"nodeid": "verify/a/test_x.py::test_one", "seconds": 2.5},
        {"nodeid": "verify/a/test_x.py::test_two[3]", "seconds": 1.0},
        {"nodeid": "verify/b/test_y.py::test_z", "seconds": None}]}))
    assert schedule.main([str(results), "--profile", "paper"]) == 0
    got = json.loads(table.read_text())
    assert got["paper"] == {"verify/a/test_x.py": 3.5, "verify/b/test_y.py": 0.0} and got["quick"] == {"x.py": 1.0}


def test_cli_merge_keeps_the_other_files(tmp_path, monkeypatch):
    """--merge updates the measured files and keeps the profile's others (a verify/-only report must not drop the
    tests/ entries that order `make test`); without it the profile's table is replaced."""
    table = tmp_path / "file_seconds.json"
    table.write_text(json.dumps({"quick": {"tests/test_a.py": 90.0, "verify/gd_cot/test_theorem4_3.py": 10.0}}))
    monkeypatch.setattr(schedule, "TABLE", table)
    log = tmp_path / "log.txt"
    log.write_text(LOG)
    assert schedule.main([str(log), "--profile", "quick", "--merge"]) == 0
    got = json.loads(table.read_text())["quick"]
    assert got == {"tests/test_a.py": 90.0, "verify/gd_cot/test_theorem4_3.py": 84.2,
                   "verify/tree_paths/test_theorem1.py": 3.0}
    assert list(got) == ["tests/test_a.py", "verify/gd_cot/test_theorem4_3.py", "verify/tree_paths/test_theorem1.py"]
    assert schedule.main([str(log), "--profile", "quick"]) == 0
    assert "tests/test_a.py" not in json.loads(table.read_text())["quick"]
