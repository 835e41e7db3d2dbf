"""Run a supervisor until SIGINT/SIGTERM; print what happened as JSON lines.

Usage: python signal_service.py BACKEND  (asyncio, uvloop or trio)
"""

from __future__ import annotations

import json
import sys

import anyio
import anyio.abc

import plait


async def main() -> None:
    log: list[str] = []

    def service(name: str) -> object:
        async def run(stopping: anyio.Event) -> None:
            await stopping.wait()
            log.append(f"stopped {name}")

        return run

    async with plait.Supervisor(name="app", observers=()) as sup:
        await sup.start(service("db"), name="db", priority=10)  # type: ignore[arg-type]
        await sup.start(service("web"), name="web", depends_on="db")  # type: ignore[arg-type]
        reports: list[plait.ShutdownReport] = []

        async def wait(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            reports.append(
                await plait.run_until_signal(sup, grace=5, task_status=task_status)
            )

        async with anyio.create_task_group() as tg:
            await tg.start(wait)
            # Only now is the signal receiver installed: a signal cannot be missed.
            print(json.dumps({"ready": True}), flush=True)
        report = reports[0]
    print(
        json.dumps(
            {
                "tiers": report.tiers,
                "stopped": report.stopped,
                "cancelled": report.cancelled,
                "log": log,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    plait.run(main, backend=sys.argv[1])
