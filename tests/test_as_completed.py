"""as_completed: completion order, limit, fail-fast, early exit."""

from __future__ import annotations

import inspect

import anyio
import pytest

import plait


async def after(value: int, checkpoints: int) -> int:
    for _ in range(checkpoints):
        await anyio.sleep(0)
    return value


async def test_handles_arrive_in_completion_order() -> None:
    async with plait.as_completed(after(1, 6), after(2, 0), after(3, 3)) as handles:
        assert [h.return_value async for h in handles] == [2, 3, 1]


async def test_handles_are_anyio_task_handles_and_awaitable() -> None:
    async with plait.as_completed(lambda: after(5, 1)) as handles:
        async for handle in handles:
            assert isinstance(handle, anyio.TaskHandle)
            assert handle.status is anyio.TaskHandle.Status.FINISHED
            assert await handle == 5


async def test_no_awaitables_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at least one awaitable"):
        async with plait.as_completed():
            pass


async def test_limit_bounds_how_many_run_at_once() -> None:
    running = 0
    peak = 0

    async def job(x: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0)
        await anyio.sleep(0)
        running -= 1
        return x

    async with plait.as_completed(
        *(lambda x=x: job(x) for x in range(10)), limit=3
    ) as hs:
        results = sorted([h.return_value async for h in hs])
    assert results == list(range(10))
    assert peak == 3


async def test_limit_one_runs_in_argument_order() -> None:
    async with plait.as_completed(after(1, 3), after(2, 0), limit=1) as handles:
        assert [h.return_value async for h in handles] == [1, 2]


async def test_failure_cancels_the_rest_and_the_block_raises_a_group() -> None:
    cancelled = 0

    async def forever() -> int:
        nonlocal cancelled
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled += 1
            raise
        return 0

    async def boom() -> int:
        await anyio.sleep(0)
        raise ValueError("boom")

    with pytest.RaisesGroup(ValueError) as info:
        async with plait.as_completed(forever(), boom(), forever()) as handles:
            async for _ in handles:
                pass
    assert cancelled == 2
    assert (
        "raised by as_completed() argument 1" in info.value.exceptions[0].__notes__[0]
    )


async def test_early_exit_cancels_and_leaks_nothing() -> None:
    before = len(anyio.get_running_tasks())
    never_started = after(3, 0)
    async with plait.as_completed(
        after(1, 0), anyio.sleep_forever(), never_started, limit=2
    ) as handles:
        async for handle in handles:
            assert handle.return_value == 1
            break
    assert len(anyio.get_running_tasks()) == before
    assert (
        inspect.getcoroutinestate(never_started) == inspect.CORO_CLOSED
    )  # closed, not left unawaited


async def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="limit must be a positive int"):
        async with plait.as_completed(lambda: after(1, 0), limit=0):
            pass
    with pytest.raises(TypeError, match="argument 0 must be an awaitable"):
        async with plait.as_completed(1):  # type: ignore[arg-type]
            pass
