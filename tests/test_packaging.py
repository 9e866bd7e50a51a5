"""Packaging: build system, package data, the pytest11 entry point, the console script, LICENSE, CITATION.cff.

The full check (by hand, see the commit): ``pip install --no-deps .`` into a fresh venv and, from another
folder, ``cot-proofcheck report --only gd_cot.theorem3_2 --out rep`` writes a report.
"""

import importlib
import tomllib
from pathlib import Path

from reports import console

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_build_system_and_version():
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "reports.__version__"}


def test_package_data_covers_templates_and_schema():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for package, patterns in data.items():
        for pattern in patterns:
            assert list((REPO / package).glob(pattern)), (package, pattern)
    shipped = {p.relative_to(REPO / "reports").as_posix() for pattern in data["reports"]
               for p in (REPO / "reports").glob(pattern)}
    assert {"templates/report.typ", "templates/proof-check.md.j2", "results.schema.json"} <= shipped


def test_entry_points_import():
    # named as the module, so the root conftest's pytest_plugins = ["verify.plugin"] does not register it twice
    assert PYPROJECT["project"]["entry-points"]["pytest11"] == {"verify.plugin": "verify.plugin"}
    module, _, func = PYPROJECT["project"]["scripts"]["cot-proofcheck"].partition(":")
    assert callable(getattr(importlib.import_module(module), func))


def test_license_and_citation():
    assert "MIT License" in (REPO / "LICENSE").read_text()
    assert "the cot-proofcheck authors" in (REPO / "LICENSE").read_text()
    assert "cff-version:" in (REPO / "CITATION.cff").read_text()


def test_console_dispatch(capsys):
    assert console.main(["--version"]) == 0 and capsys.readouterr().out.startswith("cot-proofcheck ")
    assert console.main(["list"]) == 0 and "gd_cot.theorem3_2" in capsys.readouterr().out
    assert console.main(["nope"]) == 2 and "unknown command 'nope'" in capsys.readouterr().err
    assert console.main([]) == 2
