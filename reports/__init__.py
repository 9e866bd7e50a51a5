"""The proof-check report: ``python -m reports`` runs the checks and renders proof-check.md and .pdf."""

__version__ = "0.1.0"  # the suite's version (pyproject.toml reads it from here)
