"""The project's one exception type and the argument validators every command uses."""

from __future__ import annotations

import numbers


class ProofCheckError(ValueError):
    """A bad input a user can act on; the message names the value and the valid range."""


def positive_int(value, name: str, meaning: str = "") -> int:
    """Return ``value`` as int if it is a positive integer, else raise ProofCheckError."""
    label = f"{name} ({meaning})" if meaning else name
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ProofCheckError(f"{label} must be a positive integer (got {name}={value!r})")
    return int(value)


def positive_float(value, name: str, meaning: str = "") -> float:
    """Return ``value`` as float if it is a finite positive real number, else raise ProofCheckError."""
    label = f"{name} ({meaning})" if meaning else name
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < float(value) < float("inf")):
        raise ProofCheckError(f"{label} must be a finite positive number (got {name}={value!r})")
    return float(value)


def seed_tuple(seeds, name: str = "seeds") -> tuple[int, ...]:
    """Return ``seeds`` as a non-empty tuple of distinct non-negative integers, else raise ProofCheckError."""
    try:
        values = tuple(seeds)
    except TypeError:
        raise ProofCheckError(f"{name} must be a sequence of integers (got {name}={seeds!r})") from None
    if not values or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0 for s in values):
        raise ProofCheckError(f"{name} must be a non-empty sequence of non-negative integers (got {name}={seeds!r})")
    if len(set(values)) != len(values):
        raise ProofCheckError(f"{name} must be distinct (got {name}={seeds!r})")
    return tuple(int(s) for s in values)


def writable_output(path, flag: str):
    """Check, before any work starts, that an output file can be written at ``path``: its folder exists (no
    folder tree is created), the path is not a folder, and a file can be created there (tried, and removed
    again when it did not exist). Returns ``path`` as a Path; raises ProofCheckError naming ``flag``."""
    from pathlib import Path

    path = Path(path)
    parent = path.parent
    if not parent.exists():
        raise ProofCheckError(f"{flag} {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise ProofCheckError(f"{flag} {path}: {parent} is not a folder")
    if path.is_dir():
        raise ProofCheckError(f"{flag} {path}: is a folder, not a file")
    existed = path.exists()
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        raise ProofCheckError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from None
    if not existed:
        path.unlink(missing_ok=True)
    return path
