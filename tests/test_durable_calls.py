"""Engine calls in worker threads never outlive their caller."""

from __future__ import annotations

import asyncio
import threading
import time

import anyio
import pytest

from plait._jobs.durable._calls import (
    close_in_thread,
    in_thread,
    in_thread_then,
    open_in_thread,
)

pytestmark = pytest.mark.parametrize(
    "anyio_backend",
    [("asyncio", {}), ("asyncio", {"use_uvloop": True})],
    ids=["asyncio", "uvloop"],
)


async def test_a_native_cancel_waits_for_a_call_that_has_begun() -> None:
    # asyncio's Task.cancel() gets through anyio's shield; the call must
    # still be over when the cancellation reaches the caller.
    begun, finished = threading.Event(), threading.Event()

    def slow() -> None:
        begun.set()
        time.sleep(0.2)
        finished.set()

    task = asyncio.ensure_future(in_thread(slow))
    await anyio.to_thread.run_sync(begun.wait)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()


async def test_a_native_cancel_before_the_call_begins_stops_it() -> None:
    ran = threading.Event()
    task = asyncio.ensure_future(in_thread(ran.set))
    task.cancel()  # before the task's first step: the call never begins
    with pytest.raises(asyncio.CancelledError):
        await task
    await anyio.to_thread.run_sync(time.sleep, 0.05)
    assert not ran.is_set()


async def test_an_anyio_cancellation_waits_for_the_call() -> None:
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.1)
        finished.set()

    with anyio.move_on_after(0.01):
        await in_thread(slow)
    assert finished.is_set()


async def test_a_native_cancel_still_hands_over_the_result_of_a_begun_call() -> None:
    # The worker records what its round trip did even when Task.cancel()
    # cuts the wait short: in_thread_then's `then` gets the result first.
    begun, proceed = threading.Event(), threading.Event()
    kept: list[str] = []

    def slow() -> str:
        begun.set()
        proceed.wait(10)
        return "claimed"

    task = asyncio.ensure_future(in_thread_then(slow, kept.append))
    await anyio.to_thread.run_sync(begun.wait)
    task.cancel()
    proceed.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert kept == ["claimed"]


async def test_then_is_not_called_for_a_call_that_never_began_or_raised() -> None:
    kept: list[object] = []
    ran = threading.Event()
    task = asyncio.ensure_future(in_thread_then(ran.set, kept.append))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    def fails() -> None:
        raise ValueError("down")

    with pytest.raises(ValueError, match="down"):
        await in_thread_then(fails, kept.append)
    assert await in_thread_then(lambda: 7, kept.append) == 7
    assert not ran.is_set()
    assert kept == [7]


class Connection:
    """Counts its closes, as a leak check would."""

    def __init__(self) -> None:
        self.closes = 0

    def close(self) -> None:
        self.closes += 1


async def test_a_native_cancel_during_an_open_closes_what_it_opened() -> None:
    begun, proceed = threading.Event(), threading.Event()
    conn = Connection()

    def open_slowly() -> Connection:
        begun.set()
        proceed.wait(10)
        return conn

    task = asyncio.ensure_future(open_in_thread(open_slowly))
    await anyio.to_thread.run_sync(begun.wait)
    task.cancel()
    proceed.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert conn.closes == 1


async def test_a_native_cancel_before_a_close_begins_still_closes() -> None:
    # Every worker thread busy: the close waits for one, and Task.cancel()
    # lands there, before the call begins. The resource is closed anyway.
    limiter = anyio.to_thread.current_default_thread_limiter()
    saved = limiter.total_tokens
    limiter.total_tokens = limiter.borrowed_tokens + 1
    holder = object()
    await limiter.acquire_on_behalf_of(holder)
    conn = Connection()
    try:
        task = asyncio.ensure_future(close_in_thread(conn))
        await anyio.wait_all_tasks_blocked()
        assert conn.closes == 0
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        limiter.release_on_behalf_of(holder)
        limiter.total_tokens = saved
    assert conn.closes == 1
    await close_in_thread(conn)
    assert conn.closes == 2
