"""pytest plugin: profiles, claim selection, and the ``evidence`` fixture that collects records.

Options (loaded for every run through the root conftest):
  --proofcheck-profile quick|paper   sizes and iteration counts (env PROOFCHECK_PROFILE); tolerances' meaning
                                     never changes with the profile; ``slow`` checks run only under ``paper``
  --only GLOB[,GLOB]                 run only the checks of matching claim ids
  --evidence-out PATH                write results.json there (figures go to PATH's folder/figures)
  --cache-dir PATH / --no-cache      disk cache of trained models (verify/cache.py), shared by xdist workers
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from verify import claims as claim_registry
from verify import cache as disk_cache
from verify import schedule, timings
from verify.evidence import (
    COUNTED_ROLES, SCHEMA_VERSION, Evidence, claim_verdict, expected_failure_kind, is_probe_claim, number_value,
    to_jsonable,
)
from verify.stats import CONFIDENCE, holm
from verify.unchecked import UNCHECKED

PROFILES = ("quick", "paper")

# Hypothesis: derandomized (a fixed seed per test) so every run checks the same examples.
settings.register_profile(
    "quick", max_examples=20, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "paper", max_examples=100, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_EVIDENCE = pytest.StashKey[list]()
_NOT_RUN = pytest.StashKey[list]()
_FIGDIR = pytest.StashKey[Path]()
_FAMILY = pytest.StashKey[dict]()
_REMOTE = pytest.StashKey[dict]()  # pytest-xdist controller: what the workers sent (records, not_run, timings)
_TMP = pytest.StashKey[object]()  # the temporary figures folder of a run without --evidence-out (removed at the end)
_PROGRESS = pytest.StashKey[dict]()  # per-claim progress: checks seen per claim, claims done, start time


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_addoption(parser):
    group = parser.getgroup("proofcheck")
    group.addoption("--proofcheck-profile", default=os.environ.get("PROOFCHECK_PROFILE", "quick"),
                    help="quick (default, minutes on 2 cores) or paper (the papers' sizes)")
    group.addoption("--only", default=None, help="comma-separated globs of claim ids, e.g. 'gd_cot.theorem3_*'")
    group.addoption("--evidence-out", default=None, help="write the evidence JSON to this path")
    group.addoption("--cache-dir", default=None,
                    help="disk cache of trained models (default: env PROOFCHECK_CACHE, else .proofcheck-cache)")
    group.addoption("--no-cache", action="store_true", help="train everything afresh; read and write no cache")


def pytest_configure(config):
    profile = config.getoption("--proofcheck-profile")
    if profile not in PROFILES:
        raise pytest.UsageError(f"unknown profile {profile!r} (choose one of: {', '.join(PROFILES)})")
    settings.load_profile(profile)
    _one_torch_thread()
    disk_cache.configure(config.getoption("--cache-dir") or disk_cache.default_location(),
                         enabled=not config.getoption("--no-cache"))
    _training_progress_bars(config)
    config.addinivalue_line("markers", "claim(id): the claim id (paper.kindN) this check gives evidence for")
    config.addinivalue_line("markers", "slow: paper-scale check; runs only with --proofcheck-profile paper")
    config.stash[_EVIDENCE] = []
    config.stash[_NOT_RUN] = []
    config.stash[_REMOTE] = {"records": [], "not_run": [], "timings": []}
    if config.pluginmanager.hasplugin("xdist") and not _is_worker(config) and config.option.numprocesses \
            and config.option.dist == "load":
        config.option.dist = "loadfile"  # each test module on one worker: its in-process caches stay shared
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False  # keep the heaviest-first file order (not xdist's by test count)
    out = config.getoption("--evidence-out")
    # Without --evidence-out, figures go to a temporary folder that is created only when a figure is saved
    # and removed at the end of the session (no proofcheck-* folder is left behind).
    tmp = None if out else Path(tempfile.gettempdir()) / f"proofcheck-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    config.stash[_TMP] = tmp
    config.stash[_FIGDIR] = (Path(out).parent if out else tmp) / "figures"
    config.stash[_PROGRESS] = {"seen": {}, "done": 0, "start": time.monotonic()}
    only = config.getoption("--only")
    if only is not None and not only.strip():
        raise pytest.UsageError("--only is empty: give comma-separated globs of claim ids, e.g. 'gd_cot.*'")
    if only:
        try:
            claim_registry.select(only)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


def _training_progress_bars(config):
    """A tqdm bar per long training (dynamics.training.PROGRESS) when stderr is a terminal; never in CI logs or
    when stderr is piped or redirected. The bars bypass pytest's output capture: they go to a duplicate of the
    terminal's stderr, taken with capturing suspended, one line below pytest's own output (an xdist worker's one
    line further per worker number)."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        tty = sys.stderr.isatty()
        stream = sys.stderr
    else:
        with capman.global_and_fixture_disabled():
            tty = sys.stderr.isatty()
            stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1) if tty else None
    if not tty:
        return
    from dynamics import training

    worker = int(config.workerinput["workerid"].removeprefix("gw")) if _is_worker(config) else 0
    training.PROGRESS = {"file": stream, "position": 1 + worker}

    def off():
        training.PROGRESS = None
        if stream is not sys.stderr:
            stream.close()

    config.add_cleanup(off)


def _one_torch_thread():
    """The checks' tensors are small (D <= 22, batches of a few hundred): one intra-op thread is faster, and with
    two threads on a shared 2-core machine (another process, or pytest-xdist workers) OpenMP's spin-waiting made a
    seeded training step 13x slower (776 ms vs 61 ms, measured). Benchmarks set their own threads."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _claim_of(item) -> str | None:
    mark = item.get_closest_marker("claim")
    return mark.args[0] if mark else None


def check_id(item, claim: str | None) -> str:
    """The stable id of a check: ``<claim>/<test name without test_>[<parameters>]``, e.g.
    ``gd_cot.theorem3_1/trained_dense_reaches_optimal_loss[quick]``. The parameter part keeps only
    ``[A-Za-z0-9_.,+=-]`` (operators become words, other runs of characters '-'). Collisions inside one run are resolved by
    :func:`_unique_ids` with the module name. ``item.nodeid`` stays in the record's ``nodeid``."""
    name = (getattr(item, "originalname", None) or item.name.split("[", 1)[0]).removeprefix("test_")
    callspec = getattr(item, "callspec", None)
    param = f"[{_slug(callspec.id)}]" if callspec is not None and callspec.id else ""
    return f"{claim or 'unclaimed'}/{name}{param}"


_OPERATORS = (("<=", " le "), (">=", " ge "), ("==", " eq "), ("!=", " ne "), ("<", " lt "), (">", " gt "))


def _slug(text: str) -> str:
    """A parameter id with comparison operators spelled out ('b <= inf' -> 'b-le-inf') and other runs of
    characters outside [A-Za-z0-9_.,+=-] replaced by '-'."""
    text = str(text)
    for op, word in _OPERATORS:
        text = text.replace(op, word)
    return re.sub(r"[^A-Za-z0-9_.,+=-]+", "-", text).strip("-") or "-"


def _unique_ids(entries: list[dict]) -> None:
    """Make ``check`` unique over ``entries`` (records or not-run entries, changed in place): where two share a
    check id, prefix the short name with the module's name, e.g. ``claim/theorem1.step[3]``."""
    seen: dict[str, int] = {}
    for e in entries:
        seen[e["check"]] = seen.get(e["check"], 0) + 1
    for e in entries:
        if seen[e["check"]] > 1 and "::" in e.get("nodeid", ""):
            claim, _, rest = e["check"].partition("/")
            module = Path(e["nodeid"].split("::", 1)[0]).stem.removeprefix("test_")
            e["check"] = f"{claim}/{module}.{rest}"


def pytest_collection_modifyitems(config, items):
    profile = config.getoption("--proofcheck-profile")
    only = config.getoption("--only")
    chosen = set(claim_registry.select(only)) if only else None
    keep, drop = [], []
    for item in items:
        claim = _claim_of(item)
        if chosen is not None and claim not in chosen:
            drop.append(item)
        elif item.get_closest_marker("slow") and profile != "paper":
            drop.append(item)
            config.stash[_NOT_RUN].append(
                {"check": check_id(item, claim), "nodeid": _nodeid(item), "claim": claim,
                 "reason": "slow: runs in the paper profile only"})
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    _heaviest_files_first(items, profile)
    per_claim: dict[str, int] = {}
    for item in items:
        if _claim_of(item):
            per_claim[_claim_of(item)] = per_claim.get(_claim_of(item), 0) + 1
    for i, item in enumerate(items):
        item._proofcheck_order = i
        if _claim_of(item):  # travels with every report, also from xdist workers to the controller
            item.user_properties.append(("proofcheck_progress",
                                         {"claim": _claim_of(item), "checks": per_claim[_claim_of(item)],
                                          "claims": len(per_claim)}))


def _heaviest_files_first(items, profile: str) -> None:
    """Stable sort by file, heaviest file first (verify/schedule.py): xdist's loadfile hands files out in this
    order, so the long files start early instead of running alone at the end. Within a file the order stays."""
    paths = [item.nodeid.split("::", 1)[0] for item in items]
    rank = schedule.heaviest_first(paths, profile)
    order = sorted(range(len(items)), key=lambda i: rank[paths[i]])
    items[:] = [items[i] for i in order]


def _nodeid(item) -> str:
    """The item's node id without the '@group' suffix pytest-xdist's loadgroup adds (ids match a serial run)."""
    mark = item.get_closest_marker("xdist_group")
    suffix = f"@{mark.args[0] if mark.args else mark.kwargs.get('name')}" if mark else None
    return item.nodeid[: -len(suffix)] if suffix and item.nodeid.endswith(suffix) else item.nodeid


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Reset global RNG state before every test (tests still pass explicit generators)."""
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture
def profile(request) -> str:
    """The active profile name: 'quick' or 'paper'."""
    return request.config.getoption("--proofcheck-profile")


def _new_evidence(item, claim_id: str) -> Evidence:
    claim = claim_registry.get(claim_id)
    return Evidence(claim=claim.id, paper=claim.paper, statement=claim.statement, provenance=claim.provenance,
                    check=check_id(item, claim.id), nodeid=_nodeid(item), figures_dir=item.config.stash[_FIGDIR])


@pytest.fixture
def evidence(request) -> Evidence:
    """The evidence record of this check; the claim comes from the test's ``claim`` marker."""
    claim_id = _claim_of(request.node)
    if claim_id is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses `evidence` but has no @pytest.mark.claim")
    ev = _new_evidence(request.node, claim_id)
    request.node._proofcheck_evidence = ev
    yield ev
    if ev.cases == 0 and not getattr(request.node, "_proofcheck_failed", False) \
            and not getattr(request.node, "_proofcheck_skipped", False):  # a skip is reported as not run
        pytest.fail(f"{request.node.nodeid} recorded no check: a check that asserts nothing is a defect")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    ev: Evidence | None = getattr(item, "_proofcheck_evidence", None)
    if ev is None and report.skipped and _claim_of(item):
        # Skipped before the fixture ran: still leave a record, so a skip is visible and never counted as pass.
        ev = _new_evidence(item, _claim_of(item))
        item.config.stash[_EVIDENCE].append(ev)
    if ev is None:
        return report
    if report.when == "call":
        ev.seconds = time.perf_counter() - ev._start
    if report.skipped and getattr(report, "wasxfail", None) is not None:
        # A strict xfail marks an expected failure: pytest stays green, the report shows which kind it is.
        ev.verdict = expected_failure_kind(report.wasxfail)
        ev.message = f"{report.wasxfail or 'known failure'}: {_short(call.excinfo)}"
    elif report.skipped:
        item._proofcheck_skipped = True
        ev.verdict = "skipped"
        ev.message = _short(call.excinfo)
    elif report.failed:
        item._proofcheck_failed = True
        is_assert = call.excinfo is not None and call.excinfo.errisinstance(AssertionError)
        ev.verdict = "fail" if (report.when == "call" and is_assert) else "error"
        ev.message = _short(call.excinfo)
    elif report.when == "call":
        ev.verdict = "pass"
    return report


def _short(excinfo) -> str | None:
    if excinfo is None:
        return None
    text = str(excinfo.value).strip().splitlines()
    if excinfo.errisinstance(pytest.skip.Exception):
        return str(excinfo.value.msg)[:500]
    return f"{excinfo.typename}: {text[0] if text else ''}"[:500]


def pytest_runtest_teardown(item, nextitem):
    ev = getattr(item, "_proofcheck_evidence", None)
    if ev is not None and ev not in item.config.stash[_EVIDENCE]:
        ev._order = getattr(item, "_proofcheck_order", 0)
        item.config.stash[_EVIDENCE].append(ev)


def pytest_runtest_logreport(report):
    """Progress per claim: once every check of a claim has finished, one line 'claim i/N <id> done (k checks),
    elapsed m:ss' (in the xdist controller too: the claim and its size travel in the report's user_properties)."""
    if report.when != "teardown":
        return
    info = dict(report.user_properties).get("proofcheck_progress")
    config = _CONFIG.get("config")
    if not info or config is None or _is_worker(config):
        return
    progress = config.stash[_PROGRESS]
    seen = progress["seen"]
    seen[info["claim"]] = seen.get(info["claim"], 0) + 1
    if seen[info["claim"]] != info["checks"]:
        return
    progress["done"] += 1
    elapsed = int(time.monotonic() - progress["start"])
    line = (f"proofcheck: claim {progress['done']}/{info['claims']} {info['claim']} done ({info['checks']} "
            f"check{'s' if info['checks'] != 1 else ''}), elapsed {elapsed // 60}:{elapsed % 60:02d}")
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None and config.getoption("verbose") >= -1:
        tr.write("\n")  # after the progress dots of -q
        tr.write_line(line)


_CONFIG: dict = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _CONFIG["config"] = session.config


# --- pytest-xdist: workers send their records to the controller at the end ---------------------------
def _records(config) -> list[dict]:
    """Every record of the run as JSON dicts, in collection order (the same order as a serial run)."""
    local = [(getattr(ev, "_order", 0), ev.to_json()) for ev in config.stash[_EVIDENCE]]
    both = local + [tuple(r) for r in config.stash[_REMOTE]["records"]]
    return [rec for _, rec in sorted(both, key=lambda pair: pair[0])]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """Controller: collect what one worker sent (its records, not-run list and training timings)."""
    out = getattr(node, "workeroutput", None) or {}
    if "proofcheck" not in out:
        return
    sent = json.loads(out["proofcheck"])
    remote = node.config.stash[_REMOTE]
    remote["records"].extend(sent["records"])
    remote["not_run"].extend(n for n in sent["not_run"] if n not in remote["not_run"])
    remote["timings"].extend(sent["timings"])


def git_state(root: Path | None = None) -> dict:
    """The suite's git commit and whether the working tree differs from it (tracked files only):
    ``{"commit": sha | None, "dirty": bool | None}``; both None outside a git checkout (an installed suite)."""
    root = root or Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0 or not (root / ".git").exists():
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=30)
        return {"commit": sha.stdout.strip(), "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def claim_verdicts(records: list[dict], claims: dict) -> dict[str, dict]:
    """Per claim: its verdict (:func:`verify.evidence.claim_verdict`, "not run" without records), whether an
    expected failure (known failure or not reproduced) is among its counted checks, and its number of records."""
    by_claim: dict[str, list[dict]] = {}
    for r in records:
        by_claim.setdefault(r["claim"], []).append(r)
    out = {}
    for cid, claim in claims.items():
        recs = by_claim.get(cid, [])
        out[cid] = {"verdict": claim_verdict(recs, (claim.get("tested") or ["same"])[0], probe=is_probe_claim(cid)),
                    "known_failure": any(r["verdict"] in ("known_failure", "not_reproduced") for r in recs
                                         if r["role"] in COUNTED_ROLES),
                    "records": len(recs)}
    return out


def environment() -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("numpy", "scipy", "sympy", "torch", "hypothesis", "pytest", "matplotlib", "typst"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {"python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "cpus": os.cpu_count(), **versions}


def family_control(records: list[dict], alpha: float = 1 - CONFIDENCE) -> dict:
    """Holm's procedure over every passing statistical test of the run (role 'check', expect 'pass').

    ``records``: the run's records as JSON dicts (changed in place). A record with a test that Holm does not
    reject (its 'criterion violated' hypothesis) is failed family-wise. Negative controls are not in the family:
    they must reject a near miss at the per-check level, the most lenient for the near miss, so no adjustment
    could make them easier. Returns the family summary.
    """
    members = [(rec, t) for rec in records if rec["role"] == "check" and rec["verdict"] == "pass"
               for t in rec["stat_tests"] if t["expect"] == "pass"]
    rejected = holm([number_value(t["p_value"]) for _, t in members], alpha) if members else []
    failed = []
    for (rec, t), ok in zip(members, rejected):
        t["holm"] = bool(ok)
        if not ok and rec["verdict"] == "pass":
            rec["verdict"] = "fail"
            p = number_value(t["p_value"])
            rec["message"] = (f"fails the family-wise (Holm) control over {len(members)} statistical tests: "
                              f"p = {p:.3g}")
            failed.append(rec["check"])
    return {"method": "Holm", "alpha": alpha, "per_check_confidence": CONFIDENCE, "size": len(members),
            "failed": failed}


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    tmpdir = config.stash.get(_TMP, None)
    if tmpdir is not None:
        shutil.rmtree(tmpdir, ignore_errors=True)
    if _is_worker(config):
        config.workeroutput["proofcheck"] = json.dumps(to_jsonable({
            "records": [[getattr(ev, "_order", 0), ev.to_json()] for ev in config.stash[_EVIDENCE]],
            "not_run": config.stash[_NOT_RUN], "timings": timings.collected()}), allow_nan=False)
        return
    records = _records(config)
    _unique_ids(records)
    family = family_control(records)
    config.stash[_FAMILY] = family
    if family["failed"] and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    out = config.getoption("--evidence-out")
    if not out:
        return
    not_run = config.stash[_NOT_RUN] + [n for n in config.stash[_REMOTE]["not_run"] if n not in config.stash[_NOT_RUN]]
    _unique_ids(not_run)
    claims = {cid: c.to_json() for cid, c in claim_registry.claims().items()}
    for cid, verdict in claim_verdicts(records, claims).items():
        claims[cid].update(verdict)
    payload = {
        "schema_version": SCHEMA_VERSION,
        "profile": config.getoption("--proofcheck-profile"),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(),
        "environment": environment(),
        "command": " ".join(["pytest", *sys.argv[1:]]),
        "only": config.getoption("--only"),
        "claims": claims,
        "papers": {pid: vars(p) for pid, p in claim_registry.papers().items()},
        "family": family,
        "evidence": records,
        "not_run": sorted(not_run, key=lambda n: n["check"]),
        "unchecked": {pid: [{"statement": st, "reason": why} for st, why in entries]
                      for pid, entries in UNCHECKED.items()},
        "timings": timings.unique(timings.collected() + config.stash[_REMOTE]["timings"]),
    }
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(to_jsonable(payload), indent=1, allow_nan=False))
    os.replace(tmp, path)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    family = config.stash.get(_FAMILY, None)
    if not family or not family["size"]:
        return
    tr = terminalreporter
    tr.section("proofcheck: family-wise control")
    tr.write_line(f"Holm over {family['size']} statistical tests at alpha = {family['alpha']:.2g} "
                  f"(per check {family['per_check_confidence']:.0%}): "
                  f"{len(family['failed'])} record(s) fail family-wise")
    for check in family["failed"]:
        tr.write_line(f"  FAILED (Holm) {check}", red=True)
