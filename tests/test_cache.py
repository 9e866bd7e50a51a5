"""verify/cache.py: a disk-cache entry is reused for the same call and code, and missed when the arguments, the
defining module (its constants) or the code under constructions/ and dynamics/ change."""

from __future__ import annotations

import importlib
import sys

import pytest

from verify import cache

MODULE = '''
from verify.cache import disk_cached

CALLS = []
SIZE = {size}


@disk_cached
def train(x):
    CALLS.append(x)
    return [x] * SIZE
'''


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A fake repository (constructions/ with one file) and a cached module ``toy_cached`` in tmp_path."""
    repo = tmp_path / "repo"
    (repo / "constructions").mkdir(parents=True)
    (repo / "constructions" / "formula.py").write_text("ETA = 0.1\n")
    monkeypatch.setattr(cache, "REPO", repo)
    monkeypatch.setattr(cache, "CODE_DIRS", ("constructions",))
    cache._dir_hash.cache_clear()
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = cache._state["memory"]  # the run's own cache (configured by the plugin) comes back afterwards
    cache.configure(tmp_path / "store")
    yield tmp_path, repo
    cache._state["memory"] = saved
    cache._dir_hash.cache_clear()
    sys.modules.pop("toy_cached", None)


def _load(tmp_path, size: int):
    (tmp_path / "toy_cached.py").write_text(MODULE.format(size=size))
    sys.modules.pop("toy_cached", None)
    importlib.invalidate_caches()
    return importlib.import_module("toy_cached")


def test_same_call_hits_changed_argument_misses(sandbox):
    tmp_path, _ = sandbox
    mod = _load(tmp_path, 3)
    assert mod.train(2) == [2, 2, 2] and mod.CALLS == [2]
    mod = _load(tmp_path, 3)  # a new process would see the same: the module state is fresh
    assert mod.train(2) == [2, 2, 2] and mod.CALLS == []  # hit: not recomputed
    assert mod.train(5) == [5, 5, 5] and mod.CALLS == [5]  # another config: miss


def test_changed_module_constant_misses(sandbox):
    tmp_path, _ = sandbox
    _load(tmp_path, 3).train(2)
    mod = _load(tmp_path, 4)  # the profile's size changed in the defining module
    assert mod.train(2) == [2, 2, 2, 2] and mod.CALLS == [2]


def test_changed_construction_code_misses(sandbox):
    tmp_path, repo = sandbox
    _load(tmp_path, 3).train(2)
    (repo / "constructions" / "formula.py").write_text("ETA = 0.2\n")  # a formula the training uses changed
    cache._dir_hash.cache_clear()
    mod = _load(tmp_path, 3)
    mod.train(2)
    assert mod.CALLS == [2]


def test_no_cache_always_recomputes(sandbox):
    tmp_path, _ = sandbox
    cache.configure(None, enabled=False)
    mod = _load(tmp_path, 3)
    mod.train(2)
    mod = _load(tmp_path, 3)
    mod.train(2)
    assert mod.CALLS == [2] and not cache.enabled()
