"""Scheduler: several periodic jobs, optionally strictly one after another."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVarTuple, Unpack

from anyio import TASK_STATUS_IGNORED, Event
from anyio.abc import TaskGroup, TaskStatus

from .._core._lifecycle import TaskGroupOwner
from ._periodic import (
    MissedTickPolicy,
    PeriodicErrorPolicy,
    PeriodicJob,
    PeriodicRunner,
    check_common,
    make_periodic,
    run_jobs,
    tick_loop,
)

PosArgsT = TypeVarTuple("PosArgsT")


@dataclasses.dataclass(frozen=True, slots=True)
class PeriodicJobStats:
    """How one job of a scheduler has fared.

    Attributes:
        name: the job's name.
        interval: its interval in seconds.
        runs: runs started so far.
        missed_ticks: ticks that passed without a run of their own.

    Example:
        >>> import plait
        >>> scheduler = plait.Scheduler()
        >>> async def refresh() -> None: ...
        >>> scheduler.every(60, refresh)
        >>> scheduler.stats()
        [PeriodicJobStats(name='refresh', interval=60, runs=0, missed_ticks=0)]
    """

    name: str
    interval: float
    runs: int
    missed_ticks: int


class Scheduler(TaskGroupOwner):
    """Run several periodic jobs; stop them together, gracefully.

    Each job ticks on its own drift-free grid, as with ``every``. With
    ``sequential=True`` no two runs of the scheduler's jobs overlap: a job
    whose tick comes while another runs waits its turn (first come, first
    served), and the ticks that pass meanwhile count as missed.

    Use it as an async context manager (the jobs run in the background of
    the block; leaving it stops them), or run it as a service with ``run``
    (``await sup.start(scheduler.run)``); either way it runs once. Stopping
    starts no new run (nor one queued for its turn), waits up to *grace*
    seconds for the runs under way, then cancels them. A cancellation from
    outside cancels the runs at once; under a supervisor, its shutdown is the
    graceful stop. An error raised in the block leaves the ``async with`` as
    itself, after the stop; a job's error (with ``errors='raise'``) ends the
    block and leaves the ``async with`` in anyio's ``ExceptionGroup``, as a
    task's error leaves a task group (``run`` raises it as itself).

    Args:
        sequential: run the jobs strictly one after another.
        grace: seconds runs under way may take to finish at a stop.
        errors: ``'raise'`` (default): a job's ``Exception`` stops the
            scheduler and propagates; ``'log'``: log it and keep going.

    Example:
        >>> import anyio, plait
        >>> async def main() -> list[str]:
        ...     order = []
        ...     async def job(name: str) -> None:
        ...         order.append(name)
        ...     async with plait.Scheduler(sequential=True) as scheduler:
        ...         scheduler.every(10, job, "a")
        ...         scheduler.every(10, job, "b")
        ...         await anyio.sleep(0.05)
        ...     return sorted(order)
        >>> anyio.run(main)
        ['a', 'b']
    """

    sequential: bool
    """Whether the jobs run strictly one after another."""
    grace: float
    """Seconds runs under way may take to finish at a stop."""
    errors: PeriodicErrorPolicy
    """What a job's ``Exception`` does: ``'raise'`` or ``'log'``."""

    def __init__(
        self,
        *,
        sequential: bool = False,
        grace: float = 5.0,
        errors: PeriodicErrorPolicy = "raise",
    ) -> None:
        check_common("Scheduler()", errors, grace)
        self.sequential, self.grace, self.errors = sequential, grace, errors
        self._jobs: list[PeriodicJob] = []
        # While run() runs: where a job added late starts ticking.
        self._live: tuple[TaskGroup, PeriodicRunner, Event] | None = None
        self._stop: Event | None = None
        self._ran: Event | None = None  # set once run() has returned

    def every(
        self,
        interval: float,
        fn: Callable[[Unpack[PosArgsT]], Awaitable[object]],
        *args: *PosArgsT,
        name: str | None = None,
        missed: MissedTickPolicy = "skip",
        jitter: float = 0.0,
        overlap: bool = False,
        immediate: bool = True,
    ) -> None:
        """Add a job that calls ``await fn(*args)`` every *interval* seconds.

        The options are ``every``'s. A job added while the scheduler runs
        starts ticking at once (its grid starts then).

        Raises:
            ValueError: a bad interval, jitter or *missed*.
            RuntimeError: the scheduler has stopped.
        """
        job = make_periodic(
            "Scheduler.every()",
            interval,
            fn,
            args,
            name=name,
            missed=missed,
            jitter=jitter,
            overlap=overlap,
            immediate=immediate,
        )
        if self._stop is not None and self._stop.is_set():
            raise RuntimeError("this scheduler has stopped; create a new one")
        self._jobs.append(job)
        if self._live is not None:
            tg, runner, stop = self._live
            tg.start_soon(tick_loop, job, runner, stop)

    def stats(self) -> list[PeriodicJobStats]:
        """Return each job's counts, in the order the jobs were added."""
        return [
            PeriodicJobStats(job.name, job.interval, job.runs, job.missed_ticks)
            for job in self._jobs
        ]

    def stop(self) -> None:
        """Ask the scheduler to stop (``run`` returns once it has)."""
        if self._stop is None:
            self._stop = Event()
        self._stop.set()

    async def run(
        self,
        *,
        stopping: Event | None = None,
        task_status: TaskStatus[None] = TASK_STATUS_IGNORED,
    ) -> None:
        """Run the jobs until ``stop()`` is called or *stopping* is set.

        Args:
            stopping: an event that asks the scheduler to stop (a supervisor
                passes its own).
            task_status: reports readiness once every job ticks.
        """
        if self._ran is not None:
            if self._ran.is_set():
                raise RuntimeError("this scheduler has stopped; create a new one")
            raise RuntimeError("this scheduler is already running")
        self._ran = ran = Event()
        if self._stop is None:
            self._stop = Event()
        own_stop = self._stop

        def ready(tg: TaskGroup, runner: PeriodicRunner, stop: Event) -> None:
            self._live = (tg, runner, stop)
            task_status.started()

        events = (own_stop,) if stopping is None else (own_stop, stopping)
        try:
            await run_jobs(
                self._jobs,
                stopping=events,
                grace=self.grace,
                errors=self.errors,
                sequential=self.sequential,
                tg_ready=ready,
            )
        finally:
            self._live = None
            own_stop.set()
            ran.set()

    async def _open(self, tg: TaskGroup) -> None:
        await tg.start(self.run)

    async def _close(self) -> None:
        self.stop()
        if self._ran is not None:
            await self._ran.wait()
