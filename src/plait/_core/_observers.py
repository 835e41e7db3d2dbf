"""One vocabulary of events for the work plait runs: items, calls, services.

An ``Observer`` has one no-op method per kind of event; a subclass overrides
the ones it wants. The same observer can watch a ``bounded_map`` (or
``imap``, ``as_completed``) and a ``Supervisor``: the hooks they share mean
the same thing (``on_start``: an attempt or a run begins; ``on_failure``: it
ended by raising; ``on_exit``: it ended, whatever the outcome), so one
logging or tracing observer serves both.

A stream of items sees, per item: ``on_pull``, then ``on_start`` for each
attempt with ``on_retry`` between two attempts, then ``on_failure`` if it
failed, then exactly one ``on_exit`` whose ``outcome`` is ``'succeeded'``,
``'failed'`` or ``'cancelled'``. Around them, ``on_open`` (with the total,
when the items have a ``len()``) and ``on_close`` come once per stream.

Hooks are called synchronously, in the task doing the work, so they must be
quick; an observer that raises is logged on the ``plait`` logger and
otherwise ignored: instrumentation never breaks the work.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import AsyncGenerator, Awaitable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar, cast

from anyio import current_time

from ._cancellation import is_cancelled
from ._checks import fail

T = TypeVar("T")

logger = logging.getLogger("plait")


@dataclasses.dataclass(slots=True)
class ItemEvent:
    """Something that happened to an item of a stream, or to a retried call.

    Every observer of a stream gets the same event object: read it, do not
    change it. (Unlike ``ServiceEvent`` it is not frozen: one is made per
    item and hook observed, and a frozen dataclass is several times slower
    to make.)

    Attributes:
        source: who reports it: ``'bounded_map'``, ``'imap'``,
            ``'as_completed'``, or ``'retry'`` (a call retried by
            ``plait.retry`` or a pattern's ``RetryPolicy``).
        index: the item's position in the input (0-based); ``None`` for
            ``on_open`` and ``on_close``, and for ``plait.retry``.
        item: the item (for ``as_completed``, the awaitable; for
            ``plait.retry``, the function retried); ``None`` for
            ``on_open`` and ``on_close``.
        attempt: the attempt it concerns, 1 for the first call; 0 before
            the first (``on_pull``, ``on_open``, ``on_close``).
        time: when, on the event loop's clock.
        total: how many items there are, when the input has a ``len()``.
        error: the exception, for ``on_retry`` and ``on_failure`` (and
            ``on_exit`` after a failure).
        delay: seconds before the next attempt, for ``on_retry``.
        outcome: for ``on_exit`` and ``on_close``: ``'succeeded'``,
            ``'failed'`` or ``'cancelled'``.
        elapsed: seconds since the item's first attempt began, for
            ``on_retry``, ``on_failure`` and ``on_exit``, where known.
        stream: a number unique to the call (the ``bounded_map``, the
            ``imap`` block) the event belongs to, so that an observer shared
            by calls running at once tells their items apart; 0 for a
            ``plait.retry`` of its own.

    Example:
        >>> import plait
        >>> event = plait.ItemEvent("bounded_map", 3, "a", attempt=1, time=0.0)
        >>> event.source, event.index, event.outcome
        ('bounded_map', 3, None)
    """

    source: str
    index: int | None
    item: object
    attempt: int
    time: float
    total: int | None = None
    error: BaseException | None = None
    delay: float | None = None
    outcome: str | None = None
    elapsed: float | None = None
    stream: int = 0


class Observer:
    """Receives events from plait's patterns and supervisors; override what you need.

    Streams (``bounded_map``, ``imap``, ``as_completed``, their ``observer``
    argument) call ``on_open``, ``on_pull``, ``on_start``, ``on_retry``,
    ``on_failure``, ``on_exit`` and ``on_close`` with an ``ItemEvent``.
    Supervisors (their ``observers`` argument) call ``on_start``,
    ``on_ready``, ``on_failure``, ``on_exit``, ``on_restart`` and
    ``on_give_up`` with a ``ServiceEvent``. A hook shared by both gets either;
    ``isinstance`` tells them apart when it matters.

    Every hook is called synchronously, in the task doing the work, in the
    order things happen. An observer that raises is logged and otherwise
    ignored.

    Example:
        >>> import anyio, plait
        >>> class Count(plait.Observer):
        ...     def __init__(self) -> None:
        ...         self.outcomes: list[str | None] = []
        ...     def on_exit(self, event: plait.ItemEvent) -> None:
        ...         self.outcomes.append(event.outcome)
        >>> async def double(x: int) -> int:
        ...     return 2 * x
        >>> count = Count()
        >>> async def main() -> list[int]:
        ...     return await plait.bounded_map(double, [1, 2], limit=2, observer=count)
        >>> anyio.run(main)
        [2, 4]
        >>> count.outcomes
        ['succeeded', 'succeeded']
    """

    def on_open(self, event: ItemEvent) -> None:
        """Call when a stream of items opens (``event.total``: how many, if known)."""

    def on_pull(self, event: ItemEvent) -> None:
        """Call when an item is pulled from the input."""

    def on_start(self, event: Any) -> None:
        """Call when an attempt of an item's call, or a run of a service, begins."""

    def on_retry(self, event: ItemEvent) -> None:
        """Call when an attempt failed with ``event.error`` and will be retried.

        The next attempt begins after ``event.delay`` seconds.
        """

    def on_failure(self, event: Any) -> None:
        """Call when an item failed for good, or a service's run raised."""

    def on_exit(self, event: Any) -> None:
        """Call when an item, or a service's run, ended (after ``on_failure``).

        ``event.outcome`` says how: for an item ``'succeeded'``, ``'failed'``
        or ``'cancelled'``; for a service's run ``'exited'``, ``'failed'`` or
        ``'cancelled'``.
        """

    def on_close(self, event: ItemEvent) -> None:
        """Call when a stream of items ends, with its ``outcome``."""

    def on_ready(self, event: Any) -> None:
        """Call when a service's run reports ready."""

    def on_restart(self, event: Any) -> None:
        """Call when a supervisor decides a restart, before its backoff delay."""

    def on_give_up(self, event: Any) -> None:
        """Call when a supervisor's restart intensity is exceeded and it stops."""


def check_observers(call: str, observer: object) -> tuple[Observer, ...]:
    """Return the observers *observer* names (one, several, or none), or raise."""
    if observer is None:
        return ()
    if isinstance(observer, Observer):
        return (observer,)
    rule = "a plait.Observer, a sequence of them, or None"
    if not isinstance(observer, Iterable) or isinstance(observer, str | bytes):
        fail(call, "observer", rule, observer, error=TypeError)
    several = tuple(cast("Iterable[object]", observer))
    for one in several:
        if not isinstance(one, Observer):
            fail(call, "observer", rule, one, error=TypeError)
    return cast("tuple[Observer, ...]", several)


def notify(observers: Iterable[Observer], hook: str, event: Any) -> None:
    """Call *hook* on every observer; log and swallow what an observer raises."""
    for observer in observers:
        try:
            getattr(observer, hook)(event)
        except Exception:
            logger.exception("plait: observer %r failed in %s", observer, hook)


def _listening(observers: tuple[Observer, ...], hook: str) -> tuple[Observer, ...]:
    """Return the observers among *observers* whose *hook* does something."""
    plain = getattr(Observer, hook)
    return tuple(one for one in observers if getattr(type(one), hook) is not plain)


_streams = itertools.count(1)


class ItemHooks:
    """One stream's observers, ready to call: a hook nobody overrides costs nothing.

    Patterns hold ``None`` instead of an ``ItemHooks`` when there is no
    observer, so the only cost per item of the option unused is one pointer
    test. An event is built (and the clock read) only for a hook some
    observer overrides.
    """

    __slots__ = (
        "_close",
        "_exit",
        "_failure",
        "_open",
        "_pull",
        "_retry",
        "_start",
        "source",
        "stream",
        "total",
    )

    def __init__(
        self, source: str, observers: tuple[Observer, ...], total: int | None
    ) -> None:
        self.source = source
        self.total = total
        self.stream = next(_streams)
        self._open = _listening(observers, "on_open")
        self._pull = _listening(observers, "on_pull")
        self._start = _listening(observers, "on_start")
        self._retry = _listening(observers, "on_retry")
        self._failure = _listening(observers, "on_failure")
        self._exit = _listening(observers, "on_exit")
        self._close = _listening(observers, "on_close")

    def _event(
        self,
        index: int | None,
        item: object,
        attempt: int,
        now: float,
        error: BaseException | None = None,
        delay: float | None = None,
        outcome: str | None = None,
        elapsed: float | None = None,
    ) -> ItemEvent:
        return ItemEvent(
            self.source,
            index,
            item,
            attempt,
            now,
            self.total,
            error,
            delay,
            outcome,
            elapsed,
            self.stream,
        )

    def opened(self) -> None:
        """The stream opens."""
        if self._open:
            notify(self._open, "on_open", self._event(None, None, 0, current_time()))

    def pulled(self, index: int, item: object) -> None:
        """Item *index* was pulled."""
        if self._pull:
            event = self._event(index, item, 0, current_time())
            notify(self._pull, "on_pull", event)

    def started(self, index: int | None, item: object, attempt: int) -> None:
        """Attempt *attempt* of item *index* begins."""
        if self._start:
            event = self._event(index, item, attempt, current_time())
            notify(self._start, "on_start", event)

    def retrying(
        self,
        index: int | None,
        item: object,
        attempt: int,
        error: BaseException,
        delay: float,
        elapsed: float | None,
    ) -> None:
        """Attempt *attempt* failed with *error*; the next one in *delay* s."""
        if self._retry:
            event = self._event(
                index, item, attempt, current_time(), error, delay, None, elapsed
            )
            notify(self._retry, "on_retry", event)

    def ended(
        self,
        index: int | None,
        item: object,
        attempt: int,
        outcome: str,
        error: BaseException | None = None,
        began: float | None = None,
    ) -> None:
        """The item ended: ``on_failure`` first if it failed, then ``on_exit``.

        *attempt* is the number of attempts begun (0 if it was cancelled
        before its first); *began* is when the first began, for ``elapsed``.
        """
        failed = outcome == "failed" and self._failure
        if not (failed or self._exit):
            return
        now = current_time()
        elapsed = None if began is None else now - began
        event = self._event(index, item, attempt, now, error, None, outcome, elapsed)
        if failed:
            notify(self._failure, "on_failure", event)
        if self._exit:
            notify(self._exit, "on_exit", event)

    def closed(self, outcome: str) -> None:
        """The stream ended, *outcome* being how."""
        if self._close:
            event = self._event(None, None, 0, current_time(), outcome=outcome)
            notify(self._close, "on_close", event)


def item_hooks(
    source: str, observers: tuple[Observer, ...], total: int | None
) -> ItemHooks | None:
    """Return the hooks of *observers* for a stream, or None when there are none."""
    return ItemHooks(source, observers, total) if observers else None


def outcome_of(exc: BaseException) -> str:
    """Return the outcome of an item, or a stream, that *exc* ended."""
    return "cancelled" if is_cancelled(exc) else "failed"


async def observed_call(hooks: ItemHooks, call: Awaitable[T]) -> T:
    """Await *call* (a whole stream) between ``on_open`` and ``on_close``."""
    hooks.opened()
    try:
        result = await call
    except BaseException as exc:
        hooks.closed(outcome_of(exc))
        raise
    hooks.closed("succeeded")
    return result


@asynccontextmanager
async def observed_block(
    hooks: ItemHooks, block: AbstractAsyncContextManager[T]
) -> AsyncGenerator[T]:
    """Enter a stream's *block* between ``on_open`` and ``on_close``."""
    hooks.opened()
    try:
        async with block as value:
            yield value
    except BaseException as exc:
        hooks.closed(outcome_of(exc))
        raise
    hooks.closed("succeeded")
