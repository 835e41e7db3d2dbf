"""run_until_signal, in a subprocess: a signal leads to an orderly shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import plait

SCRIPT = Path(__file__).parent / "scripts" / "signal_service.py"


@pytest.mark.parametrize("backend", ["asyncio", "uvloop", "trio"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_in_order_and_exits_0(
    backend: str, signum: signal.Signals
) -> None:
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), backend],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # blocks until the services are ready
        assert json.loads(first) == {"ready": True}, process.stderr
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    result = json.loads(out)
    assert result == {
        "tiers": [["web"], ["db"]],
        "stopped": ["web", "db"],
        "cancelled": [],
        "log": ["stopped web", "stopped db"],
    }


async def test_run_until_signal_refuses_bad_arguments() -> None:
    async with plait.Supervisor(observers=()) as sup:
        with pytest.raises(ValueError, match="signals must name at least one"):
            await plait.run_until_signal(sup, signals=())
        with pytest.raises(ValueError, match="grace must be >= 0"):
            await plait.run_until_signal(sup, grace=-1)
        with pytest.raises(TypeError, match=r"supervisor must be a plait\.Supervisor"):
            await plait.run_until_signal(object())  # type: ignore[arg-type]
