"""Derive plait's lazy loading, ``__module__`` and ``__all__`` from one list.

``plait/__init__.py`` imports each public name once, inside an
``if TYPE_CHECKING or not install_lazy_importer():`` block, as anyio does.
Type checkers read that block; at run time this module reads the same block
from the source and loads each name on first access, so nothing is kept in
sync by hand.
"""

from __future__ import annotations

import ast
import sys
from importlib import import_module
from typing import Any


def install_lazy_importer() -> bool:
    """Make the calling package load the names of its ``TYPE_CHECKING`` block.

    Returns ``False`` when the source cannot be read (a zipapp without
    sources, say), and the caller then imports the block eagerly.
    """
    package_globals = sys._getframe(1).f_globals  # pyright: ignore[reportPrivateUsage]
    package_name: str = package_globals["__name__"]
    # Only the block's names are public.
    del package_globals["TYPE_CHECKING"], package_globals["install_lazy_importer"]
    lazy = _lazy_names(package_globals.get("__file__"))
    if not lazy:
        return False
    prefix = package_name + "."

    def __getattr__(name: str) -> Any:
        try:
            module_name, attr = lazy[name]
        except KeyError:
            raise AttributeError(
                f"module {package_name!r} has no attribute {name!r}"
            ) from None
        value = getattr(import_module(module_name, package_name), attr)
        # Names plait defines report `plait` as their module, as anyio's do;
        # re-exported anyio objects keep theirs.
        if getattr(value, "__module__", "").startswith(prefix):
            value.__module__ = package_name
        package_globals[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(package_globals) | set(lazy))

    package_globals["__getattr__"] = __getattr__
    package_globals["__dir__"] = __dir__
    package_globals["__all__"] = tuple(sorted(lazy))
    return True


def _lazy_names(path: str | None) -> dict[str, tuple[str, str]]:
    """Map each name imported in the file's ``TYPE_CHECKING`` block to its source."""
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read(), path)
    except OSError:
        return {}
    names: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    module = "." * statement.level + (statement.module or "")
                    for alias in statement.names:
                        names[alias.asname or alias.name] = (module, alias.name)
    return names


def _is_type_checking(test: ast.expr) -> bool:
    first = test.values[0] if isinstance(test, ast.BoolOp) else test
    return isinstance(first, ast.Name) and first.id == "TYPE_CHECKING"
