"""``imap``: stream fn's results with at most ``limit`` items outstanding."""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, TypeVar, overload

from .._core._checks import check_bool, check_int, check_positive_int
from .._core._observers import Observer, check_observers, item_hooks, observed_block
from ._call import check_fn, make_invoke
from ._items import ItemSource
from ._mapped_stream import MappedStream
from ._ratelimit import RateLimiter
from ._retry import RetryPolicy

T = TypeVar("T")
R = TypeVar("R")


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
    observer: Observer | Iterable[Observer] | None = None,
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
    observer: Observer | Iterable[Observer] | None = None,
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
    observer: Observer | Iterable[Observer] | None = None,
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
    observer: Observer | Iterable[Observer] | None = None,
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
    observer: Observer | Iterable[Observer] | None = None,
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
    observer: Observer | Iterable[Observer] | None = None,
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
    be read before it pulls the next item). Several tasks may read the same
    results: each result goes to one of them, and all of them finish.

    With ``ordered=True`` results come in input order (like Rust's
    ``buffered(n)``: a slow item holds back the ones after it); with
    ``ordered=False`` as they complete (``buffer_unordered(n)``).

    When an item fails (without ``return_exceptions``) no new items are
    pulled; the ordered iterator first delivers every earlier result and then
    raises the item's exception, the unordered one raises it at once; after
    that the iterator is finished. The exception carries a note naming the
    item and leaves the block as itself, not wrapped in a group. An error
    raised by ``items`` itself is raised the same way (after every earlier
    result, in ordered mode) even with ``return_exceptions``: it is no item's
    result. Each call of fn sees the caller's context, as in ``bounded_map``.

    Leaving the block, early or not, stops the pulling, cancels what is still
    in flight and waits for it; an async generator given as ``items`` is then
    closed. No failure is lost on the way out, and unread results are
    dropped. A failure the iterator had not raised yet (the block left
    before reaching it, or a second failure after the first) and an
    ``Exception`` fn raises while the block closes (a call's cleanup failing
    as it is cancelled) leave the ``async with`` in the ``ExceptionGroup``
    of the calls' task group, or with the block's own exception in one
    ``ExceptionGroup``, the block's first. An error closing ``items`` alone
    (the block ended cleanly and nothing else failed) leaves as itself, as
    an error in the block does; beside other errors it leaves last in one
    ``ExceptionGroup`` with them (the block's exception, or the group of
    the failures). ``except*`` catches each in every case. The block can be
    entered once (a second ``async with`` raises ``RuntimeError``).

    Cancelled from outside, the block propagates the cancellation, unless a
    call failed meanwhile (as the cancellation came, or in its cleanup): then
    the ``ExceptionGroup`` of those failures leaves instead, as from an anyio
    task group. A ``BaseException`` from fn that is not a cancellation
    cancels the block and leaves in a ``BaseExceptionGroup``. A call whose
    task is cancelled outside any cancel scope (asyncio's ``Task.cancel()``
    on a worker) stops the pulling like a failure, and a ``RuntimeError``
    comes in its result's place.

    Args:
        fn: an async function taking one item.
        items: an iterable or async iterable, pulled lazily.
        limit: the most calls of fn in flight at once (a positive int).
        buffer: how many more items may be pulled and not yet read, beyond
            ``limit`` (an int >= 0; ``None``: as many as ``limit``).
        ordered: deliver in input order (default) or in completion order.
        return_exceptions: deliver an item's ``Exception`` as its result
            (one raised while the block closes or is cancelled is a failure).
        with_index: deliver ``(index, result)`` pairs.
        timeout: seconds allowed per attempt of each call.
        retry: a ``RetryPolicy`` for each item.
        rate: calls of fn per second (retries included), or a RateLimiter.
        observer: a ``plait.Observer`` (or several) told of the progress, as
            in ``bounded_map``: ``on_open`` when the block is entered, the
            events of each item pulled, ``on_close`` when the block ends.

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
    limit = check_positive_int("imap()", "limit", limit)
    if buffer is None:
        buffer = limit
    else:
        buffer = check_int("imap()", "buffer", buffer, minimum=0)
    check_bool("imap()", "ordered", ordered)
    check_bool("imap()", "return_exceptions", return_exceptions)
    check_bool("imap()", "with_index", with_index)
    observers = check_observers("imap()", observer)
    source = ItemSource("imap", items)
    hooks = item_hooks("imap", observers, source.length)
    invoke = make_invoke(
        "imap", fn, timeout=timeout, retry=retry, rate=rate, hooks=hooks
    )
    stream = MappedStream(
        fn, source, limit, buffer, invoke, ordered, return_exceptions, with_index
    )
    return stream if hooks is None else observed_block(hooks, stream)
