"""``imap``: stream fn's results with at most ``limit`` items outstanding."""

from __future__ import annotations

from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
)
from contextlib import AbstractAsyncContextManager
from contextvars import copy_context
from types import CoroutineType, TracebackType
from typing import Any, Generic, Literal, TypeVar, overload

from anyio import Event, create_task_group
from anyio.abc import TaskGroup

from .._core._awaitables import is_awaitable
from .._core._checks import check_bool, check_int
from .._core._fuzz import FuzzHook, current_fuzz_hook
from ._pool import (
    FnMisuse,
    Invoke,
    ItemSource,
    WorkerSpawner,
    check_fn,
    check_limit,
    check_rate,
    check_retry,
    check_timeout,
    lost_call_error,
    make_invoke,
    note_item,
    starting_workers,
)
from ._ratelimit import RateLimiter
from ._retry import RetryPolicy

T = TypeVar("T")
R = TypeVar("R")

# (index, succeeded, result or exception)
_Entry = tuple[int, bool, Any]


@overload
def imap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int,
    buffer: int | None = None,
    ordered: bool = True,
    return_exceptions: Literal[False] = False,
    with_index: Literal[False] = False,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    rate: float | RateLimiter | None = None,
) -> AbstractAsyncContextManager[AsyncIterator[R]]: ...


@overload
def imap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int,
    buffer: int | None = None,
    ordered: bool = True,
    return_exceptions: Literal[False] = False,
    with_index: Literal[True],
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    rate: float | RateLimiter | None = None,
) -> AbstractAsyncContextManager[AsyncIterator[tuple[int, R]]]: ...


@overload
def imap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int,
    buffer: int | None = None,
    ordered: bool = True,
    return_exceptions: Literal[True],
    with_index: Literal[False] = False,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    rate: float | RateLimiter | None = None,
) -> AbstractAsyncContextManager[AsyncIterator[R | Exception]]: ...


@overload
def imap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int,
    buffer: int | None = None,
    ordered: bool = True,
    return_exceptions: Literal[True],
    with_index: Literal[True],
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    rate: float | RateLimiter | None = None,
) -> AbstractAsyncContextManager[AsyncIterator[tuple[int, R | Exception]]]: ...


@overload
def imap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int,
    buffer: int | None = None,
    ordered: bool = True,
    return_exceptions: bool = False,
    with_index: bool = False,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    rate: float | RateLimiter | None = None,
) -> AbstractAsyncContextManager[AsyncIterator[Any]]: ...


def imap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int,
    buffer: int | None = None,
    ordered: bool = True,
    return_exceptions: bool = False,
    with_index: bool = False,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    rate: float | RateLimiter | None = None,
) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
    """Stream ``await fn(item)`` for each item, with backpressure.

    Use it as ``async with imap(fn, items, limit=10) as results:`` and
    ``async for result in results:``. Items are pulled lazily (``items`` may
    be endless). At most ``limit`` calls of fn are in flight, and at most
    ``limit + buffer`` items are pulled and not yet read (in flight, or
    finished and waiting for the reader), so a slow reader holds the
    producers back and memory stays O(limit + buffer). ``buffer=0`` makes
    ``limit`` bound both together, at the cost of a task switch per item
    when the reader keeps up (each finished worker waits for its result to
    be read before it pulls the next item).

    With ``ordered=True`` results come in input order (like Rust's
    ``buffered(n)``: a slow item holds back the ones after it); with
    ``ordered=False`` as they complete (``buffer_unordered(n)``).

    When an item fails (without ``return_exceptions``) no new items are
    pulled; the ordered iterator first delivers every earlier result and then
    raises the item's exception, the unordered one raises it at once. The
    exception carries a note naming the item and leaves the block as itself,
    not wrapped in a group. Leaving the block, early or not, cancels what is
    still in flight and waits for it; an async generator given as ``items`` is
    closed. An error raised by ``items`` itself is raised (after every
    earlier result, in ordered mode) even with ``return_exceptions``: it is
    no item's result. Each call of fn sees the caller's context, as in
    ``bounded_map``. A call whose task is cancelled outside any cancel scope
    (asyncio's ``Task.cancel()``) stops the pulling like a failure, and a
    ``RuntimeError`` comes in its result's place (unordered: after the
    results of the calls still running).

    Args:
        fn: an async function taking one item.
        items: an iterable or async iterable, pulled lazily.
        limit: the most calls of fn in flight at once (a positive int).
        buffer: how many more items may be pulled and not yet read, beyond
            ``limit`` (an int >= 0; ``None``: as many as ``limit``).
        ordered: deliver in input order (default) or in completion order.
        return_exceptions: deliver an item's ``Exception`` as its result.
        with_index: deliver ``(index, result)`` pairs.
        timeout: seconds allowed per attempt of each call.
        retry: a ``RetryPolicy`` for each item.
        rate: calls of fn per second (retries included), or a RateLimiter.

    Example:
        >>> import anyio, plait
        >>> async def square(x: int) -> int:
        ...     await anyio.sleep(0)
        ...     return x * x
        >>> async def main() -> list[int]:
        ...     async with plait.imap(square, range(5), limit=2) as results:
        ...         return [r async for r in results]
        >>> anyio.run(main)
        [0, 1, 4, 9, 16]
    """
    check_fn("imap", fn)
    limit = check_limit("imap", limit)
    if buffer is None:
        buffer = limit
    else:
        buffer = check_int("imap()", "buffer", buffer, minimum=0)
    check_bool("imap()", "ordered", ordered)
    check_bool("imap()", "return_exceptions", return_exceptions)
    check_bool("imap()", "with_index", with_index)
    invoke = make_invoke(
        "imap",
        fn,
        timeout=check_timeout("imap", timeout),
        retry=check_retry("imap", retry),
        limiter=check_rate("imap", rate),
        fuzz=current_fuzz_hook(),
    )
    source = ItemSource("imap", items)
    return _IMap(
        fn, source, limit, buffer, invoke, ordered, return_exceptions, with_index
    )


class _IMap(Generic[T, R]):
    def __init__(
        self,
        fn: Callable[[T], Awaitable[R]],
        source: ItemSource[T],
        limit: int,
        buffer: int,
        invoke: Invoke[T, R] | None,
        ordered: bool,
        return_exceptions: bool,
        with_index: bool,
    ) -> None:
        self.fn = fn
        self.source = source
        self.limit = limit
        self.invoke = invoke
        self.ordered = ordered
        self.return_exceptions = return_exceptions
        self.with_index = with_index
        self.fuzz: FuzzHook | None = current_fuzz_hook()
        # A slot is an item pulled and not yet read. Workers waiting for one
        # queue up and each slot freed wakes the longest waiting; one that
        # finds its slot taken by a busy worker queues again.
        self.free_slots = limit + buffer
        self.slot_waiters: deque[Event] = deque()
        self.result_ready: Event | None = None
        self.by_index: dict[int, _Entry] = {}
        self.by_completion: deque[_Entry] = deque()
        self.next_index = 0
        self.failure: _Entry | None = None
        # An error raised by items is nobody's result: it is raised even with
        # return_exceptions, after every earlier result in ordered mode.
        self.items_error_index = -1
        self.pulling = True
        self.misuse: TypeError | None = None
        self.lost_call = False
        self.misuse_seen = False
        self.tg: TaskGroup
        self.spawner: WorkerSpawner
        self.entered = False
        self.started_for = source.length or 0  # items the first workers cover
        self.first_workers = starting_workers(limit, source.length)

    async def __aenter__(self) -> _Results[Any]:
        if self.entered:
            raise RuntimeError("an imap() context can be entered only once")
        self.entered = True
        self.tg = create_task_group()
        await self.tg.__aenter__()
        self.spawner = WorkerSpawner(self.tg, self._work, "plait.imap worker")
        for _ in range(self.first_workers):
            self.spawner.spawn()
        return _Results(self)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The block's own exception is not the workers' business: stop them
        # and let it leave the block as itself, not wrapped in a group.
        self.pulling = False
        self.tg.cancel("imap closed")
        try:
            await self.tg.__aexit__(None, None, None)
        finally:
            await self.source.aclose()
        if exc is None and self.misuse is not None and not self.misuse_seen:
            raise self.misuse

    async def _work(self) -> None:
        source, fn, invoke = self.source, self.fn, self.invoke
        spawner, limit, ordered = self.spawner, self.limit, self.ordered
        by_index, by_completion = self.by_index, self.by_completion
        pull_sync = None if source.is_async else source.pull_sync
        full, started_for = self.first_workers >= limit, self.started_for
        start = copy_context()
        try:
            if self.fuzz is not None:
                await self.fuzz("task_start")
            while self.pulling:
                if self.free_slots == 0:
                    await self._wait_for_slot()
                    if self._stopped_while_waiting():
                        return
                self.free_slots -= 1
                try:
                    pulled = pull_sync() if pull_sync else await source.pull_async()
                except Exception as exc:
                    self.items_error_index = source.pulled
                    self._store((source.pulled, False, exc))
                    return
                if pulled is None:
                    self._release_slot()
                    return
                index, item = pulled
                if not full and index >= started_for and not source.exhausted:
                    full = spawner.grow(limit)
                try:
                    if invoke is None:
                        aw = fn(item)
                        if type(aw) is not CoroutineType and not is_awaitable(aw):
                            raise FnMisuse("imap", fn, aw)
                        value: R = await aw  # pyright: ignore[reportUnknownVariableType]
                    else:
                        value = await invoke(item)
                except FnMisuse as misuse:
                    self.misuse = misuse.error
                    self.pulling = False
                    self._wake_reader()
                    return
                except Exception as exc:
                    note_item(exc, "imap", index, item)
                    self._store((index, False, exc))
                else:  # _store's work for a success, inline: this is per item
                    if ordered:
                        by_index[index] = (index, True, value)
                    else:
                        by_completion.append((index, True, value))  # pyright: ignore[reportUnknownArgumentType]
                    if self.result_ready is not None:
                        self._wake_reader()
                if copy_context() != start:
                    if self.pulling and not source.exhausted:
                        spawner.spawn()
                    return
        except BaseException:
            if self.pulling:  # not cancelled by imap: lost_call_error
                # Stop as after a failure: the lost item's slot is never
                # freed, so waiting workers must give up rather than wait.
                self.lost_call = True
                self.pulling = False
                while self.slot_waiters:
                    self.slot_waiters.popleft().set()
            raise
        finally:
            spawner.exited()
            self._wake_reader()

    async def _wait_for_slot(self) -> None:
        while self.free_slots == 0 and self.pulling:
            freed = Event()
            self.slot_waiters.append(freed)
            try:
                await freed.wait()
            except BaseException:
                if freed.is_set():
                    self._wake_slot_waiter()  # woken, then cancelled: pass it on
                else:
                    self.slot_waiters.remove(freed)
                raise

    def _stopped_while_waiting(self) -> bool:
        return not self.pulling

    def _raises(self, entry: _Entry) -> bool:
        index, succeeded, _ = entry
        if succeeded:
            return False
        return not self.return_exceptions or index == self.items_error_index

    def _store(self, entry: _Entry) -> None:
        if self._raises(entry):
            self.pulling = False
            if not self.ordered:
                self.failure = entry
        if self.ordered:
            self.by_index[entry[0]] = entry
        elif self.failure is not entry:
            self.by_completion.append(entry)
        self._wake_reader()

    def _wake_reader(self) -> None:
        if self.result_ready is not None:
            self.result_ready.set()
            self.result_ready = None

    def _release_slot(self) -> None:
        self.free_slots += 1
        self._wake_slot_waiter()

    def _wake_slot_waiter(self) -> None:
        if self.slot_waiters:
            self.slot_waiters.popleft().set()

    def _take(self) -> _Entry | None:
        if self.failure is not None:
            return self.failure
        if self.ordered:
            return self.by_index.pop(self.next_index, None)
        return self.by_completion.popleft() if self.by_completion else None

    async def next_result(self) -> Any:
        if self.fuzz is not None:
            await self.fuzz("deliver")
        while (entry := self._take()) is None:
            if self.misuse is not None:
                self.misuse_seen = True
                raise self.misuse
            if self.spawner.workers == 0:
                if self.lost_call:
                    raise lost_call_error("imap")
                raise StopAsyncIteration
            self.result_ready = event = Event()
            await event.wait()
        index, succeeded, value = entry
        if not succeeded and self._raises(entry):
            self.pulling = False
            self.failure = entry  # the iterator stays failed
            raise value
        self.next_index += 1
        self.free_slots += 1  # _release_slot, inline: this is per item
        if self.slot_waiters:
            self.slot_waiters.popleft().set()
        return (index, value) if self.with_index else value


class _Results(AsyncIterator[R]):
    """The async iterator ``imap`` yields: results as the options say."""

    def __init__(self, run: _IMap[Any, Any]) -> None:
        self._run = run

    def __anext__(self) -> Coroutine[Any, Any, R]:
        # Hands out next_result's coroutine: no frame of its own per result.
        return self._run.next_result()
