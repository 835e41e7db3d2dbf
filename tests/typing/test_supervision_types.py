"""Static types of supervision, shutdown, backends and periodic jobs (and run)."""

from __future__ import annotations

from typing import assert_type

import anyio

import plait


async def tick(label: str) -> None:
    await anyio.sleep(0)


async def serve(stopping: anyio.Event) -> None:
    await stopping.wait()


async def test_supervisor_types() -> None:
    async with plait.Supervisor(observers=()) as sup:
        assert_type(sup, plait.Supervisor)
        assert_type(await sup.start(serve, restart="transient"), None)
        assert_type(sup.stats(), dict[str, plait.ServiceStats])
        assert_type(sup.stats()["serve"].state, plait.ServiceState)
        report = await sup.shutdown(grace=1)
        assert_type(report, plait.ShutdownReport)
        assert_type(report.failed, tuple[tuple[str, BaseException], ...])
    assert_type(sup.report, plait.ShutdownReport | None)


async def test_backend_types() -> None:
    handlers = plait.JobHandlers()
    async with plait.TrackedBackend(handlers) as backend:
        assert_type(backend, plait.TrackedBackend)
        assert_type(await backend.submit_many([]), list[str])
    assert_type(backend.stats(), plait.BackendStats)
    async with plait.InlineBackend(handlers) as inline:
        assert_type(await inline.shutdown(), plait.DrainReport)


async def test_periodic_types() -> None:
    stop = anyio.Event()
    stop.set()
    assert_type(await plait.every(1.0, tick, "x", stopping=stop), None)
    scheduler = plait.Scheduler(sequential=True)
    scheduler.every(5, tick, "y", missed="catch_up")
    assert_type(scheduler.stats(), list[plait.PeriodicJobStats])
