"""Every code example in the docs and the README runs, so none can rot.

A page's ``python`` blocks run in order in one namespace, as a reader would
run them (``__name__ == "__main__"``), with stdout captured. A ``python``
block followed by a ``text title="Output"`` block must print exactly that.
``pycon`` blocks run as doctests. Any other spelling of Python (``py``,
``python3``, ``ipython`` ...) fails the test rather than go unchecked.

The site itself is built with ``mkdocs build --strict``, and every name in
``vars(plait)["__all__"]`` and ``plait.testing.__all__`` must have its entry in the API
reference (anyio's re-exports as rows that link to anyio's documentation).
"""

from __future__ import annotations

import contextlib
import dataclasses
import doctest
import importlib.util
import io
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

import plait
import plait.dashboard
import plait.testing

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
REFERENCE = DOCS / "reference"
ANYIO_API = "https://anyio.readthedocs.io/en/stable/api.html#"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_RUN = {"python", "pycon"}
# Imported by some pages but only installed with the docs extra: a page that
# needs one is marked `docs` (the README's docs step runs those) and skipped,
# with the reason, where the extra is missing.
_DOCS_ONLY_MODULES = ("aiometer", "matplotlib")
DOCS_STEP = "the docs step: pip install -e '.[docs]' && pytest -m docs"
_NOT_RUN = {"", "text", "bash", "console", "shell", "toml", "yaml", "ini", "json"}


@dataclasses.dataclass
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int
    lang: str
    options: str
    code: str
    in_tab: bool = False

    @property
    def where(self) -> str:
        path = self.path
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        return f"{shown}:{self.line}"

    @property
    def is_output(self) -> bool:
        return self.lang == "text" and 'title="Output"' in self.options

    @property
    def test_module(self) -> str | None:
        """The file name of a block titled ``test_*.py``: a pytest module."""
        match = re.search(r'title="(test_\w+\.py)"', self.options)
        return match[1] if match and self.lang == "python" else None


def fenced_blocks(path: Path) -> list[Block]:
    """Return the fenced blocks of *path*, tabs' indented ones included."""
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        info = match["info"].strip()
        lang, _, options = info.partition(" ")
        start = i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{path}:{start}: unclosed code fence")
        i += 1
        code = textwrap.dedent("\n".join(body)) if indent else "\n".join(body)
        lang = lang.lstrip("{.")
        blocks.append(Block(path, start, lang, options, code + "\n", bool(indent)))
    return blocks


def doc_pages() -> list[Path]:
    """Every Markdown page of the site; the notebooks' folder is a symlink."""
    pages = [p for p in DOCS.rglob("*.md") if "notebooks" not in p.parts]
    return sorted(pages)


def run_blocks(blocks: list[Block]) -> int:
    """Run *blocks* as a reader would, in one namespace; return how many ran.

    An Output block checks what the python block before it printed; after a
    group of tabs (indented python blocks in a row) it checks every tab.
    """
    namespace: dict[str, object] = {"__name__": "__main__"}
    ran = 0
    printed: list[tuple[Block, str]] = []
    for block in blocks:
        if block.is_output:
            assert printed, f"{block.where}: an Output block must follow python"
            for source, text in printed:
                assert _normalise(text) == _normalise(block.code), (
                    f"{source.where}: printed output differs from {block.where}"
                )
            printed = []
            continue
        if block.lang not in _RUN | _NOT_RUN:
            raise AssertionError(
                f"{block.where}: code block in {block.lang!r}: write 'python' "
                "(run), 'pycon' (doctest) or a language that is not run"
            )
        if block.lang == "pycon":
            _run_doctest(block, namespace)
            ran += 1
        elif block.test_module is not None:
            _run_pytest(block)
            ran += 1
            printed = []
        elif block.lang == "python":
            stdout = io.StringIO()
            code = compile(block.code, block.where, "exec")
            with contextlib.redirect_stdout(stdout):
                exec(code, namespace)
            ran += 1
            in_tabs = block.in_tab and bool(printed) and printed[-1][0].in_tab
            entry = (block, stdout.getvalue())
            printed = [*printed, entry] if in_tabs else [entry]
        else:
            printed = []
    return ran


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def _run_pytest(block: Block) -> None:
    """Run a block titled ``test_*.py`` as its own pytest session: all pass."""
    assert block.test_module is not None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # An empty ini keeps the project's pytest settings out of the example.
        (folder / "pytest.ini").write_text("[pytest]\n")
        (folder / block.test_module).write_text(block.code)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    assert result.returncode == 0, f"{block.where}: pytest failed\n{result.stdout}"


def _run_doctest(block: Block, namespace: dict[str, object]) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(
        block.code, namespace, block.where, str(block.path), block.line
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out = io.StringIO()
    runner.run(test, out=out.write)
    assert runner.failures == 0, f"{block.where}: doctest failed\n{out.getvalue()}"


def _docs_only_imports(page: Path) -> list[str]:
    code = "\n".join(b.code for b in fenced_blocks(page) if b.lang in _RUN)
    return [
        name
        for name in _DOCS_ONLY_MODULES
        if re.search(rf"^\s*(import|from) {name}\b", code, re.MULTILINE)
    ]


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(page, marks=[pytest.mark.docs] if _docs_only_imports(page) else [])
        for page in doc_pages()
    ],
    ids=lambda p: str(p.relative_to(DOCS)),
)
def test_page_examples_run(page: Path) -> None:
    for name in _docs_only_imports(page):
        pytest.importorskip(name, reason=f"{name}: {DOCS_STEP}")
    run_blocks(fenced_blocks(page))


def test_readme_example_runs() -> None:
    blocks = fenced_blocks(README)
    assert any(b.lang == "python" for b in blocks), "the README shows Python"
    assert run_blocks(blocks) == sum(b.lang == "python" for b in blocks)


def test_every_output_block_follows_python() -> None:
    for page in [*doc_pages(), README]:
        blocks = fenced_blocks(page)
        for before, block in zip([None, *blocks], blocks, strict=False):
            if block.is_output:
                lang = before.lang if before is not None else None
                assert lang == "python", (
                    f"{block.where}: an Output block must follow a python block"
                )


def test_guides_have_examples() -> None:
    pages = [DOCS / "getting-started.md", *sorted((DOCS / "guides").glob("*.md"))]
    pages += sorted((DOCS / "concepts").glob("*.md"))
    for page in pages:
        runnable = [b for b in fenced_blocks(page) if b.lang in _RUN]
        assert runnable, f"{page.relative_to(ROOT)} has no runnable example"


def test_fence_parser_sees_tabbed_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        '=== "asyncio"\n\n    ```python\n    x = 1\n    ```\n\n'
        '```text title="Output"\n1\n```\n'
    )
    blocks = fenced_blocks(page)
    assert [(b.lang, b.code) for b in blocks] == [
        ("python", "x = 1\n"),
        ("text", "1\n"),
    ]
    assert blocks[1].is_output


def test_a_wrong_output_block_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('```python\nprint(1)\n```\n\n```text title="Output"\n2\n```\n')
    with pytest.raises(AssertionError, match="printed output differs"):
        run_blocks(fenced_blocks(page))


def test_output_is_checked_for_every_tab(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        '=== "a"\n\n    ```python\n    print(1)\n    ```\n\n'
        '=== "b"\n\n    ```python\n    print(2)\n    ```\n\n'
        '```text title="Output"\n2\n```\n'
    )
    with pytest.raises(AssertionError, match=r"page.md:3: printed output differs"):
        run_blocks(fenced_blocks(page))


def test_a_failing_example_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nimport plait\nplait.no_such_name\n```\n")
    with pytest.raises(AttributeError):
        run_blocks(fenced_blocks(page))


# The API reference


def _reference_text() -> str:
    return "\n".join(p.read_text() for p in sorted(REFERENCE.glob("*.md")))


def _anyio_reexports() -> dict[str, str]:
    """Map each name plait re-exports from anyio to anyio's qualified name."""
    names: dict[str, str] = {}
    for name in vars(plait)["__all__"]:
        obj = getattr(plait, name)
        if getattr(anyio, name, None) is obj:
            names[name] = f"anyio.{name}"
        elif getattr(anyio.abc, name, None) is obj:
            names[name] = f"anyio.abc.{name}"
    return names


def test_reference_documents_every_plait_name() -> None:
    text = _reference_text()
    anyio_names = _anyio_reexports()
    missing = [
        name
        for name in vars(plait)["__all__"]
        if name not in anyio_names and f"::: plait.{name}\n" not in text
    ]
    missing += [
        name
        for name in plait.testing.__all__
        if f"::: plait.testing.{name}\n" not in text
    ]
    missing += [
        name
        for name in plait.dashboard.__all__
        if f"::: plait.dashboard.{name}\n" not in text
    ]
    assert missing == []


def test_reference_links_anyio_reexports_to_anyio() -> None:
    text = (REFERENCE / "core.md").read_text()
    reexports = _anyio_reexports()
    assert len(reexports) >= 20
    for name, qualified in reexports.items():
        row = f"| `plait.{name}` | [`{qualified}`]({ANYIO_API}{qualified}) |"
        assert row in text, f"no row linking plait.{name} to {qualified}"


def test_reference_documents_nothing_that_is_gone() -> None:
    exported = {f"plait.{n}" for n in vars(plait)["__all__"]}
    exported |= {f"plait.testing.{n}" for n in plait.testing.__all__}
    exported |= {f"plait.dashboard.{n}" for n in plait.dashboard.__all__}
    documented = set(re.findall(r"^::: (\S+)$", _reference_text(), re.MULTILINE))
    assert documented - exported == set()


# The site


def _griffe_extension() -> Any:
    path = DOCS / "_ext" / "griffe_examples.py"
    spec = importlib.util.spec_from_file_location("griffe_examples", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.docs
def test_griffe_extension_fixes_docstrings() -> None:
    griffe = pytest.importorskip("griffe", reason=DOCS_STEP)
    module = _griffe_extension()
    docstring = textwrap.dedent(
        """\
        Do a thing with ``Item``\\s.

        Args:
            first: the first.
            lease, grace: seconds, both
                of them.
            last: the last.

        Raises:
            TypeError, ValueError: bad arguments.

        Example:
            >>> 1 + 1
            2
        """
    )
    fn = griffe.Function("f", docstring=griffe.Docstring(docstring))
    module.ExampleSections().on_instance(obj=fn)
    assert fn.docstring is not None
    text = fn.docstring.value
    assert "``Item``s." in text
    assert "    lease: seconds, both\n        of them.\n" in text
    assert "    grace: seconds, both\n        of them.\n" in text
    assert "\nExamples:\n    >>> 1 + 1\n" in text
    sections = fn.docstring.parse("google")
    kinds = [section.kind.value for section in sections]
    assert kinds == ["text", "parameters", "raises", "examples"]
    names = [param.name for param in sections[1].value]
    assert names == ["first", "lease", "grace", "last"]
    raised = [(str(e.annotation), e.description) for e in sections[2].value]
    assert raised == [("TypeError", "bad arguments."), ("ValueError", "bad arguments.")]


@pytest.mark.docs
def test_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason=DOCS_STEP)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    html = "\n".join(
        p.read_text() for p in sorted((site / "reference").rglob("index.html"))
    )
    anyio_names = _anyio_reexports()
    unrendered = [
        f"plait.{n}"
        for n in vars(plait)["__all__"]
        if n not in anyio_names and f'id="plait.{n}"' not in html
    ]
    unrendered += [
        f"plait.testing.{n}"
        for n in plait.testing.__all__
        if f'id="plait.testing.{n}"' not in html
    ]
    assert unrendered == []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert (site / "notebooks" / notebook.stem / "index.html").is_file()
