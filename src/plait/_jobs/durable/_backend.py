"""DurableBackend: the TaskBackend whose jobs survive a crash or a deploy."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import anyio
from anyio import TASK_STATUS_IGNORED
from anyio.abc import TaskGroup, TaskStatus

from ..._core._checks import check_bool, check_optional_seconds, check_seconds, fail
from ..._core._lifecycle import TaskGroupOwner
from .._model import DrainReport, Job, JobHandlers, payload_json
from ._admin import JobAdmin
from ._calls import close_in_thread, connect, in_thread, open_in_thread
from ._engine import CommitWatch, Engine, NewJob
from ._options import DEFAULT_RETENTION, Queues, check_dsn, check_options
from ._rows import FINISHED, JobRecord, QueueStats
from ._worker import JobWorker

# How often wait() looks at a SQLite file's commit counter for news.
WAIT_WATCH = 0.01


class DurableBackend(JobAdmin, TaskGroupOwner):
    """A ``TaskBackend`` that stores jobs in SQLite or PostgreSQL.

    ``submit`` commits the job (type, JSON payload, queue, priority,
    not-before time, idempotency key) before it returns the job's id, so a
    job once submitted survives a crash of this process, and any worker on
    the same database (``plait worker DSN --app module:handlers``, or a
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
    ``grace``; none when the block ends with an exception or is cancelled),
    the rest are released to the queue for another worker at once. Jobs not
    started stay queued in the database: nothing is cancelled or lost, so
    the report's ``cancelled`` is always empty and ``released`` lists the jobs
    handed back. An exception raised in the block leaves it as itself; the
    backend is entered once (see ``TaskGroupOwner``).

    Args:
        dsn: ``sqlite:///path/to/jobs.db`` (or a plain path) for SQLite,
            ``postgresql://user:password@host/db`` for PostgreSQL (needs the
            ``plait[postgres]`` extra).
        handlers: handlers by job type; their retry policies also set each
            job's max attempts at submit, and their queues each job's queue.
        work: run a worker in this process; default: when handlers are given.
        queues: the in-process worker's queues (see ``JobWorker`` for this
            and the settings below, checked even when no worker runs).
        concurrency: the worker's jobs at once per queue.
        lease: the worker's lease, in seconds.
        grace: the worker's grace period on stopping, in seconds.
        poll_interval: the worker's longest idle wait.
        retention: seconds done jobs are kept.
        dead_retention: seconds dead and cancelled jobs are kept.

    Raises:
        DatabaseUnavailableError: on entering, when the database cannot be
            reached (the message names the DSN without its password).
        SchemaVersionError: on entering, when a newer plait migrated the
            database.

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
        queues: Queues = None,
        concurrency: int = 10,
        lease: float = 30.0,
        grace: float = 30.0,
        poll_interval: float | None = None,
        retention: float = DEFAULT_RETENTION,
        dead_retention: float | None = None,
    ) -> None:
        call = "DurableBackend()"
        self.dsn: str = check_dsn(call, dsn)
        if handlers is not None and not isinstance(handlers, JobHandlers):
            fail(call, "handlers", "a plait.JobHandlers", handlers, error=TypeError)
        self.handlers: JobHandlers = handlers if handlers is not None else JobHandlers()
        settings: dict[str, Any] = {
            "queues": queues,
            "concurrency": concurrency,
            "lease": lease,
            "grace": grace,
            "poll_interval": poll_interval,
            "retention": retention,
            "dead_retention": dead_retention,
        }
        check_options(call, self.handlers, **settings)
        if work is not None:
            check_bool(call, "work", work)
        self.worker: JobWorker | None = None
        if bool(self.handlers.types()) if work is None else work:
            self.worker = JobWorker(self.dsn, self.handlers, **settings)
        self._engine: Engine | None = None
        self._report: DrainReport | None = None
        self._worker_ended = anyio.Event()
        self._waiters: dict[int, anyio.Event] = {}

    async def _open(self, tg: TaskGroup) -> None:
        self._engine = await connect(self.dsn)
        if self.worker is not None:
            self.worker.on_finished = self._finished
            try:
                await tg.start(self._run_worker)
            except BaseException:
                await self._close_engine()
                raise

    async def _run_worker(
        self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED
    ) -> None:
        assert self.worker is not None
        try:
            await self.worker.run(task_status=task_status)
        finally:
            self._worker_ended.set()

    async def _close(self) -> None:
        # Leaving on an exception or a cancellation releases running jobs at
        # once, as a crash would, instead of holding the caller for the grace.
        await self._stop(0.0 if sys.exception() is not None else None)

    async def _stop(self, grace: float | None) -> None:
        if self._report is not None:
            return
        if self.worker is not None:
            self.worker.stop(grace=grace)
            await self._worker_ended.wait()
        await self._close_engine()
        self._report = self._make_report()

    async def _close_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            with anyio.CancelScope(shield=True):
                await close_in_thread(engine)

    async def shutdown(self, *, drain_timeout: float | None = None) -> DrainReport:
        """Stop the in-process worker: finish running jobs or release them.

        Args:
            drain_timeout: seconds running jobs may take to finish before they
                are cancelled and released; default: the worker's ``grace``.

        Returns:
            How many jobs finished during the drain and which were released.
        """
        check_optional_seconds(
            "DurableBackend.shutdown()", "drain_timeout", drain_timeout, finite=False
        )
        if self._report is None:
            with anyio.CancelScope(shield=True):
                await self._stop(drain_timeout)
        assert self._report is not None
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
        """Wait until *job_id* is done, dead or cancelled and return its row.

        Wakes as soon as this backend's own worker records the outcome; on
        SQLite it also notices another process's commit within about 10 ms;
        otherwise it looks every *poll* seconds.

        Raises:
            KeyError: the job does not exist (or was pruned).
            TimeoutError: *timeout* seconds passed first.
        """
        call = "DurableBackend.wait()"
        check_optional_seconds(call, "timeout", timeout, finite=False)
        check_seconds(call, "poll", poll, positive=True)
        key = _parse_id(job_id)
        engine = self._require_engine()
        # Only an engine with no NOTIFY (SQLite's) can open a commit watch.
        open_watch: Callable[[], CommitWatch] | None = getattr(
            engine, "open_watch", None
        )
        watch: CommitWatch | None = None
        if open_watch is not None:
            watch = await open_in_thread(open_watch)
        waiter = self._waiters.setdefault(key, anyio.Event())
        try:
            with anyio.fail_after(timeout):
                while True:
                    record = await in_thread(engine.get, key)
                    if record is None:
                        raise KeyError(f"no job with id {job_id!r}")
                    if record.state in FINISHED:
                        return record
                    with anyio.move_on_after(poll):
                        if watch is None:
                            await waiter.wait()
                        else:
                            while not waiter.is_set():
                                await anyio.sleep(WAIT_WATCH)
                                if await in_thread(watch.changed):
                                    break
        finally:
            if self._waiters.get(key) is waiter:
                del self._waiters[key]
            if watch is not None:
                watch.close()

    async def cancel(self, job_id: str) -> str:
        """Cancel *job_id*: a queued job never runs; a running one has its
        handler cancelled (at once by this backend's worker, else by the
        holder's next heartbeat, within a third of its lease) and ends
        ``cancelled``, not retried. Return its state after the call:
        ``"cancelled"``, ``"running"`` (cancellation under way), or the final
        state it had already reached.

        Raises:
            KeyError: the job does not exist (or was pruned).
        """
        key = _parse_id(job_id)
        states = await in_thread(self._require_engine().cancel, [key], now=time.time())
        if key not in states:
            raise KeyError(f"no job with id {job_id!r}")
        if states[key] == "running" and self.worker is not None:
            self.worker.cancel_now([key])
        return states[key]

    async def stats(self) -> QueueStats:
        """Return job counts per state, type and queue, and the oldest due age."""
        return await in_thread(self._require_engine().stats, now=time.time())

    async def prune(
        self, *, older_than: float = DEFAULT_RETENTION, dead: bool = False
    ) -> int:
        """Delete done jobs (and dead and cancelled ones if *dead*) finished
        over *older_than* seconds ago; return how many."""
        check_seconds("DurableBackend.prune()", "older_than", older_than, finite=False)
        now = time.time()
        before = now - older_than
        return await in_thread(
            self._require_engine().prune,
            done_before=before,
            dead_before=before if dead else None,
            now=now,
        )

    def _finished(self, job_id: int) -> None:
        waiter = self._waiters.get(job_id)
        if waiter is not None:
            waiter.set()

    def _row(self, job: Job) -> NewJob:
        if not isinstance(job, Job):
            raise TypeError(
                f"submit takes a plait.Job, got {job!r}; "
                "wrap it: backend.submit(plait.Job('type', {...}))"
            )
        if self._report is not None:
            raise RuntimeError("this DurableBackend was shut down")
        max_attempts = None
        queue = job.queue or "default"
        handler = self.handlers.find(job.type)
        if handler is not None:
            max_attempts = handler.retry.attempts
            queue = job.queue or handler.queue
        return NewJob(
            type=job.type,
            payload=payload_json(job.payload),
            priority=job.priority,
            not_before=time.time() if job.not_before is None else job.not_before,
            idempotency_key=job.idempotency_key,
            max_attempts=max_attempts,
            queue=queue,
        )

    def _require_engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError(
                "use the backend inside its block: "
                "`async with DurableBackend(dsn) as backend: ...`"
            )
        return self._engine

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
