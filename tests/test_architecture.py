"""The house rules of ARCHITECTURE.md, checked on the source.

Imports point from the wings to ``_core``, never back up and never in a
circle; modules share names without a leading underscore; no module is two
concepts (about 400 lines). Read from the source with ``ast``. Every import
counts, those inside functions too (a lazy import is still a dependency),
except those under ``TYPE_CHECKING``, which never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import plait

SRC = Path(plait.__file__).resolve().parent
MAX_LINES = 420

# A module may import from its own wing and the wings ranked below it.
WING_RANK = {
    "_core": 0,
    "_patterns": 1,
    "_supervision": 2,
    "_observe": 3,
    "_jobs": 4,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    first = test.values[0] if isinstance(test, ast.BoolOp) else test
    return isinstance(first, ast.Name) and first.id == "TYPE_CHECKING"


def _runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that can run: at import time or later, in a function."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(module: str) -> Iterator[tuple[str, list[str]]]:
    """(imported plait module, names taken from it) for each top-level import."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("plait"):
                    yield alias.name, []
            continue
        target = _resolve(module, path.name == "__init__.py", node)
        if not target.startswith("plait"):
            continue
        names = [alias.name for alias in node.names]
        submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
        for sub in submodules:
            yield sub, []
        rest = [n for n in names if f"{target}.{n}" not in MODULES]
        if rest or not submodules:
            # `from . import _sub` loads the submodule, not the package's names.
            yield target, rest


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        targets = {t for t, _ in _imports(module) if t in MODULES and t != module}
        graph[module] = targets
    return graph


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in WING_RANK else None


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_imports_point_down_the_wings() -> None:
    upward = []
    for module, targets in _graph().items():
        wing = _wing(module)
        if wing is None:
            continue
        for target in targets:
            other = _wing(target)
            above = other is not None and WING_RANK[other] > WING_RANK[wing]
            if above or target.split(".")[1:2] == ["testing"]:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_modules_share_no_underscored_names() -> None:
    private = []
    for module in MODULES:
        for target, names in _imports(module):
            if target == "plait" or not target.startswith("plait."):
                continue
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    private.append(f"{module}: {name} from {target}")
    assert private == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_two_concepts(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"
