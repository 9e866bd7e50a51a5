"""sweeps: the same map gives the same verdicts on every executor (a real Dask LocalCluster is started), bad
input fails before any work, and the boundary table reads the map."""

from __future__ import annotations

import numpy as np
import pytest

from constructions.errors import ProofCheckError
from sweeps import engine, plot
from sweeps.__main__ import main

TINY = dict(profile="quick", seeds=2, grid={"sigma": (0.03, 1.0), "k": (5,)}, progress=False)


@pytest.fixture(scope="module")
def serial_run():
    return engine.run_map("gd_cot", executor="serial", **TINY)


def test_dask_local_cluster_gives_the_serial_verdicts(serial_run):
    dask_run = engine.run_map("gd_cot", executor="dask", workers=2, measure_overhead=True, **TINY)
    assert dask_run.workers == 2 and dask_run.overhead_seconds_per_task > 0
    for a, b in zip(serial_run.cells, dask_run.cells):
        assert (a["x"], a["y"], a["verdict"], a["passed"]) == (b["x"], b["y"], b["verdict"], b["passed"])
        assert a["margins"] == b["margins"]  # pure, seeded cells: the same numbers on every executor


def test_map_reads_small_init_holds_large_init_fails(serial_run):
    """Theorem 4.1's criterion inside its region (sigma = 0.03) and a near-miss outside it (sigma = 1)."""
    assert serial_run.cell(0.03, 5)["verdict"] == "holds" and serial_run.cell(0.03, 5)["in_region"]
    assert serial_run.cell(1.0, 5)["verdict"] == "fails" and not serial_run.cell(1.0, 5)["in_region"]
    assert plot.boundary_lines(serial_run) == ["k = 5: holds on every seed up to sigma = 0.03; first failure at "
                                               "sigma = 1"]


@pytest.mark.parametrize("kwargs, needle", [
    (dict(executor="ray"), "unknown executor"),
    (dict(executor="serial", address="tcp://x:1"), "--address needs --executor dask"),
    (dict(seeds=0), "--seeds must be at least 1"),
    (dict(workers=0, executor="dask"), "--workers must be at least 1"),
    (dict(profile="huge"), "unknown profile"),
])
def test_bad_arguments_fail_before_work(kwargs, needle):
    with pytest.raises(ProofCheckError, match=needle):
        engine.run_map("gd_cot", progress=False, **kwargs)


@pytest.mark.parametrize("argv, needle", [
    (["gd_cot", "--grid", "sigma"], "expected sigma=v1,v2"),
    (["gd_cot", "--grid", "tau=1"], "expected sigma=v1,v2"),
    (["gd_cot", "--grid", "sigma=-1"], "positive numbers"),
    (["gd_cot", "--grid", "k=2.5"], "k takes integers"),
    (["gd_cot", "--out", "/proc/maps"], "not writable"),
    ([], "name a map"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]


def test_cli_list(capsys):
    assert main(["--list"]) == 0
    assert "gd_cot: " in capsys.readouterr().out


def test_pattern_cot_cell_criterion_inside_and_far_outside():
    """pattern_cot map, one seed, serial, no cache: inside the paper's region (orthonormal test patterns, alpha' = 1,
    l_ts = 100 >= l*) the trained CoT error is the oracle's within 0.05; far outside (overlap 0.6, alpha' = 0.4) the
    excess is ~0.14 and the same criterion rejects it."""
    run = engine.run_map("pattern_cot", executor="serial", profile="quick", seeds=1, progress=False,
                         grid={"overlap": (0.0, 0.6), "alpha_p": (0.4, 1.0)})
    inside, outside = run.cell(0.0, 1.0), run.cell(0.6, 0.4)
    assert inside["in_region"] and inside["verdict"] == "holds" and inside["margin_min"] > 1
    assert not outside["in_region"] and outside["verdict"] == "fails" and outside["margin_min"] < 1
    d = outside["details"][0]
    assert d["excess_upper"] > 0.05 and d["icl_error"] > 0.3  # Condition 1 fails: ICL stays Omega(1)


def test_grid_accepts_zero_on_overlap_axes_only():
    from sweeps.maps import get

    assert engine.parse_grid(["overlap=0,0.3"], get("pattern_cot")) == {"overlap": (0.0, 0.3)}
    assert engine.parse_grid(["depth=2,4"], get("tree_paths")) == {"depth": (2, 4)}
    with pytest.raises(ProofCheckError, match="non-negative numbers"):
        engine.parse_grid(["rho=-0.1"], get("tree_paths"))
    with pytest.raises(ProofCheckError, match="positive numbers"):
        engine.parse_grid(["sigma=0"], get("gd_cot"))


def test_tree_map_rho0_reuses_theorem4_training(monkeypatch):
    """At rho = 0 the map takes theorem3/4's one-hot B (same instance, steps, seed) instead of training it again;
    at another rho or step count (near misses) it trains its own block."""
    from sweeps import maps
    from verify.tree_paths import helpers as th

    stub = np.arange(3 * 4, dtype=float).reshape(3, 2, 2)
    monkeypatch.setattr(th, "backward_sgd_seeds", lambda profile: (stub, None, (0, 1, 2)))
    own = []
    monkeypatch.setattr(maps, "_tree_backward_block", lambda rho, first, steps, block: own.append((rho, first, steps, block)) or stub * 0)
    quick_steps = th.STEPS["quick"]["backward_sgd"]
    assert np.array_equal(maps.tree_backward_trained(0.0, 1, quick_steps), stub[1])
    assert not own
    maps.tree_backward_trained(0.1, 1, quick_steps)
    maps.tree_backward_trained(0.0, 1, quick_steps + 1)
    maps.tree_backward_trained(0.1, 2, quick_steps, 8)
    assert own == [(0.1, 0, quick_steps, 3), (0.0, 0, quick_steps + 1, 3), (0.1, 0, quick_steps, 8)]


def test_pattern_map_reuses_the_main_run(monkeypatch):
    """The pattern_cot map takes a seed's model from the batched main run when configuration, steps and seed
    match; another seed (near miss) trains its own solo run."""
    from sweeps import maps
    from verify.pattern_cot import helpers as ph

    monkeypatch.setattr(ph, "solo_models", lambda profile: (["m0", "m1", "m2"], "geom", (0, 1, 2)))
    monkeypatch.setattr(ph, "seeds", lambda profile: (0, 1, 2))
    maps.pattern_model.cache_clear()
    assert maps.pattern_model(2, "quick") == ("m2", "geom")
    class OwnRun(Exception):
        pass

    def own_run(seed, steps, **p):
        raise OwnRun(seed)

    monkeypatch.setattr(maps, "_pattern_trained", own_run)
    with pytest.raises(OwnRun, match="5"):
        maps.pattern_model(5, "quick")
    maps.pattern_model.cache_clear()


def test_probe_maps_run_in_process_unless_a_scheduler_is_named(monkeypatch):
    """Inside a pytest run the maps go to a Dask scheduler only when PROOFCHECK_DASK_ADDRESS names one (paper
    profile); otherwise, and always in quick, they run in-process beside the test workers."""
    from sweeps.probe import DASK_ADDRESS_ENV, probe_executor

    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)
    assert probe_executor("paper") == probe_executor("quick") == ("serial", None)
    monkeypatch.setenv(DASK_ADDRESS_ENV, "tcp://scheduler:8786")
    assert probe_executor("paper") == ("dask", "tcp://scheduler:8786")
    assert probe_executor("quick") == ("serial", None)
