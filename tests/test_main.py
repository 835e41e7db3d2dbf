"""python -m plait: the tour runs on every installed backend."""

from __future__ import annotations

import subprocess
import sys


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
    assert "usage: python -m plait" in result.stderr
