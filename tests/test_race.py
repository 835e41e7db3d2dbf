"""race: first success wins, losers cancelled and finished, stagger."""

from __future__ import annotations

import inspect
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import plait
import plait.testing
from conftest import CancelLanding
from plait.testing import Clock


class Fatal(BaseException):
    """A BaseException that is not an Exception (see test_gather)."""


class Contestant:
    """Records what happened to one contestant."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = False
        self.finished = False
        self.cancelled = False
        self.go = anyio.Event()

    async def run(
        self, *, result: Any = None, error: BaseException | None = None
    ) -> Any:
        self.started = True
        try:
            await self.go.wait()
            if error is not None:
                raise error
            return result
        except anyio.get_cancelled_exc_class():
            self.cancelled = True
            raise
        finally:
            self.finished = True


async def test_first_success_wins_and_losers_are_cancelled_and_finished() -> None:
    a, b, c = Contestant("a"), Contestant("b"), Contestant("c")
    b.go.set()
    winner = await plait.race(a.run(result="a"), b.run(result="b"), c.run(result="c"))
    assert winner == "b"
    assert a.cancelled
    assert c.cancelled
    assert a.finished
    assert b.finished
    assert c.finished


async def test_failure_does_not_end_the_race_while_another_can_win() -> None:
    a, b = Contestant("a"), Contestant("b")
    a.go.set()

    async def release_b_later() -> str:
        await anyio.sleep(0)
        await anyio.sleep(0)
        b.go.set()
        result: str = await b.run(result="b")
        return result

    assert await plait.race(a.run(error=ValueError("a")), release_b_later) == "b"


async def test_all_failing_raises_every_failure_with_notes() -> None:
    errors = [ValueError("a"), KeyError("b"), OSError("c")]

    async def fail(exc: Exception) -> None:
        await anyio.sleep(0)
        raise exc

    with pytest.RaisesGroup(ValueError, KeyError, OSError) as info:
        await plait.race(*(fail(e) for e in errors))
    assert "all 3 contestants failed" in str(info.value)
    notes = [n for e in info.value.exceptions for n in e.__notes__]
    assert any("race() argument 2" in n for n in notes)


async def test_no_contestants_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at least one contestant"):
        await plait.race()


async def test_one_contestant() -> None:
    assert await plait.race(lambda: _value(5)) == 5


async def _value(value: int) -> int:
    await anyio.sleep(0)
    return value


async def test_base_exception_ends_the_race_at_once() -> None:
    slow = Contestant("slow")

    async def fatal() -> None:
        await anyio.sleep(0)
        raise Fatal

    with pytest.RaisesGroup(Fatal):
        await plait.race(slow.run(result=1), fatal())
    assert slow.cancelled
    assert slow.finished


async def test_a_loser_failing_while_cancelled_is_not_swallowed() -> None:
    async def bad_loser() -> int:
        try:
            await anyio.sleep_forever()
        finally:
            raise RuntimeError("cleanup broke")

    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="cleanup broke")):
        await plait.race(bad_loser(), lambda: _value(1))


async def test_outer_cancellation_propagates_and_cancels_contestants() -> None:
    a, b = Contestant("a"), Contestant("b")
    with anyio.move_on_after(0.01) as scope:
        await plait.race(a.run(), b.run())
    assert scope.cancelled_caught
    assert a.cancelled
    assert b.cancelled


async def test_stagger_starts_the_next_contestant_after_the_delay(
    clock: Clock,
) -> None:
    starts: list[float] = []
    finish = anyio.Event()

    async def contestant(index: int) -> int:
        starts.append(anyio.current_time())
        if index == 1:
            finish.set()
            return index
        await finish.wait()
        await anyio.sleep_forever()
        return index

    assert (
        await plait.race(*(lambda i=i: contestant(i) for i in range(3)), stagger=0.05)
        == 1
    )
    assert len(starts) == 2  # the third never got its turn
    assert starts[1] - starts[0] == clock.approx(0.05)


async def test_stagger_starts_the_next_at_once_when_one_fails(clock: Clock) -> None:
    started: list[int] = []

    async def contestant(index: int) -> int:
        started.append(index)
        await anyio.sleep(0)
        if index < 2:
            raise ConnectionError(index)
        return index

    before = anyio.current_time()
    winner = await plait.race(
        *(lambda i=i: contestant(i) for i in range(3)), stagger=60
    )
    assert winner == 2
    assert started == [0, 1, 2]
    assert anyio.current_time() - before == clock.approx(0)


async def test_stagger_never_starts_or_warns_about_unused_coroutines() -> None:
    coros = [_value(1), _value(2), _value(3)]
    assert await plait.race(*coros, stagger=10) == 1
    assert all(inspect.getcoroutinestate(c) == inspect.CORO_CLOSED for c in coros)


async def test_bad_stagger() -> None:
    with pytest.raises(
        ValueError,
        match=r"race\(\) stagger must be a finite number of seconds >= 0, got -1",
    ):
        await plait.race(lambda: _value(1), stagger=-1)
    with pytest.raises(
        TypeError, match=r"race\(\) stagger must be a finite number of seconds"
    ):
        await plait.race(lambda: _value(1), stagger="1")  # type: ignore[arg-type]


async def test_bad_contestant_is_a_type_error_at_the_call() -> None:
    coro = _value(1)
    with pytest.raises(TypeError, match="argument 1 must be an awaitable"):
        await plait.race(coro, 3)  # type: ignore[arg-type]
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


async def test_sync_callable_with_stagger_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="argument 1 must return an awaitable"):
        await plait.race(lambda: _fail_soon(), lambda: 3, stagger=0)  # type: ignore[arg-type, return-value]


async def _fail_soon() -> int:
    await anyio.sleep(0)
    raise ValueError


async def test_no_task_left_after_race() -> None:
    before = len(anyio.get_running_tasks())
    await plait.race(anyio.sleep_forever(), _value(1))
    assert len(anyio.get_running_tasks()) == before


# An outer cancellation meeting a failure, and the same tick (issue 11).


@pytest.mark.virtual_time
async def test_a_cleanup_error_under_an_outer_deadline_is_raised() -> None:
    async def cleanup_fails() -> int:
        try:
            await anyio.sleep_forever()
        finally:
            raise ConnectionError("cleanup")

    with pytest.RaisesGroup(ConnectionError, ConnectionError):
        with anyio.move_on_after(1):
            await plait.race(cleanup_fails, cleanup_fails)


async def test_every_contestant_failing_as_the_caller_is_cancelled_fails() -> None:
    async def fails_as_cancelled(name: str) -> int:
        outer.cancel()
        raise ValueError(name)

    with pytest.RaisesGroup(ValueError, ValueError):
        with anyio.CancelScope() as outer:
            await plait.race(
                lambda: fails_as_cancelled("a"), lambda: fails_as_cancelled("b")
            )


@pytest.mark.parametrize("stagger", [None, 0.5])
@pytest.mark.virtual_time
async def test_a_callable_that_raises_when_called_is_a_failed_contestant(
    stagger: float | None,
) -> None:
    """Both modes agree: the race goes on without it."""

    def cannot_start() -> Any:
        raise OSError("no route")

    async def healthy() -> str:
        await anyio.sleep(1)
        return "healthy"

    assert await plait.race(cannot_start, healthy, stagger=stagger) == "healthy"
    named = pytest.RaisesExc(
        OSError, check=lambda e: "race() argument 0" in str(e.__notes__)
    )
    with pytest.RaisesGroup(named, pytest.RaisesExc(OSError)):
        await plait.race(cannot_start, cannot_start, stagger=stagger)


@pytest.mark.parametrize("stagger", [None, 0.0, 0.5])
@pytest.mark.virtual_time
async def test_a_callable_raising_a_base_exception_ends_the_race_in_a_group(
    stagger: float | None,
) -> None:
    """Both modes agree with the docstring: a BaseExceptionGroup, noted."""
    healthy = Contestant("healthy")

    def stops() -> Any:
        raise Fatal("when called")

    named = pytest.RaisesExc(
        Fatal, check=lambda e: "race() argument 1" in str(e.__notes__)
    )
    with pytest.RaisesGroup(named):
        await plait.race(lambda: healthy.run(result="healthy"), stops, stagger=stagger)
    # Without stagger the callables are called before anything starts.
    assert healthy.started is (stagger is not None)
    assert healthy.finished is (stagger is not None)


@pytest.mark.parametrize("seed", [None, *range(8)])
def test_a_loser_failing_in_the_winners_tick_does_not_hide_the_winner(
    backend: Any, seed: int | None
) -> None:
    """Winner and a never-cancelled failing loser wake in one loop iteration."""

    async def main() -> str:
        won = ""
        both = anyio.Event()

        async def winner() -> str:
            await both.wait()
            return "winner"

        async def loser() -> str:
            await both.wait()
            raise ValueError("loser")

        async def start() -> None:
            await anyio.lowlevel.checkpoint()
            both.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(start)
            won = await plait.race(winner(), loser())
        return won

    # uvloop's scheduler cannot be explored: there the run is unexplored.
    explored = seed if backend != "uvloop" else None
    outcome = plait.testing.run(
        main, backend=backend, virtual_time=backend != "uvloop", fuzz_seed=explored
    )
    assert outcome == "winner"


@pytest.mark.virtual_time
async def test_a_contestant_timing_out_on_its_own_is_a_failed_contestant() -> None:
    """Its TimeoutError comes from a cancellation, but one it caught itself."""

    async def times_out() -> str:
        with anyio.fail_after(1):
            await anyio.sleep(5)
        return "late"

    async def healthy() -> str:
        await anyio.sleep(2)
        return "healthy"

    assert await plait.race(times_out, healthy) == "healthy"
    assert await plait.race(times_out, healthy, stagger=0.5) == "healthy"


@pytest.mark.parametrize("extra", range(12))
async def test_a_task_cancel_as_the_race_ends_does_not_lose_a_failure(
    cancel_landing: CancelLanding, extra: int
) -> None:
    """anyio #1069: Task.cancel() at the group's exit no longer drops the failure."""
    failing = anyio.Event()

    async def fails() -> None:
        await anyio.lowlevel.checkpoint()
        failing.set()
        raise Fatal("contestant")

    outcome = await cancel_landing.outcome(
        lambda: plait.race(fails, anyio.sleep_forever, stagger=10), failing, extra
    )
    assert isinstance(outcome, BaseExceptionGroup)
    failures = plait.non_cancel_subgroup(outcome)  # trio adds its Cancelled
    assert failures is not None
    assert [type(e) for e in failures.exceptions] == [Fatal]
    assert cancel_landing.still_requested or not cancel_landing.fired_during_call
