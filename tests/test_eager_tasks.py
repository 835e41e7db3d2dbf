"""The patterns under asyncio's eager task factory (Python 3.12+).

asyncio only: eager task execution is an asyncio feature. On Python 3.11,
which has no eager task factory, these tests are skipped with that reason;
the nox ``tests`` session runs them on 3.12 and 3.13.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import plait

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 12), reason="asyncio.eager_task_factory needs Python 3.12+"
)


def eager_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    return loop


def run_eager(fn: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        return await fn()

    return anyio.run(
        main, backend="asyncio", backend_options={"loop_factory": eager_loop}
    )


async def no_suspend(x: int) -> int:
    return x  # finishes inside create_task when tasks start eagerly


async def one_checkpoint(x: int) -> int:
    await anyio.sleep(0)
    return x


@pytest.mark.parametrize("fn", [no_suspend, one_checkpoint])
def test_bounded_map_with_a_large_limit_does_not_nest_stacks(
    fn: Callable[[int], Awaitable[int]],
) -> None:
    result = run_eager(lambda: plait.bounded_map(fn, range(5000), limit=2000))
    assert result == list(range(5000))


@pytest.mark.parametrize("ordered", [True, False])
def test_imap(ordered: bool) -> None:
    async def collect() -> list[int]:
        async with plait.imap(
            no_suspend, range(3000), limit=1500, ordered=ordered
        ) as rs:
            return [r async for r in rs]

    assert sorted(run_eager(collect)) == list(range(3000))


def test_gather_race_and_as_completed() -> None:
    async def all_three() -> tuple[Any, ...]:
        gathered = await plait.gather(*(no_suspend(x) for x in range(100)))
        won = await plait.race(no_suspend(1), one_checkpoint(2))
        async with plait.as_completed(
            *(no_suspend(x) for x in range(50)), limit=5
        ) as hs:
            done = sorted([h.return_value async for h in hs])
        return gathered, won, done

    gathered, won, done = run_eager(all_three)
    assert gathered == tuple(range(100))
    assert won == 1
    assert done == list(range(50))
