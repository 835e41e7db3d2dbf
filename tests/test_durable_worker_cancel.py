"""A JobWorker cancelled from outside at the worst moments loses no job.

Each test pins one moment the stress harness found by chance: a native
``Task.cancel()`` arriving while a round trip is in flight or about to
begin, and a cancellation arriving while a runner has jobs in hand. On
SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

import plait
from durable_scripts.support import ENGINES, make_dsn
from plait._jobs.durable._calls import open_engine
from plait._jobs.durable._engine import Ack, Claimed
from plait._jobs.durable._ledger import Ledger

ASYNCIO_ONLY = pytest.mark.parametrize(
    "anyio_backend",
    [("asyncio", {}), ("asyncio", {"use_uvloop": True})],
    ids=["asyncio", "uvloop"],
)


@pytest.fixture(params=ENGINES)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_dsn(request.param, tmp_path)


class Fatal(BaseException):
    pass


def rows(dsn: str) -> list[tuple[Any, ...]]:
    """Every job as (id, state, attempts, attempt rows)."""
    engine = open_engine(dsn)
    try:
        return [
            tuple(row)
            for row in engine.execute(
                "SELECT id, state, attempts, (SELECT count(*) FROM plait_attempts "
                "WHERE job_id = plait_jobs.id) FROM plait_jobs ORDER BY id"
            )
        ]
    finally:
        engine.close()


class CancelAtTake:
    """Cancel the worker's task with ``Task.cancel()`` when its ledger hands
    over outcomes that *wanted* picks, before the round trip sending them
    has begun (the callback runs at the round trip's first suspension)."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        wanted: Callable[[list[Ack], list[Claimed]], bool],
    ) -> None:
        self.task: asyncio.Task[None] | None = None
        self.fired = False
        take = Ledger.take

        def take_then_cancel(ledger: Ledger) -> tuple[list[Ack], list[Claimed]]:
            acks, releases = take(ledger)
            if self.task is not None and not self.fired and wanted(acks, releases):
                asyncio.get_running_loop().call_soon(self.task.cancel)
                self.fired = True
            return acks, releases

        monkeypatch.setattr(Ledger, "take", take_then_cancel)


async def noop(job: plait.Job) -> None:
    return None


@ASYNCIO_ONLY
async def test_a_native_cancel_during_the_claim_leaves_no_job_running(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Task.cancel() gets through the worker's shield around its round trip;
    # the claim was made all the same, and its jobs were never held, so they
    # stayed 'running' until their lease expired.
    handlers = plait.JobHandlers()
    handlers.register("job")(noop)
    async with plait.DurableBackend(dsn, work=False) as backend:
        await backend.submit_many([plait.Job("job"), plait.Job("job")])
    engine_class = type(probe := open_engine(dsn))
    probe.close()
    claimed, proceed = threading.Event(), threading.Event()
    exchange = engine_class.exchange

    def slow_exchange(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = exchange(self, *args, **kwargs)
        if result.claimed and not claimed.is_set():
            claimed.set()
            proceed.wait(30)
        return result

    monkeypatch.setattr(engine_class, "exchange", slow_exchange)
    worker = plait.JobWorker(dsn, handlers, concurrency=1, poll_interval=0.01)
    task = asyncio.ensure_future(worker.run())
    assert await anyio.to_thread.run_sync(claimed.wait, 30)
    task.cancel()
    proceed.set()
    with pytest.raises(asyncio.CancelledError), anyio.fail_after(30):
        await task
    assert rows(dsn) == [(1, "queued", 0, 0), (2, "queued", 0, 0)]
    assert worker.stats.claimed == worker.stats.released == 2


@ASYNCIO_ONLY
async def test_a_native_cancel_before_the_round_trip_begins_loses_no_outcome(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The round trip had taken the handler's outcome when Task.cancel()
    # stopped it before its call began: the outcome was dropped and the job
    # released, as if the handler that raised had never run.
    handlers = plait.JobHandlers()

    @handlers.register("fatal", retry=plait.RetryPolicy(attempts=1))
    async def fatal(job: plait.Job) -> None:
        raise Fatal("fatal")

    async with plait.DurableBackend(dsn, work=False) as backend:
        await backend.submit(plait.Job("fatal"))
    cancel = CancelAtTake(monkeypatch, lambda acks, releases: bool(acks))
    worker = plait.JobWorker(dsn, handlers, poll_interval=0.01)
    cancel.task = task = asyncio.ensure_future(worker.run())
    with pytest.raises(asyncio.CancelledError), anyio.fail_after(30):
        await task
    assert cancel.fired
    assert rows(dsn) == [(1, "dead", 1, 1)]
    assert worker.stats.dead == 1


@ASYNCIO_ONLY
async def test_a_second_native_cancel_does_not_cut_the_final_flush_short(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Task.cancel() reached the worker's shielded final flush before its
    # round trip began: the release was never sent and the job it held
    # stayed 'running' until its lease expired.
    handlers = plait.JobHandlers()
    started = anyio.Event()

    @handlers.register("hangs")
    async def hangs(job: plait.Job) -> None:
        started.set()
        await anyio.sleep_forever()

    async with plait.DurableBackend(dsn, work=False) as backend:
        await backend.submit(plait.Job("hangs"))
    # The second cancellation: as the final flush takes the release.
    cancel = CancelAtTake(monkeypatch, lambda acks, releases: bool(releases))
    worker = plait.JobWorker(dsn, handlers, poll_interval=0.01)
    cancel.task = task = asyncio.ensure_future(worker.run())
    with anyio.fail_after(30):
        await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError), anyio.fail_after(30):
        await task
    assert cancel.fired
    assert rows(dsn) == [(1, "queued", 0, 0)]
    assert worker.stats.released == 1


@pytest.mark.parametrize("raises_own_cancellation", [False, True])
async def test_no_job_starts_once_the_worker_is_cancelled(
    dsn: str, raises_own_cancellation: bool
) -> None:
    # A runner that had another job in hand started it under the worker's
    # cancellation: its handler ran until its first await, or, raising its
    # own cancellation before that, was taken for cancelled and released.
    handlers = plait.JobHandlers()
    started: list[str] = []
    scope = anyio.CancelScope()

    @handlers.register("first")
    async def first(job: plait.Job) -> None:
        started.append("first")
        scope.cancel()  # the worker's cancellation, while this run returns

    @handlers.register("second")
    async def second(job: plait.Job) -> None:
        started.append("second")
        if raises_own_cancellation:
            raise anyio.get_cancelled_exc_class()()
        await anyio.sleep(0)

    async with plait.DurableBackend(dsn, work=False) as backend:
        await backend.submit_many([plait.Job("first", priority=1), plait.Job("second")])
    # One runner; the worker claims both jobs in one batch (twice its
    # concurrency), so the second is in hand when the first returns.
    worker = plait.JobWorker(dsn, handlers, concurrency=1, poll_interval=0.01)
    with anyio.fail_after(30):
        with scope:
            await worker.run()
    assert scope.cancelled_caught
    assert started == ["first"]
    assert rows(dsn) == [(1, "done", 1, 0), (2, "queued", 0, 0)]
