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
