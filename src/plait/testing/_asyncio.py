"""Virtual time for asyncio: an event loop whose clock jumps when it would wait.

This module touches asyncio's event loop internals, which is why it is exempt
from plait's ban on importing asyncio. Private items it relies on (checked by
``tests/test_testing_backends.py`` against the installed Python and anyio):

- ``asyncio.BaseEventLoop._selector``: the selector ``_run_once`` blocks on.
  We wrap it so that, when nothing is ready and the next timer is ``timeout``
  seconds away, ``select`` returns at once and the virtual clock jumps.
- ``asyncio.BaseEventLoop._scheduled``: the heap of timers, whose head
  (``.when()``) we read to jump to the next timer's exact instant rather than
  to ``now + (when - now)``, which can miss it by a rounding error.

It also overrides two public loop methods to see thread work:
``run_in_executor`` and ``shutdown_default_executor`` (which from Python 3.12
waits for the executor under a 300 s timeout that virtual time must not
expire).

Nothing here reorders the ready queue: callbacks run in asyncio's FIFO order,
which anyio's cancellation delivery depends on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import selectors
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias, TypeVar, TypeVarTuple, cast

import anyio.to_thread

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# What selectors accept: typeshed calls it selectors._FileObject (private).
FileObject: TypeAlias = Any

# asyncio caps one selector wait at a day; a jump longer than that is made in
# day-long steps, each ending with no timer due.
_MAXIMUM_SELECT_TIMEOUT = 24 * 3600


class AsyncioTime:
    """The virtual time one or more runs of ``VirtualTimeEventLoop`` share."""

    __slots__ = ("autojump", "now")

    def __init__(self, *, autojump: bool) -> None:
        self.now = 0.0
        self.autojump = autojump


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop on virtual time (see ``plait.testing.VirtualClock``)."""

    def __init__(self, source: AsyncioTime, owner: object) -> None:
        super().__init__()
        self.plait_time_source = source
        self.plait_clock = owner
        self.plait_executor_calls = 0
        selector: selectors.BaseSelector = self._selector  # type: ignore[has-type]
        self._selector = _JumpingSelector(selector, self)

    def time(self) -> float:
        return self.plait_time_source.now

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[*Ts], T],
        *args: *Ts,
    ) -> asyncio.Future[T]:
        # asyncio's own thread work (getaddrinfo, to_thread) goes through
        # here; count it as busy threads, like anyio's worker threads.
        future = super().run_in_executor(executor, func, *args)
        self.plait_executor_calls += 1
        future.add_done_callback(self._executor_call_done)
        return future

    def _executor_call_done(self, future: asyncio.Future[Any]) -> None:
        self.plait_executor_calls -= 1

    async def shutdown_default_executor(self, *args: Any) -> None:
        # From Python 3.12 it joins the executor in a thread of its own under
        # a 300 s timeout, which virtual time would let expire at once.
        self.plait_executor_calls += 1
        try:
            await super().shutdown_default_executor(*args)
        finally:
            self.plait_executor_calls -= 1


def _worker_threads_busy(loop: VirtualTimeEventLoop) -> bool:
    # Work in worker threads takes real time the virtual clock cannot see;
    # while any runs, the clock follows real time instead of jumping.
    if loop.plait_executor_calls:
        return True
    try:
        limiter = anyio.to_thread.current_default_thread_limiter()
    except Exception:
        return False
    return limiter.borrowed_tokens > 0


class _JumpingSelector(selectors.BaseSelector):
    def __init__(self, selector: selectors.BaseSelector, loop: VirtualTimeEventLoop):
        self._selector = selector
        self._loop = loop

    def register(
        self, fileobj: FileObject, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._selector.register(fileobj, events, data)

    def unregister(self, fileobj: FileObject) -> selectors.SelectorKey:
        return self._selector.unregister(fileobj)

    def modify(
        self, fileobj: FileObject, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._selector.modify(fileobj, events, data)

    def get_map(self) -> Mapping[FileObject, selectors.SelectorKey]:
        return self._selector.get_map()

    def close(self) -> None:
        self._selector.close()

    def select(
        self, timeout: float | None = None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return self._selector.select(0)
        events = self._selector.select(0)
        if events:
            return events
        source = self._loop.plait_time_source
        if not source.autojump:
            # Manual mode: only clock.advance() moves time; wait for I/O.
            return self._selector.select(None)
        if timeout is None:
            # No timer at all: only I/O (a thread finishing) can wake us.
            return self._selector.select(None)
        if _worker_threads_busy(self._loop):
            started = time.monotonic()
            events = self._selector.select(timeout)
            source.now += time.monotonic() - started
            return events
        scheduled = cast("list[asyncio.TimerHandle]", self._loop._scheduled)  # type: ignore[attr-defined]
        if scheduled and timeout < _MAXIMUM_SELECT_TIMEOUT:
            source.now = max(source.now, scheduled[0].when())
        else:
            source.now += timeout
        return []


def running_loop_clock() -> object | None:
    """Return the virtual clock driving the running asyncio loop, if any."""
    loop = asyncio.get_running_loop()
    if isinstance(loop, VirtualTimeEventLoop):
        return loop.plait_clock
    return None
