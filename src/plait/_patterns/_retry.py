"""Deadline-aware retries with exponential backoff and jitter."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar, TypeVarTuple, Unpack, cast

from anyio import current_time, sleep

from .._core._awaitables import is_awaitable, raise_not_awaitable, short_repr
from .._core._checks import (
    check_callable,
    check_fraction,
    check_number,
    check_positive_int,
    check_seconds,
    fail,
)
from .._core._deadlines import effective_deadline
from .._core._fuzz import current_fuzz_hook
from .._core._observers import ItemEvent, ItemHooks
from .._core._random import plait_random

T = TypeVar("T")
PosArgsT = TypeVarTuple("PosArgsT")

RetryOn: TypeAlias = (
    type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]
)
"""Which failures ``retry`` retries: an exception class, a tuple of them, or a
predicate taking the exception."""
RetryHook: TypeAlias = Callable[[ItemEvent], object]
"""What ``RetryPolicy(on_retry=...)`` takes: a callable given an ``ItemEvent``
before each pause between attempts."""

logger = logging.getLogger("plait")


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a failing call.

    The delay before retry *n* (``n = 1`` after the first failure) is
    ``min(max_delay, base_delay * multiplier ** (n - 1))``, then shortened by
    up to ``jitter`` of itself: with ``jitter=0.1`` it is drawn uniformly from
    ``[0.9 * d, d]``. ``jitter=0`` gives exact delays; ``jitter=1`` is "full
    jitter" (anywhere from 0 to ``d``), which spreads a thundering herd best.
    The draw comes from plait's one random source, which ``plait.testing``
    seeds, so a test run replays exactly.

    Only an ``Exception`` matching ``retry_on`` is retried; cancellation,
    ``KeyboardInterrupt`` and other ``BaseException``\\s never are. Delays run
    on the event loop's clock, so virtual time in tests skips them.

    Retries are visible: each logs a DEBUG line on the ``plait`` logger and
    calls ``on_retry``; running out of attempts logs an INFO line, and the
    exception that leaves carries a note with the attempts made and the time
    they took (``gave up after 3 attempts over 1.2s``).

    Attributes:
        attempts: calls in total, the first included (>= 1). Default 3.
        base_delay: seconds before the first retry (>= 0). Default 0.1.
        max_delay: cap on any one delay (>= base_delay). Default 10.0.
        multiplier: growth of the delay per retry (>= 1). Default 2.0.
        jitter: fraction in [0, 1] by which a delay may be shortened at
            random. Default 0.1.
        retry_on: exception classes to retry, or a predicate taking the
            exception. Default ``(Exception,)``: every error.
        on_retry: called with an ``ItemEvent`` before each retry's delay:
            the attempt that failed, its ``error``, the ``delay``, and the
            time ``elapsed`` since the first attempt began (an
            ``Observer``'s ``on_retry`` fits). It runs in the retrying task;
            what it raises is logged and ignored. Default ``None``.

    Example:
        >>> import plait
        >>> policy = plait.RetryPolicy(attempts=4, base_delay=0.1, jitter=0)
        >>> [policy.backoff(n) for n in (1, 2, 3)]
        [0.1, 0.2, 0.4]
    """

    attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.1
    retry_on: RetryOn = (Exception,)
    on_retry: RetryHook | None = None

    def __post_init__(self) -> None:
        call = "RetryPolicy()"
        check_positive_int(call, "attempts", self.attempts)
        base_delay = check_seconds(call, "base_delay", self.base_delay)
        check_number(
            call,
            "max_delay",
            self.max_delay,
            minimum=base_delay,
            unit="a number of seconds",
        )
        check_number(call, "multiplier", self.multiplier, minimum=1.0)
        check_fraction(call, "jitter", self.jitter)
        _check_retry_on(self.retry_on)
        if self.on_retry is not None:
            check_callable(call, "on_retry", self.on_retry, what="a callable or None")

    def backoff(self, retry_number: int) -> float:
        """Return the delay before retry *retry_number* (1-based), without jitter."""
        exponent = max(0, retry_number - 1)
        try:
            delay = self.base_delay * self.multiplier**exponent
        except OverflowError:
            delay = math.inf
        return min(self.max_delay, delay)

    def delay(self, retry_number: int) -> float:
        """Return the delay before retry *retry_number*, with jitter drawn."""
        delay = self.backoff(retry_number)
        if self.jitter:
            delay *= 1.0 - self.jitter * plait_random().random()
        return delay

    def retries(self, exc: BaseException) -> bool:
        """Tell whether *exc* is an error this policy retries."""
        if not isinstance(exc, Exception):
            return False
        retry_on = self.retry_on
        if isinstance(retry_on, type | tuple):
            return isinstance(exc, retry_on)
        return bool(retry_on(exc))


def _check_retry_on(retry_on: object) -> None:
    classes = (
        cast("tuple[object, ...]", retry_on)
        if isinstance(retry_on, tuple)
        else (retry_on,)
    )
    if isinstance(retry_on, type | tuple):
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, Exception)):
                fail(
                    "RetryPolicy()",
                    "retry_on",
                    "Exception subclasses (cancellation and other "
                    "BaseExceptions are never retried)",
                    cls,  # pyright: ignore[reportUnknownArgumentType]
                    error=TypeError,
                )
    elif not callable(retry_on):
        fail(
            "RetryPolicy()",
            "retry_on",
            "an exception class, a tuple of them, or a predicate",
            retry_on,
            error=TypeError,
        )


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(RetryPolicy))
_DEFAULT_POLICY = RetryPolicy()


def check_retry(call: str, retry: object) -> RetryPolicy | None:
    """Return *retry* if it is a RetryPolicy or None, else raise naming it."""
    if retry is None or isinstance(retry, RetryPolicy):
        return retry
    fail(call, "retry", "a RetryPolicy or None", retry, error=TypeError)


def resolve_policy(policy: RetryPolicy | None, fields: dict[str, Any]) -> RetryPolicy:
    """Return *policy* with *fields* applied, or a new policy from *fields*."""
    if not fields:  # the common call: nothing to build or check again
        if policy is None:
            return _DEFAULT_POLICY
        if isinstance(policy, RetryPolicy):
            return policy
    if policy is not None and not isinstance(policy, RetryPolicy):
        fail("retry()", "policy", "a RetryPolicy or None", policy, error=TypeError)
    unknown = fields.keys() - _FIELD_NAMES
    if unknown:
        raise TypeError(f"unknown RetryPolicy field(s): {', '.join(sorted(unknown))}")
    if policy is None:
        return RetryPolicy(**fields)
    return dataclasses.replace(policy, **fields)


async def pause_before_retry(
    policy: RetryPolicy,
    attempt: int,
    exc: Exception,
    *,
    started_at: float | None = None,
    source: str = "retry",
    index: int | None = None,
    item: object = None,
    hooks: ItemHooks | None = None,
) -> None:
    """Sleep before the retry that follows failed *attempt*, or re-raise *exc*.

    Re-raises at once when the policy has no attempts left, does not retry
    *exc*, or the enclosing deadline would pass before the next attempt could
    start (at once when the caller is being cancelled: an error then, its
    cleanup failing, is never retried): the caller then sees the real error,
    not a TimeoutError. Giving up after retries notes on *exc* how many
    attempts were made over how long (since *started_at*, on the loop's
    clock) and logs it at INFO; a retry logs at DEBUG and calls the policy's
    ``on_retry`` and *hooks*. *source*, *index* and *item* say what is
    retried, for those.
    """
    if attempt >= policy.attempts or not policy.retries(exc):
        if attempt > 1:  # else nothing was retried: no note, no log line
            why = "" if attempt >= policy.attempts else ": retry_on does not retry it"
            _gave_up(exc, attempt, started_at, why, source, index, item)
        raise exc
    delay = policy.delay(attempt)
    now = current_time()
    deadline = effective_deadline()
    if deadline is not None and now + delay >= deadline:
        _gave_up(
            exc,
            attempt,
            started_at,
            f": the next attempt (in {delay:.3g}s) could not start before the deadline",
            source,
            index,
            item,
        )
        raise exc
    elapsed = None if started_at is None else now - started_at
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "plait: %s: attempt %d of %d failed (%r); retrying in %.3gs",
            _what(source, index, item),
            attempt,
            policy.attempts,
            exc,
            delay,
        )
    if policy.on_retry is not None:
        event = ItemEvent(
            source,
            index,
            item,
            attempt,
            now,
            None if hooks is None else hooks.total,
            error=exc,
            delay=delay,
            elapsed=elapsed,
            stream=0 if hooks is None else hooks.stream,
        )
        try:
            policy.on_retry(event)
        except Exception:
            logger.exception("plait: on_retry %r failed", policy.on_retry)
    if hooks is not None:
        hooks.retrying(index, item, attempt, exc, delay, elapsed)
    await sleep(delay)


def _gave_up(
    exc: Exception,
    attempt: int,
    started_at: float | None,
    why: str,
    source: str,
    index: int | None,
    item: object,
) -> None:
    """Note on *exc*, and log at INFO, that retrying it stopped after *attempt*."""
    over = "" if started_at is None else f" over {current_time() - started_at:.3g}s"
    attempts = f"{attempt} attempt{'s' if attempt != 1 else ''}"
    exc.add_note(f"plait.retry gave up after {attempts}{over}{why}")
    logger.info(
        "plait: %s: gave up after %s%s%s: %r",
        _what(source, index, item),
        attempts,
        over,
        why,
        exc,
    )


def _what(source: str, index: int | None, item: object) -> str:
    """Say what is retried: ``bounded_map item 3 ('a')`` or ``retry of fetch``."""
    if index is not None:
        return f"{source} item {index} ({short_repr(item)})"
    name = getattr(item, "__qualname__", None)
    return f"{source} of {name or short_repr(item)}"


async def retry(
    fn: Callable[[Unpack[PosArgsT]], Awaitable[T]],
    *args: *PosArgsT,
    policy: RetryPolicy | None = None,
    **policy_fields: Any,
) -> T:
    """Call ``await fn(*args)`` until it succeeds or the policy gives up.

    Args:
        fn: an async function (or any callable returning an awaitable); it is
            called afresh for every attempt.
        *args: positional arguments for *fn*.
        policy: a ``RetryPolicy``; defaults to ``RetryPolicy()``.
        **policy_fields: fields that override *policy*'s
            (``attempts=5``, ``base_delay=1`` ...).

    Returns:
        What the first successful attempt returned.

    Raises:
        Exception: the last attempt's error, unchanged, when attempts run out,
            the error is not one ``retry_on`` retries, or the enclosing
            deadline would pass before the next attempt could start.
            Cancellation is never retried: it propagates at once. An error
            raised while the caller is being cancelled (an attempt's cleanup
            failing) is raised, not retried, since no deadline is then left;
            the call ends as the cancellation only when nothing failed. One
            limit: asyncio's ``Task.cancel()`` outside any cancel scope
            leaves no trace once fn's cleanup has replaced the
            ``CancelledError`` with its own error, so that error is retried.
            ``KeyboardInterrupt`` and other ``BaseException``\\s propagate.

    Example:
        >>> import anyio, plait
        >>> calls = []
        >>> async def flaky() -> str:
        ...     calls.append(1)
        ...     if len(calls) < 3:
        ...         raise ConnectionError("try again")
        ...     return "ok"
        >>> anyio.run(lambda: plait.retry(flaky, attempts=3, base_delay=0))
        'ok'
        >>> len(calls)
        3
    """
    check_callable("retry()", "fn", fn, what="an async function")
    resolved = resolve_policy(policy, policy_fields)
    fuzz = current_fuzz_hook()
    attempt = 1
    started_at = current_time()
    while True:
        if fuzz is not None:
            await fuzz("before_call")
        try:
            made = fn(*args)
            if is_awaitable(made):
                return await made
        except Exception as exc:
            await pause_before_retry(
                resolved, attempt, exc, started_at=started_at, item=fn
            )
            attempt += 1
            continue
        # Misuse is not a failure to retry: report it at once.
        raise_not_awaitable("retry", "fn", fn, made)
