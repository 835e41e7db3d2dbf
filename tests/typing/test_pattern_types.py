"""Static types of plait's patterns, checked by ``mypy --strict`` (and run)."""

from __future__ import annotations

from typing import assert_type

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

import plait


async def number() -> int:
    await anyio.sleep(0)
    return 1


async def text() -> str:
    await anyio.sleep(0)
    return "a"


async def length(item: str) -> int:
    await anyio.sleep(0)
    return len(item)


async def test_gather_is_typed_per_position() -> None:
    a, b = await plait.gather(number(), lambda: text())
    assert_type(a, int)
    assert_type(b, str)
    settled = await plait.gather(number(), text(), return_exceptions=True)
    assert_type(settled, tuple[int | Exception, str | Exception])
    many = await plait.gather(*(number() for _ in range(8)))
    assert_type(many, tuple[int, ...])


async def test_race_returns_the_contestants_type() -> None:
    assert_type(await plait.race(number(), lambda: number()), int)


async def test_bounded_map_and_retry() -> None:
    assert_type(await plait.bounded_map(length, ["a", "bb"], limit=2), list[int])
    settled = await plait.bounded_map(length, ["a"], limit=1, return_exceptions=True)
    assert_type(settled, list[int | Exception])
    assert_type(await plait.retry(length, "abc", attempts=2), int)


async def test_imap_yields_results_or_pairs() -> None:
    async with plait.imap(length, ["a", "bb"], limit=2) as results:
        async for result in results:
            assert_type(result, int)
    async with plait.imap(length, ["a"], limit=1, with_index=True) as pairs:
        async for pair in pairs:
            assert_type(pair, tuple[int, int])


async def test_as_completed_yields_task_handles() -> None:
    async with plait.as_completed(number(), limit=1) as handles:
        assert_type(handles, MemoryObjectReceiveStream[plait.TaskHandle[int]])
        async for handle in handles:
            assert_type(handle.return_value, int)
