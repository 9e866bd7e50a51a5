"""The benchmark runs end to end on tiny settings and rejects bad input with one line."""

import subprocess
import sys
from pathlib import Path

from bench import gd_cot_training

REPO = Path(__file__).resolve().parents[1]


def test_tiny_run_has_every_field():
    result = gd_cot_training.run(ks=[2], dtypes=["float64"], timing_steps=2, max_steps=25)
    (row,) = result["rows"]
    for impl in ("baseline", "suite"):
        assert row[impl]["ms_per_step"] > 0 and row[impl]["peak_memory_mb"] > 0
        assert row[impl]["steps"] is None or row[impl]["steps"] <= 25
    assert row["ratio_per_step"] > 0
    assert gd_cot_training.table(result).splitlines()[2].split()[:2] == ["2", "float64"]


def test_bad_input_is_one_line():
    for args in (["gd_cot_training", "--ks", "0"], ["gd_cot_training", "--dtypes", "float16"],
                 ["gd_cot_training", "--ks", "x"]):
        proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr


def test_tiny_seeds_run_has_every_field():
    from bench import gd_cot_seeds

    result = gd_cot_seeds.run(seed_counts=[1, 2], dtypes=["float64"], k=2, timing_steps=2)
    assert [(r["path"], r["S"]) for r in result["rows"]] == [("solo", 1), ("seeded", 1), ("seeded", 2)]
    for row in result["rows"]:
        assert row["ms_per_step"] > 0 and row["ms_sampling"] > 0 and row["ratio_to_solo"] > 0
    assert result["ratio_max_S_to_solo"]["float64"] == result["rows"][-1]["ratio_to_solo"]
    assert gd_cot_seeds.table(result).splitlines()[3].split()[:3] == ["float64", "solo", "1"]


def test_seeds_bad_input_is_one_line_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for args in (["--seeds", "0"], ["--seeds", "1,x"], ["--k", "-1"], ["--timing-steps", "0"],
                 ["--dtypes", "float16"], ["--json", str(blocker / "out.json")], ["--json", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", "bench", "gd_cot_seeds", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
        assert "[bench]" not in proc.stderr  # rejected before the work started


def test_flags_are_named_and_checked_before_any_work():
    for args, words in ((["--ks", "abc"], "--ks (CoT lengths) must be a positive integer (got 'abc')"),
                        (["--timing-steps", "-1"], "--timing-steps (the number of timed steps) must be a positive"),
                        (["--json", "/proc/x.json"], "--json /proc/x.json: cannot write there")):
        proc = subprocess.run([sys.executable, "-m", "bench", "gd_cot_training", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stderr.strip() == f"error: {proc.stderr.strip()[7:]}"
        assert words in proc.stderr and "USDT" not in proc.stderr and proc.stdout == "", proc.stderr


def test_no_profiler_lines_on_stderr(tmp_path):
    out = tmp_path / "b.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "gd_cot_training", "--ks", "2", "--dtypes", "float64",
                           "--timing-steps", "2", "--max-steps", "5", "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and out.is_file(), proc.stderr
    assert "profiler" not in proc.stderr and "USDT" not in proc.stderr, proc.stderr
