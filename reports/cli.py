"""``python -m reports``: run the claim checks under pytest, render the report, swap it into place.

Sub-commands: ``python -m reports diff OLD NEW`` compares two results.json files (reports/diff.py);
``python -m reports merge OUT SHARD...`` merges the results of shard runs (reports/merge.py);
``--list`` prints the claim ids with their titles; ``--version`` the suite's version.

Exit status: 0 report written and every claim passes (or is skipped); 1 report written but some claim
fails or errors (or pytest failed outside any claim); 2 bad input; 3 no report could be written (the
previous report, if any, is left as it was); 130 interrupted (Ctrl-C), 143 terminated (SIGTERM): the stage
folder is removed and OUT is left as it was.

The report is built in a fresh folder next to OUT (``OUT.stage-*``) and only then swapped in:
OUT -> ``OUT.old-*``, stage -> OUT, backup deleted. A failed or interrupted run removes its stage folder
and never touches OUT; a run killed between the two renames leaves ``OUT.old-*``, which the next run
renames back to OUT before it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from constructions.errors import ProofCheckError
from reports import __version__, render
from verify.evidence import claim_verdict, is_probe_claim

REPO = Path(__file__).resolve().parents[1]  # the checkout, or site-packages when installed
CHECKOUT = (REPO / "pyproject.toml").is_file()
# In a checkout: reports/out; installed: ./proofcheck-report in the working directory (never site-packages).
DEFAULT_OUT = REPO / "reports" / "out" if CHECKOUT else Path("proofcheck-report")


class RenderFailed(Exception):
    """No report could be written; the message says why (exit status 3)."""


class Terminated(BaseException):
    """SIGTERM arrived (a timeout, a cluster job kill): unwind like Ctrl-C, so the stage folder is removed."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _parser() -> argparse.ArgumentParser:
    from verify.plugin import PROFILES

    p = argparse.ArgumentParser(prog="python -m reports",
                                description="Run the proof checks and render the report. "
                                            "'python -m reports diff OLD NEW' compares two results.json files.")
    p.add_argument("--version", action="version", version=f"cot-proofcheck {__version__}")
    p.add_argument("--list", action="store_true", help="print the claim ids with their titles and exit")
    p.add_argument("--profile", choices=PROFILES, default=None, help="quick (default) or paper")
    p.add_argument("--out", default=str(DEFAULT_OUT),
                   help="report folder (default: reports/out in a checkout, ./proofcheck-report when installed)")
    p.add_argument("--only", default=None, help="comma-separated globs of claim ids, e.g. 'gd_cot.*'")
    p.add_argument("--render-only", action="store_true", help="re-render OUT/results.json without running pytest")
    p.add_argument("--jobs", default="1", type=_jobs,
                   help="pytest-xdist workers: a number, or 'auto' (one per CPU); default 1 (serial)")
    p.add_argument("--no-cache", action="store_true", help="retrain every model (ignore the disk cache)")
    p.add_argument("--cache-dir", default=None, help="disk cache of trained models (default .proofcheck-cache)")
    return p


def _jobs(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 1):
        return value
    raise argparse.ArgumentTypeError(f"--jobs must be a positive integer or 'auto' (got {value!r})")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["diff"]:
        from reports import diff

        return diff.main(argv[1:])
    if argv[:1] == ["merge"]:
        from reports import merge

        return merge.main(argv[1:])
    args = _parser().parse_args(argv)  # argparse prints usage + one error line and exits 2
    if args.list:
        print(list_claims())
        return 0
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return run(args)
    except Terminated:
        print("terminated (SIGTERM); any previous report is unchanged", file=sys.stderr)
        return 143
    except ProofCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RenderFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted; any previous report is unchanged", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def list_claims() -> str:
    """One line per claim, grouped by paper: 'claim id  title  [provenance]' (the title as plain text)."""
    from verify import claims

    papers, table = claims.papers(), claims.claims()
    width = max(map(len, table), default=0)
    lines = []
    for pid, paper in papers.items():
        lines.append(f"{pid}: {paper.title}")
        lines += [f"  {cid:<{width}}  {claims.plain_text(c.title)}  [{c.provenance}]"
                  for cid, c in table.items() if c.paper == pid]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out).absolute()
    if args.render_only and (args.profile or args.only or args.jobs != "1" or args.no_cache or args.cache_dir):
        raise ProofCheckError("--render-only re-renders OUT/results.json; --profile, --only, --jobs and the cache "
                              "options do not apply")
    if args.only is not None and not args.only.strip():
        raise ProofCheckError("--only is empty: give comma-separated globs of claim ids, e.g. 'gd_cot.*' "
                              "(python -m reports --list shows them)")
    if args.only:
        from verify import claims

        claims.select(args.only)  # raises ProofCheckError when a glob matches no claim id
    restore_backup(out)
    if args.render_only:
        if not (out / "results.json").is_file():
            raise ProofCheckError(f"--render-only: no results.json in {out}")
        render.load_results(out / "results.json")  # bad schema: exit 2 before anything is built
    stage = make_stage(out)
    try:
        if args.render_only:
            command = None
            _copy_inputs(out, stage)
            pytest_rc = 0
        else:
            command, pytest_rc = _run_pytest(stage, args.profile or "quick", args.only, out, _extra(args))
        try:
            summary = render.write_report(stage, command=command)
        except (ProofCheckError, OSError, RuntimeError) as exc:  # typst.TypstError is a RuntimeError
            raise RenderFailed(f"could not render the report ({type(exc).__name__}: {exc}); "
                               f"any previous report is unchanged") from None
        swap(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    print(f"{summary['line']}; report at {_shown(out / 'proof-check.pdf')}")
    results = json.loads((out / "results.json").read_text())
    bad, known = _unexpected_failures(results["evidence"], results["claims"])
    if known:
        print(f"note: {known} check(s) are expected failures (known failure or not reproduced, strict xfail); "
              "their claims say so, and they do not change the exit status", file=sys.stderr)
    missed = sum(r["role"] == "probe" and r["verdict"] == "fail" for r in results["evidence"])
    if missed:
        print(f"note: {missed} probe(s) did not meet their expectation (each reads 'finding: not met' in the "
              "report; probes never count toward a claim)", file=sys.stderr)
    if not bad and pytest_rc == 1:
        print("warning: pytest reported failures outside any claim's checks (see its output above)", file=sys.stderr)
        return 1
    return 1 if bad else 0


def _unexpected_failures(records: list[dict], claims: dict | None = None) -> tuple[int, int]:
    """(claims whose verdict is fail or error, number of expected-failure checks), through the same
    :func:`verify.evidence.claim_verdict` as the report: probes never count, known failures and not-reproduced
    checks are expected."""
    by_claim: dict[str, list[dict]] = {}
    for r in records:
        by_claim.setdefault(r["claim"], []).append(r)
    relation = {cid: (c.get("tested") or ["same"])[0] for cid, c in (claims or {}).items()}
    bad = sum(claim_verdict(rs, relation.get(cid, "same"), probe=is_probe_claim(cid)) in ("fail", "error")
              for cid, rs in by_claim.items())
    return bad, sum(r["verdict"] in ("known_failure", "not_reproduced") for r in records)


def _extra(args: argparse.Namespace) -> list[str]:
    """pytest options for --jobs and the cache flags."""
    extra = ["-n", args.jobs, "--dist", "loadfile"] if args.jobs != "1" else []
    if args.no_cache:
        extra.append("--no-cache")
    if args.cache_dir:
        extra += ["--cache-dir", str(Path(args.cache_dir).absolute())]
    return extra


def _run_pytest(stage: Path, profile: str, only: str | None, out: Path, extra: list[str] = ()) -> tuple[str, int]:
    """Run the verify suite into ``stage``; return the command to show in the report and pytest's status."""
    args = ["verify", "-q", "-p", "no:cacheprovider", "--proofcheck-profile", profile, *extra]
    if not CHECKOUT:  # installed: the checks run from site-packages; the plugin comes from its entry point
        args = [str(REPO / "verify"), "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO),
                "--proofcheck-profile", profile, *extra]
    if only:
        args += ["--only", only]
    cmd = [sys.executable, "-m", "pytest", *args, "--evidence-out", str(stage / "results.json")]
    print("$ " + shlex.join(cmd), flush=True)
    # output streams straight to the terminal; installed, pytest runs in the working directory (its .hypothesis
    # database goes there, not into site-packages)
    rc = subprocess.run(cmd, cwd=REPO if CHECKOUT else Path.cwd()).returncode
    if rc not in (0, 1, 5) or not (stage / "results.json").is_file():  # 5: no check selected in this profile
        raise RenderFailed(f"pytest exited with status {rc} without complete results; any previous report is unchanged")
    shown = shlex.join(["python", "-m", "pytest", *args, "--evidence-out", _shown(out / "results.json")])
    results = json.loads((stage / "results.json").read_text())
    results["command"] = shown  # not the temporary stage path
    (stage / "results.json").write_text(json.dumps(results, indent=1))
    render.attach_benchmarks(stage / "results.json", REPO / "bench" / "results",
                             (REPO if CHECKOUT else Path.cwd()) / "bench" / "out")
    return shown, rc


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _copy_inputs(out: Path, stage: Path) -> None:
    shutil.copy2(out / "results.json", stage / "results.json")
    if (out / "figures").is_dir():
        shutil.copytree(out / "figures", stage / "figures")


# --- the stage folder and the swap -------------------------------------------------------------------
def make_stage(out: Path) -> Path:
    """A fresh empty folder next to ``out`` (same filesystem, so the swap is two renames)."""
    if out.exists() and not out.is_dir():
        raise ProofCheckError(f"--out {out} exists and is not a directory")
    existing = out.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ProofCheckError(f"--out {out}: {existing} is not a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{out.name}.stage-", dir=out.parent))
    except OSError as exc:
        raise ProofCheckError(f"--out {out}: cannot write to {out.parent} ({exc.strerror or exc})") from None


def swap(stage: Path, out: Path) -> None:
    """Put ``stage`` at ``out``; the old ``out`` is kept until the new one is in place, then deleted."""
    backup = None
    if out.exists():
        backup = Path(tempfile.mkdtemp(prefix=f"{out.name}.old-", dir=out.parent))
        os.replace(out, backup)  # replaces the empty placeholder folder
    try:
        os.rename(stage, out)
    except BaseException:
        if backup is not None:
            os.rename(backup, out)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def restore_backup(out: Path) -> None:
    """After a run killed between the swap's two renames, put the newest ``OUT.old-*`` back at OUT."""
    try:
        if out.exists() or not out.parent.is_dir():
            return
        backups = [p for p in out.parent.glob(f"{out.name}.old-*") if (p / "results.json").is_file()]
        if backups:
            os.rename(max(backups, key=lambda p: p.stat().st_mtime), out)
    except OSError:
        pass  # make_stage reports an unwritable folder
