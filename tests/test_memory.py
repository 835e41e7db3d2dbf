"""Memory bounds that are counted, not timed: live tasks and items held.

``bounded_map`` and ``imap`` promise a pool of at most ``limit`` workers
pulling items lazily, so that what they hold is O(limit) whatever the number
of items. These tests check the promise at every call of fn over a million
items (bounded_map) and a hundred thousand results of an endless stream
(imap). fn is one checkpoint, so the run time is the patterns' own overhead.

Live tasks are counted as the event loop spawns and reaps them (asyncio's
task factory, a trio ``Instrument``: both public), which costs O(1) per call;
``anyio.get_running_tasks()`` walks every task and would make the million
checks take a minute per backend. The counter is checked against
``anyio.get_running_tasks()`` every ``SAMPLE`` calls, so it cannot miss
tasks unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Coroutine, Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import sniffio

import plait

T = TypeVar("T")

LIMIT = 50
MAP_ITEMS = 1_000_000
IMAP_RESULTS = 100_000
SAMPLE = 10_000


class LiveTasks:
    """Tasks spawned and not yet finished since counting began."""

    def __init__(self) -> None:
        self.count = 0
        self.baseline = len(anyio.get_running_tasks())
        self.samples = 0

    def spawned(self, *_: object) -> None:
        self.count += 1

    def exited(self, *_: object) -> None:
        self.count -= 1

    def check_against_anyio(self) -> None:
        """Assert the counter never undercounts a full walk of the running tasks.

        It may overcount for a moment: asyncio reaps a finished task in a
        done callback one loop turn later. Overcounting only makes the bound
        stricter.
        """
        self.samples += 1
        assert self.count >= len(anyio.get_running_tasks()) - self.baseline


@contextlib.contextmanager
def counting_live_tasks() -> Generator[LiveTasks]:
    """Count the tasks the running event loop spawns and reaps while open."""
    live = LiveTasks()
    if sniffio.current_async_library() == "asyncio":
        loop = asyncio.get_running_loop()
        previous = loop.get_task_factory()

        def factory(
            loop: asyncio.AbstractEventLoop,
            coro: Coroutine[Any, Any, T] | Generator[Any, None, T],
            /,
            **kwargs: Any,
        ) -> asyncio.Future[T]:
            # Wrap, not replace, a factory already there (an eager one, say).
            make: Any = previous
            task: asyncio.Future[T] = (
                asyncio.Task(coro, loop=loop, **kwargs)
                if make is None
                else make(loop, coro, **kwargs)
            )
            live.spawned()
            task.add_done_callback(live.exited)
            return task

        loop.set_task_factory(factory)
        try:
            yield live
        finally:
            loop.set_task_factory(previous)
    else:
        import trio

        class Counter(trio.abc.Instrument):
            def task_spawned(self, task: trio.lowlevel.Task) -> None:
                live.spawned()

            def task_exited(self, task: trio.lowlevel.Task) -> None:
                live.exited()

        counter = Counter()
        trio.lowlevel.add_instrument(counter)
        try:
            yield live
        finally:
            trio.lowlevel.remove_instrument(counter)


@dataclass
class Counts:
    """Counters the generator, fn and the reader update."""

    pulled: int = 0
    calls: int = 0
    finished: int = 0
    delivered: int = 0

    def at_call(self, live: LiveTasks) -> None:
        """Check the bounds as they stand at one call of fn.

        A failed check fails that call, so a broken bound stops the run at
        once instead of after a million items.
        """
        self.calls += 1
        # The calling task, running before counting began, plus the pool's.
        assert 1 + live.count <= LIMIT + 2, f"{live.count} tasks besides the caller"
        assert self.pulled - self.finished <= LIMIT, "pulled but not finished"
        if self.calls % SAMPLE == 1:
            live.check_against_anyio()


async def test_bounded_map_lazy_million_items_holds_limit() -> None:
    counts = Counts()

    def items() -> Iterator[int]:
        for item in range(MAP_ITEMS):
            counts.pulled += 1
            yield item

    with counting_live_tasks() as live:

        async def fn(item: int) -> None:
            counts.at_call(live)
            await anyio.lowlevel.checkpoint()
            counts.finished += 1

        results = await plait.bounded_map(fn, items(), limit=LIMIT)
        assert live.count == 0

    assert len(results) == MAP_ITEMS
    assert counts.calls == counts.pulled == MAP_ITEMS
    assert live.samples == MAP_ITEMS // SAMPLE


async def test_imap_endless_stream_holds_limit() -> None:
    counts = Counts()

    def items() -> Iterator[int]:
        for item in itertools.count():
            counts.pulled += 1
            # limit in flight, and as many again finished and not yet read
            assert counts.pulled - counts.delivered <= 2 * LIMIT, "pulled, not read"
            yield item

    with counting_live_tasks() as live:

        async def fn(item: int) -> int:
            counts.at_call(live)
            await anyio.lowlevel.checkpoint()
            counts.finished += 1
            return item

        async with plait.imap(fn, items(), limit=LIMIT) as results:
            async for result in results:
                assert result == counts.delivered
                counts.delivered += 1
                if counts.delivered == IMAP_RESULTS:
                    break
        assert live.count == 0

    assert counts.delivered == IMAP_RESULTS
    assert live.samples >= IMAP_RESULTS // SAMPLE
    # Beyond the last result read, only what limit + buffer allow was pulled.
    assert counts.pulled <= IMAP_RESULTS + 2 * LIMIT
