"""``bounded_map``: fn over many items, at most ``limit`` at a time."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from contextvars import copy_context
from itertools import repeat
from typing import Any, Generic, Literal, TypeVar, overload

from .._core._cancellation import (
    cancellation_pending,
    is_cancelled,
    is_exception_group,
    non_cancel_subgroup,
)
from .._core._checks import check_bool, check_positive_int
from .._core._fuzz import current_fuzz_hook
from .._core._groups import KeepingTaskGroup, create_task_group
from .._core._observers import Observer, check_observers, item_hooks, observed_call
from ._call import (
    NOT_CALLED,
    Invoke,
    check_fn,
    lost_call_error,
    make_invoke,
    misuse_error,
    note_item,
)
from ._items import ItemSource, note_items_error
from ._ratelimit import RateLimiter
from ._retry import RetryPolicy
from ._workers import WorkerSpawner, starting_workers

T = TypeVar("T")
R = TypeVar("R")

_MISSING: Any = object()
_PULL: Any = (None, None)  # what a worker over async items iterates: pull now


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
    observer: Observer | Iterable[Observer] | None = None,
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
    observer: Observer | Iterable[Observer] | None = None,
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
    observer: Observer | Iterable[Observer] | None = None,
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
    observer: Observer | Iterable[Observer] | None = None,
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

    Cancelled from outside (an enclosing deadline or cancelled scope, or
    asyncio's ``Task.cancel()`` of the caller), it cancels the calls in flight,
    waits for them and propagates the cancellation, unless a call failed
    meanwhile: an item failing as the cancellation came, or a call whose
    cleanup raised while it was cancelled. Then, as from an anyio task group,
    the ``ExceptionGroup`` of those failures is raised instead (an enclosing
    scope does not catch it), so no failure is lost. With
    ``return_exceptions``, an ``Exception`` raised while the map is being
    cancelled (from outside, or after the items iterable failed) is such a
    failure, not a result; one raised before is a result, dropped with the
    others if the map then ends by a cancellation or a failure.

    A ``BaseException`` from fn that is not a cancellation (``SystemExit``, one
    of your own) is no item's result: it cancels the other calls and
    propagates in a ``BaseExceptionGroup`` with any failures, as from an anyio
    task group (on asyncio the event loop itself re-raises
    ``KeyboardInterrupt``). A call whose task is cancelled outside any cancel
    scope (asyncio's ``Task.cancel()`` on a worker, or fn raising
    ``CancelledError`` itself) is a failure too: a ``RuntimeError`` in the
    group, as its result is missing.

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
        observer: a ``plait.Observer`` (or several) told of the progress:
            ``on_open`` (with ``len(items)`` when known), then per item
            ``on_pull``, ``on_start`` per attempt, ``on_retry``,
            ``on_failure`` and exactly one ``on_exit`` with its outcome, then
            ``on_close``; ``plait.TqdmObserver()`` draws a progress bar.
            ``None`` (default) costs nothing.

    Returns:
        The results, in input order.

    Raises:
        TypeError, ValueError: bad arguments, at the call; TypeError too when
            fn returns something not awaitable.
        ExceptionGroup: the failures (those raised while the map was
            being cancelled, with ``return_exceptions``).
        BaseExceptionGroup: fn raised a ``BaseException`` that is not a
            cancellation.

    Example:
        >>> import anyio, plait
        >>> async def square(x: int) -> int:
        ...     await anyio.sleep(0)
        ...     return x * x
        >>> anyio.run(lambda: plait.bounded_map(square, range(5), limit=2))
        [0, 1, 4, 9, 16]
    """
    check_fn("bounded_map", fn)
    limit = check_positive_int("bounded_map()", "limit", limit)
    check_bool("bounded_map()", "return_exceptions", return_exceptions)
    observers = check_observers("bounded_map()", observer)
    source = ItemSource("bounded_map", items)
    hooks = item_hooks("bounded_map", observers, source.length)
    invoke = make_invoke(
        "bounded_map", fn, timeout=timeout, retry=retry, rate=rate, hooks=hooks
    )
    run = _BoundedMap(fn, source, limit, return_exceptions, invoke).run()
    return await (run if hooks is None else observed_call(hooks, run))


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
        self.fuzz = current_fuzz_hook()
        self.misuse: TypeError | None = None
        self.stopped = False
        self.pairs = source.sync_pairs()
        self.results: list[R | Exception] = [_MISSING] * (source.length or 0)
        self.started_for = source.length or 0  # items the first workers cover
        self.first_workers = starting_workers(limit, source.length)
        self.tg: KeepingTaskGroup
        self.spawner: WorkerSpawner

    async def run(self) -> list[R | Exception]:
        # Failures leave the workers as exceptions, so the task group gathers
        # them as it gathers cleanup errors and BaseExceptions, and raises
        # them even when an outer cancellation came at the same time.
        error: BaseException | None = None
        try:
            async with create_task_group() as self.tg:
                self.spawner = WorkerSpawner(
                    self.tg, self._work, "plait.bounded_map worker"
                )
                for _ in range(self.first_workers):
                    self.spawner.spawn()
        except BaseException as exc:
            error = exc
        try:
            await self.source.aclose()
        except Exception as exc:
            error = _with_failure(error, exc)
        except BaseException as exc:
            # A cancellation met here does not replace the error in flight.
            if error is None or not is_cancelled(exc):
                raise
        if error is not None or self.misuse is not None:
            outcome = _outcome(error, self.misuse)
            if outcome is error:
                raise outcome
            raise outcome from None
        return _trim_unpulled(self.results)

    async def _work(self) -> None:
        """Pull an item, call fn, store its result; again, until told to stop.

        The one worker loop, whatever the options. The pull step is chosen per
        worker: it iterates the shared ``(index, item)`` iterator of sync
        items, and for async items an endless ``(None, None)`` that says
        "await the next pair". Options run through ``invoke`` when one is set, and the
        fuzzing hand-off sits before each call: each costs a pointer test per
        item when unused. What only matters when something goes wrong (fn not
        async, a lost call, more items than ``len()``) is checked on that
        path only.
        """
        results, fn, invoke, fuzz = self.results, self.fn, self.invoke, self.fuzz
        pairs, pull_async = self.pairs, self.source.pull_async
        spawner, limit = self.spawner, self.limit
        full, started_for = self.first_workers >= limit, self.started_for
        start = copy_context()
        # What fn last returned, for the misuse check on the failure path.
        aw: Any = NOT_CALLED
        failure: Exception | None = None  # an item's, on its way out
        try:
            if fuzz is not None:
                await fuzz("task_start")
            if self.stopped:  # failed before this worker first ran
                return
            for index, item in pairs if pairs is not None else repeat(_PULL):
                if index is None:  # async items: pull the next pair now
                    pair = await pull_async()
                    if pair is None:
                        return
                    index, item = pair
                if not full and index >= started_for:
                    full = spawner.grow(limit)
                try:
                    if fuzz is not None:
                        await fuzz("before_call")
                    if invoke is None:
                        aw = fn(item)
                        result = await aw
                    else:
                        result = await invoke(index, item)
                except Exception as exc:
                    if self._misused(exc, aw):
                        return
                    note_item(exc, "bounded_map", index, item)
                    if not self.return_exceptions or cancellation_pending():
                        self.stopped = True
                        failure = exc
                        raise
                    result = exc
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
        except Exception as exc:
            if exc is not failure:  # else the items iterable raised it
                note_items_error(exc, "bounded_map", self.source.iterator)
                self.stopped = True
            self.tg.keep(exc)
            raise
        except BaseException as exc:
            if is_cancelled(exc) and not cancellation_pending():
                self.stopped = True
                lost = lost_call_error("bounded_map")
                self.tg.keep(lost)
                raise lost from exc
            self.tg.keep(exc)
            raise
        finally:
            spawner.exited()

    def _misused(self, exc: Exception, returned: object) -> bool:
        """Stop the map if *exc* means fn is not async; tell whether it did."""
        misuse = misuse_error("bounded_map", self.fn, exc, returned)
        if misuse is None:
            return False
        if self.misuse is None:
            self.misuse = misuse
        self.stopped = True
        self.tg.cancel_scope.cancel()
        return True


def _with_failure(error: BaseException | None, failure: Exception) -> BaseException:
    """Return what the map raises: *error* (if any) and *failure* together."""
    if error is None or is_cancelled(error):
        return ExceptionGroup("bounded_map(): closing items failed", [failure])
    if is_exception_group(error):
        return error.derive([*error.exceptions, failure])
    return BaseExceptionGroup("bounded_map(): closing items failed", [error, failure])


def _outcome(error: BaseException | None, misuse: TypeError | None) -> BaseException:
    """Return what the map raises for the task group's *error* and *misuse*.

    Failures come in one group named after the map, without the
    cancellations; a cancellation with no failure is raised as it is;
    misuse with no failure is raised bare, as a TypeError at the call.
    """
    if is_exception_group(error):
        failures = non_cancel_subgroup(error)
        if failures is not None:
            found = list(failures.exceptions)
            if misuse is not None:
                return BaseExceptionGroup(
                    "bounded_map(): fn is not async", [misuse, *found]
                )
            count = len(found)
            plural = "s" if count > 1 else ""
            return BaseExceptionGroup(
                f"bounded_map(): {count} call{plural} failed", found
            )
    if misuse is not None and (error is None or is_cancelled(error)):
        return misuse
    assert error is not None
    return error


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
