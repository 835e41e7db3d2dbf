"""imap's block: the pool it owns while the block runs, and the results it streams."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextvars import copy_context
from typing import Any, Generic, TypeVar

from anyio import Event
from anyio.lowlevel import checkpoint_if_cancelled

from .._core._cancellation import cancellation_pending, is_cancelled
from .._core._fuzz import current_fuzz_hook
from .._core._groups import KeepingTaskGroup
from .._core._lifecycle import TaskGroupOwner
from ._call import NOT_CALLED, Invoke, lost_call_error, misuse_error, note_item
from ._items import ItemSource
from ._workers import WorkerSpawner, starting_workers

T = TypeVar("T")
R = TypeVar("R")


class Held:
    """A failure a worker holds for the reader: delivered, or raised at close.

    The worker waits until a reader has raised it; if the block ends first,
    the worker raises it into the task group, which is how a failure nobody
    read leaves the ``async with`` (alone, or after the block's own error).
    """

    __slots__ = ("delivered", "error", "raised")

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.delivered = Event()  # a reader has raised it
        self.raised = False  # its worker has raised it: no reader may now


# (index, failed, value): a result (an exception, with return_exceptions),
# or with failed=True a Held failure to raise.
_Entry = tuple[int, bool, Any]


class MappedStream(TaskGroupOwner, AsyncIterator[Any], Generic[T, R]):
    """imap's block: the pool it owns while the block runs, and its results."""

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
        self.fuzz = current_fuzz_hook()
        # A slot is an item pulled and not yet read. Workers waiting for one
        # queue up and each slot freed wakes the longest waiting; one that
        # finds its slot taken by a busy worker queues again.
        self.free_slots = limit + buffer
        self.slot_waiters: deque[Event] = deque()
        # One event for every reader waiting: each result wakes them all,
        # and those that find nothing to take wait again.
        self.result_ready: Event | None = None
        self.by_index: dict[int, _Entry] = {}
        self.by_completion: deque[_Entry] = deque()
        self.next_index = 0
        self.failure: _Entry | None = None  # raised before any other result
        self.pulling = True
        self.closing = False
        self.finished = False  # a failure was raised: no more results
        self.started_for = source.length or 0  # items the first workers cover
        self.first_workers = starting_workers(limit, source.length)
        self.spawner: WorkerSpawner

    async def _open(self, tg: KeepingTaskGroup) -> None:
        self.tg = tg
        self.spawner = WorkerSpawner(tg, self._work, "plait.imap worker")
        for _ in range(self.first_workers):
            self.spawner.spawn()

    async def _close(self) -> None:
        # What still runs is cancelled next; what it raises now is a failure.
        self.closing = True
        self.pulling = False

    async def _closed(self) -> None:
        await self.source.aclose()

    def __anext__(self) -> Coroutine[Any, Any, Any]:
        # Hands out next_result's coroutine: no frame of its own per result.
        return self.next_result()

    async def _work(self) -> None:
        """Pull an item when a slot is free, call fn, store its result; again.

        Like ``bounded_map``'s loop: unused options and the fuzzing hand-off
        cost a pointer test per item, and failures are handled off the hot
        path. A failure for the reader ends the worker holding it (``Held``).
        """
        source, fn, invoke, fuzz = self.source, self.fn, self.invoke, self.fuzz
        spawner, limit, ordered = self.spawner, self.limit, self.ordered
        by_index, by_completion = self.by_index, self.by_completion
        pull_sync = None if source.is_async else source.pull_sync
        full, started_for = self.first_workers >= limit, self.started_for
        start = copy_context()
        aw: Any = NOT_CALLED  # what fn last returned, for the misuse check
        try:
            if fuzz is not None:
                await fuzz("task_start")
            while self.pulling:
                if self.free_slots == 0 and not await self._wait_for_slot():
                    return
                self.free_slots -= 1
                try:
                    pulled = pull_sync() if pull_sync else await source.pull_async()
                except Exception as exc:
                    held = self._failed(source.pulled, exc)
                    break
                if pulled is None:
                    self._release_slot()
                    return
                index, item = pulled
                if not full and index >= started_for and not source.exhausted:
                    full = spawner.grow(limit)
                try:
                    if fuzz is not None:
                        await fuzz("before_call")
                    if invoke is None:
                        aw = fn(item)
                        value = await aw
                    else:
                        value = await invoke(index, item)
                except Exception as exc:
                    misuse = misuse_error("imap", fn, exc, aw)
                    if misuse is not None:
                        held = self._failed(index, misuse, first=True)
                        break
                    note_item(exc, "imap", index, item)
                    if not self.return_exceptions or self._stopping():
                        held = self._failed(index, exc)
                        break
                    value = exc
                except BaseException as exc:
                    held = self._lost(exc, index)
                    break
                # _store's work for a result, inline: this is per item.
                if ordered:
                    by_index[index] = (index, False, value)
                else:
                    by_completion.append((index, False, value))
                if self.result_ready is not None:
                    self._wake_reader()
                if copy_context() != start:
                    if self.pulling and not source.exhausted:
                        spawner.spawn()
                    return
            else:
                return
            # Only a failure breaks out of the loop.
            await self._hold(held)
        except BaseException as exc:
            await self._hold(self._lost(exc, source.pulled))
        finally:
            spawner.exited()
            self._wake_reader()

    def _stopping(self) -> bool:
        """Tell whether the block is closing or being cancelled."""
        return self.closing or cancellation_pending()

    def _failed(self, index: int, error: Exception, *, first: bool = False) -> Held:
        """Stop pulling; keep *error* for a reader (at *index*, or *first*)."""
        self.pulling = False
        held = Held(error)
        if self._stopping():
            return held  # nobody reads any more: _hold raises it at once
        entry = (index, True, held)
        if self.ordered and not first:
            self.by_index[index] = entry
        elif self.failure is None:
            self.failure = entry
        # Otherwise a failure comes first already: this one waits for the close.
        self._wake_reader()
        return held

    def _lost(self, exc: BaseException, index: int) -> Held:
        """Return a held RuntimeError if *exc* lost a call, else re-raise it.

        Only a cancellation outside any cancel scope loses a call: one from
        a scope (the block closing, or an outer cancellation) propagates.
        """
        if not is_cancelled(exc) or self.closing or cancellation_pending():
            self.tg.keep(exc)
            raise exc
        error = lost_call_error("imap")
        error.__cause__ = exc
        return self._failed(index, error)

    async def _hold(self, held: Held) -> None:
        """Wait until a reader has raised *held*; if the block ends first, raise it.

        Whichever comes first claims it, so it is raised once: by a reader,
        or by this worker into the task group.
        """
        if not self._stopping():
            try:
                await held.delivered.wait()
                return
            except BaseException as exc:
                if held.delivered.is_set() or not is_cancelled(exc):
                    raise
        elif held.delivered.is_set():
            return
        held.raised = True
        self.tg.keep(held.error)
        raise held.error

    async def _wait_for_slot(self) -> bool:
        """Wait until a slot is free; return False if pulling stopped first."""
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
        return self.pulling

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
            if self.finished or self.spawner.workers == 0:
                # Workers cut short by a cancellation end nothing: raise it.
                await checkpoint_if_cancelled()
                raise StopAsyncIteration
            event = self.result_ready
            if event is None:
                event = self.result_ready = Event()
            await event.wait()
        index, failed, value = entry
        if failed:
            # The iterator is finished: this failure is raised once, to one
            # reader, and the worker holding it lets go; unless that worker
            # raised it already, as the block is closing or cancelled.
            self.finished = True
            self.failure = None
            self.by_completion.clear()
            self._wake_reader()
            if value.raised:
                await checkpoint_if_cancelled()
                raise StopAsyncIteration
            value.delivered.set()
            raise value.error
        self.next_index += 1
        self.free_slots += 1  # _release_slot, inline: this is per item
        if self.slot_waiters:
            self.slot_waiters.popleft().set()
        return (index, value) if self.with_index else value
