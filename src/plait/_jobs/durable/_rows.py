"""Rows as the engines return them: jobs, attempts, workers, schedules, counts.

Both engines select the same columns in the same order and build these
records with the same helpers, so a record never depends on the database.
The schema they read is described in ``_schema.py``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeAlias

STATES = ("queued", "running", "retrying", "done", "dead", "cancelled")
JobState: TypeAlias = Literal[
    "queued", "running", "retrying", "done", "dead", "cancelled"
]
"""Where a durable job stands: ``'queued'``, ``'running'``, ``'retrying'``,
``'done'``, ``'dead'`` (failed for good) or ``'cancelled'``."""
FINISHED = ("done", "dead", "cancelled")
Outcome = Literal["failed", "lost", "cancelled"]


@dataclasses.dataclass(frozen=True, slots=True)
class JobRecord:
    """One job's row as stored: its state, attempts, result or last error.

    Attributes:
        id: the job id ``submit`` returned.
        type: the handler type.
        payload: the decoded JSON payload (the stored text if it is not valid
            JSON: see ``decode_error``).
        state: ``"queued"``, ``"running"``, ``"retrying"``, ``"done"``,
            ``"dead"`` or ``"cancelled"``.
        priority: higher is claimed first within its queue.
        not_before: UNIX time before which it is not claimed (after a failure:
            when its retry is due).
        attempts: runs started and not released (the current one included).
        max_attempts: the attempts its handler's retry policy allows, once
            known (set at submit when the submitter has the handler).
        idempotency_key: its key, or ``None``.
        result: the handler's return value (decoded JSON) once done.
        error: the last failure's traceback, kept after dead-lettering.
        created_at: UNIX time it was submitted.
        finished_at: UNIX time it reached done, dead or cancelled.
        lost_leases: how often a worker died or hung holding it.
        queue: the queue it waits in.
        started_at: UNIX time its latest attempt started.
        worker: the worker that ran its latest attempt.
        lease_owner: the worker holding it now (running only).
        lease_expires: UNIX time the current lease ends (running only).
        cancel_requested_at: UNIX time a cancellation was asked for while it
            ran; the worker cancels the handler within a third of its lease.
        decode_error: why the stored payload or result is not valid JSON
            (naming the job); ``None`` when both decode.

    Example:
        >>> import anyio, plait, tempfile, os
        >>> async def main(dsn: str) -> plait.JobRecord | None:
        ...     async with plait.DurableBackend(dsn) as backend:
        ...         job_id = await backend.submit(plait.Job("t", {"n": 1}))
        ...         return await backend.get(job_id)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     record = anyio.run(main, os.path.join(tmp, "jobs.db"))
        >>> record.state, record.payload, record.attempts, record.queue
        ('queued', {'n': 1}, 0, 'default')
    """

    id: str
    type: str
    payload: Any
    state: JobState
    priority: int
    not_before: float
    attempts: int
    max_attempts: int | None
    idempotency_key: str | None
    result: Any
    error: str | None
    created_at: float
    finished_at: float | None
    lost_leases: int
    queue: str = "default"
    started_at: float | None = None
    worker: str | None = None
    lease_owner: str | None = None
    lease_expires: float | None = None
    cancel_requested_at: float | None = None
    decode_error: str | None = None


RECORD_COLUMNS = (
    "id, type, payload, state, priority, not_before, attempts, max_attempts, "
    "idempotency_key, result, error, created_at, finished_at, lost_leases, queue, "
    "started_at, worker, lease_owner, lease_expires, cancel_requested_at"
)


def record_from_row(row: Sequence[Any]) -> JobRecord:
    """Build a JobRecord from a row selected with RECORD_COLUMNS.

    A payload or result that is not valid JSON (a row edited by hand, a
    truncated write from another tool) is kept as its text, and
    ``decode_error`` says so, naming the job: the row stays inspectable.
    """
    job_id = str(row[0])
    problems: list[str] = []
    payload = _decode(row[2], job_id, "payload", problems)
    result = None if row[9] is None else _decode(row[9], job_id, "result", problems)
    return JobRecord(
        id=job_id,
        type=row[1],
        payload=payload,
        state=row[3],
        priority=row[4],
        not_before=row[5],
        attempts=row[6],
        max_attempts=row[7],
        idempotency_key=row[8],
        result=result,
        error=row[10],
        created_at=row[11],
        finished_at=row[12],
        lost_leases=row[13],
        queue=row[14],
        started_at=row[15],
        worker=row[16],
        lease_owner=row[17],
        lease_expires=row[18],
        cancel_requested_at=row[19],
        decode_error="; ".join(problems) or None,
    )


def _decode(text: str, job_id: str, what: str, problems: list[str]) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        problems.append(f"the stored {what} of job {job_id} is not valid JSON: {exc}")
        return text


@dataclasses.dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of a job that did not succeed: its error and who ran it.

    A successful attempt is the job's own row (``started_at``, ``worker``,
    ``finished_at``, ``result``); every other one is kept here: a handler
    that raised or timed out (``"failed"``), a worker that died or hung
    holding the job (``"lost"``), a run cancelled on request
    (``"cancelled"``).
    """

    id: int
    job_id: str
    attempt: int
    worker: str | None
    started_at: float | None
    finished_at: float | None
    outcome: Outcome
    error_type: str | None
    message: str | None
    traceback: str | None


ATTEMPT_COLUMNS = (
    "id, job_id, attempt, worker, started_at, finished_at, outcome, error_type, "
    "message, traceback"
)


def attempt_from_row(row: Sequence[Any]) -> AttemptRecord:
    """Build an AttemptRecord from a row selected with ATTEMPT_COLUMNS."""
    return AttemptRecord(row[0], str(row[1]), *row[2:])


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A worker as it registered itself, refreshed at every heartbeat.

    Attributes:
        name: its name in leases and logs.
        host, pid: where it runs.
        queues: the queues it serves, each with its concurrency.
        running: jobs it was running at its last heartbeat.
        state: ``"running"``, or ``"stopping"`` once it stopped claiming.
        version: the plait version it runs.
        started_at, last_seen: UNIX times.
        expires_at: it counts as alive until then (its last heartbeat plus
            its lease); a worker that died stays listed, expired, for a day.
    """

    name: str
    host: str
    pid: int
    queues: dict[str, int]
    running: int
    state: str
    version: str
    started_at: float
    last_seen: float
    expires_at: float

    def alive(self, now: float) -> bool:
        """Whether its heartbeat is current at UNIX time *now*."""
        return now <= self.expires_at


WORKER_COLUMNS = (
    "name, host, pid, queues, running, state, version, started_at, last_seen, "
    "expires_at"
)


def worker_from_row(row: Sequence[Any]) -> WorkerRecord:
    """Build a WorkerRecord from a row selected with WORKER_COLUMNS."""
    return WorkerRecord(row[0], row[1], row[2], json.loads(row[3]), *row[4:])


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A schedule as stored: what it enqueues, when, and what it last did."""

    name: str
    type: str
    queue: str
    payload: Any
    priority: int
    every: float | None
    cron: str | None
    timezone: str
    missed: str
    max_catch_up: int
    next_run: float
    last_tick: float | None
    last_job_id: str | None
    declared_at: float


SCHEDULE_COLUMNS = (
    "name, type, queue, payload, priority, every, cron, timezone, missed, "
    "max_catch_up, next_run, last_tick, last_job_id, declared_at"
)


def schedule_from_row(row: Sequence[Any]) -> ScheduleRecord:
    """Build a ScheduleRecord from a row selected with SCHEDULE_COLUMNS."""
    last_job = None if row[12] is None else str(row[12])
    name, type_, queue, payload, priority, every, cron, tz, missed, most = row[:10]
    return ScheduleRecord(
        name,
        type_,
        queue,
        json.loads(payload),
        priority,
        every,
        cron,
        tz,
        missed,
        most,
        row[10],
        row[11],
        last_job,
        row[13],
    )


@dataclasses.dataclass(frozen=True, slots=True)
class QueueStats:
    """Counts of jobs per state, per type and per queue, and the oldest due age.

    Attributes:
        counts: jobs per state; every state is present, zero or not.
        by_type: per job type, its counts per state (states with jobs only).
        oldest_queued_age: seconds the longest-waiting claimable job has been
            due (``queued`` or ``retrying`` with its not-before passed), or
            ``None`` when none is.
        by_queue: per queue, its counts per state (states with jobs only).

    Example:
        >>> import anyio, plait, tempfile, os
        >>> async def main(dsn: str) -> plait.QueueStats:
        ...     async with plait.DurableBackend(dsn) as backend:
        ...         await backend.submit_many([plait.Job("a"), plait.Job("b")])
        ...         return await backend.stats()
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     stats = anyio.run(main, os.path.join(tmp, "jobs.db"))
        >>> stats.counts["queued"], stats.by_type, stats.pending
        (2, {'a': {'queued': 1}, 'b': {'queued': 1}}, 2)
    """

    counts: dict[str, int]
    by_type: dict[str, dict[str, int]]
    oldest_queued_age: float | None
    by_queue: dict[str, dict[str, int]] = dataclasses.field(
        default_factory=dict[str, dict[str, int]]
    )

    @property
    def total(self) -> int:
        """All jobs stored, in any state."""
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        """Jobs not finished yet: queued, retrying or running."""
        return self.counts["queued"] + self.counts["retrying"] + self.counts["running"]


STATS_QUERY = "SELECT type, queue, state, count(*) FROM plait_jobs GROUP BY 1, 2, 3"


def build_stats(
    rows: Iterable[Sequence[Any]], oldest_due: float | None, now: float
) -> QueueStats:
    """Fold ``(type, queue, state, count)`` rows into QueueStats."""
    counts: dict[str, int] = dict.fromkeys(STATES, 0)
    by_type: dict[str, dict[str, int]] = {}
    by_queue: dict[str, dict[str, int]] = {}
    for type_, queue, state, count in rows:
        counts[state] = counts.get(state, 0) + int(count)
        per_type = by_type.setdefault(type_, {})
        per_type[state] = per_type.get(state, 0) + int(count)
        per_queue = by_queue.setdefault(queue, {})
        per_queue[state] = per_queue.get(state, 0) + int(count)
    age = None if oldest_due is None else max(0.0, now - oldest_due)
    return QueueStats(
        counts, dict(sorted(by_type.items())), age, dict(sorted(by_queue.items()))
    )
