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
