"""``bounded_map``: fn over many items, at most ``limit`` at a time."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from contextvars import copy_context
from types import CoroutineType
from typing import Any, Generic, Literal, TypeVar, overload

from anyio import create_task_group
from anyio.abc import TaskGroup

from ._awaitables import is_awaitable
from ._fuzz import FuzzHook, current_fuzz_hook
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
    make_invoke,
    note_item,
    note_items_error,
)
from ._ratelimit import RateLimiter
from ._retry import RetryPolicy

T = TypeVar("T")
R = TypeVar("R")

_MISSING: Any = object()


@overload
async def bounded_map(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int,
    return_exceptions: Literal[False] = False,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    rate: float | RateLimiter | None = None,
) -> list[R]: ...


@overload
async def bounded_map(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int,
    return_exceptions: Literal[True],
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    rate: float | RateLimiter | None = None,
) -> list[R | Exception]: ...


@overload
async def bounded_map(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int,
    return_exceptions: bool = False,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    rate: float | RateLimiter | None = None,
) -> list[R] | list[R | Exception]: ...


async def bounded_map(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    limit: int,
    return_exceptions: bool = False,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    rate: float | RateLimiter | None = None,
) -> list[R] | list[R | Exception]:
    """Call ``await fn(item)`` for every item, at most ``limit`` at a time.

    A pool of at most ``limit`` worker tasks pulls items lazily from one
    iterator (never two at once), so memory is O(limit) plus the results,
    whatever the number of items, and an endless or huge generator is fine.

    On the first failure (unless ``return_exceptions``) it stops pulling,
    cancels the calls in flight, waits for them, and raises an
    ``ExceptionGroup`` of the real failures, each with a note naming its item.
    An error raised by ``items`` itself counts as a failure. An async
    generator given as ``items`` is closed when the map ends, however it ends.

    Each call of fn sees the caller's context: a ``ContextVar`` that one call
    sets is not seen by the next call (a worker whose call changed its context
    is replaced by a fresh one). Costs one context comparison per item.

    Args:
        fn: an async function taking one item.
        items: an iterable or async iterable, pulled lazily.
        limit: the most calls of fn in flight at once (a positive int).
        return_exceptions: if true, an ``Exception`` from an item takes its
            result's place and nothing is cancelled.
        timeout: seconds allowed for each attempt of each call (``None``: no
            limit). A timeout raises ``TimeoutError``, which ``retry`` retries
            if its ``retry_on`` matches.
        retry: a ``RetryPolicy`` for each item (``None``: no retry).
        rate: calls of fn allowed per second, retries included, as a number
            or a shared ``RateLimiter`` (``None``: no limit). Waiting for the
            rate does not count against ``timeout``.

    Returns:
        The results, in input order.

    Raises:
        TypeError, ValueError: bad arguments, at the call; TypeError too when
            fn returns something not awaitable.
        ExceptionGroup: the failures, unless ``return_exceptions``.

    Example:
        >>> import anyio, plait
        >>> async def square(x: int) -> int:
        ...     await anyio.sleep(0)
        ...     return x * x
        >>> anyio.run(lambda: plait.bounded_map(square, range(5), limit=2))
        [0, 1, 4, 9, 16]
    """
    check_fn("bounded_map", fn)
    limit = check_limit("bounded_map", limit)
    if not isinstance(return_exceptions, bool):
        raise TypeError(f"return_exceptions must be a bool, got {return_exceptions!r}")
    invoke = make_invoke(
        "bounded_map",
        fn,
        timeout=check_timeout("bounded_map", timeout),
        retry=check_retry("bounded_map", retry),
        limiter=check_rate("bounded_map", rate),
        fuzz=current_fuzz_hook(),
    )
    source = ItemSource("bounded_map", items)
    return await _BoundedMap(fn, source, limit, return_exceptions, invoke).run()


class _BoundedMap(Generic[T, R]):
    def __init__(
        self,
        fn: Callable[[T], Awaitable[R]],
        source: ItemSource[T],
        limit: int,
        return_exceptions: bool,
        invoke: Invoke[T, R] | None,
    ) -> None:
        self.fn = fn
        self.source = source
        self.limit = limit
        self.return_exceptions = return_exceptions
        self.invoke = invoke
        self.fuzz: FuzzHook | None = current_fuzz_hook()
        self.misuse: TypeError | None = None
        self.failures: list[Exception] = []
        self.stopped = False
        self.pairs = source.sync_pairs()
        self.known_length = source.length or 0
        self.results: list[R] = [_MISSING] * self.known_length
        self.tg: TaskGroup
        self.spawner: WorkerSpawner

    async def run(self) -> list[R]:
        try:
            async with create_task_group() as self.tg:
                self.spawner = WorkerSpawner(self.tg, self._work)
                self.spawner.spawn()
        finally:
            await self.source.aclose()
        if self.misuse is not None:
            raise self.misuse
        if self.failures:
            count = len(self.failures)
            raise ExceptionGroup(
                f"bounded_map(): {count} call{'s' if count > 1 else ''} failed",
                self.failures,
            )
        results = self.results
        while results and results[-1] is _MISSING:
            results.pop()  # a sized iterable that yielded fewer than its len()
        return results

    def _fail(self, exc: Exception) -> None:
        self.failures.append(exc)
        self.stopped = True
        self.tg.cancel("bounded_map failed")

    async def _work(self) -> None:
        try:
            await self._work_items()
        except Exception as exc:  # only the items iterable raises out of the loop
            note_items_error(exc, "bounded_map", self.source.iterator)
            self._fail(exc)
        finally:
            self.spawner.exited()

    async def _work_items(self) -> None:
        if self.fuzz is not None:
            await self.fuzz("task_start")
        source, results, fn, invoke = self.source, self.results, self.fn, self.invoke
        spawner, limit = self.spawner, self.limit
        pairs, known = self.pairs, self.known_length
        # Once the pool is full it stays full (a retiring worker hands its
        # place straight to a new one), so the count is not read again.
        full = False
        start = copy_context()
        while not self.stopped:
            pair = next(pairs, None) if pairs is not None else await source.pull_async()
            if pair is None:
                return
            index, item = pair
            if index >= known:  # a sized iterable may yield more than len()
                results.append(_MISSING)
            if not full:
                if spawner.workers < limit:
                    spawner.spawn()
                else:
                    full = True
            try:
                if invoke is None:
                    aw = fn(item)
                    if type(aw) is not CoroutineType and not is_awaitable(aw):
                        raise FnMisuse("bounded_map", fn, aw)
                    result = await aw
                else:
                    result = await invoke(item)
            except FnMisuse as misuse:
                self.misuse = misuse.error
                self.stopped = True
                self.tg.cancel("bounded_map: fn is not async")
                return
            except Exception as exc:
                note_item(exc, "bounded_map", index, item)
                if not self.return_exceptions:
                    self._fail(exc)
                    return
                result = exc  # type: ignore[assignment]
            results[index] = result
            if copy_context() != start:
                # fn changed this task's context: a fresh worker takes over,
                # so the next call sees the caller's context unchanged.
                spawner.spawn()
                return
