"""Symbolic derivations (sympy) and their numeric realisation (numpy, torch), one folder per paper."""

from constructions.errors import ProofCheckError

__all__ = ["ProofCheckError"]
