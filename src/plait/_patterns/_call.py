"""One call of fn for one item of a pool: its options, its misuse, its notes.

``bounded_map`` and ``imap`` call ``await fn(item)`` inline when no option is
set (no wrapper, scope or checkpoint per item); ``make_invoke`` builds the
wrapper that applies ``timeout``, ``retry`` and ``rate`` when one is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from anyio import current_time, fail_after

from .._core._awaitables import (
    NotAwaitableError,
    add_origin_note,
    is_awaitable,
    not_awaitable_error,
)
from .._core._checks import check_callable, check_optional_seconds
from .._core._observers import ItemHooks, outcome_of
from ._ratelimit import check_rate
from ._retry import check_retry, pause_before_retry

T = TypeVar("T")
R = TypeVar("R")

Invoke = Callable[[int, T], Awaitable[R]]

NOT_CALLED: Any = object()
"""What a worker holds as fn's last return value before fn was first called."""


def check_fn(pattern: str, fn: object) -> None:
    """Raise TypeError at the call if *fn* is not callable."""
    check_callable(f"{pattern}()", "fn", fn, what="an async function taking one item")


class FnMisuse(Exception):
    """fn returned something not awaitable, seen by ``make_invoke``'s wrapper.

    It carries the TypeError to report through the wrapper to the pool,
    past the retry policy (misuse is never retried). Only the pool's own
    wrapper raises it, so one raised inside fn can never be mistaken for it.
    """

    def __init__(self, error: NotAwaitableError) -> None:
        super().__init__(str(error))
        self.error = error


def misuse_error(
    pattern: str, fn: Callable[..., object], exc: Exception, returned: object
) -> NotAwaitableError | None:
    """Tell whether *exc*, raised by a call of fn, is fn's misuse; return its error.

    The one misuse check of the pools, made on the failure path only: the
    hot loop awaits what fn returned without checking it first, and awaiting
    something not awaitable raises TypeError. *returned* is what fn last
    returned (``NOT_CALLED`` before the first call; when fn itself raised,
    the previous item's awaitable): misuse only if it cannot be awaited.
    """
    if isinstance(exc, FnMisuse):
        return exc.error
    if (
        isinstance(exc, TypeError)
        and returned is not NOT_CALLED
        and not is_awaitable(returned)
    ):
        return not_awaitable_error(pattern, "fn", fn, returned)
    return None


def make_invoke(
    pattern: str,
    fn: Callable[[T], Awaitable[R]],
    *,
    timeout: object,
    retry: object,
    rate: object,
    hooks: ItemHooks | None = None,
) -> Invoke[T, R] | None:
    """Check the options; return a function running one item through them.

    ``None`` when no option is set and nobody observes: the pool then calls
    fn itself. Per attempt: wait for the rate limiter (outside the timeout),
    call fn, await it under the timeout; on an error the retry policy
    matches, back off (deadline-aware) and try again. With *hooks*, the
    item's events are reported on the way: pulled, each attempt started,
    each retry, and how it ended.
    """
    call = f"{pattern}()"
    seconds = check_optional_seconds(call, "timeout", timeout, finite=False)
    policy = check_retry(call, retry)
    limiter = check_rate(call, rate)
    if seconds is None and policy is None and limiter is None and hooks is None:
        return None

    async def invoke(index: int, item: T) -> R:
        if hooks is not None:
            # From here to the end nothing awaits outside the try below, so
            # every item reported pulled is reported ended, exactly once.
            hooks.pulled(index, item)
        watched = policy is not None or hooks is not None
        started_at = current_time() if watched else 0.0
        attempt = 0  # attempts begun
        try:
            while True:
                if limiter is not None:
                    await limiter.acquire()
                attempt += 1
                if hooks is not None:
                    hooks.started(index, item, attempt)
                returned: Any = NOT_CALLED
                try:
                    returned = fn(item)
                    if seconds is None:
                        result: R = await returned
                    else:
                        with fail_after(seconds):
                            result = await returned
                    break
                except Exception as exc:
                    misuse = misuse_error(pattern, fn, exc, returned)
                    if misuse is not None:
                        raise FnMisuse(misuse) from None
                    if isinstance(exc, TimeoutError) and seconds is not None:
                        _note_timeout(exc, pattern, seconds)
                    if policy is None:
                        raise
                    await pause_before_retry(
                        policy,
                        attempt,
                        exc,
                        started_at=started_at,
                        source=pattern,
                        index=index,
                        item=item,
                        hooks=hooks,
                    )
        except BaseException as exc:
            if hooks is not None:
                error = exc.error if isinstance(exc, FnMisuse) else exc
                hooks.ended(index, item, attempt, outcome_of(exc), error, started_at)
            raise
        if hooks is not None:
            hooks.ended(index, item, attempt, "succeeded", None, started_at)
        return result

    return invoke


def _note_timeout(exc: TimeoutError, pattern: str, seconds: float) -> None:
    note = f"{pattern}() timeout: the call took more than {seconds:g}s"
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def lost_call_error(pattern: str) -> RuntimeError:
    """The error for a worker cancelled outside any cancel scope.

    On asyncio a task cancelled with ``Task.cancel()`` (or a CancelledError
    fn raises itself while no scope is cancelled) ends that task without
    cancelling the task group, and anyio drops it; the item's result would
    be missing, so the call fails with this instead.
    """
    return RuntimeError(
        f"{pattern}(): a call of fn was cancelled outside any cancel scope "
        "(its task was cancelled directly, or fn raised CancelledError "
        "itself), so its result is missing"
    )


def note_item(exc: BaseException, pattern: str, index: int, item: object) -> None:
    """Note on *exc* which item of *pattern* it came from."""
    add_origin_note(exc, pattern, f"item {index}", item)
