"""The layers, enforced: `lint-imports` checks the import contracts in pyproject.toml (``[tool.importlinter]``).

``contracts`` imports nothing of ours; ``store`` and ``backends`` only ``contracts`` (and not each other); inside
``inspector`` the app and the run API sit above the reports, those above state, diagnostics and importers, those
above the engine and its rules; no two modules of one package import each other, directly or round a circle
(function-level imports count: import-linter sees them too). A failure prints import-linter's report: which import
breaks which contract, by file and line.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import inspector

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_the_import_contracts_hold():
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(PYPROJECT)!r}, no_cache=True, no_logo=True))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"lint-imports found imports that break the layers:\n{report}"
    assert "0 broken" in report and "KEPT" in report  # it ran the contracts, not an empty config


def test_every_module_of_inspector_has_a_layer():
    """A new module or package directly under ``inspector`` must be placed in a layer (an unlisted one is not
    checked at all)."""
    listed = {name.strip() for layer in _contracts()["inspector"]["layers"]
              for name in layer.replace(":", "|").split("|")}
    present = {m.name for m in pkgutil.iter_modules(inspector.__path__)}
    assert not present - listed, f"modules of inspector in no layer of pyproject.toml: {sorted(present - listed)}"
    assert not listed - present, f"layers name modules inspector does not have: {sorted(listed - present)}"
