"""python -m dynamics.integrate: output, JSON contract, errors; exact Wishart moments."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sympy as sp

from constructions.errors import ProofCheckError
from constructions.gd_cot.wishart import MAX_ORDER, trace_moment
from dynamics.integrate import main


def test_eigenspace_json_and_plot(tmp_path, capsys):
    out, png = tmp_path / "t.json", tmp_path / "t.png"
    assert main(["--eigenspace", "--d", "3", "--n", "8", "--k", "5", "--t-max", "50000", "--samples", "512",
                 "--json", str(out), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "limit:" in text and "reached (V31, W13) = (-eta I, I)" in text
    data = json.loads(out.read_text())
    assert {"d", "n", "k", "eta", "init_scale", "t_max", "seed"} <= set(data["params"])
    assert len(data["t"]) == len(data["a"]) == len(data["b"]) == len(data["loss"])
    assert all(len(row) == 3 for row in data["a"])
    assert png.stat().st_size > 1000


def test_scalar_entries_are_numbers(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["--scalar", "--k", "4", "--json", str(out), "--quiet", "--t-max", "1e5"]) == 0
    data = json.loads(out.read_text())
    assert all(isinstance(v, float) for v in data["a"] + data["b"])


@pytest.mark.parametrize("flags, words", [(["--k", "0"], "k (the number of CoT steps)"),
                                          (["--eta", "-1"], "eta"), (["--init-scale", "0"], "init_scale"),
                                          (["--scalar", "--k", "30"], "order")])
def test_bad_values_one_line_exit_2(flags, words, capsys):
    assert main(flags + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0]


def test_unknown_flag_exits_2():
    r = subprocess.run([sys.executable, "-m", "dynamics.integrate", "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr and "Traceback" not in r.stderr


def test_wishart_moments_symbolic_and_guard():
    n, d = sp.symbols("n d")
    assert sp.expand(trace_moment(2, n, d) - n * d * (n + d + 1)) == 0
    with pytest.raises(ProofCheckError, match="order"):
        trace_moment(MAX_ORDER + 1, 10, 5)


@pytest.mark.parametrize("flags, words", [
    (["--rows", "-1"], "rows (rows of the printed table) must be a positive integer"),
    (["--seed", "-1"], "seed must be a non-negative integer"),
    (["--samples", "1"], "samples (the size of the Wishart sample) must be at least 2"),
    (["--json", "/proc/x.json"], "--json /proc/x.json: cannot write there"),
    (["--plot", "/nonexistent/dir/p.png"], "--plot /nonexistent/dir/p.png: the folder /nonexistent/dir does not exist"),
])
def test_bad_options_caught_before_work(flags, words, monkeypatch, capsys):
    import dynamics.gd_cot

    def no_work(*a, **k):
        raise AssertionError("the integration started")

    monkeypatch.setattr(dynamics.gd_cot, "reduced_flow", no_work)
    assert main(flags + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0], err
    assert not __import__("pathlib").Path("/nonexistent/dir").exists()


def test_not_at_the_fixed_point_exits_1_and_json_is_strict(tmp_path, capsys):
    out = tmp_path / "short.json"
    assert main(["--scalar", "--k", "4", "--t-max", "1", "--quiet", "--json", str(out)]) == 1
    assert "NOT at (-eta I, I)" in capsys.readouterr().out

    def no_constants(name):
        raise AssertionError(f"bare {name} in the JSON")

    data = json.loads(out.read_text(), parse_constant=no_constants)
    assert data["converged"] is False
