"""Every Python example in the docs and the README passes ``mypy --strict``.

A reader copies an example into a project checked with ``mypy --strict``; it
must pass as it stands, together with what it uses from the examples before
it on the page. So each ``python`` block is checked as a module of its own:
the names the page's earlier untabbed blocks left defined (their imports,
and the last definition of each name, as running them in order would leave
the namespace), then the block itself. A tabbed block (one of several
alternatives) sees only untabbed blocks before it; a block titled
``test_*.py`` is checked alone, as the pytest file it is. One mypy run, with
no configuration of the project's (a reader's project has its own), checks
them all; each error is reported at its page and line.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_docs import DOCS_STEP, README, ROOT, Block, doc_pages, fenced_blocks

PAGES = [*doc_pages(), README]
_ERROR = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): error: (?P<message>.*)$")


@dataclasses.dataclass
class Module:
    """One example as a reader would copy it: what it uses, then itself."""

    name: str
    block: Block
    prelude: str = ""

    def source(self) -> tuple[str, int]:
        """Return the module's text and the line where the block starts."""
        start = self.prelude.count("\n") + 1
        return self.prelude + self.block.code, start


def _defined(statement: ast.stmt) -> list[str]:
    """The top-level names *statement* defines; [] for any other statement."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [statement.name]
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        targets = [statement.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def prelude(blocks: list[Block], block: Block) -> str:
    """What running *blocks* in order leaves defined for *block*, as source.

    Imports are kept; of several definitions of one name, the last, unless
    *block* defines the name itself; other statements (calls, prints) are
    what an earlier example did, not what a later one uses, and are dropped.
    """
    own = {name for s in ast.parse(block.code).body for name in _defined(s)}
    kept: list[tuple[list[str], ast.stmt]] = []
    for block in blocks:
        for statement in ast.parse(block.code).body:
            if isinstance(statement, ast.Import | ast.ImportFrom):
                kept.append(([], statement))
                continue
            names = _defined(statement)
            if not names:
                continue
            kept = [(n, s) for n, s in kept if not set(n) & set(names)]
            if not own & set(names):
                kept.append((names, statement))
    return "".join(ast.unparse(statement) + "\n" for _, statement in kept)


def _slug(page: Path) -> str:
    shown = page.relative_to(ROOT) if page.is_relative_to(ROOT) else Path(page.name)
    return re.sub(r"\W", "_", str(shown.with_suffix("")))


def modules(page: Path) -> list[Module]:
    """One module per ``python`` block of *page*."""
    shared: list[Block] = []
    found: list[Module] = []
    for number, block in enumerate(fenced_blocks(page)):
        if block.lang != "python":
            continue
        if block.test_module is not None:
            found.append(Module(block.test_module.removesuffix(".py"), block))
            continue
        found.append(Module(f"{_slug(page)}_{number}", block, prelude(shared, block)))
        if not block.in_tab:
            shared.append(block)
    return found


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, list[str]]:
    """Run mypy --strict once over every page's modules; errors per page."""
    pytest.importorskip("mypy", reason=DOCS_STEP)
    for name in ("aiometer", "matplotlib"):  # imported by some examples
        pytest.importorskip(name, reason=DOCS_STEP)
    folder = tmp_path_factory.mktemp("examples")
    origins: dict[str, tuple[Path, Block, int]] = {}
    for page in PAGES:
        for module in modules(page):
            # One folder per module: pytest files of two pages may share a name.
            path = folder / f"m{len(origins)}" / f"{module.name}.py"
            path.parent.mkdir()
            text, start = module.source()
            path.write_text(text)
            origins[str(path)] = (page, module.block, start)
    config = folder / "mypy.ini"
    config.write_text("[mypy]\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(config),
            "--cache-dir",
            str(folder / ".mypy_cache"),
            "--python-version",
            "3.11",
            "--no-error-summary",
            "--show-error-codes",
            *origins,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors: dict[Path, set[str]] = {page: set() for page in PAGES}
    for line in result.stdout.splitlines():
        match = _ERROR.match(line)
        if match is None:
            continue
        page, block, start = origins[str(folder / match["file"])]
        number = int(match["line"]) - start + 1
        # An error in the prelude is reported where its own block is checked.
        if number > 0:
            errors[page].add(f"{block.where}+{number}: {match['message']}")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    if result.returncode == 1:
        assert any(errors.values()), result.stdout + result.stderr
    return {page: sorted(found) for page, found in errors.items()}


@pytest.mark.docs
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_pass_mypy_strict(
    page: Path, mypy_errors: dict[Path, list[str]]
) -> None:
    assert mypy_errors[page] == []


def test_each_block_sees_what_the_blocks_before_it_left(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nimport plait\n\ndef main() -> int:\n    return 1\n\n"
        "print(main())\n```\n\n"
        "```python\nasync def main() -> str:\n    return 'a'\n\nx = 1\n```\n\n"
        '=== "a"\n\n    ```python\n    y = x\n    ```\n\n'
        '=== "b"\n\n    ```python\n    y = x + 1\n    ```\n\n'
        '```python title="test_it.py"\ndef test_it() -> None:\n    pass\n```\n'
    )
    # Module names start with the page's path (wherever tmp_path lies).
    prefix = _slug(page) + "_"
    found = [
        (m.name.removeprefix(prefix), m.prelude, m.block.code) for m in modules(page)
    ]
    second_main = "async def main() -> str:\n    return 'a'\n"
    assert found == [
        ("0", "", found[0][2]),
        ("1", "import plait\n", found[1][2]),
        ("2", "import plait\n" + second_main + "x = 1\n", "y = x\n"),
        ("3", "import plait\n" + second_main + "x = 1\n", "y = x + 1\n"),
        ("test_it", "", "def test_it() -> None:\n    pass\n"),
    ]
