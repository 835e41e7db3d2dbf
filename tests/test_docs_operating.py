"""The operating guide's session runs as printed, on SQLite and PostgreSQL.

The page's ``app.py`` block is written to a fresh folder and its ``console``
blocks run there, one shell for all, each ``$`` line a command and the lines
under it what it prints (stdout and stderr, as a terminal shows them). What
differs from run to run is masked on both sides before comparing: times,
the worker's name, seconds with decimals (a retry's jittered delay, a wait),
and the drain's progress frames before the last one; a ``...`` line stands
for any lines (a traceback's). A command that prints no ``plait ...:``
refusal must exit 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_scripts.support import ENGINES, ROOT, make_dsn
from test_docs import fenced_blocks

PAGE = ROOT / "docs" / "guides" / "operating.md"
_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(,\d+)?"), "<time>"),
    (re.compile(r"[\w.-]+:\d+:[0-9a-f]{8,}"), "<worker>"),
    (re.compile(r"\b\d+\.\d+ s\b"), "<seconds> s"),
)
_FRAME = re.compile(r"^drain: \d+/\d+ finished; ")
_MARK = "@@plait-docs-command@@"


@pytest.fixture(params=ENGINES)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_dsn(request.param, tmp_path)


def session() -> tuple[str, list[tuple[str, list[str]]]]:
    """The page's app.py and its commands, each with the lines it prints."""
    blocks = fenced_blocks(PAGE)
    (app,) = [
        b.code for b in blocks if b.lang == "python" and 'title="app.py"' in b.options
    ]
    commands: list[tuple[str, list[str]]] = []
    for block in blocks:
        if block.lang != "console":
            continue
        for line in block.code.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            else:
                assert commands, f"{block.where}: output before any command"
                commands[-1][1].append(line)
    assert len(commands) > 10, "the page's session is gone"
    return app, commands


def masked(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        if _FRAME.match(line):
            continue
        for pattern, mask in _MASKS:
            line = pattern.sub(mask, line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    return out


def matches(want: list[str], got: list[str]) -> bool:
    """Whether *got* is *want*, a ``...`` line in *want* standing for any
    number of lines."""
    if not want:
        return not got
    if want[0].strip() == "...":
        return any(matches(want[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and want[0] == got[0] and matches(want[1:], got[1:])


def test_the_operating_session_prints_what_the_page_shows(
    dsn: str, tmp_path: Path
) -> None:
    app, commands = session()
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "app.py").write_text(app)
    # `plait` is this interpreter's, on this checkout's source.
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "plait"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m plait "$@"\n')
    shim.chmod(0o755)
    script = ["exec 2>&1"]
    for n, (command, _) in enumerate(commands):
        # Mark the end of each command's output with its exit status, then
        # give that status back to $? for an `echo $?` on the next line.
        script += [command, "rc=$?", f"printf '\\n{_MARK} {n} %s\\n' $rc", "(exit $rc)"]
    env = {k: v for k, v in os.environ.items() if k != "PLAIT_DSN"} | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
        "PYTHONUNBUFFERED": "1",
        "PLAIT_DSN": dsn,
    }
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    pieces = re.split(rf"\n{_MARK} (\d+) (\d+)\n", "\n" + result.stdout)
    assert len(pieces) == 3 * len(commands) + 1, result.stdout
    for n, (command, want) in enumerate(commands):
        printed, number, status = pieces[3 * n], pieces[3 * n + 1], pieces[3 * n + 2]
        assert int(number) == n
        got = printed.strip("\n").splitlines()
        assert matches(masked(want), masked(got)), (
            f"$ {command}\nthe page shows:\n"
            + "\n".join(want)
            + "\nit printed:\n"
            + "\n".join(got)
        )
        refused = any(line.startswith("plait jobs: ") for line in want)
        assert refused or int(status) == 0, f"$ {command} exited {status}"
