"""run_until_signal, in a subprocess: a signal leads to an orderly shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import anyio.abc
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
        with pytest.raises(
            ValueError,
            match=r"run_until_signal\(\) signals must be at least one signal",
        ):
            await plait.run_until_signal(sup, signals=())
        with pytest.raises(
            ValueError,
            match=r"run_until_signal\(\) grace must be a number of seconds >= 0",
        ):
            await plait.run_until_signal(sup, grace=-1)
        with pytest.raises(TypeError, match=r"supervisor must be a plait\.Supervisor"):
            await plait.run_until_signal(object())  # type: ignore[arg-type]


async def test_returns_when_the_supervisor_shuts_down_without_a_signal() -> None:
    go = anyio.Event()
    reports: list[plait.ShutdownReport] = []

    async def admin(sup: plait.Supervisor) -> None:
        await go.wait()
        await sup.shutdown()

    async def worker(stopping: anyio.Event) -> None:
        await stopping.wait()

    async def wait(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        reports.append(await plait.run_until_signal(sup, task_status=task_status))

    with anyio.fail_after(5):
        async with plait.Supervisor(observers=(), grace=0) as sup:
            await sup.start(worker, grace=5)
            await sup.start(admin, sup, restart="temporary")
            async with anyio.create_task_group() as tg:
                await tg.start(wait)
                go.set()
    assert reports == [sup.report]
    assert sup.report is not None
    assert sup.report.stopped == ("worker",)
