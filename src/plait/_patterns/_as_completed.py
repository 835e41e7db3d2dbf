"""``as_completed``: task handles in completion order, optionally limited."""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Awaitable, Iterable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

from anyio import (
    BrokenResourceError,
    ClosedResourceError,
    TaskHandle,
    create_memory_object_stream,
)
from anyio.streams.memory import MemoryObjectReceiveStream

from .._core._awaitables import (
    AwaitableOrFn,
    add_origin_note,
    close_unstarted,
    prepare_all,
)
from .._core._checks import check_positive_int
from .._core._fuzz import current_fuzz_hook
from .._core._groups import create_task_group
from .._core._observers import (
    ItemHooks,
    Observer,
    check_observers,
    item_hooks,
    outcome_of,
)

R = TypeVar("R")


@asynccontextmanager
async def as_completed(
    *aws: AwaitableOrFn[R],
    limit: int | None = None,
    observer: Observer | Iterable[Observer] | None = None,
) -> AsyncGenerator[MemoryObjectReceiveStream[TaskHandle[R]]]:
    """Run awaitables concurrently; receive their task handles as they finish.

    A drop-in superset of ``anyio.as_completed``: the block gets a receive
    stream of finished ``TaskHandle``\\s in completion order (await a handle,
    or read ``return_value``, for its result). Fail-fast like anyio's: a
    failure cancels the rest and the block raises an ``ExceptionGroup`` (each
    error with a note naming its argument); a ``BaseException`` that is not a
    cancellation does the same, in a ``BaseExceptionGroup``. Leaving the
    block early cancels what still runs and waits for it. Cancelled from
    outside, the block propagates the cancellation, unless a call failed
    meanwhile (just as it came, or in its cleanup): then the group of those
    failures leaves instead. plait adds callables and ``limit``.

    Args:
        *aws: coroutine objects, awaitables, or zero-argument callables
            returning one (called at once, started as slots free up).
        limit: at most this many run at once; the rest start, in argument
            order, as running ones finish. ``None``: all at once.
        observer: a ``plait.Observer`` (or several) told of the progress,
            as in ``bounded_map`` (an argument is "pulled" when its task
            starts; each has one attempt).

    Raises:
        ValueError: no awaitables, or a bad ``limit``.
        TypeError: an argument is neither awaitable nor callable, or a
            callable returns something not awaitable.

    Example:
        >>> import anyio, plait
        >>> async def nap(seconds: float) -> float:
        ...     await anyio.sleep(seconds)
        ...     return seconds
        >>> async def main() -> list[float]:
        ...     async with plait.as_completed(nap(0.02), nap(0), limit=2) as done:
        ...         return [handle.return_value async for handle in done]
        >>> anyio.run(main)
        [0, 0.02]
    """
    if limit is not None:
        limit = check_positive_int("as_completed()", "limit", limit)
    if not aws:
        raise ValueError("as_completed() takes at least one awaitable")
    observers = check_observers("as_completed()", observer)
    awaitables = prepare_all("as_completed", aws)
    hooks = item_hooks("as_completed", observers, len(awaitables))
    run = _AsCompleted(awaitables, limit or len(awaitables), hooks)
    if hooks is not None:
        hooks.opened()
    try:
        async with run.receive, create_task_group() as tg:
            tg.handles = run.handles
            run.start(tg)
            try:
                yield run.receive
            finally:
                tg.cancel("as_completed closed")
    except BaseException as exc:
        if hooks is not None:
            hooks.closed(outcome_of(exc))
        raise
    finally:
        run.send.close()  # already closed unless the block ended early
        close_unstarted(awaitables[run.started :])
    if hooks is not None:
        hooks.closed("succeeded")


class _AsCompleted:
    def __init__(
        self, awaitables: list[Awaitable[Any]], limit: int, hooks: ItemHooks | None
    ) -> None:
        self.awaitables = awaitables
        self.hooks = hooks
        self.limit = limit
        self.started = 0
        self.finished = 0
        self.handles: list[TaskHandle[Any]] = []
        self.send, self.receive = create_memory_object_stream[TaskHandle[Any]](
            len(awaitables)
        )
        self.fuzz = current_fuzz_hook()
        self.unsent: list[int] = []

    def start(self, tg: Any) -> None:
        self.tg = tg
        for _ in range(min(self.limit, len(self.awaitables))):
            self._start_next()

    def _start_next(self) -> None:
        index = self.started
        self.started = index + 1
        aw = self.awaitables[index]
        name = aw.__qualname__ if inspect.iscoroutine(aw) else None
        self.handles.append(self.tg.create_task(self._run(index, aw), name=name))
        if self.unsent:
            # An eager task factory ran the task to its end inside create_task.
            self._flush_unsent()

    async def _run(self, index: int, aw: Awaitable[Any]) -> Any:
        failed = True
        hooks = self.hooks
        if hooks is not None:
            hooks.pulled(index, aw)  # no await before the try: it ends, once
        attempts = 0
        try:
            if self.fuzz is not None:
                await self.fuzz("task_start")
            if hooks is not None:
                attempts = 1
                hooks.started(index, aw, 1)
            result = await aw
            failed = False
            if hooks is not None:
                hooks.ended(index, aw, 1, "succeeded")
            return result
        except BaseException as exc:
            if isinstance(exc, Exception):
                add_origin_note(exc, "as_completed", f"argument {index}", aw)
            if hooks is not None:
                hooks.ended(index, aw, attempts, outcome_of(exc), exc)
            raise
        finally:
            close_unstarted((aw,))
            self._finish(index, failed)

    def _finish(self, index: int, failed: bool) -> None:
        self.finished += 1
        self.unsent.append(index)
        if index < len(self.handles):
            self._flush_unsent()
        more = self.started < len(self.awaitables)
        if more and not failed and not self.tg.cancel_scope.cancel_called:
            self._start_next()

    def _flush_unsent(self) -> None:
        while self.unsent and self.unsent[0] < len(self.handles):
            handle = self.handles[self.unsent.pop(0)]
            with suppress(BrokenResourceError, ClosedResourceError):
                self.send.send_nowait(handle)  # fails once the reader has left
        if self.finished == len(self.awaitables) and not self.unsent:
            self.send.close()
