"""gather: order, fail-fast, return_exceptions, cancellation, bad input."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import anyio
import pytest

import plait


async def value_after(value: Any, checkpoints: int = 1) -> Any:
    for _ in range(checkpoints):
        await anyio.sleep(0)
    return value


async def fail_after_checkpoints(exc: BaseException, checkpoints: int = 1) -> Any:
    for _ in range(checkpoints):
        await anyio.sleep(0)
    raise exc


class Ready:
    """A non-coroutine awaitable."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, int]:
        yield from anyio.sleep(0).__await__()
        return self.value


class Fatal(BaseException):
    """A BaseException that is not an Exception, like KeyboardInterrupt.

    (KeyboardInterrupt itself is re-raised by asyncio's event loop, not
    through the task group, so it would test asyncio rather than plait.)
    """


class AsyncCallable:
    async def __call__(self) -> str:
        await anyio.sleep(0)
        return "called"


async def test_results_come_in_argument_order() -> None:
    results = await plait.gather(
        value_after("slow", 5), value_after("fast", 0), value_after("mid", 2)
    )
    assert results == ("slow", "fast", "mid")


async def test_no_arguments_gives_empty_tuple() -> None:
    assert await plait.gather() == ()


async def test_accepts_awaitables_lambdas_and_async_callables() -> None:
    a, b, c = await plait.gather(Ready(1), lambda: value_after(2), AsyncCallable())
    assert (a, b, c) == (1, 2, "called")


async def test_first_failure_cancels_the_rest_and_raises_group() -> None:
    cancelled: list[str] = []

    async def sleeper(name: str) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(name)
            raise

    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="boom")) as info:
        await plait.gather(
            sleeper("a"), fail_after_checkpoints(ValueError("boom")), sleeper("b")
        )
    assert sorted(cancelled) == ["a", "b"]
    error = info.value.exceptions[0]
    assert any("gather() argument 1" in note for note in error.__notes__)


async def test_several_failures_are_all_reported_once() -> None:
    with pytest.RaisesGroup(ValueError, KeyError) as info:
        await plait.gather(
            fail_after_checkpoints(ValueError(), 0),
            fail_after_checkpoints(KeyError(), 0),
        )
    assert len(info.value.exceptions) == 2


async def test_return_exceptions_puts_errors_in_place_and_cancels_nothing() -> None:
    finished = anyio.Event()

    async def slow_success() -> str:
        await anyio.sleep(0)
        await anyio.sleep(0)
        finished.set()
        return "ok"

    error = ValueError("x")
    results = await plait.gather(
        fail_after_checkpoints(error, 0), slow_success(), return_exceptions=True
    )
    assert results == (error, "ok")
    assert finished.is_set()


async def test_return_exceptions_does_not_swallow_base_exceptions() -> None:
    with pytest.RaisesGroup(Fatal):
        await plait.gather(
            fail_after_checkpoints(Fatal()),
            value_after(1),
            return_exceptions=True,
        )


@pytest.mark.parametrize("return_exceptions", [False, True])
async def test_outer_cancellation_propagates_as_cancellation(
    return_exceptions: bool,
) -> None:
    started = 0

    async def forever() -> None:
        nonlocal started
        started += 1
        await anyio.sleep_forever()

    with anyio.move_on_after(0.01) as scope:
        await plait.gather(forever(), forever(), return_exceptions=return_exceptions)
    assert scope.cancelled_caught
    assert started == 2


async def test_nested_gather() -> None:
    inner = await plait.gather(
        lambda: plait.gather(value_after(1), value_after(2)), value_after(3)
    )
    assert inner == ((1, 2), 3)


async def test_bad_argument_is_a_type_error_naming_it_and_closes_coroutines() -> None:
    coro = value_after(1)
    with pytest.raises(TypeError, match="argument 1 must be an awaitable"):
        await plait.gather(coro, 42)  # type: ignore[call-overload]
    assert (
        inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    )  # closed, so no 'never awaited' warning


async def test_sync_function_is_a_type_error_naming_it() -> None:
    def sync() -> int:
        return 1

    coro = value_after(1)
    with pytest.raises(TypeError, match=r"argument 1 must return an awaitable"):
        await plait.gather(coro, sync)  # type: ignore[arg-type]
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


async def test_return_exceptions_must_be_bool() -> None:
    with pytest.raises(TypeError, match="return_exceptions must be a bool"):
        await plait.gather(return_exceptions="yes")  # type: ignore[call-overload]


async def test_no_task_is_left_running() -> None:
    before = len(anyio.get_running_tasks())
    with pytest.RaisesGroup(ValueError):
        await plait.gather(fail_after_checkpoints(ValueError()), anyio.sleep_forever())
    assert len(anyio.get_running_tasks()) == before


def _callables() -> list[Callable[[], Awaitable[int]]]:
    return [lambda i=i: value_after(i) for i in range(20)]  # type: ignore[misc]


async def test_many_callables() -> None:
    assert await plait.gather(*_callables()) == tuple(range(20))


async def test_coroutines_in_an_already_cancelled_scope_never_warn() -> None:
    coros = [value_after(1), value_after(2)]
    with anyio.CancelScope() as scope:
        scope.cancel()
        await plait.gather(*coros)
    assert scope.cancelled_caught
    for coro in coros:
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    winner = [value_after(3), value_after(4)]
    with anyio.CancelScope() as scope:
        scope.cancel()
        await plait.race(*winner, stagger=1)
    for coro in winner:
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


@pytest.mark.virtual_time
async def test_return_exceptions_raises_a_cleanup_error_under_an_outer_deadline() -> (
    None
):
    async def cleanup_fails() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            raise ConnectionError("cleanup")

    with pytest.RaisesGroup(ConnectionError):
        with anyio.move_on_after(1):
            await plait.gather(cleanup_fails(), return_exceptions=True)


async def test_the_same_coroutine_twice_is_refused_naming_the_argument() -> None:
    coro = value_after(1)
    with pytest.raises(ValueError, match=r"gather\(\) argument 1 must be") as info:
        await plait.gather(coro, coro)
    assert "argument 0" in str(info.value)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
