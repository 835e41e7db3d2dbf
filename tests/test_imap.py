"""imap: ordered and unordered streaming, backpressure, failures, early exit."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

import plait
import plait.testing
from conftest import CancelLanding


async def square_after(x: int) -> int:
    for _ in range((7 - x) % 4):
        await anyio.sleep(0)
    return x * x


async def test_ordered_results_in_input_order() -> None:
    async with plait.imap(square_after, range(20), limit=4) as results:
        assert [r async for r in results] == [x * x for x in range(20)]


async def test_unordered_results_as_they_complete() -> None:
    release = {x: anyio.Event() for x in range(3)}

    async def wait_turn(x: int) -> int:
        await release[x].wait()
        return x

    got: list[int] = []
    async with plait.imap(wait_turn, range(3), limit=3, ordered=False) as results:
        for x in (2, 0, 1):
            release[x].set()
            got.append(await anext(results))
    assert got == [2, 0, 1]


async def test_with_index() -> None:
    async with plait.imap(
        square_after, range(6), limit=3, ordered=False, with_index=True
    ) as results:
        pairs = [pair async for pair in results]
    assert sorted(pairs) == [(x, x * x) for x in range(6)]


async def test_empty_items() -> None:
    async with plait.imap(square_after, [], limit=3) as results:
        assert [r async for r in results] == []


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize(("buffer", "unread"), [(None, 10), (0, 5), (2, 7)])
async def test_slow_consumer_applies_backpressure(
    ordered: bool, buffer: int | None, unread: int
) -> None:
    """At most limit + buffer items are pulled and not read (buffer: limit)."""
    pulled = 0
    delivered = 0
    worst = 0

    def endless() -> Iterator[int]:
        nonlocal pulled, worst
        for x in itertools.count():
            pulled += 1
            worst = max(worst, pulled - delivered)
            yield x

    run = plait.imap(square_after, endless(), limit=5, buffer=buffer, ordered=ordered)
    async with run as results:
        async for _ in results:
            delivered += 1
            for _ in range(10):  # a slow reader: let the workers run ahead
                await anyio.sleep(0)
            if delivered == 50:
                break
    assert worst == unread  # reached, never passed
    assert pulled <= 50 + unread


async def test_limit_bounds_calls_in_flight_whatever_the_buffer() -> None:
    """A reader that keeps up never lowers concurrency below limit."""
    in_flight = 0
    most = 0
    release = anyio.Event()

    async def held(x: int) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if most < 4:
            await release.wait()
        else:
            release.set()
        await anyio.sleep(0)
        in_flight -= 1
        return x

    for buffer in (None, 0, 3):
        most, release = 0, anyio.Event()
        with anyio.fail_after(10):  # fewer than 4 at once would wait forever
            async with plait.imap(held, range(40), limit=4, buffer=buffer) as rs:
                assert [r async for r in rs] == list(range(40))
        assert most == 4


async def test_ordered_failure_delivers_earlier_results_first() -> None:
    async def fail_on_three(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        for _ in range(5):  # earlier items finish after the failure
            await anyio.sleep(0)
        return x

    got: list[int] = []
    with pytest.raises(ValueError, match="three") as info:
        async with plait.imap(fail_on_three, range(10), limit=4) as results:
            async for r in results:
                got.append(r)
    assert got == [0, 1, 2]
    assert "raised by imap() item 3: 3" in info.value.__notes__


async def test_unordered_failure_raises_at_once() -> None:
    async def fail_on_three(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        await anyio.sleep_forever()
        return x

    with pytest.raises(ValueError, match="three"):
        async with plait.imap(fail_on_three, range(10), limit=4, ordered=False) as rs:
            async for _ in rs:
                pass


async def test_return_exceptions_delivers_errors_in_place() -> None:
    async def odd_fails(x: int) -> int:
        await anyio.sleep(0)
        if x % 2:
            raise ValueError(x)
        return x

    async with plait.imap(odd_fails, range(4), limit=2, return_exceptions=True) as rs:
        got = [r if isinstance(r, int) else type(r) for r in [r async for r in rs]]
    assert got == [0, ValueError, 2, ValueError]


async def test_leaving_early_cancels_in_flight_and_leaks_nothing() -> None:
    cancelled = 0
    before = len(anyio.get_running_tasks())
    closed = anyio.Event()

    async def items() -> AsyncIterator[int]:
        try:
            for x in itertools.count():
                yield x
        finally:
            closed.set()

    started = 0

    async def slow_after_first(x: int) -> int:
        nonlocal cancelled, started
        started += 1
        if x == 0:
            return 0
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled += 1
            raise
        return x

    async with plait.imap(slow_after_first, items(), limit=4) as results:
        async for r in results:
            assert r == 0
            break
    assert 1 <= cancelled == started - 1 <= 3  # all in flight were cancelled
    assert closed.is_set()
    assert len(anyio.get_running_tasks()) == before


async def test_error_in_the_block_leaves_as_itself() -> None:
    with pytest.raises(KeyError):
        async with plait.imap(square_after, range(10), limit=2) as results:
            async for _ in results:
                raise KeyError("consumer")


async def test_outer_cancellation_while_reading() -> None:
    async def forever(x: int) -> int:
        await anyio.sleep_forever()
        return x

    with anyio.move_on_after(0.01) as scope:
        async with plait.imap(forever, range(10), limit=3) as results:
            async for _ in results:
                pass
    assert scope.cancelled_caught


async def test_sync_fn_is_a_type_error() -> None:
    def sync(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="fn must return an awaitable"):
        bad_fn: Any = sync
        async with plait.imap(bad_fn, range(3), limit=2) as results:
            async for _ in results:
                pass


async def test_bad_arguments_fail_at_the_call() -> None:
    with pytest.raises(ValueError, match="limit must be a positive int"):
        plait.imap(square_after, [1], limit=-1)
    with pytest.raises(ValueError, match="buffer must be an int >= 0"):
        plait.imap(square_after, [1], limit=1, buffer=-1)
    with pytest.raises(TypeError, match="buffer must be an int >= 0"):
        plait.imap(square_after, [1], limit=1, buffer=1.5)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="ordered must be a bool"):
        plait.imap(square_after, [1], limit=1, ordered=None)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="items must be an iterable"):
        plait.imap(square_after, None, limit=1)  # type: ignore[call-overload]


async def test_options_work_in_imap() -> None:
    attempts: dict[int, int] = {}

    async def flaky(x: int) -> int:
        attempts[x] = attempts.get(x, 0) + 1
        await anyio.sleep(0)
        if attempts[x] < 2:
            raise ConnectionError(x)
        return x

    policy = plait.RetryPolicy(attempts=2, base_delay=0)
    async with plait.imap(flaky, range(5), limit=2, retry=policy, timeout=5) as rs:
        assert [r async for r in rs] == list(range(5))


@pytest.mark.parametrize("ordered", [True, False])
async def test_error_from_items_is_raised_even_with_return_exceptions(
    ordered: bool,
) -> None:
    def items() -> Iterator[int]:
        yield 0
        yield 1
        raise OSError("source broke")

    got: list[int | Exception] = []
    with pytest.raises(OSError, match="source broke") as info:
        async with plait.imap(
            square_after, items(), limit=2, ordered=ordered, return_exceptions=True
        ) as results:
            async for r in results:
                got.append(r)
    if ordered:
        assert got == [0, 1]
    assert any("items iterable" in note for note in info.value.__notes__)


# An outer cancellation meeting a failure, several readers, leaving early
# (issue 11): nothing is lost, nothing is invented, nothing hangs.


async def _read_all(results: AsyncIterator[Any]) -> list[Any]:
    return [r async for r in results]


@pytest.mark.parametrize("ordered", [True, False])
async def test_a_failure_racing_an_outer_cancellation_is_raised(ordered: bool) -> None:
    async def fails_as_cancelled(x: int) -> int:
        if x == 1:
            outer.cancel()
            raise ValueError("real")
        await anyio.sleep_forever()
        return x

    # Seen from outside the cancelled scope, as the caller sees it (inside,
    # trio's group also holds the Cancelled that scope is waiting for).
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="real")):
        with anyio.CancelScope() as outer:
            async with plait.imap(
                fails_as_cancelled, range(3), limit=3, ordered=ordered
            ) as results:
                await _read_all(results)


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.virtual_time
async def test_a_cleanup_error_under_an_outer_deadline_is_raised(ordered: bool) -> None:
    async def cleanup_fails(x: int) -> int:
        try:
            await anyio.sleep_forever()
        finally:
            raise ConnectionError(f"cleanup {x}")

    with pytest.RaisesGroup(ConnectionError, ConnectionError):
        with anyio.move_on_after(1):
            async with plait.imap(
                cleanup_fails, range(2), limit=2, ordered=ordered
            ) as results:
                await _read_all(results)


@pytest.mark.virtual_time
async def test_an_outer_cancellation_is_never_reported_as_a_lost_call() -> None:
    """Workers cancelled by an enclosing scope while the reader is shielded."""

    async def forever(x: int) -> int:
        await anyio.sleep_forever()
        return x

    with anyio.CancelScope() as outer:
        async with plait.imap(forever, range(2), limit=2) as results:
            with anyio.CancelScope(shield=True):
                outer.cancel()
                await anyio.sleep(1)  # the workers are cancelled meanwhile
            await _read_all(results)
    assert outer.cancelled_caught


@pytest.mark.parametrize("ordered", [True, False])
async def test_two_readers_share_the_results_and_both_finish(ordered: bool) -> None:
    async def square(x: int) -> int:
        for _ in range(x % 3):
            await anyio.lowlevel.checkpoint()
        return x * x

    got: dict[str, list[int]] = {"a": [], "b": []}

    async def reader(name: str, results: AsyncIterator[int]) -> None:
        async for r in results:
            got[name].append(r)

    with anyio.fail_after(5):  # the bug was a reader waiting forever
        async with (
            plait.imap(square, range(20), limit=2, ordered=ordered) as results,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(reader, "a", results)
            tg.start_soon(reader, "b", results)
    assert sorted(got["a"] + got["b"]) == [x * x for x in range(20)]
    if ordered:  # each reader still sees its share in input order
        assert got["a"] == sorted(got["a"])
        assert got["b"] == sorted(got["b"])


@pytest.mark.parametrize("ordered", [True, False])
async def test_an_error_raised_while_closing_after_break_leaves_the_block(
    ordered: bool,
) -> None:
    async def cleanup_fails(x: int) -> int:
        if x == 0:
            return 0
        try:
            await anyio.sleep_forever()
        finally:
            raise KeyError(f"closing {x}")

    with pytest.RaisesGroup(KeyError, KeyError):
        async with plait.imap(cleanup_fails, range(3), limit=3, ordered=ordered) as rs:
            async for r in rs:
                assert r == 0
                break


# The block's lifecycle: imap's block is a TaskGroupOwner.


async def test_the_block_is_entered_once() -> None:
    stream = plait.imap(square_after, range(3), limit=2)
    async with stream as results:
        assert [r async for r in results] == [0, 1, 4]
    with pytest.raises(RuntimeError, match="entered only once"):
        async with stream:
            pass


async def test_the_block_error_and_a_failure_nobody_read_leave_together() -> None:
    """The block's error first, then what the work raised, in one group."""

    async def fails_later(x: int) -> int:
        if x == 0:
            return 0
        try:
            await anyio.sleep_forever()
        finally:
            raise ConnectionError(f"cleanup {x}")

    with pytest.RaisesGroup(KeyError, ConnectionError, ConnectionError) as info:
        async with plait.imap(fails_later, range(3), limit=3) as results:
            async for _ in results:
                raise KeyError("block")
    assert isinstance(info.value.exceptions[0], KeyError)


@pytest.mark.parametrize("ordered", [True, False])
async def test_a_second_failure_leaves_after_the_first(ordered: bool) -> None:
    """The iterator raises one failure, as itself; the other is not dropped.

    Item 1 fails first; ordered, item 0's failure comes first all the same.
    """
    one_failed = anyio.Event()

    async def two_fail(x: int) -> int:
        if x == 1:
            one_failed.set()
            raise ValueError("item 1")
        await one_failed.wait()
        raise OSError("item 0")

    with pytest.RaisesGroup(ValueError, OSError) as info:
        async with plait.imap(two_fail, range(2), limit=2, ordered=ordered) as rs:
            async for _ in rs:
                pass
    raised_first = type(info.value.exceptions[0])
    assert raised_first is (OSError if ordered else ValueError)


def test_a_failure_its_worker_and_a_reader_both_could_raise_is_raised_once(
    backend: Any,
) -> None:
    """The reader wakes as the block is cancelled, and so does the worker
    holding a failure: whichever raises it first claims it.

    Every hand-off point switches tasks once; over a few dozen seeds, trio's
    shuffling scheduler lets the worker raise it before the reader does.
    """

    async def fails_at_once(x: int) -> int:
        if x == 0:
            raise ValueError("once")
        await anyio.sleep_forever()
        return x

    second = 1.0 if backend != "uvloop" else 0.01  # real time on uvloop

    async def cancel_later(scope: anyio.CancelScope) -> None:
        await anyio.sleep(second)
        scope.cancel()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            outer = anyio.CancelScope()
            tg.start_soon(cancel_later, outer)
            with pytest.RaisesGroup(ValueError, allow_unwrapped=True), outer:
                async with plait.imap(
                    fails_at_once, range(2), limit=2, ordered=False
                ) as results:
                    await anyio.sleep(second)  # busy as the failure comes
                    await _read_all(results)

    for seed in range(40):
        # uvloop's scheduler cannot be explored: there the runs are unexplored.
        explored = backend != "uvloop"
        plait.testing.run(
            main,
            backend=backend,
            virtual_time=explored,
            fuzz_seed=seed if explored else None,
            strategy=plait.testing.RandomDelay(1.0, 1) if explored else None,
        )


class Interrupt(BaseException):
    """A BaseException of the user's own, not a cancellation."""


@pytest.mark.parametrize("extra", range(12))
async def test_a_task_cancel_as_the_block_ends_does_not_lose_a_failure(
    cancel_landing: CancelLanding, extra: int
) -> None:
    """anyio #1069: Task.cancel() at the group's exit no longer drops fn's failure."""
    failing = anyio.Event()

    async def fn(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        failing.set()
        raise Interrupt("fn")

    async def read(results: AsyncIterator[int]) -> None:
        async for _ in results:
            pass

    async def consume() -> None:
        async with (
            plait.imap(fn, [0], limit=1) as results,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(read, results)

    outcome = await cancel_landing.outcome(consume, failing, extra)
    assert isinstance(outcome, BaseExceptionGroup)
    failures = plait.non_cancel_subgroup(outcome)  # trio adds its Cancelled
    assert failures is not None
    assert [type(e) for e in failures.exceptions] == [Interrupt]
    assert cancel_landing.still_requested or not cancel_landing.fired_during_call


def fails_to_close() -> AsyncIterator[int]:
    async def items() -> AsyncIterator[int]:
        try:
            for x in range(10):
                yield x
        finally:
            raise OSError("closing items")

    return items()


async def test_an_error_closing_items_alone_leaves_as_itself() -> None:
    """After a clean break, as the lifecycle rule says: a lone error is itself."""
    with pytest.raises(OSError, match="closing items"):
        async with plait.imap(square_after, fails_to_close(), limit=2) as results:
            async for _ in results:
                break


async def test_an_error_closing_items_leaves_last_with_the_blocks() -> None:
    block = pytest.RaisesExc(KeyError, match="block")
    closing = pytest.RaisesExc(OSError, match="closing items")
    with pytest.RaisesGroup(block, closing):
        async with plait.imap(square_after, fails_to_close(), limit=2) as results:
            async for _ in results:
                raise KeyError("block")


async def test_an_error_closing_items_leaves_last_with_the_calls_failures() -> None:
    failed = anyio.Event()

    async def second_fails(x: int) -> int:
        if x == 0:
            await failed.wait()  # delivered first, item 1 failed already
            return 0
        failed.set()
        raise LookupError(f"item {x}")

    calls = pytest.RaisesGroup(LookupError)  # the calls' task group
    closing = pytest.RaisesExc(OSError, match="closing items")
    with pytest.RaisesGroup(calls, closing):
        async with plait.imap(second_fails, fails_to_close(), limit=2) as results:
            async for first in results:
                assert first == 0
                break  # item 1's failure is left unread
