"""In-process job backends: inline (run at once) and tracked (a task per job).

Both route a ``Job`` to the handler registered for its type, retry it as the
registration's ``RetryPolicy`` says, and count the outcome. A failure that
survives its retries is logged with the job and counted, never lost; it does
not propagate to whoever submitted the job (``InlineBackend`` can be asked to
raise it instead).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid
from collections.abc import Iterable
from types import TracebackType
from typing import Self

from anyio import (
    CancelScope,
    CapacityLimiter,
    Event,
    create_task_group,
    move_on_after,
    sleep,
)
from anyio.abc import TaskGroup

from .._core._checks import check_optional_seconds, check_positive_int, fail
from .._core._owned_group import close_owned_group
from .._patterns._retry import pause_before_retry
from ._model import DrainReport, Job, JobHandlers

logger = logging.getLogger("plait")


@dataclasses.dataclass(frozen=True, slots=True)
class BackendStats:
    """Counts of a backend's jobs; ``submitted`` is the sum of the others.

    Attributes:
        submitted: jobs accepted by ``submit``.
        running: jobs accepted and not yet ended (waiting, running or
            backing off between retries).
        done: jobs whose handler returned.
        failed: jobs whose handler raised on its last attempt.
        cancelled: jobs cancelled at shutdown.

    Example:
        >>> import plait
        >>> stats = plait.BackendStats(submitted=3, done=2, failed=1)
        >>> stats.done + stats.failed + stats.cancelled + stats.running
        3
    """

    submitted: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0


class _Counting:
    """What both backends share: handler lookup, retries, counts, failures."""

    def __init__(self, handlers: JobHandlers) -> None:
        if not isinstance(handlers, JobHandlers):
            fail(
                f"{type(self).__name__}()",
                "handlers",
                "a plait.JobHandlers",
                handlers,
                error=TypeError,
            )
        self.handlers = handlers
        self._submitted = self._done = self._failed = self._cancelled = 0
        self._failures: dict[str, BaseException] = {}
        self._keys: dict[str, str] = {}

    def stats(self) -> BackendStats:
        """Return the backend's job counts."""
        ended = self._done + self._failed + self._cancelled
        return BackendStats(
            submitted=self._submitted,
            running=self._submitted - ended,
            done=self._done,
            failed=self._failed,
            cancelled=self._cancelled,
        )

    @property
    def failures(self) -> dict[str, BaseException]:
        """The final exception of every failed job, by job id."""
        return dict(self._failures)

    def _accept(self, job: Job) -> tuple[Job, bool]:
        """Give *job* an id; return it and whether it is new (not a duplicate key)."""
        if not isinstance(job, Job):
            raise TypeError(f"job must be a plait.Job, got {job!r}")
        self.handlers.get(job.type)  # an unknown type is the caller's error, now
        if job.idempotency_key is not None and job.idempotency_key in self._keys:
            return dataclasses.replace(job, id=self._keys[job.idempotency_key]), False
        job = dataclasses.replace(job, id=job.id or uuid.uuid4().hex, attempt=1)
        assert job.id is not None
        if job.idempotency_key is not None:
            self._keys[job.idempotency_key] = job.id
        self._submitted += 1
        return job, True

    async def _execute(self, job: Job) -> BaseException | None:
        """Run *job* with retries; count and log the outcome; return the failure."""
        handler = self.handlers.get(job.type)
        if job.not_before is not None:
            await sleep(max(0.0, job.not_before - time.time()))
        attempt = 1
        while True:
            try:
                # The first attempt runs the accepted job itself: replace()
                # re-validates the payload, which costs per job under load.
                this = (
                    job if attempt == 1 else dataclasses.replace(job, attempt=attempt)
                )
                await handler.fn(this)
            except Exception as exc:
                try:
                    await pause_before_retry(handler.retry, attempt, exc)
                except Exception as final:
                    self._record_failure(job, attempt, final)
                    return final
                attempt += 1
                continue
            self._done += 1
            return None

    def _record_failure(self, job: Job, attempt: int, exc: BaseException) -> None:
        self._failed += 1
        assert job.id is not None
        self._failures[job.id] = exc
        logger.warning(
            "plait: job %s of type %r failed after %d attempt(s): %r; payload %s",
            job.id,
            job.type,
            attempt,
            exc,
            job.to_json(),
            exc_info=(type(exc), exc, exc.__traceback__),
        )


class InlineBackend(_Counting):
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


class TrackedBackend(_Counting):
    """Run each job as a task in the backend's own task group, and track it.

    ``submit`` returns at once with the job's id. Leaving the block (or
    ``shutdown``) stops taking jobs and drains: it waits up to the drain
    timeout for the jobs under way, then cancels the rest and reports their
    ids. On outer cancellation the drain still runs, shielded and bounded by
    the timeout. A job's failure never reaches the submitter or the block: it
    is logged with the job and counted (``stats()``, ``failures``).

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
        self.limit: int | None = limit
        self.drain_timeout: float | None = drain_timeout
        self._limiter: CapacityLimiter | None = None
        self._tg: TaskGroup | None = None
        self._scopes: dict[str, CancelScope] = {}
        self._cancelled_ids: list[str] = []
        self._closing = False
        self._idle: Event | None = None
        self._report: DrainReport | None = None
        self._drained: Event | None = None

    async def __aenter__(self) -> Self:
        if self._tg is not None:
            raise RuntimeError("a TrackedBackend can be entered only once")
        if self.limit is not None:
            self._limiter = CapacityLimiter(self.limit)
        tg = create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None

        async def drain() -> None:
            await self.shutdown(drain_timeout=self.drain_timeout)

        return await close_owned_group(self._tg, drain, exc_type, exc, tb)

    async def submit(self, job: Job) -> str:
        """Start *job* in the background and return its id at once.

        Raises:
            KeyError: no handler is registered for the job's type.
            RuntimeError: the backend is not open or is shutting down.
        """
        if self._tg is None or self._closing:
            raise RuntimeError(
                "submit() needs an open backend that is not shutting down: "
                "`async with TrackedBackend(handlers) as backend:`"
            )
        job, new = self._accept(job)
        assert job.id is not None
        if new:
            # Shielded: an outer cancellation still drains within the timeout.
            scope = CancelScope(shield=True)
            self._scopes[job.id] = scope
            self._tg.start_soon(self._run, job, scope, name=f"plait.job.{job.type}")
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
        if self._drained is not None:
            await self._drained.wait()
            assert self._report is not None
            return self._report
        self._drained = Event()
        self._closing = True
        ended_before = self._done + self._failed
        try:
            if self._scopes:
                self._idle = Event()
                with move_on_after(
                    math.inf if drain_timeout is None else drain_timeout
                ):
                    await self._idle.wait()
        finally:
            # A caller cancelled during the drain cuts it short, but the jobs
            # left are still cancelled and reported: the jobs are shielded,
            # so nothing else would ever end them.
            with CancelScope(shield=True):
                for scope in self._scopes.values():
                    scope.cancel()
                while self._scopes:
                    self._idle = Event()
                    await self._idle.wait()
                finished = self._done + self._failed - ended_before
                cancelled = tuple(self._cancelled_ids)
                report = DrainReport(finished=finished, cancelled=cancelled)
                self._report = report
                self._drained.set()
        # Set in the shielded block, which swallows no exception (pyright
        # assumes any CancelScope may).
        if cancelled:  # pyright: ignore[reportPossiblyUnboundVariable]
            logger.warning(
                "plait: drain timeout ran out; cancelled %d job(s): %s",
                len(cancelled),
                ", ".join(cancelled[:20]) + (" ..." if len(cancelled) > 20 else ""),
            )
        return report  # pyright: ignore[reportPossiblyUnboundVariable]

    @property
    def report(self) -> DrainReport | None:
        """The shutdown's drain report, once the backend has shut down."""
        return self._report

    async def _run(self, job: Job, scope: CancelScope) -> None:
        assert job.id is not None
        ended = False
        try:
            with scope:
                if self._limiter is not None:
                    async with self._limiter:
                        await self._execute(job)
                else:
                    await self._execute(job)
                ended = True
        finally:
            if not ended:
                self._cancelled += 1
                self._cancelled_ids.append(job.id)
            del self._scopes[job.id]
            if not self._scopes and self._idle is not None:
                self._idle.set()
