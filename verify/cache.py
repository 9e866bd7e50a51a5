"""Disk cache for the checks' expensive artefacts (trained models, their evaluations), on ``joblib.Memory``.

An entry is keyed by the call's arguments, the cached function's own code (joblib), and a hash of the code that
makes it: every ``.py`` file under ``constructions/`` and ``dynamics/``, the shared helpers (``verify/stats.py``,
``verify/*/helpers*.py``, ``sweeps/*.py``), the module that defines the function (its constants, e.g. a
profile's sizes, live there), and the versions of torch and numpy. Change any of these and
the entry misses, so a stale model is never reused. pytest-xdist workers and later runs share the entries
instead of retraining; a file lock per entry makes concurrent callers wait for the one that computes it.

Set up by the pytest plugin from ``--cache-dir`` (default: env ``PROOFCHECK_CACHE``, else ``.proofcheck-cache``
in the repository) and ``--no-cache``. Outside pytest (e.g. ``python -c``) the cache is off until
:func:`configure` is called.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
from pathlib import Path

from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
CODE_DIRS = ("constructions", "dynamics")
# Shared code a cached function may call besides CODE_DIRS (conservative: any change there misses every entry).
CODE_GLOBS = ("verify/stats.py", "verify/*/helpers*.py", "sweeps/*.py")
# In a checkout: next to the code; installed (pip install .): in the working directory, never site-packages.
DEFAULT_LOCATION = (REPO if (REPO / "pyproject.toml").is_file() else Path.cwd()) / ".proofcheck-cache"

_state: dict = {"memory": None}


def default_location() -> Path:
    return Path(os.environ.get("PROOFCHECK_CACHE") or DEFAULT_LOCATION)


def configure(location: str | Path | None, enabled: bool = True) -> None:
    """Turn the cache on at ``location`` (created on first write), or off."""
    if not enabled or location is None:
        _state["memory"] = None
        return
    import joblib

    _state["memory"] = joblib.Memory(str(location), verbose=0)


def enabled() -> bool:
    return _state["memory"] is not None


@functools.lru_cache(maxsize=None)
def _dir_hash(folder: str) -> str:
    h = hashlib.sha256()
    for path in sorted((REPO / folder).rglob("*.py")):
        h.update(str(path.relative_to(REPO)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def code_hash(module_file: str | Path) -> str:
    """sha256 over the code a cached artefact depends on: ``CODE_DIRS``, ``module_file``, torch and numpy."""
    import numpy
    import torch

    h = hashlib.sha256()
    for folder in CODE_DIRS:
        h.update(_dir_hash(folder).encode())
    for pattern in CODE_GLOBS:
        for path in sorted(REPO.glob(pattern)):
            h.update(str(path.relative_to(REPO)).encode())
            h.update(path.read_bytes())
    h.update(Path(module_file).read_bytes())
    h.update(f"torch {torch.__version__} numpy {numpy.__version__}".encode())
    return h.hexdigest()


def disk_cached(fn):
    """Cache ``fn``'s result on disk when the cache is on (see the module docstring); call it directly otherwise.

    Use under ``functools.lru_cache`` so that one process loads an entry once. The result must pickle."""
    module_file = inspect.getsourcefile(fn)

    def keyed(code_version, *args, **kwargs):
        return fn(*args, **kwargs)

    keyed.__name__ = keyed.__qualname__ = f"{fn.__module__}.{fn.__qualname__}"
    keyed.__module__ = fn.__module__

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        memory = _state["memory"]
        if memory is None:
            return fn(*args, **kwargs)
        code = code_hash(module_file)
        # One process computes an entry, the others (pytest-xdist workers, Dask workers) wait and then load it.
        key = hashlib.sha256(repr((keyed.__name__, code, args, sorted(kwargs.items()))).encode()).hexdigest()[:32]
        locks = Path(memory.location) / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with FileLock(str(locks / f"{key}.lock")):
            return memory.cache(keyed)(code, *args, **kwargs)

    wrapper.uncached = fn
    return wrapper
