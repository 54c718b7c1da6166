"""No module imports another module's private names (``from x import _name``), which import-linter does not check.

A private name is a module's own business: another module that imports it breaks when it is renamed or reshaped,
and nothing says so. What several modules need is public (e.g. `inspector.engine.ChunkJob`,
`inspector.metrics.finish_metrics`) or lives in a module of its own (`inspector.text`, `store.locks`).
Function-level and relative imports are checked too, and ``x._name`` on a module of ours that was imported
(``import x``); attributes of objects (``store._folder``) are not.
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


def _is_our_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return dotted.split(".")[0] in PACKAGES and (path.with_suffix(".py").is_file() or (path / "__init__.py").is_file())


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def private_imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str, str]]:
    """``(line, imported module, name)`` for every private name `module` takes from another module of ours: by
    ``from x import _name``, or as ``x._name`` of a module it imported (``import x``, ``from pkg import x``)."""
    found = []
    bound: dict[str, str] = {}  # local name -> our module it stands for
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    local = alias.asname or alias.name.split(".")[0]
                    bound[local] = alias.name if alias.asname else local
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:  # relative: resolve against the importing module's package
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] not in PACKAGES:
            continue
        for alias in node.names:
            if _is_our_module(f"{target}.{alias.name}"):
                bound[alias.asname or alias.name] = f"{target}.{alias.name}"
            if target != module and alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append((node.lineno, target, alias.name))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
            continue
        dotted = _dotted(node.value)
        if dotted is None or dotted.split(".")[0] not in bound:
            continue
        head, _, rest = dotted.partition(".")
        target = bound[head] + (f".{rest}" if rest else "")
        if _is_our_module(target) and target != module:
            found.append((node.lineno, target, node.attr))
    return sorted(found)


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


def test_the_check_sees_function_level_relative_and_attribute_access():
    source = ("from inspector.engine import ChunkJudge, _Job\n"
              "import inspector.metrics\n"
              "from inspector import engine as eng\n"
              "def f(store):\n"
              "    from inspector.metrics import _p99\n"
              "    from . import _helper\n"
              "    from .trajectory import _x, __version__\n"
              "    store._stream_folder('s')\n"
              "    return inspector.metrics._block_pool(), eng._Writer\n"
              "from numpy import _core\n"
              "from inspector.state.probe import _own\n")
    assert private_imports(source, "inspector.state.probe") == [
        (1, "inspector.engine", "_Job"), (5, "inspector.metrics", "_p99"), (6, "inspector.state", "_helper"),
        (7, "inspector.state.trajectory", "_x"), (9, "inspector.engine", "_Writer"),
        (9, "inspector.metrics", "_block_pool")]
