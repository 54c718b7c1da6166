"""No module imports another module's private names (``from x import _name``), which import-linter does not check.

A private name is a module's own business: another module that imports it breaks when it is renamed or reshaped,
and nothing says so. What several modules need is public (e.g. `inspector.engine.ChunkJob`,
`inspector.metrics.finish_metrics`) or lives in a module of its own (`inspector.text`, `store.locks`).
Function-level imports and relative imports are checked too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contracts", "store", "backends", "inspector")

ALLOWED: dict[tuple[str, str, str], str] = {
    # (importing module, imported module, name): why it cannot be otherwise. Empty: nothing needs one today.
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def private_imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str, str]]:
    """``(line, imported module, name)`` for every private name `module` imports from another module of ours."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:  # relative: resolve against the importing module's package
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] not in PACKAGES or target == module:
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append((node.lineno, target, alias.name))
    return found


def test_no_module_imports_another_modules_private_names():
    problems, used = [], set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = _module_name(path)
            for line, target, name in private_imports(path.read_text(encoding="utf-8"), module,
                                                      path.name == "__init__.py"):
                if (module, target, name) in ALLOWED:
                    used.add((module, target, name))
                    continue
                problems.append(f"{path.relative_to(ROOT)}:{line}: from {target} import {name}")
    assert not problems, ("private names imported from another module (make them public, or move what is shared "
                          "into a module of its own):\n" + "\n".join(problems))
    assert not set(ALLOWED) - used, f"allowed private imports that no longer exist: {sorted(set(ALLOWED) - used)}"


def test_the_check_sees_function_level_and_relative_imports():
    source = ("from inspector.engine import ChunkJudge, _Job\n"
              "def f():\n"
              "    from inspector.metrics import _p99\n"
              "    from . import _helper\n"
              "    from .sibling import _x, __version__\n"
              "from numpy import _core\n"
              "from inspector.state.probe import _own\n")
    assert private_imports(source, "inspector.state.probe") == [
        (1, "inspector.engine", "_Job"), (3, "inspector.metrics", "_p99"), (4, "inspector.state", "_helper"),
        (5, "inspector.state.sibling", "_x")]
