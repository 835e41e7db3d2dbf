"""RateLimiter: spacing, burst, fairness, cancellation."""

from __future__ import annotations

import time

import anyio
import pytest

import plait
from plait.testing import Clock


async def test_default_burst_spaces_acquisitions_evenly(clock: Clock) -> None:
    limiter = plait.RateLimiter(5)  # one every 0.2 s
    stamps: list[float] = []
    for _ in range(4):
        async with limiter:
            stamps.append(clock.now())
    offsets = [stamp - stamps[0] for stamp in stamps]
    assert offsets == [clock.approx(0.2 * k) for k in range(4)]


async def test_burst_lets_that_many_through_after_idle(clock: Clock) -> None:
    limiter = plait.RateLimiter(10, per=1.0, burst=3)
    start = clock.now()
    stamps = []
    for _ in range(5):
        await limiter.acquire()
        stamps.append(clock.now() - start)
    assert stamps == [
        clock.approx(0),
        clock.approx(0),
        clock.approx(0),
        clock.approx(0.1),
        clock.approx(0.2),
    ]


async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = plait.RateLimiter(1000)
    order: list[int] = []

    async def take(index: int, queued: anyio.Event) -> None:
        queued.set()
        await limiter.acquire()
        order.append(index)

    async with anyio.create_task_group() as tg:
        for index in range(10):
            queued = anyio.Event()
            tg.start_soon(take, index, queued)
            await queued.wait()
    assert order == list(range(10))


@pytest.mark.virtual_time(autojump=False)
async def test_a_cancelled_waiter_lets_no_one_behind_it_overtake(clock: Clock) -> None:
    # Repeated: trio runs a batch of woken tasks in random order, and about
    # half the rounds showed a chain broken at the cancelled waiter.
    for _ in range(20):
        assert await _wake_together_past_a_cancelled_waiter(clock) == ["A", "C"]


async def _wake_together_past_a_cancelled_waiter(clock: Clock) -> list[str]:
    """A, B and C queue; B gives up its turn; A's and C's slots fall due at once."""
    limiter = plait.RateLimiter(1000)  # a slot every millisecond
    await limiter.acquire()  # the bucket is empty: the next ones queue
    order: list[str] = []
    scopes: dict[str, anyio.CancelScope] = {}
    gone = anyio.Event()

    async def take(name: str, queued: anyio.Event) -> None:
        with anyio.CancelScope() as scopes[name]:
            queued.set()
            await limiter.acquire()
            order.append(name)
        if name == "B":
            gone.set()

    async with anyio.create_task_group() as tg:
        for name in "ABC":
            queued = anyio.Event()
            tg.start_soon(take, name, queued)
            await queued.wait()
        scopes["B"].cancel()
        await gone.wait()
        if clock.virtual:
            clock.advance(1.0)  # a late wake-up: both slots are due
        else:  # uvloop: hold the loop, as a loaded machine would
            time.sleep(0.01)  # noqa: ASYNC251
    return order


async def test_cancelled_last_waiter_gives_its_slot_back(clock: Clock) -> None:
    limiter = plait.RateLimiter(1, per=2)  # one every 2 s
    await limiter.acquire()
    # Measured from the first slot, not from the timeout: on real time the
    # timeout fires late by however loaded the machine is. It gives up 1.5 s
    # before its slot, so only a timeout that late would find the slot gone.
    start = clock.now()
    with anyio.move_on_after(0.5):
        await limiter.acquire()  # would wait until t=2
    assert clock.now() - start < 2.0
    await limiter.acquire()
    assert clock.now() - start == clock.approx(2.0)  # slot at t=2, not t=4


def test_bad_arguments_are_named() -> None:
    with pytest.raises(
        ValueError, match=r"RateLimiter\(\) rate must be a finite number > 0"
    ):
        plait.RateLimiter(0)
    with pytest.raises(
        ValueError, match=r"RateLimiter\(\) per must be a finite number of seconds > 0"
    ):
        plait.RateLimiter(1, per=-1)
    with pytest.raises(
        ValueError, match=r"RateLimiter\(\) burst must be a positive int"
    ):
        plait.RateLimiter(1, burst=0)
    with pytest.raises(
        TypeError, match=r"RateLimiter\(\) burst must be a positive int"
    ):
        plait.RateLimiter(1, burst=1.5)  # type: ignore[arg-type]


def test_properties_and_repr() -> None:
    limiter = plait.RateLimiter(3, per=2, burst=4)
    assert (limiter.rate, limiter.per, limiter.burst) == (3, 2, 4)
    assert repr(limiter) == "RateLimiter(rate=3, per=2, burst=4)"
