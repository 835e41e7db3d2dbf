from __future__ import annotations

import anyio
import pytest

import plait


async def test_cancelled_shutdown_still_cancels_and_reports() -> None:
    handlers = plait.JobHandlers()

    @handlers.register("slow")
    async def slow(job: plait.Job) -> None:
        await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with plait.TrackedBackend(handlers, drain_timeout=1000) as backend:
            job_id = await backend.submit(plait.Job("slow"))
            await anyio.wait_all_tasks_blocked()
            with anyio.CancelScope() as scope:
                scope.cancel()
                await backend.shutdown()
    assert backend.report == plait.DrainReport(finished=0, cancelled=(job_id,))


async def test_two_failures_at_once_are_both_raised() -> None:
    go = anyio.Event()
    arrived = []

    async def fail(tag: str) -> None:
        arrived.append(tag)
        if len(arrived) == 2:
            go.set()
        await go.wait()
        raise ValueError(tag)

    with pytest.raises(BaseException) as info:
        async with plait.Scheduler() as scheduler:
            scheduler.every(10, fail, "a")
            scheduler.every(10, fail, "b")
            await anyio.sleep_forever()
    print(repr(info.value))
    assert 0
