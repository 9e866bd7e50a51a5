"""``python -m reports``: exit codes, bad input, and the atomic swap of the report folder.

None of these tests runs the real verify suite: pytest's launch is replaced, or --render-only is used.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typst

from reports import cli, render
from tests import report_fixture as fx

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def all_pass() -> dict:
    data = fx.results()
    data["evidence"] = [r for r in data["evidence"] if r["claim"] != "demo.lemma2"]
    return data


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f"{out.name}."))


def old_report(out: Path) -> Path:
    """A previous report at ``out``, with a marker file a new report would not have."""
    fx.write(out)
    (out / "proof-check.md").write_text("old report\n")
    (out / "marker").write_text("old")
    return out


# --- render-only end to end (subprocess) -------------------------------------------------------------
def test_render_only_writes_report_and_exits_1_on_a_failing_claim(tmp_path):
    out = old_report(tmp_path / "out")
    proc = run_cli("--render-only", "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip() == f"3 claims: 2 holds, 1 fail; report at {out / 'proof-check.pdf'}"
    assert (out / "proof-check.pdf").read_bytes().startswith(b"%PDF")
    assert "## Summary" in (out / "proof-check.md").read_text()
    assert (out / "figures" / "convergence.png").is_file()
    assert not (out / "marker").exists()  # the folder was replaced, not patched
    assert leftovers(out) == []


def test_render_only_exits_0_when_every_claim_passes(tmp_path):
    out = tmp_path / "out"
    fx.write(out, all_pass())
    assert cli.main(["--render-only", "--out", str(out)]) == 0
    assert (out / "proof-check.pdf").is_file()
    assert leftovers(out) == []


# --- atomic swap -------------------------------------------------------------------------------------
@pytest.mark.parametrize("exc, code", [(typst.TypstError("boom"), 3), (KeyboardInterrupt(), 130)])
def test_failed_render_keeps_the_old_report(tmp_path, monkeypatch, capsys, exc, code):
    out = old_report(tmp_path / "out")

    def broken(out_dir):
        raise exc

    monkeypatch.setattr(render, "write_pdf", broken)
    assert cli.main(["--render-only", "--out", str(out)]) == code
    assert (out / "proof-check.md").read_text() == "old report\n"
    assert (out / "marker").read_text() == "old"
    assert leftovers(out) == []  # the stage folder was removed
    err = capsys.readouterr().err
    assert "previous report is unchanged" in err and len(err.strip().splitlines()) == 1


def test_swap_failure_puts_the_old_report_back(tmp_path, monkeypatch):
    out = old_report(tmp_path / "out")
    stage = cli.make_stage(out)
    real_rename = cli.os.rename

    def rename(src, dst):
        if Path(src) == stage:
            raise OSError("disk gone")
        return real_rename(src, dst)

    monkeypatch.setattr(cli.os, "rename", rename)
    with pytest.raises(OSError):
        cli.swap(stage, out)
    assert (out / "marker").read_text() == "old"


def test_backup_left_by_a_killed_swap_is_restored(tmp_path):
    out = tmp_path / "out"
    backup = old_report(tmp_path / "out.old-abc123")
    cli.restore_backup(out)
    assert (out / "marker").is_file() and not backup.exists()


# --- the pytest run (its launch replaced) ------------------------------------------------------------
def test_pytest_command_and_pipeline(tmp_path, monkeypatch, capsys):
    out = old_report(tmp_path / "out")
    seen = {}

    def fake_run(cmd, cwd):
        seen["cmd"], seen["cwd"] = cmd, cwd
        fx.write(Path(cmd[cmd.index("--evidence-out") + 1]).parent, all_pass())
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(cli.subprocess, "run", fake_run)
    assert cli.main(["--profile", "paper", "--only", "gd_cot.*", "--out", str(out)]) == 0
    cmd = seen["cmd"]
    assert cmd[:5] == [sys.executable, "-m", "pytest", "verify", "-q"]
    assert cmd[cmd.index("--proofcheck-profile") + 1] == "paper" and cmd[cmd.index("--only") + 1] == "gd_cot.*"
    stage = Path(cmd[cmd.index("--evidence-out") + 1]).parent
    assert stage.parent == out.parent and stage.name.startswith("out.stage-")
    assert seen["cwd"] == cli.REPO
    assert not (out / "marker").exists() and (out / "proof-check.pdf").is_file() and leftovers(out) == []
    md = (out / "proof-check.md").read_text()
    assert "--evidence-out" in md and "stage-" not in md  # the report shows the final path, not the stage
    assert "report at" in capsys.readouterr().out


@pytest.mark.parametrize("rc", [2, 3, 4])
def test_pytest_crash_keeps_the_old_report(tmp_path, monkeypatch, rc):
    out = old_report(tmp_path / "out")
    monkeypatch.setattr(cli.subprocess, "run", lambda cmd, cwd: subprocess.CompletedProcess(cmd, rc))
    assert cli.main(["--out", str(out)]) == 3
    assert (out / "marker").is_file() and leftovers(out) == []


def test_bad_only_does_not_launch_pytest(tmp_path, monkeypatch, capsys):
    def no_run(*a, **k):
        raise AssertionError("pytest was launched")

    monkeypatch.setattr(cli.subprocess, "run", no_run)
    assert cli.main(["--only", "no_such_paper.*", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("error: --only 'no_such_paper.*' matches no claim id")
    assert list(tmp_path.iterdir()) == []


# --- bad input (subprocess: one line, no traceback, exit 2) ------------------------------------------
def bad_inputs(tmp_path: Path) -> dict[str, list[str]]:
    afile = tmp_path / "afile"
    afile.write_text("")
    wrong = tmp_path / "wrong"
    fx.write(wrong, fx.results(schema_version=7), figure=False)
    return {
        "profile": ["--profile", "huge"],
        "only": ["--only", "no_such_paper.*", "--out", str(tmp_path / "o1")],
        "proc": ["--out", "/proc/proofcheck-out"],
        "under-file": ["--out", str(afile / "out")],
        "out-is-file": ["--out", str(afile)],
        "no-results": ["--render-only", "--out", str(tmp_path / "empty")],
        "schema": ["--render-only", "--out", str(wrong)],
        "render-only-with-only": ["--render-only", "--only", "gd_cot.*", "--out", str(wrong)],
        "jobs": ["--jobs", "0"],
        "only-empty": ["--only", "", "--out", str(tmp_path / "o1")],
        "only-blank": ["--only", " , ", "--out", str(tmp_path / "o1")],
    }


@pytest.mark.parametrize("case", ["profile", "only", "proc", "under-file", "out-is-file", "no-results", "schema",
                                  "render-only-with-only", "jobs", "only-empty", "only-blank"])
def test_bad_input_is_one_line(tmp_path, case):
    proc = run_cli(*bad_inputs(tmp_path)[case])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""  # stdout empty: pytest never started
    lines = proc.stderr.strip().splitlines()
    if case in ("profile", "jobs"):  # argparse: usage, then one error line
        assert lines[-1].startswith(f"python -m reports: error: argument --{case}")
    else:
        assert len(lines) == 1 and lines[0].startswith("error: ")
    assert not (tmp_path / "o1").exists()


def test_only_accepts_the_gd_cot_claims():
    from verify import claims

    assert claims.select("gd_cot.*")  # the glob the Makefile's example uses matches something


def test_speed_lines_from_benchmarks():
    from reports import render

    row = {"k": 20, "dtype": "float32", "ratio_per_step": 11.0, "ratio_to_criterion": 10.5,
           "baseline": {"ms_per_step": 22.0, "seconds": 15.0}, "suite": {"ms_per_step": 2.0, "seconds": 1.4}}
    lines = render.speed_lines({"benchmarks": {"gd_cot_training": {"created": "2026-11-22 11:00 UTC", "rows": [row]}}})
    assert lines == ["gd_cot_training (run 2026-11-22 11:00 UTC), k=20 float32: suite path 11.0x faster per step "
                     "than the step-by-step baseline (2.00 ms vs 22.00 ms), 10.5x to the criterion (1.4 s vs 15.0 s)"]
    assert render.speed_lines({})[0].startswith("no benchmark run yet")


def test_timing_lines_per_step_and_per_sample(monkeypatch):
    from verify import timings

    monkeypatch.setattr(timings, "_RECORDS", [])

    rec = timings.record("t", steps=100, batch=256, seconds=0.5, d=5)
    assert (rec["ms_per_step"], rec["us_per_sample"]) == (5.0, 0.5e6 / 25600)
    assert render.timing_lines({"timings": [rec]}) == [
        "t: 5.00 ms per step, 19.5 us per sample (100 steps of 256 samples in 0.5 s)"]
    assert render.timing_lines({})[0] == "no training ran in this report"
    with pytest.raises(ValueError, match="steps > 0"):
        timings.record("bad", steps=0, batch=256, seconds=1.0)


def test_timings_record_a_recalled_run_once(monkeypatch):
    from verify import timings

    monkeypatch.setattr(timings, "_RECORDS", [])
    first = timings.record("t", steps=100, batch=256, seconds=0.5, d=5)
    assert timings.record("t", steps=100, batch=256, seconds=0.5, d=5) is first  # a cached accessor called again
    timings.record("t", steps=100, batch=256, seconds=0.5, d=6)  # near miss: another run of the same name
    assert len(timings.collected()) == 2
    worker = dict(first)  # the same run reported by a second xdist worker or shard
    assert timings.unique([first, worker, timings.collected()[1]]) == timings.collected()


def test_known_failures_do_not_count_as_unexpected():
    rec = lambda claim, verdict, role="check", message=None: dict(claim=claim, verdict=verdict, role=role,  # noqa: E731
                                                                  message=message)
    records = [rec("a.t1", "pass"), rec("a.t1", "known_failure", message="known failure: x: boom"),
               rec("a.t2", "fail", role="probe"), rec("a.t3", "pass"), rec("a.t4", "not_reproduced")]
    assert cli._unexpected_failures(records) == (0, 2)
    assert cli._unexpected_failures(records + [rec("a.t3", "fail", message="AssertionError")]) == (1, 2)
    assert cli._unexpected_failures(records + [rec("a.t2", "error")]) == (1, 2)


def test_list_and_version():
    from verify import claims

    listed = run_cli("--list")
    assert listed.returncode == 0
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line.startswith("  ")}
    assert set(rows) == set(claims.claims())
    for cid, claim in claims.claims().items():
        assert claims.plain_text(claim.title) in rows[cid] and "$" not in rows[cid]
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip().startswith("cot-proofcheck 0.")


def test_sigterm_removes_the_stage_folder(tmp_path):
    """SIGTERM (a timeout, a job kill) unwinds like Ctrl-C: no OUT.stage-* is left, OUT is unchanged, exit 143."""
    import signal
    import time

    out = old_report(tmp_path / "out")
    code = ("import sys, time; from reports import cli; "
            "cli._run_pytest = lambda *a, **k: time.sleep(120); "
            f"sys.exit(cli.main(['--out', {str(out)!r}]))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while not any(n.startswith("out.stage-") for n in leftovers(out)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated (SIGTERM)" in err and "Traceback" not in err
    assert leftovers(out) == [] and (out / "marker").is_file()
