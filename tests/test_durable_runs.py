"""How a JobWorker's runners take the jobs it holds: every held job up to the
queue's concurrency runs at once, and jobs that never suspend run one after
the other in one runner, with no task switch per job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import plait
from durable_scripts.support import ENGINES, make_dsn


@pytest.fixture(params=ENGINES)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_dsn(request.param, tmp_path)


async def drain(dsn: str, handlers: plait.JobHandlers, concurrency: int) -> None:
    worker = plait.JobWorker(
        dsn, handlers, concurrency=concurrency, until_empty=True, poll_interval=0.02
    )
    with anyio.fail_after(30):
        await worker.run()
    assert worker.stats.done == worker.stats.claimed


async def test_held_jobs_run_at_once_up_to_the_concurrency(dsn: str) -> None:
    # Each job waits until all have started: it ends only if the runner that
    # took one job woke another for the next, and so on up to the last.
    handlers = plait.JobHandlers()
    concurrency = 6
    running = 0
    most = 0
    all_started = anyio.Event()

    @handlers.register("gather")
    async def gather(job: plait.Job) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == concurrency:
            all_started.set()
        await all_started.wait()
        running -= 1

    async with plait.DurableBackend(dsn, work=False) as backend:
        await backend.submit_many([plait.Job("gather") for _ in range(concurrency)])
    await drain(dsn, handlers, concurrency)
    assert most == concurrency


async def test_jobs_that_never_suspend_run_in_one_runner(dsn: str) -> None:
    handlers = plait.JobHandlers()
    tasks: list[int] = []

    @handlers.register("noop")
    async def noop(job: plait.Job) -> None:
        tasks.append(anyio.get_current_task().id)

    async with plait.DurableBackend(dsn, work=False) as backend:
        await backend.submit_many([plait.Job("noop") for _ in range(30)])
    # One round trip claims all 30 (the worker holds up to twice its
    # concurrency); the first runner woken runs them all before it yields.
    await drain(dsn, handlers, concurrency=20)
    assert len(tasks) == 30
    assert len(set(tasks)) == 1
