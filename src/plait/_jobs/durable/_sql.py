"""The queries both engines share, written once with ``?`` placeholders.

``SQLEngine`` implements the engine methods of the job life cycle whose SQL
is the same on SQLite and PostgreSQL (heartbeats, reaping, reading jobs);
``ManagedQueries`` (``_sql_manage.py``) adds cancelling, retrying, pruning,
the worker registry and schedules. ``SQLiteEngine`` and ``PostgresEngine``
add the connection, the transaction (``_write``/``_read``), and the
statements where the dialects differ: the batched claim and
acknowledgement, inserts, and lease extension.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from ._engine import (
    MAX_LOST_LEASES,
    Ack,
    Beat,
    NewJob,
    Reaped,
    Tally,
)
from ._rows import (
    ATTEMPT_COLUMNS,
    RECORD_COLUMNS,
    STATS_QUERY,
    WORKER_COLUMNS,
    AttemptRecord,
    JobRecord,
    QueueStats,
    WorkerRecord,
    attempt_from_row,
    build_stats,
    record_from_row,
)
from ._schema import Dialect

T = TypeVar("T")

ACK_STATE = {
    "done": "done",
    "retry": "retrying",
    "dead": "dead",
    "cancelled": "cancelled",
}

# The WHERE names PostgreSQL's partial unique index on the key (see
# _schema.py); SQLite's column constraint satisfies it as well.
INSERT = """
INSERT INTO plait_jobs (type, payload, priority, not_before, idempotency_key,
    max_attempts, created_at, queue)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id
"""

# A batch of acknowledgements joined as ``v(id, token, state, result, error,
# nb, ma)`` to the jobs, aliased ``j``. A job whose cancellation was asked
# for while it ran ends cancelled, not retried: the handler's failure after
# the request changes nothing.
ACK_SET = """
    state = CASE WHEN j.cancel_requested_at IS NOT NULL AND v.state = 'retrying'
        THEN 'cancelled' ELSE v.state END,
    finished_at = CASE WHEN j.cancel_requested_at IS NULL AND v.state = 'retrying'
        THEN j.finished_at ELSE ? END,
    result = v.result, error = coalesce(v.error, j.error),
    not_before = coalesce(v.nb, j.not_before),
    max_attempts = coalesce(v.ma, j.max_attempts),
    lease_owner = NULL, lease_expires = NULL
"""
# Fencing: only the current claim's token, with its lease unexpired.
ACK_WHERE = """j.id = v.id AND j.state = 'running' AND j.lease_token = v.token
    AND j.lease_expires >= ?"""

# A released job did not spend an attempt; one flagged for cancellation is
# cancelled rather than handed to another worker.
RELEASE_SET = """
    state = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
        WHEN attempts > 1 THEN 'retrying' ELSE 'queued' END,
    attempts = CASE WHEN cancel_requested_at IS NOT NULL THEN attempts
        ELSE attempts - 1 END,
    finished_at = CASE WHEN cancel_requested_at IS NOT NULL THEN ?
        ELSE finished_at END,
    lease_owner = NULL, lease_expires = NULL
"""

# Right-hand sides see the row before the update, in SQLite and PostgreSQL.
_FINAL = f"(cancel_requested_at IS NOT NULL OR lost_leases + 1 >= {MAX_LOST_LEASES})"
REAP = f"""
UPDATE plait_jobs SET
    state = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
        WHEN lost_leases + 1 >= {MAX_LOST_LEASES} THEN 'dead'
        WHEN attempts > 1 THEN 'retrying' ELSE 'queued' END,
    attempts = CASE WHEN {_FINAL} THEN attempts ELSE attempts - 1 END,
    error = CASE WHEN cancel_requested_at IS NULL
        AND lost_leases + 1 >= {MAX_LOST_LEASES} THEN
        'lease lost {MAX_LOST_LEASES} times: the worker running it died or hung '
        || '(last: ' || coalesce(lease_owner, '-') || ')' ELSE error END,
    finished_at = CASE WHEN {_FINAL} THEN ? ELSE finished_at END,
    lost_leases = lost_leases + 1, lease_owner = NULL, lease_expires = NULL
WHERE state = 'running' AND lease_expires < ?
RETURNING id, type, queue, attempts, worker, state
"""

INSERT_ATTEMPT = """
INSERT INTO plait_attempts (job_id, attempt, worker, started_at, finished_at,
    outcome, error_type, message, traceback)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

UPSERT_WORKER = f"""
INSERT INTO plait_workers ({WORKER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid,
    queues = excluded.queues, running = excluded.running, state = excluded.state,
    version = excluded.version, started_at = excluded.started_at,
    last_seen = excluded.last_seen, expires_at = excluded.expires_at
"""

ADD_TALLY = """
INSERT INTO plait_throughput (minute, queue, done, failed, dead, cancelled)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (minute, queue) DO UPDATE SET
    done = plait_throughput.done + excluded.done,
    failed = plait_throughput.failed + excluded.failed,
    dead = plait_throughput.dead + excluded.dead,
    cancelled = plait_throughput.cancelled + excluded.cancelled
"""


class Tx(Protocol):
    """One open transaction, whatever the driver."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def count(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def many(self, sql: str, params: Iterable[Sequence[Any]]) -> None: ...


def marks(values: Sequence[object]) -> str:
    """Placeholders for an ``IN (...)`` list of *values*."""
    return ", ".join("?" * len(values))


def insert_attempts(tx: Tx, acks: Sequence[Ack], worker: str, now: float) -> None:
    """Write the attempt rows of the accepted acks that did not succeed."""
    rows = [
        (
            a.id,
            a.attempt,
            worker,
            a.started_at,
            now,
            "cancelled" if a.kind == "cancelled" else "failed",
            a.error_type,
            a.message,
            a.error,
        )
        for a in acks
        if a.kind != "done"
    ]
    if rows:
        tx.many(INSERT_ATTEMPT, rows)


def distinct_acks(acks: Sequence[Ack]) -> list[Ack]:
    """The first ack of each claim ``(id, token)`` in *acks*: a batch joins
    each job once, and, alone, a second ack of one claim would find its job
    no longer running."""
    return list({(a.id, a.token): a for a in reversed(acks)}.values())


def verdicts(
    acks: Sequence[Ack], written: set[tuple[int, int]]
) -> tuple[list[Ack], list[int]]:
    """The acks of *acks* accepted, and the ids of those rejected, given the
    claims ``(id, token)`` the batch wrote: the first ack of each of those
    is accepted."""
    seen: set[tuple[int, int]] = set()
    accepted: list[Ack] = []
    rejected: list[int] = []
    for a in acks:
        key = (a.id, a.token)
        if key in written and key not in seen:
            accepted.append(a)
        else:
            rejected.append(a.id)
        seen.add(key)
    return accepted, rejected


def worker_params(w: WorkerRecord) -> tuple[Any, ...]:
    return (
        w.name,
        w.host,
        w.pid,
        json.dumps(w.queues, sort_keys=True),
        w.running,
        w.state,
        w.version,
        w.started_at,
        w.last_seen,
        w.expires_at,
    )


def dataclass_row(t: Tally) -> tuple[Any, ...]:
    return (t.minute, t.queue, t.done, t.failed, t.dead, t.cancelled)


class SQLEngine:
    """The engine methods whose SQL both dialects share."""

    dsn: str
    dialect: Dialect
    # Row locks a PostgreSQL reader takes: so that concurrent firers skip the
    # row, or so that a read-then-update is not interleaved.
    skip_locked = ""
    lock_rows = ""

    def _write(self, fn: Callable[[Tx], T]) -> T:
        raise NotImplementedError

    def _read(self, fn: Callable[[Tx], T]) -> T:
        return self._write(fn)

    def read_with(self, fn: Callable[[Tx], T]) -> T:
        """Run *fn* with a read transaction (several queries, one snapshot on
        SQLite, no write lock); return what it returns."""
        return self._read(fn)

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one query (``?`` placeholders) in a read transaction; return
        its rows. On SQLite it does not take the write lock."""
        return self._read(lambda tx: tx.rows(sql, params))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one statement in its own write transaction; return its rows."""
        return self._write(lambda tx: tx.rows(sql, params))

    def explain(self, sql: str, params: Sequence[Any] = ()) -> list[str]:
        """Return the database's query plan for *sql*, one line per step."""
        raise NotImplementedError

    def _hint(self, index: str) -> str:
        """``INDEXED BY`` on SQLite (pinning a plan), nothing on PostgreSQL."""
        return ""

    def _ready(self) -> str:
        """The jobs table, pinned to its index of waiting jobs on SQLite."""
        return f"plait_jobs {self._hint('plait_jobs_ready')}"

    def _notify(self, tx: Tx) -> None:
        """Wake LISTENing workers (PostgreSQL); nothing on SQLite."""

    def _insert_one(self, tx: Tx, job: NewJob, now: float) -> int | None:
        rows = tx.rows(
            INSERT,
            (
                job.type,
                job.payload,
                job.priority,
                job.not_before,
                job.idempotency_key,
                job.max_attempts,
                now,
                job.queue,
            ),
        )
        return int(rows[0][0]) if rows else None

    def _extend(
        self, tx: Tx, held: Sequence[tuple[int, int]], expires: float, now: float
    ) -> list[tuple[int, Any]]:
        """Extend the leases of *held*; return ``(id, cancel_requested_at)``
        of those still held."""
        kept: list[tuple[int, Any]] = []
        for job_id, token in held:
            for row in tx.rows(
                "UPDATE plait_jobs SET lease_expires = ? WHERE id = ? "
                "AND state = 'running' AND lease_token = ? AND lease_expires >= ? "
                "RETURNING id, cancel_requested_at",
                (expires, job_id, token, now),
            ):
                kept.append((int(row[0]), row[1]))
        return kept

    def heartbeat(
        self,
        held: Sequence[tuple[int, int]],
        *,
        lease: float,
        now: float,
        worker: WorkerRecord | None = None,
        tallies: Sequence[Tally] = (),
    ) -> Beat:
        def work(tx: Tx) -> Beat:
            kept = self._extend(tx, held, now + lease, now) if held else []
            if worker is not None:
                tx.count(UPSERT_WORKER, worker_params(worker))
            if tallies:
                tx.many(ADD_TALLY, [dataclass_row(t) for t in tallies])
            ids = {job_id for job_id, _ in kept}
            return Beat(
                lost=tuple(job_id for job_id, _ in held if job_id not in ids),
                cancel=tuple(job_id for job_id, flag in kept if flag is not None),
            )

        return self._write(work)

    def reap(self, *, now: float) -> list[Reaped]:
        def work(tx: Tx) -> list[Reaped]:
            rows = tx.rows(REAP, (now, now))
            reaped = [
                Reaped(
                    id=int(r[0]),
                    type=r[1],
                    queue=r[2],
                    attempt=r[3] if r[5] in ("dead", "cancelled") else r[3] + 1,
                    worker=r[4],
                    state=r[5],
                )
                for r in rows
            ]
            tx.many(
                INSERT_ATTEMPT,
                [
                    (
                        r.id,
                        r.attempt,
                        r.worker,
                        None,
                        now,
                        "lost",
                        None,
                        f"the lease expired: worker {r.worker} died or hung "
                        "holding the job",
                        None,
                    )
                    for r in reaped
                ],
            )
            if any(r.state in ("queued", "retrying") for r in reaped):
                self._notify(tx)
            return reaped

        return self._write(work)

    def stats(self, *, now: float) -> QueueStats:
        def work(tx: Tx) -> QueueStats:
            rows = tx.rows(STATS_QUERY)
            ((oldest,),) = tx.rows(
                f"SELECT min(not_before) FROM {self._ready()} "
                "WHERE state IN ('queued', 'retrying') AND not_before <= ?",
                (now,),
            )
            return build_stats(rows, oldest, now)

        return self._read(work)

    def get(self, job_id: int) -> JobRecord | None:
        rows = self._read(
            lambda tx: tx.rows(
                f"SELECT {RECORD_COLUMNS} FROM plait_jobs WHERE id = ?", (job_id,)
            )
        )
        return record_from_row(rows[0]) if rows else None

    def attempts(self, job_id: int) -> list[AttemptRecord]:
        rows = self._read(
            lambda tx: tx.rows(
                f"SELECT {ATTEMPT_COLUMNS} FROM plait_attempts WHERE job_id = ? "
                "ORDER BY id",
                (job_id,),
            )
        )
        return [attempt_from_row(row) for row in rows]

    def next_due(self, queues: Sequence[str]) -> float | None:
        ((due,),) = self._read(
            lambda tx: tx.rows(
                f"SELECT min(not_before) FROM {self._ready()} "
                f"WHERE queue IN ({marks(queues)}) AND state IN ('queued', 'retrying')",
                tuple(queues),
            )
        )
        return None if due is None else float(due)

    def pending(self, queues: Sequence[str], *, now: float) -> bool:
        """Whether any job of *queues* runs, retries later, or is due."""
        where = f"queue IN ({marks(queues)})"

        def work(tx: Tx) -> bool:
            waiting = tx.rows(
                f"SELECT 1 FROM {self._ready()} WHERE "
                f"{where} AND state IN ('queued', 'retrying') AND "
                "(state = 'retrying' OR not_before <= ?) LIMIT 1",
                (*queues, now),
            )
            running = tx.rows(
                f"SELECT 1 FROM plait_jobs WHERE state = 'running' AND {where} LIMIT 1",
                tuple(queues),
            )
            return bool(waiting or running)

        return self._read(work)
