"""The tutorial notebooks run top to bottom, cleanly, and match their sources.

Each notebook is kept twice in ``notebooks/``: ``NN-name.py`` (jupytext's
percent format, the source you edit and review) and ``NN-name.ipynb`` (the
same cells with their outputs, which the site shows). The tests execute the
``.py`` source in a fresh IPython kernel with nbclient and fail on any error,
including one IPython only prints to stderr (an ``ExceptionGroup`` from a
top-level ``async with`` block): any stderr output at all fails the run.

Regenerate the stored outputs after editing a notebook's ``.py``::

    python tests/test_notebooks.py            # every notebook
    python tests/test_notebooks.py 03 07      # some of them
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.py"))
# Stored outputs stay small enough to review: text, and a few small plots.
MAX_NOTEBOOK_BYTES = 160_000
CELL_TIMEOUT = 120

# jupyter_core warns about its path migration unless told which to use.
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")


class NotebookFailedError(AssertionError):
    """A notebook raised, or printed to stderr."""


def _tools() -> tuple[Any, Any, Any]:
    reason = "the docs step: pip install -e '.[docs]' && pytest -m docs"
    nbclient = pytest.importorskip("nbclient", reason=reason)
    nbformat = pytest.importorskip("nbformat", reason=reason)
    jupytext = pytest.importorskip("jupytext", reason=reason)
    return nbclient, nbformat, jupytext


def read_source(path: Path) -> Any:
    """Return the notebook a jupytext ``.py`` file describes, without outputs."""
    _, _, jupytext = _tools()
    return jupytext.read(path)


def execute(notebook: Any, cwd: Path) -> Any:
    """Run every cell of *notebook* in a fresh kernel; return it with outputs.

    Raises:
        NotebookFailedError: a cell raised (nbclient's ``CellExecutionError``
            carries the traceback), or a cell wrote to stderr.
    """
    nbclient, _, _ = _tools()
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        raise NotebookFailedError(str(exc)) from None
    for number, cell in enumerate(notebook.cells, 1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise NotebookFailedError(f"cell {number}: {output.get('ename')}")
            if output.get("output_type") == "stream" and output["name"] == "stderr":
                raise NotebookFailedError(
                    f"cell {number} wrote to stderr:\n{output['text']}"
                )
    return notebook


def _cells(notebook: Any) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


@pytest.mark.docs
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_cleanly(source: Path, tmp_path: Path) -> None:
    start = time.monotonic()
    execute(read_source(source), tmp_path)
    # "Well under a minute" on a quiet machine; the bound leaves room for CI.
    assert time.monotonic() - start < 90


@pytest.mark.docs
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_stored_notebook_matches_its_source(source: Path) -> None:
    _, nbformat, _ = _tools()
    stored = source.with_suffix(".ipynb")
    assert stored.is_file(), f"run: python tests/test_notebooks.py {source.stem}"
    notebook = nbformat.read(stored, as_version=4)
    assert _cells(notebook) == _cells(read_source(source)), (
        f"{stored.name} is out of date: python tests/test_notebooks.py {source.stem}"
    )
    nbformat.validate(notebook)


@pytest.mark.docs
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_stored_outputs_are_clean_and_small(source: Path) -> None:
    _, nbformat, _ = _tools()
    stored = source.with_suffix(".ipynb")
    assert stored.stat().st_size < MAX_NOTEBOOK_BYTES
    notebook = nbformat.read(stored, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells), (
        "every code cell was executed"
    )
    for cell in code_cells:
        for output in cell.outputs:
            assert output.output_type != "error"
            assert output.get("name") != "stderr"


def test_the_eight_notebooks_are_listed() -> None:
    assert len(SOURCES) == 8
    index = (NOTEBOOKS / "README.md").read_text()
    for source in SOURCES:
        assert f"({source.stem}.ipynb)" in index


_BROKEN = """\
# %%
{magic}
import anyio


async def boom() -> None:
    raise ValueError("boom")

# %%
async with anyio.create_task_group() as tg:
    tg.start_soon(boom)

# %%
print("not reached")
"""


@pytest.mark.docs
@pytest.mark.parametrize("magic", ["", "%autoawait trio"], ids=["asyncio", "trio"])
def test_a_task_group_that_raises_fails_the_run(tmp_path: Path, magic: str) -> None:
    # IPython prints this ExceptionGroup to stderr and records no error
    # output; the run must fail all the same.
    source = tmp_path / "broken.py"
    source.write_text(_BROKEN.format(magic=magic))
    with pytest.raises(NotebookFailedError, match="ValueError: boom"):
        execute(read_source(source), tmp_path)


@pytest.mark.docs
def test_stderr_output_fails_the_run(tmp_path: Path) -> None:
    source = tmp_path / "noisy.py"
    source.write_text("# %%\nimport sys\nprint('oops', file=sys.stderr)\n")
    with pytest.raises(NotebookFailedError, match="wrote to stderr"):
        execute(read_source(source), tmp_path)


def write_outputs(source: Path) -> Path:
    """Execute *source* and store it, with its outputs, beside it as .ipynb."""
    _, nbformat, _ = _tools()
    # A scratch working directory: hypothesis and friends leave files there.
    with tempfile.TemporaryDirectory() as scratch:
        notebook = execute(read_source(source), Path(scratch))
    stored = copy.deepcopy(notebook)
    for number, cell in enumerate(stored.cells, 1):
        # Stable ids, no run metadata and streams in one piece (however the
        # kernel happened to flush them) keep the diffs to what changed.
        cell["id"] = f"cell-{number}"
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = _coalesce_streams(cell.outputs)
    stored.metadata.pop("widgets", None)
    target = source.with_suffix(".ipynb")
    nbformat.write(stored, target)
    return target


def _coalesce_streams(outputs: list[Any]) -> list[Any]:
    merged: list[Any] = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


if __name__ == "__main__":
    wanted = sys.argv[1:]
    for path in SOURCES:
        if not wanted or any(path.stem.startswith(w) for w in wanted):
            began = time.monotonic()
            written = write_outputs(path)
            size = written.stat().st_size
            took = time.monotonic() - began
            print(f"{written.name}: {took:.1f} s, {size} bytes")
