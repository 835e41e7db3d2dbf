"""python -m plait: the tour runs on every installed backend."""

from __future__ import annotations

import subprocess
import sys

import plait
from plait._cli._main import COMMANDS


def test_tour_runs_on_every_backend() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "plait"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = result.stdout
    for label, library in (
        ("asyncio", "asyncio"),
        ("uvloop", "asyncio"),
        ("trio", "trio"),
    ):
        assert f"backend: {label} (current_backend() says '{library}')" in out
    assert out.count("-> ('a', 'b', 'c')") == 3
    assert out.count("-> 'fast'") == 3
    assert out.count("-> 'primary'") == 3
    assert out.count("at most 5 calls were in flight") == 3
    assert result.stderr == ""


def test_unknown_command_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "plait", "frobnicate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "usage: plait" in result.stderr
    assert "invalid choice: 'frobnicate'" in result.stderr


def _plait(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plait", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_every_command_and_exits_zero() -> None:
    result = _plait("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


def test_version_exits_zero() -> None:
    result = _plait("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"plait {plait.__version__}"


def test_a_command_gets_its_own_help() -> None:
    result = _plait("worker", "--help")
    assert result.returncode == 0
    assert "usage: plait worker" in result.stdout


def test_tour_takes_no_arguments() -> None:
    result = _plait("tour", "extra")
    assert result.returncode == 2
    assert "usage: plait tour" in result.stderr
