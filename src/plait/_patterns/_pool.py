"""What ``bounded_map`` and ``imap`` share: pulling items and calling fn.

Both run a pool of at most ``limit`` workers that pull items lazily from one
iterator. Options that are not used cost nothing: ``make_invoke`` returns
``None`` and the workers call fn directly, with no wrapper, scope or extra
checkpoint per item.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sized,
)
from contextvars import copy_context
from typing import Any, Generic, TypeVar

from anyio import Lock, fail_after

from .._core._awaitables import (
    add_origin_note,
    is_awaitable,
    not_awaitable_error,
    short_repr,
)
from .._core._checks import (
    check_number,
    check_optional_seconds,
    check_positive_int,
    fail,
)
from .._core._fuzz import FuzzHook
from ._ratelimit import RateLimiter
from ._retry import RetryPolicy, pause_before_retry

T = TypeVar("T")
R = TypeVar("R")

Invoke = Callable[[T], Awaitable[R]]


def check_limit(pattern: str, limit: object) -> int:
    """Return *limit* if it is a positive int, else raise naming it."""
    return check_positive_int(f"{pattern}()", "limit", limit)


def check_fn(pattern: str, fn: object) -> None:
    """Raise TypeError at the call if *fn* is not callable."""
    if not callable(fn):
        fail(
            f"{pattern}()",
            "fn",
            "an async function taking one item",
            short_repr(fn),
            error=TypeError,
        )


def check_timeout(pattern: str, timeout: object) -> float | None:
    """Return *timeout* (seconds per attempt; ``inf`` for none) or raise."""
    return check_optional_seconds(f"{pattern}()", "timeout", timeout, finite=False)


def check_retry(pattern: str, retry: object) -> RetryPolicy | None:
    """Return *retry* if it is a RetryPolicy or None, else raise naming it."""
    if retry is None or isinstance(retry, RetryPolicy):
        return retry
    fail(f"{pattern}()", "retry", "a RetryPolicy or None", retry, error=TypeError)


def check_rate(pattern: str, rate: object) -> RateLimiter | None:
    """Return a RateLimiter for *rate* (calls per second, or a limiter)."""
    if rate is None or isinstance(rate, RateLimiter):
        return rate
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        rule = "calls per second or a RateLimiter"
        fail(f"{pattern}()", "rate", rule, rate, error=TypeError)
    return RateLimiter(
        check_number(f"{pattern}()", "rate", rate, positive=True, unit="a number")
    )


class FnMisuse(Exception):
    """fn returned something not awaitable: misuse, reported bare at the call.

    Only raised by a pattern's own check of its fn, and always caught by that
    same pattern, so one nested inside fn can never be mistaken for it.
    """

    def __init__(self, pattern: str, fn: Callable[..., object], result: object):
        super().__init__(pattern)
        self.error = not_awaitable_error(pattern, "fn", fn, result)


def make_invoke(
    pattern: str,
    fn: Callable[[T], Awaitable[R]],
    *,
    timeout: float | None,
    retry: RetryPolicy | None,
    limiter: RateLimiter | None,
    fuzz: FuzzHook | None,
) -> Invoke[T, R] | None:
    """Return a function running one item through the options, or ``None``.

    Per attempt: wait for the rate limiter (outside the timeout), call fn,
    await it under the timeout; on an error the retry policy matches, back
    off (deadline-aware) and try again.
    """
    if timeout is None and retry is None and limiter is None and fuzz is None:
        return None

    async def invoke(item: T) -> R:
        attempt = 1
        while True:
            if limiter is not None:
                await limiter.acquire()
            if fuzz is not None:
                await fuzz("before_call")
            try:
                result = await _call_once(pattern, fn, item, timeout)
            except FnMisuse:
                raise
            except Exception as exc:
                if retry is None:
                    raise
                await pause_before_retry(retry, attempt, exc)
                attempt += 1
                continue
            if fuzz is not None:
                await fuzz("after_call")
            return result

    return invoke


async def _call_once(
    pattern: str, fn: Callable[[T], Awaitable[R]], item: T, timeout: float | None
) -> R:
    aw = fn(item)
    if not is_awaitable(aw):
        raise FnMisuse(pattern, fn, aw)
    if timeout is None:
        return await aw
    try:
        with fail_after(timeout):
            return await aw
    except TimeoutError as exc:
        exc.add_note(f"{pattern}() timeout: the call took more than {timeout:g}s")
        raise


class ItemSource(Generic[T]):
    """Items pulled lazily, one puller at a time, from a sync or async iterable.

    An error raised by the iterable itself carries a note and propagates like
    a failure of fn.
    """

    def __init__(self, pattern: str, items: Iterable[T] | AsyncIterable[T]) -> None:
        self.pattern = pattern
        self.pulled = 0
        self.exhausted = False
        self._sync: Iterator[T] | None = None
        self._async: AsyncIterator[T] | None = None
        self.length: int | None = None  # known up front for sized iterables
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
            self._lock = Lock(fast_acquire=True)
        elif isinstance(items, Iterable):
            self._sync = iter(items)
            if isinstance(items, Sized):
                self.length = len(items)
        else:
            raise TypeError(
                f"{pattern}() items must be an iterable or async iterable, "
                f"got {short_repr(items)}"
            )

    def sync_pairs(self) -> Iterator[tuple[int, T]] | None:
        """Return one shared ``(index, item)`` iterator, or None for async items.

        The fast path for sync iterables: workers call ``next(pairs, None)``
        themselves (atomic between checkpoints) and note errors themselves.
        """
        if self._sync is None:
            return None
        return enumerate(self._sync)

    @property
    def iterator(self) -> object:
        """The iterator items are pulled from (for error notes)."""
        return self._sync if self._sync is not None else self._async

    @property
    def is_async(self) -> bool:
        """True when items come from an async iterable."""
        return self._async is not None

    def pull_sync(self) -> tuple[int, T] | None:
        """Return the next ``(index, item)`` of a sync iterable, or None."""
        assert self._sync is not None
        if self.exhausted:
            return None
        try:
            item = next(self._sync)
        except StopIteration:
            self.exhausted = True
            return None
        except Exception as exc:
            self.exhausted = True
            note_items_error(exc, self.pattern, self._sync)
            raise
        index = self.pulled
        self.pulled = index + 1
        return index, item

    async def pull_async(self) -> tuple[int, T] | None:
        """Return the next ``(index, item)`` of an async iterable, or None."""
        assert self._async is not None
        async with self._lock:
            if self.exhausted:
                return None
            try:
                item = await anext(self._async)
            except StopAsyncIteration:
                self.exhausted = True
                return None
            except Exception as exc:
                self.exhausted = True
                note_items_error(exc, self.pattern, self._async)
                raise
            index = self.pulled
            self.pulled = index + 1
            return index, item

    async def aclose(self) -> None:
        """Close an async generator given as items (a no-op otherwise)."""
        aclose = getattr(self._async, "aclose", None)
        if aclose is not None:
            await aclose()


def starting_workers(limit: int, length: int | None) -> int:
    """How many workers a pool starts with.

    For items of known length, as many as it has items (at most limit):
    starting them at once measured about a fifth faster at limit 1000 than
    growing the pool one worker per item pulled. For items of unknown
    length, one. Either way the pool then grows by one worker per item
    pulled past that length (all of them, for unknown length), up to limit,
    so a short generator starts few tasks, and a list that grows while it
    is mapped (or a ``len()`` that says too few) still gets ``limit``.
    """
    return 1 if length is None else max(1, min(limit, length))


class WorkerSpawner:
    """Starts a pool's worker tasks, each in a fresh copy of the caller's context.

    Under an eager task factory (asyncio 3.12+) a new task runs inside
    ``create_task`` until it first suspends, and a worker that starts the next
    worker would nest one call stack per worker. Starts requested while one is
    under way are queued and made by the outer call instead, in a loop.
    """

    __slots__ = ("_context", "_make", "_name", "_queued", "_spawning", "_tg", "workers")

    def __init__(self, tg: Any, make: Callable[[], Any], name: str) -> None:
        self._tg = tg
        self._make = make
        self._name = name  # given, so anyio need not derive one per spawn
        self._context = copy_context()
        self._queued = 0
        self._spawning = False
        self.workers = 0

    def spawn(self) -> None:
        """Start one more worker (counted in ``workers`` at once)."""
        self.workers += 1
        if self._spawning:
            self._queued += 1
            return
        self._spawning = True
        try:
            self._start_one()
            while self._queued:
                self._queued -= 1
                self._start_one()
        finally:
            self._spawning = False

    def grow(self, limit: int) -> bool:
        """Start one more worker unless *limit* run; return True if full.

        A pool that is full stays full (a retiring worker hands its place
        straight to a new one), so callers stop asking once told so.
        """
        if self.workers < limit:
            self.spawn()
            return False
        return True

    def _start_one(self) -> None:
        context = self._context.copy()
        self._tg.create_task(self._make(), name=self._name, context=context)

    def exited(self) -> None:
        """Count a worker that has finished."""
        self.workers -= 1


def lost_call_error(pattern: str) -> RuntimeError:
    """The error for a worker cancelled natively, outside any cancel scope.

    On asyncio a task cancelled with ``Task.cancel()`` (or a CancelledError
    fn raises itself) ends that task without cancelling the task group, and
    anyio drops it; the item's result is gone, so the call must not succeed.
    """
    return RuntimeError(
        f"{pattern}(): a call of fn was cancelled outside any cancel scope "
        "(its task was cancelled directly, or fn raised CancelledError "
        "itself), so its result is missing"
    )


def note_item(exc: BaseException, pattern: str, index: int, item: object) -> None:
    """Note on *exc* which item of *pattern* it came from."""
    add_origin_note(exc, pattern, f"item {index}", item)


def note_items_error(exc: BaseException, pattern: str, items: object) -> None:
    """Note on *exc* that the items iterable of *pattern* raised it."""
    add_origin_note(exc, pattern, "items iterable", items)
