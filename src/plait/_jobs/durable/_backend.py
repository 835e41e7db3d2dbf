"""DurableBackend: the TaskBackend whose jobs survive a crash or a deploy."""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self

import anyio
from anyio import create_task_group
from anyio.abc import TaskGroup

from .._model import DrainReport, Job, JobHandlers, payload_json
from ._calls import connect, in_thread
from ._engine import Engine, JobRecord, NewJob, QueueStats
from ._worker import DEFAULT_RETENTION, JobWorker


class DurableBackend:
    """A ``TaskBackend`` that stores jobs in SQLite or PostgreSQL.

    ``submit`` commits the job (type, JSON payload, priority, not-before
    time, idempotency key) before it returns the job's id, so a job once
    submitted survives a crash of this process, and any worker on the same
    database (``plait worker DSN --app module:handlers``, or a
    ``JobWorker``) may run it. When ``handlers`` are given, the backend
    also runs a worker in this process (``work=False`` turns that off, for a
    process that only submits). Delivery is **at least once**: a job whose
    worker dies is run again after its lease expires.

    A second submit with the same ``idempotency_key`` is a no-op returning
    the first job's id (for as long as that job is stored: a pruned job's key
    is free again). Submitting a payload that is not JSON fails at ``Job``
    construction with a TypeError naming what is not JSON.

    Leaving the block (or ``shutdown``) stops the in-process worker: running
    jobs get ``drain_timeout`` seconds to finish (default: the worker's
    ``grace``), the rest are released to the queue for another worker at
    once. Jobs not started stay queued in the database: nothing is cancelled
    or lost, so the report's ``cancelled`` is always empty and ``released``
    lists the jobs handed back.

    Args:
        dsn: ``sqlite:///path/to/jobs.db`` (or a plain path) for SQLite,
            ``postgresql://user:password@host/db`` for PostgreSQL (needs the
            ``plait[postgres]`` extra).
        handlers: handlers by job type; their retry policies also set each
            job's max attempts at submit.
        work: run a worker in this process; default: when handlers are given.
        concurrency, lease, grace, poll_interval, retention, dead_retention:
            the in-process worker's settings (see ``JobWorker``).

    Raises:
        DatabaseUnavailableError: on entering, when the database cannot be
            reached (the message names the DSN without its password).

    Example:
        >>> import anyio, plait, tempfile, os
        >>> handlers = plait.JobHandlers()
        >>> @handlers.register("greet")
        ... async def greet(job: plait.Job) -> str:
        ...     return f"hello {job.payload['name']}"
        >>> async def main(dsn: str) -> tuple[str, object]:
        ...     async with plait.DurableBackend(dsn, handlers=handlers) as backend:
        ...         job_id = await backend.submit(plait.Job("greet", {"name": "ada"}))
        ...         record = await backend.wait(job_id)
        ...     return record.state, record.result
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     anyio.run(main, os.path.join(tmp, "jobs.db"))
        ('done', 'hello ada')
    """

    def __init__(
        self,
        dsn: str,
        *,
        handlers: JobHandlers | None = None,
        work: bool | None = None,
        concurrency: int = 10,
        lease: float = 30.0,
        grace: float = 30.0,
        poll_interval: float | None = None,
        retention: float = DEFAULT_RETENTION,
        dead_retention: float | None = None,
    ) -> None:
        if handlers is not None and not isinstance(handlers, JobHandlers):
            raise TypeError(f"handlers must be a JobHandlers, got {handlers!r}")
        self.dsn: str = str(dsn)
        self.handlers: JobHandlers = handlers if handlers is not None else JobHandlers()
        self._work = bool(self.handlers.types()) if work is None else work
        self.worker: JobWorker | None = None
        if self._work:
            self.worker = JobWorker(
                self.dsn,
                self.handlers,
                concurrency=concurrency,
                lease=lease,
                grace=grace,
                poll_interval=poll_interval,
                retention=retention,
                dead_retention=dead_retention,
            )
        self._engine: Engine | None = None
        self._tg: TaskGroup | None = None
        self._report: DrainReport | None = None

    async def __aenter__(self) -> Self:
        if self._engine is not None or self._report is not None:
            raise RuntimeError("a DurableBackend can be entered once")
        self._engine = await connect(self.dsn)
        if self.worker is not None:
            tg = create_task_group()
            await tg.__aenter__()
            self._tg = tg
            try:
                await tg.start(self.worker.run)
            except BaseException as exc:
                await self._close_group(type(exc), exc, exc.__traceback__)
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._report is None:
            if self.worker is not None and exc_type is None:
                self.worker.stop()
            await self._close_group(exc_type, exc, tb)
            self._report = self._make_report()

    async def shutdown(self, *, drain_timeout: float | None = None) -> DrainReport:
        """Stop the in-process worker: finish running jobs or release them.

        Args:
            drain_timeout: seconds running jobs may take to finish before they
                are cancelled and released; default: the worker's ``grace``.

        Returns:
            How many jobs finished during the drain and which were released.
        """
        if self._report is not None:
            return self._report
        if self.worker is not None:
            self.worker.stop(grace=drain_timeout)
        await self._close_group(None, None, None)
        self._report = self._make_report()
        return self._report

    async def submit(self, job: Job) -> str:
        """Store *job* durably and return its id (an existing id for a known
        idempotency key)."""
        (job_id,) = await self.submit_many([job])
        return job_id

    async def submit_many(self, jobs: Iterable[Job]) -> list[str]:
        """Store *jobs* in one transaction; return their ids in order."""
        rows = [self._row(job) for job in jobs]
        if not rows:
            return []
        ids = await in_thread(self._require_engine().insert, rows)
        if self.worker is not None:
            # The in-process worker need not wait for its next poll.
            self.worker.poke()
        return [str(job_id) for job_id in ids]

    async def get(self, job_id: str) -> JobRecord | None:
        """Return the stored row of *job_id*, or ``None`` if there is none."""
        return await in_thread(self._require_engine().get, _parse_id(job_id))

    async def wait(
        self, job_id: str, *, timeout: float | None = None, poll: float = 0.05
    ) -> JobRecord:
        """Wait until *job_id* is done or dead and return its row.

        Raises:
            KeyError: the job does not exist (or was pruned).
            TimeoutError: *timeout* seconds passed first.
        """
        with anyio.fail_after(timeout):
            while True:
                record = await self.get(job_id)
                if record is None:
                    raise KeyError(f"no job with id {job_id!r}")
                if record.state in ("done", "dead"):
                    return record
                await anyio.sleep(poll)

    async def stats(self) -> QueueStats:
        """Return job counts per state and per type, and the oldest due age."""
        return await in_thread(self._require_engine().stats, now=time.time())

    async def prune(
        self, *, older_than: float = DEFAULT_RETENTION, dead: bool = False
    ) -> int:
        """Delete done jobs (and dead ones if *dead*) finished over
        *older_than* seconds ago; return how many."""
        before = time.time() - older_than
        return await in_thread(
            self._require_engine().prune,
            done_before=before,
            dead_before=before if dead else None,
        )

    def _row(self, job: Job) -> NewJob:
        if not isinstance(job, Job):
            raise TypeError(
                f"submit takes a plait.Job, got {job!r}; "
                "wrap it: backend.submit(plait.Job('type', {...}))"
            )
        if self._report is not None:
            raise RuntimeError("this DurableBackend was shut down")
        max_attempts = None
        if job.type in self.handlers:
            max_attempts = self.handlers.get(job.type).retry.attempts
        return NewJob(
            type=job.type,
            payload=payload_json(job.payload),
            priority=job.priority,
            not_before=time.time() if job.not_before is None else job.not_before,
            idempotency_key=job.idempotency_key,
            max_attempts=max_attempts,
        )

    def _require_engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError(
                "use the backend inside its block: "
                "`async with DurableBackend(dsn) as backend: ...`"
            )
        return self._engine

    async def _close_group(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, self._tg = self._tg, None
        engine, self._engine = self._engine, None
        try:
            if tg is not None:
                if exc_type is not None:
                    tg.cancel_scope.cancel()
                await tg.__aexit__(exc_type, exc, tb)
        finally:
            if engine is not None:
                with anyio.CancelScope(shield=True):
                    await in_thread(engine.close)

    def _make_report(self) -> DrainReport:
        if self.worker is None:
            return DrainReport()
        return DrainReport(
            finished=self.worker.finished_after_stop,
            released=tuple(self.worker.released_ids),
        )


def _parse_id(job_id: str) -> int:
    try:
        return int(job_id)
    except (TypeError, ValueError):
        raise ValueError(
            f"job_id must be an id submit returned, got {job_id!r}"
        ) from None
