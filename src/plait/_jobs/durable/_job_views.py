"""What the admin API returns about jobs: a list's summary, a page of them,
and a job's detail with its attempts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ._rows import AttemptRecord, JobRecord, JobState
from ._schema import split_error

ERROR_TAIL = 400


@dataclasses.dataclass(frozen=True, slots=True)
class JobSummary:
    """One job as a list shows it: no payload, result or traceback.

    Attributes:
        id: the job id ``submit`` returned.
        type, queue, state, priority: as stored.
        attempts: runs started and not released.
        max_attempts: what its handler's retry policy allows, once known.
        idempotency_key: its key, or ``None``.
        created_at, not_before: UNIX times (``not_before``: when it is due).
        started_at, finished_at: its latest attempt's start, and when it
            reached a final state (``None`` until then).
        worker: the worker that ran its latest attempt.
        error_line: its last failure in one line (``"ValueError: no such
            mailbox"``), or ``None``.

    Example:
        >>> import anyio, plait, tempfile, os
        >>> async def main(dsn: str) -> plait.JobSummary:
        ...     async with plait.DurableBackend(dsn) as backend:
        ...         await backend.submit(plait.Job("email.send", queue="mail"))
        ...         return (await backend.list_jobs()).jobs[0]
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     job = anyio.run(main, os.path.join(tmp, "jobs.db"))
        >>> job.type, job.queue, job.state, job.attempts
        ('email.send', 'mail', 'queued', 0)
    """

    id: str
    type: str
    queue: str
    state: JobState
    priority: int
    attempts: int
    max_attempts: int | None
    idempotency_key: str | None
    created_at: float
    not_before: float
    started_at: float | None
    finished_at: float | None
    worker: str | None
    error_line: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class JobPage:
    """One page of ``DurableBackend.list_jobs``.

    Attributes:
        jobs: up to ``limit`` jobs, in the order of the state filter.
        next_cursor: pass it as ``cursor`` for the next page; ``None`` at the
            end. A page with fewer than ``limit`` jobs is not the end unless
            this is ``None``.

    Example:
        >>> import anyio, plait, tempfile, os
        >>> async def main(dsn: str) -> list[int]:
        ...     sizes = []
        ...     async with plait.DurableBackend(dsn) as backend:
        ...         await backend.submit_many([plait.Job("t") for _ in range(5)])
        ...         page = await backend.list_jobs(limit=2)
        ...         sizes.append(len(page.jobs))
        ...         while page.next_cursor is not None:
        ...             page = await backend.list_jobs(limit=2, cursor=page.next_cursor)
        ...             sizes.append(len(page.jobs))
        ...     return sizes
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     anyio.run(main, os.path.join(tmp, "jobs.db"))
        [2, 2, 1]
    """

    jobs: tuple[JobSummary, ...]
    next_cursor: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class JobDetail:
    """A job with its history, as ``DurableBackend.inspect`` returns it.

    Attributes:
        record: the job's row: payload, result, state, queue, timestamps,
            the worker that ran it last and the lease holder while it runs.
        attempts: every attempt that did not succeed, oldest first, with its
            error and traceback; a successful attempt is the record itself
            (``started_at``, ``worker``, ``finished_at``, ``result``).

    Example:
        >>> import anyio, plait, tempfile, os
        >>> handlers = plait.JobHandlers()
        >>> policy = plait.RetryPolicy(attempts=2, base_delay=0.01)
        >>> @handlers.register("fail", retry=policy)
        ... async def fail(job: plait.Job) -> None:
        ...     raise ValueError(f"no mailbox {job.payload['to']}")
        >>> async def main(dsn: str) -> plait.JobDetail | None:
        ...     async with plait.DurableBackend(dsn, handlers=handlers) as backend:
        ...         job_id = await backend.submit(plait.Job("fail", {"to": "x"}))
        ...         await backend.wait(job_id, timeout=30)
        ...         return await backend.inspect(job_id)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     detail = anyio.run(main, os.path.join(tmp, "jobs.db"))
        >>> detail.record.state, [a.outcome for a in detail.attempts]
        ('dead', ['failed', 'failed'])
        >>> detail.attempts[-1].message
        'no mailbox x'
    """

    record: JobRecord
    attempts: tuple[AttemptRecord, ...]


SUMMARY_COLUMNS = (
    "id, type, queue, state, priority, attempts, max_attempts, idempotency_key, "
    "created_at, not_before, started_at, finished_at, worker"
)
SUMMARY_NAMES: tuple[str, ...] = tuple(SUMMARY_COLUMNS.replace(",", " ").split())


def summary(row: Sequence[Any]) -> JobSummary:
    """Build a JobSummary from a row of ``IndexReader.columns``."""
    tail = row[13]
    error_line = None
    if tail:
        error_type, message = split_error(tail)
        error_line = f"{error_type}: {message}" if error_type else message
    return JobSummary(
        id=str(row[0]),
        type=row[1],
        queue=row[2],
        state=row[3],
        priority=row[4],
        attempts=row[5],
        max_attempts=row[6],
        idempotency_key=row[7],
        created_at=row[8],
        not_before=row[9],
        started_at=row[10],
        finished_at=row[11],
        worker=row[12],
        error_line=error_line,
    )
