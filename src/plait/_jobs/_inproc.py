"""In-process job backends: inline (run at once) and tracked (a task per job).

Both route a ``Job`` to the handler registered for its type, retry it as the
registration's ``RetryPolicy`` says, and count the outcome. A failure that
survives its retries is logged with the job and counted, never lost; it does
not propagate to whoever submitted the job (``InlineBackend`` can be asked to
raise it instead).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from types import TracebackType
from typing import Self

from anyio import CancelScope, CapacityLimiter, Event, move_on_after
from anyio.abc import TaskGroup

from .._core._checks import check_optional_seconds, check_positive_int
from .._core._lifecycle import TaskGroupOwner
from ._counting import JobCounter
from ._model import DrainReport, Job, JobHandlers

logger = logging.getLogger("plait")


class InlineBackend(JobCounter):
    """Run each job at once, inside ``submit``: for tests and command-line tools.

    ``submit`` returns when the job has ended (retries included). The block
    owns nothing that outlives a ``submit``, so shutting down has nothing to
    drain.

    Args:
        handlers: the handlers to route jobs to, by type.
        raise_errors: re-raise a job's final failure from ``submit`` (after
            counting and logging it) instead of only recording it. Default
            ``False``, as the tracked backend behaves.

    Example:
        >>> import anyio, plait
        >>> handlers = plait.JobHandlers()
        >>> seen = []
        >>> @handlers.register("greet")
        ... async def greet(job: plait.Job) -> None:
        ...     seen.append(job.payload["name"])
        >>> async def main() -> plait.BackendStats:
        ...     async with plait.InlineBackend(handlers) as backend:
        ...         await backend.submit(plait.Job("greet", {"name": "ada"}))
        ...     return backend.stats()
        >>> anyio.run(main).done, seen
        (1, ['ada'])
    """

    def __init__(self, handlers: JobHandlers, *, raise_errors: bool = False) -> None:
        super().__init__(handlers)
        self.raise_errors = raise_errors
        self._open = False
        self._closed = False

    async def __aenter__(self) -> Self:
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def submit(self, job: Job) -> str:
        """Run *job* now and return its id once it has ended."""
        if not self._open or self._closed:
            raise RuntimeError(
                "submit() needs an open backend: `async with InlineBackend(h) as b:`"
            )
        job, new = self._accept(job)
        assert job.id is not None
        if new:
            try:
                error = await self._execute(job)
            except BaseException:
                self._cancelled += 1
                raise
            if error is not None and self.raise_errors:
                raise error
        return job.id

    async def submit_many(self, jobs: Iterable[Job]) -> list[str]:
        """Run *jobs* one after another; return their ids."""
        return [await self.submit(job) for job in jobs]

    async def shutdown(self, *, drain_timeout: float | None = None) -> DrainReport:
        """Stop taking jobs (nothing runs between submits, so nothing drains)."""
        check_optional_seconds(
            "InlineBackend.shutdown()", "drain_timeout", drain_timeout, finite=False
        )
        self._closed = True
        return DrainReport()


class TrackedBackend(TaskGroupOwner, JobCounter):
    """Run each job as a task in the backend's own task group, and track it.

    Use it as an async context manager, entered once. ``submit`` returns at
    once with the job's id. Leaving the block (or ``shutdown``) stops taking
    jobs and drains: it waits up to the drain timeout for the jobs under way,
    then cancels the rest and reports their ids. On outer cancellation the
    drain still runs, shielded and bounded by the timeout. A job's failure
    never reaches the submitter or the block: it is logged with the job and
    counted (``stats()``, ``failures``). An error raised in the block leaves
    the ``async with`` as itself, after the drain.

    Args:
        handlers: the handlers to route jobs to, by type.
        limit: how many jobs may run at once; ``None`` (default) for no limit.
        drain_timeout: seconds leaving the block waits for jobs under way
            (default 30.0; ``None`` waits as long as they take).

    Example:
        >>> import anyio, plait
        >>> handlers = plait.JobHandlers()
        >>> @handlers.register("add")
        ... async def add(job: plait.Job) -> None:
        ...     await anyio.sleep(0)
        >>> async def main() -> plait.BackendStats:
        ...     async with plait.TrackedBackend(handlers) as backend:
        ...         for n in range(3):
        ...             await backend.submit(plait.Job("add", {"n": n}))
        ...     return backend.stats()
        >>> anyio.run(main).done
        3
    """

    limit: int | None
    """How many jobs may run at once (``None``: no limit)."""
    drain_timeout: float | None
    """Seconds leaving the block waits for the jobs under way."""

    def __init__(
        self,
        handlers: JobHandlers,
        *,
        limit: int | None = None,
        drain_timeout: float | None = 30.0,
    ) -> None:
        super().__init__(handlers)
        if limit is not None:
            check_positive_int("TrackedBackend()", "limit", limit)
        check_optional_seconds(
            "TrackedBackend()", "drain_timeout", drain_timeout, finite=False
        )
        self.limit, self.drain_timeout = limit, drain_timeout
        self._jobs: _TrackedJobs | None = None  # from the time it is entered
        self._closing = False

    async def _open(self, tg: TaskGroup) -> None:
        self._jobs = _TrackedJobs(tg, self.limit)

    async def _close(self) -> None:
        await self.shutdown(drain_timeout=self.drain_timeout)

    async def submit(self, job: Job) -> str:
        """Start *job* in the background and return its id at once.

        Raises:
            KeyError: no handler is registered for the job's type.
            RuntimeError: the backend is not open or is shutting down.
        """
        jobs = self._jobs
        if jobs is None or self._closing:
            raise RuntimeError(
                "submit() needs an open backend that is not shutting down: "
                "`async with TrackedBackend(handlers) as backend:`"
            )
        job, new = self._accept(job)
        assert job.id is not None
        if new:
            # Shielded: an outer cancellation still drains within the timeout.
            scope = CancelScope(shield=True)
            jobs.scopes[job.id] = scope
            jobs.tg.start_soon(
                self._run, jobs, job, scope, name=f"plait.job.{job.type}"
            )
        return job.id

    async def submit_many(self, jobs: Iterable[Job]) -> list[str]:
        """Start several jobs; return their ids in order."""
        return [await self.submit(job) for job in jobs]

    async def shutdown(self, *, drain_timeout: float | None = None) -> DrainReport:
        """Stop taking jobs, wait up to *drain_timeout* seconds, cancel the rest.

        Args:
            drain_timeout: seconds to wait for the jobs under way; ``None``
                waits as long as they take. ``0`` cancels them at once.

        Returns:
            A ``DrainReport``: how many jobs ended during the drain, and the
            ids of those cancelled. A second call returns the first's report.

        A caller cancelled while it waits cuts the drain short: the jobs left
        are cancelled and reported at once, then the cancellation propagates.
        """
        check_optional_seconds(
            "TrackedBackend.shutdown()", "drain_timeout", drain_timeout, finite=False
        )
        self._closing = True
        jobs = self._jobs
        if jobs is None:  # never entered: nothing to drain
            return DrainReport()
        if jobs.draining:
            await jobs.drained.wait()
            return jobs.report
        jobs.draining = True
        ended_before = self._done + self._failed
        try:
            if jobs.scopes:
                jobs.idle = Event()
                with move_on_after(
                    math.inf if drain_timeout is None else drain_timeout
                ):
                    await jobs.idle.wait()
        finally:
            # A caller cancelled during the drain cuts it short, but the jobs
            # left are still cancelled and reported: the jobs are shielded,
            # so nothing else would ever end them.
            with CancelScope(shield=True):
                for scope in jobs.scopes.values():
                    scope.cancel()
                while jobs.scopes:
                    jobs.idle = Event()
                    await jobs.idle.wait()
                finished = self._done + self._failed - ended_before
                cancelled = tuple(jobs.cancelled_ids)
                jobs.report = DrainReport(finished=finished, cancelled=cancelled)
                jobs.drained.set()
        cancelled = jobs.report.cancelled
        if cancelled:
            logger.warning(
                "plait: drain timeout ran out; cancelled %d job(s): %s",
                len(cancelled),
                ", ".join(cancelled[:20]) + (" ..." if len(cancelled) > 20 else ""),
            )
        return jobs.report

    @property
    def report(self) -> DrainReport | None:
        """The shutdown's drain report, once the backend has shut down."""
        jobs = self._jobs
        return jobs.report if jobs is not None and jobs.drained.is_set() else None

    async def _run(self, jobs: _TrackedJobs, job: Job, scope: CancelScope) -> None:
        assert job.id is not None
        ended = False
        try:
            with scope:
                if jobs.limiter is not None:
                    async with jobs.limiter:
                        await self._execute(job)
                else:
                    await self._execute(job)
                ended = True
        finally:
            if not ended:
                self._cancelled += 1
                jobs.cancelled_ids.append(job.id)
            del jobs.scopes[job.id]
            if not jobs.scopes and jobs.idle is not None:
                jobs.idle.set()


class _TrackedJobs:
    """What a TrackedBackend has from the time it is entered (it keeps it after)."""

    def __init__(self, tg: TaskGroup, limit: int | None) -> None:
        self.tg = tg
        self.limiter = CapacityLimiter(limit) if limit is not None else None
        self.scopes: dict[str, CancelScope] = {}  # the jobs not yet ended, by id
        self.cancelled_ids: list[str] = []
        self.idle: Event | None = None  # set when the last job under way ends
        self.draining = False
        self.drained = Event()  # set once the drain is over; the report is final
        self.report = DrainReport()
