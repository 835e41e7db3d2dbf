"""Engine calls in worker threads never outlive their caller."""

from __future__ import annotations

import asyncio
import threading
import time

import anyio
import pytest

from plait._jobs.durable._calls import in_thread

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
