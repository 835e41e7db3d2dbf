"""Job specs and a recorder shared by the property tests.

A job is a small script for one call: pass some checkpoints, sleep a few
ticks, then return its value or raise ``JobError``. A ``Recorder`` watches
every job it runs (started, returned, raised, cancelled, finished, the most
in flight at once), so a property can compare what a pattern reported with
what really happened.

Time-based jobs run on ``plait.testing``'s virtual time on asyncio and trio,
where a tick costs nothing and instants are exact; uvloop cannot have virtual
time, so there a tick is a real millisecond.
"""

from __future__ import annotations

import functools
import gc
import inspect
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import anyio
import anyio.lowlevel
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from plait import testing

T = TypeVar("T")

Backend = Literal["asyncio", "uvloop", "trio"]

# The event loops tests/conftest.py parametrizes anyio_backend with, in the
# names plait.testing.run takes.
BACKENDS = testing.backends()

TICK = 0.001
"""Seconds one tick of a job's sleep lasts."""

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class JobError(Exception):
    """The failure a failing job raises; equal jobs raise distinct objects."""

    def __init__(self, index: int) -> None:
        super().__init__(f"job {index} failed")
        self.index = index


@dataclass(frozen=True)
class Job:
    """What one call does: ``checkpoints``, then ``ticks`` of sleep, then ends."""

    checkpoints: int
    ticks: int
    fails: bool

    def value(self, index: int) -> int:
        """Return the value the job at *index* returns (distinct per index)."""
        return 1000 + index


def jobs(*, min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[list[Job]]:
    """Return a strategy for lists of jobs: short delays, some failures."""
    job = st.builds(
        Job,
        checkpoints=st.integers(0, 3),
        ticks=st.integers(0, 3),
        fails=st.booleans(),
    )
    return st.lists(job, min_size=min_size, max_size=max_size)


def fuzz_seeds() -> st.SearchStrategy[int | None]:
    """Return a strategy for an optional schedule-fuzzing seed."""
    return st.none() | testing.fuzz_seeds()


def run(
    backend: Backend,
    fn: Callable[[], Awaitable[T]],
    *,
    fuzz_seed: int | None = None,
    recorder: Recorder | None = None,
) -> T:
    """Run *fn* on *backend*: virtual time where there is one, else real time.

    Fails if the run left a warning behind, an unclosed resource or a
    coroutine never awaited included: those surface only when the garbage
    is collected, so it is collected here, where the failing example is
    still known, instead of in whichever test happens to run next. The
    tracebacks of the errors *recorder* kept would keep the pattern's
    frames, and what they hold, alive until then: they are dropped first.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # uvloop's scheduler cannot be explored: there the run is unexplored.
        result = testing.run(
            fn,
            backend=backend,
            virtual_time=backend != "uvloop",
            fuzz_seed=None if backend == "uvloop" else fuzz_seed,
        )
        if recorder is not None:
            for error in recorder.raised:
                error.__traceback__ = None
        gc.collect()
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
    return result


@dataclass
class Recorder:
    """What happened to the jobs run through it, by index."""

    in_flight: int = 0
    most_in_flight: int = 0
    started: list[int] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    raised: list[JobError] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    """Every index whose call ended, however it ended, in the order they ended."""
    events: list[tuple[str, int]] = field(default_factory=list)
    """``(what, index)`` for every start, return, raise and cancel, in order."""

    async def run(self, job: Job, index: int) -> int:
        """Run *job* as the call for *index*, recording what happens."""
        self.started.append(index)
        self.events.append(("start", index))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for _ in range(job.checkpoints):
                await anyio.lowlevel.checkpoint()
            if job.ticks:
                await anyio.sleep(job.ticks * TICK)
            if job.fails:
                error = JobError(index)
                self.raised.append(error)
                self.events.append(("raise", index))
                raise error
            self.returned.append(index)
            self.events.append(("return", index))
            return job.value(index)
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(index)
            self.events.append(("cancel", index))
            raise
        finally:
            self.in_flight -= 1
            self.finished.append(index)

    @property
    def running(self) -> set[int]:
        """The indexes started and not yet finished."""
        return set(self.started) - set(self.finished)


Form = Literal["coroutine", "callable", "awaitable"]
FORMS: st.SearchStrategy[Form] = st.sampled_from(["coroutine", "callable", "awaitable"])


class Deferred:
    """An awaitable that is not a coroutine and makes its coroutine late.

    Its coroutine is created only when it is awaited, so one that is never
    awaited leaves nothing to warn about.
    """

    def __init__(self, recorder: Recorder, job: Job, index: int) -> None:
        self.recorder = recorder
        self.job = job
        self.index = index

    def __await__(self) -> Generator[Any, None, int]:
        return (yield from self.recorder.run(self.job, self.index).__await__())


@dataclass
class Arguments:
    """What a pattern was given for some jobs, and the coroutines among it."""

    args: list[Any]
    coroutines: list[Any]

    def all_closed(self) -> bool:
        """Tell whether every coroutine object given has been closed."""
        return all(
            inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
            for coro in self.coroutines
        )


def arguments(recorder: Recorder, specs: list[Job], form: Form) -> Arguments:
    """Return the jobs as a pattern's arguments, in the given *form*."""
    if form == "coroutine":
        coroutines = [recorder.run(job, index) for index, job in enumerate(specs)]
        return Arguments(list(coroutines), coroutines)
    if form == "callable":
        return Arguments(
            [
                functools.partial(recorder.run, job, index)
                for index, job in enumerate(specs)
            ],
            [],
        )
    return Arguments(
        [Deferred(recorder, job, index) for index, job in enumerate(specs)], []
    )


ItemsForm = Literal["list", "generator", "async generator"]
ITEMS_FORMS: st.SearchStrategy[ItemsForm] = st.sampled_from(
    ["list", "generator", "async generator"]
)


class ItemsError(Exception):
    """What the items iterable raises when told to fail."""


@dataclass
class Items:
    """Indexes 0..n-1 as a list or a (counting) sync or async generator.

    ``pulled`` counts the items the generators yielded; ``done`` tells that a
    generator's body has ended (exhausted or closed). With ``fail_at``, the
    generator raises ``ItemsError`` instead of yielding that index.
    """

    count: int
    form: ItemsForm
    fail_at: int | None = None
    pulled: int = 0
    done: bool = False
    error: ItemsError | None = None
    on_pull: Callable[[], None] | None = None

    repr: str = ""
    """The repr of the iterable handed out, as plait's notes cut it."""

    def iterable(self) -> Any:
        """Return the items in this form (call once per run)."""
        items: Any
        if self.form == "list":
            self.done = True
            items = list(range(self.count))
        elif self.form == "generator":
            items = self._sync()
        else:
            items = self._async()
        text = repr(items)
        self.repr = text if len(text) <= 60 else text[:57] + "..."
        return items

    def _next(self, index: int) -> int:
        if index == self.fail_at:
            self.error = ItemsError(f"items failed at {index}")
            raise self.error
        self.pulled += 1
        if self.on_pull is not None:
            self.on_pull()
        return index

    def _sync(self) -> Iterator[int]:
        try:
            for index in range(self.count):
                yield self._next(index)
        finally:
            self.done = True

    async def _async(self) -> AsyncIterator[int]:
        try:
            for index in range(self.count):
                await anyio.lowlevel.checkpoint()
                yield self._next(index)
        finally:
            self.done = True


def items_notes(exc: BaseException, pattern: str) -> list[str]:
    """Return *pattern*'s notes on *exc* about its items iterable, in full."""
    prefix = f"raised by {pattern}() items iterable"
    return [note for note in getattr(exc, "__notes__", []) if note.startswith(prefix)]


def leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    """Yield the exceptions in *group*, nested groups flattened."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from leaves(exc)
        else:
            yield exc


def task_count() -> int:
    """Return how many tasks the running event loop has."""
    return len(anyio.get_running_tasks())


async def settle(rounds: int = 5) -> None:
    """Pass a few checkpoints so that anything still scheduled gets to run."""
    for _ in range(rounds):
        await anyio.lowlevel.checkpoint()


async def assert_nothing_left(recorder: Recorder, tasks_before: int) -> None:
    """Check that no job still runs, no task is left, and nothing runs later."""
    assert recorder.running == set()
    assert task_count() == tasks_before
    events = list(recorder.events)
    await settle()
    assert recorder.events == events


def same_objects(a: list[Any], b: list[Any]) -> bool:
    """Tell whether two lists hold the very same objects, each as many times."""
    return sorted(map(id, a)) == sorted(map(id, b))


def origin_notes(exc: BaseException, pattern: str) -> list[str]:
    """Return *pattern*'s notes on *exc* naming where it came from, repr cut off."""
    prefix = f"raised by {pattern}() "
    return [
        note.partition(":")[0]
        for note in getattr(exc, "__notes__", [])
        if note.startswith(prefix)
    ]
