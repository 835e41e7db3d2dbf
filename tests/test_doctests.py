"""Every docstring example in plait runs, so none can rot."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import plait


def _modules() -> list[str]:
    names = [plait.__name__]
    for info in pkgutil.walk_packages(plait.__path__, prefix="plait."):
        if info.name.endswith("__main__") or "_pytest_plugin" in info.name:
            continue
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, module_name):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} docstring example(s) failed"
