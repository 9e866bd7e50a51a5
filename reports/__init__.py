"""The proof-check report: ``python -m reports`` runs the checks and renders proof-check.md and .pdf."""
