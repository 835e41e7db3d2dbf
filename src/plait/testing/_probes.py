"""Invariant helpers: peak concurrency, leaked tasks, a timeline of task events."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterator,
)
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeAlias, TypeVar

import anyio

P = ParamSpec("P")
T = TypeVar("T")

TimelineEventKind: TypeAlias = Literal["start", "finish", "fail", "cancel", "mark"]
"""What a ``TimelineEvent`` records: a task's start, finish, failure or
cancellation, or a mark of your own."""


class ConcurrencyProbe:
    """Count how many tasks are inside a block at once, and the peak.

    Enter it (``with probe:`` or ``async with probe:``) around the work
    whose concurrency you bound, or hand ``probe.wrap(fn)`` to a pattern in
    place of ``fn``. A block left by an error or a cancellation counts as
    left.

    Attributes:
        current: tasks inside now.
        peak: most tasks inside at once so far.
        entries: how many times the block was entered.

    Example:
        >>> import anyio, plait
        >>> from plait.testing import ConcurrencyProbe, run
        >>> probe = ConcurrencyProbe()
        >>> async def work(n: int) -> int:
        ...     await anyio.sleep(1)
        ...     return n
        >>> async def main() -> list[int]:
        ...     return await plait.bounded_map(probe.wrap(work), range(10), limit=3)
        >>> run(main)
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        >>> probe.peak, probe.entries, probe.current
        (3, 10, 0)
    """

    __slots__ = ("current", "entries", "peak")

    def __init__(self) -> None:
        self.current: int = 0
        self.peak: int = 0
        self.entries: int = 0

    def __repr__(self) -> str:
        return (
            f"<ConcurrencyProbe current={self.current} peak={self.peak} "
            f"entries={self.entries}>"
        )

    def __enter__(self) -> ConcurrencyProbe:
        self.current += 1
        self.entries += 1
        self.peak = max(self.peak, self.current)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.current -= 1

    async def __aenter__(self) -> ConcurrencyProbe:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def wrap(
        self, fn: Callable[P, Awaitable[T]]
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """Return an async function that runs *fn* inside the probe."""

        @functools.wraps(fn)
        async def probed(*args: P.args, **kwargs: P.kwargs) -> T:
            with self:
                return await fn(*args, **kwargs)

        return probed


@contextlib.asynccontextmanager
async def assert_no_leaked_tasks() -> AsyncGenerator[None, None]:
    """Fail if a task created inside the block is still alive after it.

    Compares ``anyio.get_running_tasks()`` on entry and on exit, so it sees
    every task of the event loop, plait's and anyio's and raw ones alike.
    Structured code passes by construction; a pattern that parks a task in
    an outer task group, or spawns one with the backend's own API, fails.
    When the block itself raises, that error propagates unchecked.

    Raises:
        AssertionError: naming the leaked tasks.

    Example:
        >>> import anyio
        >>> from plait.testing import assert_no_leaked_tasks, run
        >>> async def main() -> str:
        ...     async with anyio.create_task_group() as outer:
        ...         try:
        ...             async with assert_no_leaked_tasks():
        ...                 outer.start_soon(anyio.sleep_forever, name="parked")
        ...         except AssertionError as exc:
        ...             outer.cancel_scope.cancel()
        ...             return str(exc)
        ...     return "no leak"
        >>> run(main)
        "1 task(s) created in the block outlived it: 'parked'"
    """
    before = {task.id for task in anyio.get_running_tasks()}
    yield
    leaked = [task for task in anyio.get_running_tasks() if task.id not in before]
    if leaked:
        names = ", ".join(repr(task.name) for task in leaked)
        raise AssertionError(
            f"{len(leaked)} task(s) created in the block outlived it: {names}"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One thing that happened to a tracked piece of work.

    Attributes:
        time: the event loop's time (exact under virtual time).
        seq: position in the timeline; orders events at the same instant.
        label: what was tracked.
        kind: ``'start'``, ``'finish'``, ``'fail'``, ``'cancel'`` or ``'mark'``.
        error: the exception, for ``'fail'`` and ``'cancel'``.
    """

    time: float
    seq: int
    label: str
    kind: TimelineEventKind
    error: BaseException | None = None


class Timeline:
    """Record when tracked work starts, finishes, fails or is cancelled.

    Track a block with ``with timeline.track("label"):`` or hand
    ``timeline.wrap(fn, "label")`` to a pattern; add a point event with
    ``timeline.mark("label")``. Events are in the order they happened, with
    the event loop's time, which under virtual time is exact. A failure is an
    ``Exception`` leaving the block; a cancellation is the backend's
    cancellation exception; other ``BaseException``\\s also count as
    ``'fail'``.

    Example:
        >>> import anyio, plait
        >>> from plait.testing import Timeline, run
        >>> timeline = Timeline()
        >>> async def job(delay: float) -> float:
        ...     await anyio.sleep(delay)
        ...     return delay
        >>> async def main() -> float:
        ...     return await plait.race(
        ...         timeline.wrap(job, "slow")(2.0), timeline.wrap(job, "fast")(0.5)
        ...     )
        >>> run(main)
        0.5
        >>> [(e.time, e.label, e.kind) for e in timeline.events if e.kind != "start"]
        [(0.5, 'fast', 'finish'), (0.5, 'slow', 'cancel')]
    """

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[TimelineEvent] = []

    def __repr__(self) -> str:
        return f"<Timeline events={len(self.events)}>"

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[TimelineEvent]:
        return iter(self.events)

    def _add(
        self, label: str, kind: TimelineEventKind, error: BaseException | None = None
    ) -> None:
        event = TimelineEvent(
            anyio.current_time(), len(self.events), label, kind, error
        )
        self.events.append(event)

    def mark(self, label: str) -> None:
        """Record a point event (kind ``'mark'``) now."""
        self._add(label, "mark")

    @contextlib.contextmanager
    def track(self, label: str) -> Generator[None, None, None]:
        """Record the block's start, and how it ended."""
        self._add(label, "start")
        try:
            yield
        except anyio.get_cancelled_exc_class() as exc:
            self._add(label, "cancel", exc)
            raise
        except BaseException as exc:
            self._add(label, "fail", exc)
            raise
        self._add(label, "finish")

    def wrap(
        self, fn: Callable[P, Awaitable[T]], label: str | None = None
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """Return an async function that runs *fn* tracked under *label*.

        *label* defaults to *fn*'s name.
        """
        name = label if label is not None else getattr(fn, "__name__", repr(fn))

        @functools.wraps(fn)
        async def tracked(*args: P.args, **kwargs: P.kwargs) -> T:
            with self.track(name):
                return await fn(*args, **kwargs)

        return tracked

    def labels(self, kind: TimelineEventKind) -> list[str]:
        """Return the labels of events of *kind*, in the order they happened."""
        return [event.label for event in self.events if event.kind == kind]

    def kinds(self, label: str) -> list[TimelineEventKind]:
        """Return what happened to *label*, in order (``['start', 'finish']``)."""
        return [event.kind for event in self.events if event.label == label]

    def time_of(self, label: str, kind: TimelineEventKind) -> float:
        """Return when *label* first had an event of *kind*.

        Raises:
            LookupError: if it never had one.
        """
        for event in self.events:
            if event.label == label and event.kind == kind:
                return event.time
        raise LookupError(f"no {kind!r} event for {label!r} in the timeline")
