"""Root conftest: loads the evidence plugin for every test run (tests/ and verify/)."""

pytest_plugins = ["verify.plugin", "pytester"]
