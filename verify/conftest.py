"""Fixtures of the claim checks.

The `evidence` and `profile` fixtures, the Hypothesis profiles (quick, paper; derandomized, deadline=None),
per-test seeding and the --proofcheck-profile / --only / --evidence-out options live in verify/plugin.py. The
root conftest.py loads that plugin for every pytest run, so tests/ and `python -m reports` share it; they are
re-exported here so that a reader of verify/ finds them.
"""

from verify.plugin import evidence, profile  # noqa: F401
