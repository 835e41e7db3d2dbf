"""bounded_map: order, limit, laziness, failures, options, context, bad input."""

from __future__ import annotations

import contextvars
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import plait
from plait.testing import Clock


class InFlight:
    """Counts concurrent calls and remembers the peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.calls = 0

    async def double(self, x: int) -> int:
        self.now += 1
        self.calls += 1
        self.peak = max(self.peak, self.now)
        try:
            for _ in range(x % 3 + 1):
                await anyio.sleep(0)
            return 2 * x
        finally:
            self.now -= 1


@pytest.mark.parametrize("limit", [1, 3, 50])
async def test_results_in_order_and_limit_respected(limit: int) -> None:
    probe = InFlight()
    assert await plait.bounded_map(probe.double, range(40), limit=limit) == [
        2 * x for x in range(40)
    ]
    assert 1 <= probe.peak <= limit


@pytest.mark.parametrize("limit", [1, 3, 50])
async def test_limit_is_reached_when_calls_block(limit: int) -> None:
    in_flight = 0
    peak = 0
    all_started = anyio.Event()

    async def wait_for_company(x: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == limit:
            all_started.set()
        await all_started.wait()
        in_flight -= 1
        return x

    assert await plait.bounded_map(wait_for_company, range(120), limit=limit) == (
        list(range(120))
    )
    assert peak == limit


async def test_empty_and_single_item() -> None:
    assert await plait.bounded_map(InFlight().double, [], limit=4) == []
    assert await plait.bounded_map(InFlight().double, [5], limit=4) == [10]


async def test_items_are_pulled_lazily_never_more_than_limit_ahead() -> None:
    pulled = 0
    finished = 0
    worst = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for x in range(200):
            pulled += 1
            yield x

    async def work(x: int) -> int:
        nonlocal finished, worst
        worst = max(worst, pulled - finished)
        await anyio.sleep(0)
        finished += 1
        return x

    assert await plait.bounded_map(work, items(), limit=7) == list(range(200))
    assert worst <= 7


async def test_async_iterable_items() -> None:
    async def items() -> AsyncIterator[int]:
        for x in range(10):
            await anyio.sleep(0)
            yield x

    assert await plait.bounded_map(InFlight().double, items(), limit=3) == [
        2 * x for x in range(10)
    ]


async def test_async_generator_is_closed_on_failure() -> None:
    closed = anyio.Event()

    async def items() -> AsyncIterator[int]:
        try:
            for x in range(1000):
                yield x
        finally:
            closed.set()

    async def fail_on_three(x: int) -> int:
        await anyio.sleep(0)
        if x == 3:
            raise ValueError(x)
        return x

    with pytest.RaisesGroup(ValueError):
        await plait.bounded_map(fail_on_three, items(), limit=2)
    assert closed.is_set()


async def test_first_failure_stops_pulling_and_cancels_in_flight() -> None:
    cancelled = 0
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for x in range(1000):
            pulled += 1
            yield x

    async def work(x: int) -> int:
        nonlocal cancelled
        if x == 5:
            raise KeyError(x)
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled += 1
            raise
        return x

    with pytest.RaisesGroup(KeyError) as info:
        await plait.bounded_map(work, items(), limit=10)
    # Items 0-5 were pulled (one worker each); 5 failed, the rest were
    # cancelled, and nothing more was pulled after the failure.
    assert pulled == 6
    assert cancelled == 5
    (error,) = info.value.exceptions
    assert "raised by bounded_map() item 5: 5" in error.__notes__


async def test_error_from_items_propagates_like_a_failure() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise OSError("source broke")

    with pytest.RaisesGroup(pytest.RaisesExc(OSError, match="source broke")) as info:
        await plait.bounded_map(InFlight().double, items(), limit=2)
    assert any("items iterable" in n for n in info.value.exceptions[0].__notes__)


async def test_return_exceptions_keeps_going() -> None:
    async def odd_fails(x: int) -> int:
        await anyio.sleep(0)
        if x % 2:
            raise ValueError(x)
        return x

    results = await plait.bounded_map(
        odd_fails, range(6), limit=2, return_exceptions=True
    )
    assert [r if isinstance(r, int) else type(r) for r in results] == [
        0,
        ValueError,
        2,
        ValueError,
        4,
        ValueError,
    ]


@pytest.mark.parametrize("return_exceptions", [False, True])
async def test_caller_cancelled_midway(return_exceptions: bool) -> None:
    started = 0
    before = len(anyio.get_running_tasks())

    async def forever(x: int) -> int:
        nonlocal started
        started += 1
        await anyio.sleep_forever()
        return x

    with anyio.move_on_after(0.01) as scope:
        await plait.bounded_map(
            forever, range(100), limit=4, return_exceptions=return_exceptions
        )
    assert scope.cancelled_caught
    assert started == 4
    assert len(anyio.get_running_tasks()) == before


async def test_timeout_applies_to_each_attempt(clock: Clock) -> None:
    async def slow_on_two(x: int) -> int:
        if x == 2:
            await anyio.sleep(10)
        return x

    start = clock.now()
    results = await plait.bounded_map(
        slow_on_two, range(4), limit=4, timeout=0.2, return_exceptions=True
    )
    assert results[:2] == [0, 1]
    assert results[3] == 3
    assert isinstance(results[2], TimeoutError)
    assert any("took more than 0.2s" in n for n in results[2].__notes__)
    assert clock.now() - start == clock.approx(0.2)


async def test_retry_with_timeout_retries_timeouts(clock: Clock) -> None:
    attempts: dict[int, int] = {}

    async def slow_first_time(x: int) -> int:
        attempts[x] = attempts.get(x, 0) + 1
        if attempts[x] == 1:
            await anyio.sleep(10)
        return x

    policy = plait.RetryPolicy(attempts=2, base_delay=0.1, jitter=0)
    start = clock.now()
    assert await plait.bounded_map(
        slow_first_time, range(3), limit=3, timeout=0.2, retry=policy
    ) == [0, 1, 2]
    assert attempts == {0: 2, 1: 2, 2: 2}
    assert clock.now() - start == clock.approx(0.3)


async def test_retry_gives_up_after_attempts() -> None:
    calls = 0

    async def always_fails(x: int) -> int:
        nonlocal calls
        calls += 1
        await anyio.sleep(0)
        raise ConnectionError(x)

    policy = plait.RetryPolicy(attempts=3, base_delay=0)
    with pytest.RaisesGroup(ConnectionError):
        await plait.bounded_map(always_fails, [1], limit=1, retry=policy)
    assert calls == 3


async def test_rate_limits_calls_retries_included(clock: Clock) -> None:
    stamps: list[float] = []
    failed_once: set[int] = set()

    async def flaky(x: int) -> int:
        stamps.append(clock.now())
        if x not in failed_once:
            failed_once.add(x)
            raise ConnectionError(x)
        return x

    policy = plait.RetryPolicy(attempts=2, base_delay=0)
    assert await plait.bounded_map(flaky, range(3), limit=3, retry=policy, rate=10) == [
        0,
        1,
        2,
    ]
    assert len(stamps) == 6
    # Slots are 0.1 s apart from the first: a late call does not let the
    # next one come sooner than its slot.
    offsets = [stamp - stamps[0] for stamp in stamps]
    assert offsets == [clock.approx(0.1 * k) for k in range(6)]


async def test_waiting_for_the_rate_does_not_count_against_the_timeout(
    clock: Clock,
) -> None:
    limiter = plait.RateLimiter(20)  # one call every 0.05 s

    async def quick(x: int) -> int:
        await anyio.sleep(0)
        return x

    # Four calls wait 0.15 s for the rate in all; each call itself is instant,
    # so a 0.04 s timeout per call is never hit.
    start = clock.now()
    assert await plait.bounded_map(
        quick, range(4), limit=4, rate=limiter, timeout=0.04
    ) == [0, 1, 2, 3]
    assert clock.now() - start == clock.approx(0.15)


async def test_each_call_sees_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller")
    seen: list[str] = []

    async def sets_var(x: int) -> int:
        seen.append(var.get())
        var.set(f"item {x}")
        await anyio.sleep(0)
        return x

    assert await plait.bounded_map(sets_var, range(20), limit=2) == list(range(20))
    assert seen == ["caller"] * 20
    assert var.get() == "caller"


async def test_nested_bounded_map() -> None:
    async def inner(x: int) -> list[int]:
        return await plait.bounded_map(InFlight().double, range(x), limit=2)

    assert await plait.bounded_map(inner, [0, 1, 3], limit=2) == [[], [0], [0, 2, 4]]


async def test_limit_must_be_a_positive_int() -> None:
    with pytest.raises(ValueError, match="limit must be a positive int, got 0"):
        await plait.bounded_map(InFlight().double, [1], limit=0)
    with pytest.raises(TypeError, match="limit must be a positive int"):
        await plait.bounded_map(InFlight().double, [1], limit=2.5)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="limit must be a positive int"):
        await plait.bounded_map(InFlight().double, [1], limit=True)


async def test_bad_options_are_named() -> None:
    double = InFlight().double
    with pytest.raises(
        ValueError, match=r"bounded_map\(\) timeout must be a number of seconds >= 0"
    ):
        await plait.bounded_map(double, [1], limit=1, timeout=-1)
    with pytest.raises(
        ValueError, match=r"bounded_map\(\) rate must be a finite number > 0"
    ):
        await plait.bounded_map(double, [1], limit=1, rate=-5)
    with pytest.raises(TypeError, match="retry must be a RetryPolicy"):
        await plait.bounded_map(double, [1], limit=1, retry=3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="items must be an iterable"):
        await plait.bounded_map(double, 5, limit=1)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="fn must be an async function"):
        await plait.bounded_map(5, [1], limit=1)  # type: ignore[call-overload]


async def test_sync_fn_is_a_type_error_at_the_call_not_a_group() -> None:
    def sync(x: int) -> int:
        return x

    bad_fn: Any = sync
    with pytest.raises(TypeError, match=r"fn must return an awaitable.*async def"):
        await plait.bounded_map(bad_fn, range(5), limit=2)
    with pytest.raises(TypeError, match=r"fn must return an awaitable"):
        await plait.bounded_map(bad_fn, range(5), limit=2, timeout=1)


async def test_type_error_inside_fn_is_a_failure_not_misuse() -> None:
    bad_fn: Any = lambda y: y  # noqa: E731 - a sync function where async is needed

    async def nested_misuse(x: int) -> list[int]:
        return await plait.bounded_map(bad_fn, [x], limit=1)

    with pytest.RaisesGroup(TypeError):
        await plait.bounded_map(nested_misuse, [1], limit=1)
    results = await plait.bounded_map(
        nested_misuse, [1], limit=1, return_exceptions=True
    )
    assert isinstance(results[0], TypeError)


async def test_unused_options_add_no_cancel_scope_or_checkpoint() -> None:
    """Without timeout, retry and rate, no deadline scope wraps fn."""
    deadlines: list[float | None] = []

    async def record(x: int) -> int:
        deadlines.append(plait.effective_deadline())
        return x

    assert await plait.bounded_map(record, range(5), limit=1) == list(range(5))
    assert deadlines == [None] * 5


async def test_unused_options_add_no_checkpoint_per_item() -> None:
    """A fn that never yields runs all items without letting others run."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.lowlevel.checkpoint()

    async def never_yields(x: int) -> int:
        return x

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.lowlevel.checkpoint()
        before = ticks
        assert await plait.bounded_map(never_yields, range(1000), limit=1) == list(
            range(1000)
        )
        during = ticks - before
        tg.cancel_scope.cancel()
    # Starting and joining the one worker takes a few scheduling rounds; a
    # checkpoint per item would take a thousand.
    assert during < 10


async def test_a_sized_iterable_whose_len_is_wrong() -> None:
    double = InFlight().double
    assert await plait.bounded_map(double, Lying(3, 10), limit=2) == [0, 2, 4]
    assert await plait.bounded_map(double, Lying(5, 2), limit=2) == [0, 2, 4, 6, 8]


@pytest.mark.parametrize("limit", [1, 4, 64])
async def test_items_of_unknown_length_finishing_out_of_order(limit: int) -> None:
    """Results of a generator land in input order, however the calls finish."""

    async def late_for_small(x: int) -> int:
        for _ in range((7 - x) % 7):
            await anyio.sleep(0)
        return x

    for count in (0, 1, 7, 100, 1000):
        items = (x for x in range(count))
        assert await plait.bounded_map(late_for_small, items, limit=limit) == list(
            range(count)
        )


async def test_fn_turning_sync_midway_is_misuse() -> None:
    """An item after the first whose call returns no awaitable is still misuse."""
    done: list[int] = []

    def sometimes_async(x: int) -> Any:
        if x < 5:

            async def fine() -> int:
                done.append(x)
                return x

            return fine()
        return None

    with pytest.raises(TypeError, match="fn must return an awaitable"):
        await plait.bounded_map(sometimes_async, range(10), limit=1)
    assert done == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="fn must return an awaitable"):
        await plait.bounded_map(
            sometimes_async, range(10), limit=3, return_exceptions=True
        )


@pytest.mark.parametrize("first_bad", [0, 3])
async def test_fn_raising_type_error_when_called_is_a_failure(first_bad: int) -> None:
    """A TypeError raised by calling fn (before any awaitable) is a failure."""

    async def echo(x: int) -> int:
        await anyio.sleep(0)
        return x

    def picky(x: int) -> Any:
        if x >= first_bad:
            raise TypeError(f"no {x}")
        return echo(x)

    with pytest.RaisesGroup(pytest.RaisesExc(TypeError, match=f"no {first_bad}")):
        await plait.bounded_map(picky, range(6), limit=1)
    results = await plait.bounded_map(picky, range(6), limit=2, return_exceptions=True)
    assert results[:first_bad] == list(range(first_bad))
    assert [str(r) for r in results[first_bad:]] == [
        f"no {x}" for x in range(first_bad, 6)
    ]


async def test_a_list_that_grows_while_mapped_still_gets_limit_workers() -> None:
    """Workers start for len(items) at the call; more items grow the pool."""
    items = [0]
    in_flight = peak = 0

    async def crawl(page: int) -> int:
        nonlocal in_flight, peak
        items.extend(range(len(items), min(len(items) + 2, 40)))  # two more pages
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        return page

    assert await plait.bounded_map(crawl, items, limit=10) == list(range(40))
    assert peak == 10
    in_flight = peak = 0
    async with plait.imap(crawl, Lying(40, 1), limit=10) as results:
        assert [r async for r in results] == list(range(40))
    assert peak == 10


class Lying:
    """A sized iterable whose ``len()`` is wrong."""

    def __init__(self, real: int, claimed: int) -> None:
        self.real, self.claimed = real, claimed

    def __len__(self) -> int:
        return self.claimed

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.real))


async def test_a_call_cancelled_outside_any_scope_is_not_a_lost_result() -> None:
    """On asyncio, Task.cancel() on a worker ends it quietly in anyio's group.

    The map must not return results with that item missing.
    """
    if plait.current_backend() == "trio":
        pytest.skip("native task cancellation is asyncio's")
    import asyncio

    async def cancel_own_task(x: int) -> int:
        if x == 5:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
        await anyio.sleep(0)
        return x

    lost = pytest.RaisesExc(RuntimeError, match="cancelled outside any cancel scope")
    with pytest.RaisesGroup(lost):
        await plait.bounded_map(cancel_own_task, range(10), limit=3)
    with pytest.RaisesGroup(lost):
        await plait.bounded_map(cancel_own_task, (x for x in range(10)), limit=3)
    for ordered in (True, False):
        got: list[int] = []
        with pytest.raises(RuntimeError, match="cancelled outside any cancel scope"):
            async with plait.imap(
                cancel_own_task, range(40), limit=3, ordered=ordered
            ) as results:
                async for r in results:
                    got.append(r)
        if ordered:
            assert got == [0, 1, 2, 3, 4]  # earlier results first, then the error


# An outer cancellation meeting a failure (issue 11): nothing is lost.


@pytest.mark.parametrize("return_exceptions", [False, True])
async def test_a_failure_racing_an_outer_cancellation_is_raised(
    return_exceptions: bool,
) -> None:
    """The item fails just as its caller is cancelled: the failure wins."""

    async def fails_as_cancelled(x: int) -> int:
        if x == 1:
            outer.cancel()
            raise ValueError("real")
        await anyio.sleep_forever()
        return x

    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="real")):
        with anyio.CancelScope() as outer:
            await plait.bounded_map(
                fails_as_cancelled,
                range(3),
                limit=3,
                return_exceptions=return_exceptions,
            )


@pytest.mark.parametrize("return_exceptions", [False, True])
@pytest.mark.virtual_time
async def test_a_cleanup_error_under_an_outer_deadline_is_raised(
    return_exceptions: bool,
) -> None:
    async def cleanup_fails(x: int) -> int:
        try:
            await anyio.sleep_forever()
        finally:
            raise ConnectionError(f"cleanup {x}")

    with pytest.RaisesGroup(ConnectionError, ConnectionError):
        with anyio.move_on_after(1):
            await plait.bounded_map(
                cleanup_fails, range(2), limit=2, return_exceptions=return_exceptions
            )


async def test_return_exceptions_is_a_result_unless_raised_while_cancelled() -> None:
    """An error raised before the map is cancelled is a result, even after
    another worker's failure has stopped the map (found by the stress run).
    """
    items_failed = anyio.Event()
    pending_when_raised: list[bool] = []

    async def items() -> AsyncIterator[int]:
        yield 0
        await anyio.lowlevel.checkpoint()
        items_failed.set()
        raise OSError("items broke")

    async def fails_as_items_fail(x: int) -> int:
        await items_failed.wait()
        pending_when_raised.append(plait.effective_deadline() == -math.inf)
        raise ValueError(x)

    with pytest.raises(ExceptionGroup) as info:
        await plait.bounded_map(
            fails_as_items_fail, items(), limit=2, return_exceptions=True
        )
    raised = [type(e) for e in info.value.exceptions]
    # A failure when a cancellation was pending, else a result dropped with
    # the others: never both, never decided by anything else.
    assert raised == ([OSError, ValueError] if pending_when_raised[0] else [OSError])
