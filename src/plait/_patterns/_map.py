"""``bounded_map``: fn over many items, at most ``limit`` at a time."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from contextvars import copy_context
from types import CoroutineType
from typing import Any, Generic, Literal, TypeVar, overload

from anyio import create_task_group
from anyio.abc import TaskGroup

from .._core._awaitables import is_awaitable
from .._core._checks import check_bool
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
    note_items_error,
    starting_workers,
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
        RuntimeError: a call's task was cancelled outside any cancel scope
            (asyncio's ``Task.cancel()``), so its result is missing.

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
    check_bool("bounded_map()", "return_exceptions", return_exceptions)
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
        self.lost_call = False
        self.failures: list[Exception] = []
        self.stopped = False
        self.pairs = source.sync_pairs()
        self.results: list[R] = [_MISSING] * (source.length or 0)
        self.started_for = source.length or 0  # items the first workers cover
        self.first_workers = starting_workers(limit, source.length)
        self.tg: TaskGroup
        self.spawner: WorkerSpawner

    async def run(self) -> list[R]:
        plain = self.pairs is not None and self.invoke is None
        try:
            async with create_task_group() as self.tg:
                work = self._work_plain if plain else self._work
                self.spawner = WorkerSpawner(self.tg, work, "plait.bounded_map worker")
                for _ in range(self.first_workers):
                    self.spawner.spawn()
        finally:
            await self.source.aclose()
        if self.misuse is not None:
            raise self.misuse
        if self.lost_call and not self.failures:
            raise lost_call_error("bounded_map")
        if self.failures:
            count = len(self.failures)
            raise ExceptionGroup(
                f"bounded_map(): {count} call{'s' if count > 1 else ''} failed",
                self.failures,
            )
        return _trim_unpulled(self.results)

    async def _work_plain(self) -> None:
        """A worker for sync items and no options: the hot loop, kept lean.

        Per item it pulls, calls fn, stores the result and compares contexts;
        the checks that only matter when something goes wrong (fn not async,
        more items than ``len()``) are made on that path only.
        """
        assert self.pairs is not None
        results, fn, spawner, limit = self.results, self.fn, self.spawner, self.limit
        full, started_for = self.first_workers >= limit, self.started_for
        start = copy_context()
        # Until fn is first called; later, a call of fn that raises leaves
        # the previous item's awaitable here, which is not misuse either.
        aw: Any = _NOT_CALLED
        try:
            if self.stopped:  # failed before this worker first ran
                return
            for index, item in self.pairs:
                if not full and index >= started_for:
                    full = spawner.grow(limit)
                try:
                    aw = fn(item)
                    result: R = await aw
                except Exception as exc:
                    if isinstance(exc, TypeError) and _returned_non_awaitable(aw):
                        self._misused(FnMisuse("bounded_map", fn, aw))
                        return
                    if self._failed(exc, index, item):
                        return
                    result = exc  # type: ignore[assignment]
                try:
                    results[index] = result
                except IndexError:  # unknown length, or more items than len()
                    _store_past_end(results, index, result)
                if self.stopped:  # mypy narrows self.stopped across the await
                    return  # type: ignore[unreachable]
                if copy_context() != start:
                    # fn changed this task's context: a fresh worker takes
                    # over, so the next call sees the caller's context.
                    spawner.spawn()
                    return
        except BaseException as exc:
            if not self._worker_raised(exc):
                raise
        finally:
            spawner.exited()

    async def _work(self) -> None:
        """A worker for async items, or with timeout, retry, rate or fuzzing."""
        source, results, fn, invoke = self.source, self.results, self.fn, self.invoke
        spawner, limit, pairs = self.spawner, self.limit, self.pairs
        full, started_for = self.first_workers >= limit, self.started_for
        start = copy_context()
        try:
            if self.fuzz is not None:
                await self.fuzz("task_start")
            while not self.stopped:
                pair = (
                    next(pairs, None)
                    if pairs is not None
                    else await source.pull_async()
                )
                if pair is None:
                    return
                index, item = pair
                if not full and index >= started_for:
                    full = spawner.grow(limit)
                try:
                    if invoke is None:
                        aw = fn(item)
                        if type(aw) is not CoroutineType and not is_awaitable(aw):
                            raise FnMisuse("bounded_map", fn, aw)
                        result: R = await aw  # pyright: ignore[reportUnknownVariableType]
                    else:
                        result = await invoke(item)
                except FnMisuse as misuse:
                    self._misused(misuse)
                    return
                except Exception as exc:
                    if self._failed(exc, index, item):
                        return
                    result = exc  # type: ignore[assignment]
                try:
                    results[index] = result
                except IndexError:  # unknown length, or more items than len()
                    _store_past_end(results, index, result)  # pyright: ignore[reportUnknownArgumentType]
                if copy_context() != start:
                    spawner.spawn()
                    return
        except BaseException as exc:
            if not self._worker_raised(exc):
                raise
        finally:
            spawner.exited()

    def _worker_raised(self, exc: BaseException) -> bool:
        """Handle *exc* leaving a worker's loop; return True if it ends there.

        Only the items iterable raises an ``Exception`` out of the loop: the
        map fails with it. Anything else propagates; if the map did not cause
        it (a cancellation outside any scope), an item's result is lost and
        the map must not succeed (``lost_call_error``).
        """
        if isinstance(exc, Exception):
            note_items_error(exc, "bounded_map", self.source.iterator)
            self._fail(exc)
            return True
        if not self.stopped:
            self.lost_call = True
        return False

    def _failed(self, exc: Exception, index: int, item: T) -> bool:
        """Note which item *exc* came from; return True if the map stops."""
        note_item(exc, "bounded_map", index, item)
        if self.return_exceptions:
            return False
        self._fail(exc)
        return True

    def _fail(self, exc: Exception) -> None:
        self.failures.append(exc)
        self.stopped = True
        self.tg.cancel("bounded_map failed")

    def _misused(self, misuse: FnMisuse) -> None:
        self.misuse = misuse.error
        self.stopped = True
        self.tg.cancel("bounded_map: fn is not async")


_NOT_CALLED: Any = object()


def _returned_non_awaitable(aw: object) -> bool:
    """Tell whether fn returned *aw* and it cannot be awaited.

    *aw* is ``_NOT_CALLED`` before the first call of fn, and when a later
    call raised it is the previous item's awaitable: misuse in neither case.
    """
    return aw is not _NOT_CALLED and not is_awaitable(aw)


def _store_past_end(results: list[Any], index: int, result: object) -> None:
    """Store past the end of *results*, growing it geometrically.

    Items of unknown length, or more items than ``len()`` said, land here;
    growing by half again keeps the cost amortised O(1) per item, and the
    slots never reached are cut off at the end by ``_trim_unpulled``.
    """
    size = len(results)
    results.extend([_MISSING] * (max(index + 1, size + size // 2 + 8) - size))
    results[index] = result


def _trim_unpulled(results: list[Any]) -> list[Any]:
    """Cut the slots past the last item pulled (all ``_MISSING``) off *results*.

    Every item pulled has its result stored, and items are pulled in index
    order, so the filled slots are a prefix: binary search for its end.
    """
    low, high = 0, len(results)
    while low < high:
        middle = (low + high) // 2
        if results[middle] is _MISSING:
            high = middle
        else:
            low = middle + 1
    del results[low:]
    return results
