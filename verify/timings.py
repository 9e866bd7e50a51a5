"""Training timings measured during a check run, for the report header (per step and per sample).

Shared trainings (cached per session) call :func:`record` once; the plugin writes :func:`collected` into
results.json under ``"timings"``. Only measured numbers go in: no estimates.
"""

from __future__ import annotations

_RECORDS: list[dict] = []


def record(name: str, *, steps: int, batch: int, seconds: float, **params) -> dict:
    """Record one training run: ``seconds`` of pure training (evaluation callbacks excluded) over ``steps``
    optimiser steps of ``batch`` fresh samples each. Returns the stored record."""
    if steps <= 0 or batch <= 0 or seconds < 0:
        raise ValueError(f"timing {name!r}: need steps > 0, batch > 0, seconds >= 0 (got {steps}, {batch}, {seconds})")
    rec = {"name": name, "steps": int(steps), "batch": int(batch), "seconds": float(seconds),
           "ms_per_step": 1e3 * seconds / steps, "us_per_sample": 1e6 * seconds / (steps * batch),
           "params": params}
    key = _key(rec)
    for old in _RECORDS:  # a cached training's accessor, called again: the same run, recorded once
        if _key(old) == key:
            return old
    _RECORDS.append(rec)
    return rec


def _key(rec: dict) -> str:
    import json

    return json.dumps([rec["name"], rec["steps"], rec["batch"], rec["params"]], sort_keys=True, default=str)


def unique(records) -> list[dict]:
    """``records`` with repeats of the same run (same name, steps, batch and parameters) dropped, first kept:
    xdist workers and report shards that each used one cached training report it once."""
    seen, out = set(), []
    for rec in records:
        key = _key(rec)
        if key not in seen:
            seen.add(key)
            out.append(rec)
    return out


def collected() -> list[dict]:
    """All records of this process, in the order they were made."""
    return list(_RECORDS)
