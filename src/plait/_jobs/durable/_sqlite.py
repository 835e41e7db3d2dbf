"""The SQLite engine: one file, WAL, ``synchronous=FULL``, stdlib ``sqlite3``.

Each call is one ``BEGIN IMMEDIATE`` transaction, so a claim (one conditional
``UPDATE ... RETURNING``) is atomic across processes. The claim names its
partial index with ``INDEXED BY``: once ``ANALYZE`` has seen a table that was
all queued, SQLite's planner was seen to scan the table from its start on
every claim as finished rows piled up; pinned, a claim reads only claimable
rows, and a schema that lost the index fails loudly instead of slowly.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

from ._engine import (
    MAX_LOST_LEASES,
    STATES,
    Ack,
    Claimed,
    DatabaseUnavailableError,
    Exchange,
    JobRecord,
    NewJob,
    QueueStats,
    sqlite_path,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS plait_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued',
    not_before REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER,
    idempotency_key TEXT UNIQUE,
    lease_token INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires REAL,
    lost_leases INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS plait_jobs_claim ON plait_jobs
    (priority DESC, not_before, id) WHERE state IN ('queued', 'retrying');
CREATE INDEX IF NOT EXISTS plait_jobs_lease ON plait_jobs
    (lease_expires) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS plait_jobs_finished ON plait_jobs
    (finished_at) WHERE state IN ('done', 'dead');
"""

CLAIM = """
UPDATE plait_jobs SET state = 'running', attempts = attempts + 1,
    lease_token = lease_token + 1, lease_owner = ?, lease_expires = ?,
    started_at = ?
WHERE id IN (
    SELECT id FROM plait_jobs INDEXED BY plait_jobs_claim
    WHERE state IN ('queued', 'retrying') AND not_before <= ?
    ORDER BY priority DESC, not_before, id LIMIT ?
)
RETURNING id, type, payload, priority, not_before, idempotency_key, attempts,
    lease_token
"""

ACK = """
UPDATE plait_jobs SET state = ?, result = ?, error = coalesce(?, error),
    not_before = coalesce(?, not_before),
    max_attempts = coalesce(?, max_attempts), finished_at = ?,
    lease_owner = NULL, lease_expires = NULL
WHERE id = ? AND state = 'running' AND lease_token = ? AND lease_expires >= ?
"""

RELEASE = """
UPDATE plait_jobs SET
    state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'queued' END,
    attempts = attempts - 1, lease_owner = NULL, lease_expires = NULL
WHERE id = ? AND state = 'running' AND lease_token = ?
"""

# Right-hand sides see the row before the update, in SQLite and PostgreSQL.
REAP = f"""
UPDATE plait_jobs SET
    state = CASE WHEN lost_leases + 1 >= {MAX_LOST_LEASES} THEN 'dead'
        WHEN attempts > 1 THEN 'retrying' ELSE 'queued' END,
    attempts = CASE WHEN lost_leases + 1 >= {MAX_LOST_LEASES} THEN attempts
        ELSE attempts - 1 END,
    error = CASE WHEN lost_leases + 1 >= {MAX_LOST_LEASES} THEN
        'lease lost {MAX_LOST_LEASES} times: the worker running it died or hung '
        || '(last: ' || coalesce(lease_owner, '?') || ')' ELSE error END,
    finished_at = CASE WHEN lost_leases + 1 >= {MAX_LOST_LEASES} THEN ?
        ELSE finished_at END,
    lost_leases = lost_leases + 1, lease_owner = NULL, lease_expires = NULL
WHERE state = 'running' AND lease_expires < ?
"""

ACK_STATE = {"done": "done", "retry": "retrying", "dead": "dead"}

RECORD_COLUMNS = (
    "id, type, payload, state, priority, not_before, attempts, max_attempts, "
    "idempotency_key, result, error, created_at, finished_at, lost_leases"
)


def record_from_row(row: Sequence[Any]) -> JobRecord:
    """Build a JobRecord from a row selected with RECORD_COLUMNS."""
    return JobRecord(
        id=str(row[0]),
        type=row[1],
        payload=json.loads(row[2]),
        state=row[3],
        priority=row[4],
        not_before=row[5],
        attempts=row[6],
        max_attempts=row[7],
        idempotency_key=row[8],
        result=None if row[9] is None else json.loads(row[9]),
        error=row[10],
        created_at=row[11],
        finished_at=row[12],
        lost_leases=row[13],
    )


def build_stats(rows: Sequence[Sequence[Any]], oldest: float | None) -> QueueStats:
    """Fold ``(type, state, count)`` rows into QueueStats."""
    counts: dict[str, int] = dict.fromkeys(STATES, 0)
    by_type: dict[str, dict[str, int]] = {}
    for type_, state, count in rows:
        counts[state] = counts.get(state, 0) + int(count)
        by_type.setdefault(type_, {})[state] = int(count)
    return QueueStats(counts, dict(sorted(by_type.items())), oldest)


class SQLiteEngine:
    """One connection to a SQLite job file, safe to call from any one thread
    at a time."""

    def __init__(self, dsn: str, *, busy_timeout: float = 30.0) -> None:
        self.dsn = dsn
        self._path = sqlite_path(dsn)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                self._path,
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout,
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            with self._transaction() as cur:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        cur.execute(statement)
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(
                f"cannot open the SQLite job database {self._path!r}: {exc}"
            ) from exc

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn, self._lock)

    def insert(self, jobs: Sequence[NewJob]) -> list[int]:
        ids: list[int] = []
        now = time.time()
        with self._transaction() as cur:
            for job in jobs:
                row = cur.execute(
                    "INSERT INTO plait_jobs (type, payload, priority, not_before, "
                    "idempotency_key, max_attempts, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                    (
                        job.type,
                        job.payload,
                        job.priority,
                        job.not_before,
                        job.idempotency_key,
                        job.max_attempts,
                        now,
                    ),
                ).fetchone()
                if row is None:
                    row = cur.execute(
                        "SELECT id FROM plait_jobs WHERE idempotency_key = ?",
                        (job.idempotency_key,),
                    ).fetchone()
                ids.append(int(row[0]))
        return ids

    def exchange(
        self,
        acks: Sequence[Ack],
        release: Sequence[tuple[int, int]],
        claim: int,
        *,
        owner: str,
        lease: float,
        now: float,
    ) -> Exchange:
        accepted: list[int] = []
        rejected: list[int] = []
        claimed: list[Claimed] = []
        with self._transaction() as cur:
            for ack in acks:
                finished = now if ack.kind != "retry" else None
                cur.execute(
                    ACK,
                    (
                        ACK_STATE[ack.kind],
                        ack.result,
                        ack.error,
                        ack.not_before,
                        ack.max_attempts,
                        finished,
                        ack.id,
                        ack.token,
                        now,
                    ),
                )
                (accepted if cur.rowcount == 1 else rejected).append(ack.id)
            for job_id, token in release:
                cur.execute(RELEASE, (job_id, token))
            if claim > 0:
                rows = cur.execute(
                    CLAIM, (owner, now + lease, now, now, claim)
                ).fetchall()
                claimed = [Claimed(*row) for row in rows]
        claimed.sort(key=lambda c: (-c.priority, c.not_before, c.id))
        return Exchange(tuple(accepted), tuple(rejected), tuple(claimed))

    def heartbeat(
        self, held: Sequence[tuple[int, int]], *, lease: float, now: float
    ) -> list[int]:
        lost: list[int] = []
        with self._transaction() as cur:
            for job_id, token in held:
                cur.execute(
                    "UPDATE plait_jobs SET lease_expires = ? WHERE id = ? "
                    "AND state = 'running' AND lease_token = ? "
                    "AND lease_expires >= ?",
                    (now + lease, job_id, token, now),
                )
                if cur.rowcount != 1:
                    lost.append(job_id)
        return lost

    def reap(self, *, now: float) -> int:
        with self._transaction() as cur:
            cur.execute(REAP, (now, now))
            return int(cur.rowcount)

    def prune(self, *, done_before: float, dead_before: float | None) -> int:
        deleted = 0
        targets = [("done", done_before)]
        if dead_before is not None:
            targets.append(("dead", dead_before))
        for state, before in targets:
            while True:
                with self._transaction() as cur:
                    # SQLite uses a partial index only when the query repeats
                    # its WHERE term verbatim.
                    cur.execute(
                        "DELETE FROM plait_jobs WHERE id IN (SELECT id FROM "
                        "plait_jobs INDEXED BY plait_jobs_finished WHERE state IN "
                        f"('done', 'dead') AND state = '{state}' AND finished_at < ? "
                        "LIMIT 5000)",
                        (before,),
                    )
                    count = cur.rowcount
                deleted += count
                if count < 5000:
                    break
        return deleted

    def stats(self, *, now: float) -> QueueStats:
        with self._lock:
            rows = self._conn.execute(
                "SELECT type, state, count(*) FROM plait_jobs GROUP BY type, state"
            ).fetchall()
            (oldest,) = self._conn.execute(
                "SELECT min(not_before) FROM plait_jobs INDEXED BY plait_jobs_claim "
                "WHERE state IN ('queued', 'retrying') AND not_before <= ?",
                (now,),
            ).fetchone()
        return build_stats(rows, None if oldest is None else max(0.0, now - oldest))

    def get(self, job_id: int) -> JobRecord | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {RECORD_COLUMNS} FROM plait_jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else record_from_row(row)

    def next_due(self) -> float | None:
        with self._lock:
            (due,) = self._conn.execute(
                "SELECT min(not_before) FROM plait_jobs INDEXED BY plait_jobs_claim "
                "WHERE state IN ('queued', 'retrying')"
            ).fetchone()
        return None if due is None else float(due)

    def explain_claim(self) -> list[str]:
        """Return SQLite's plan for the claim query (for tests)."""
        with self._lock:
            rows = self._conn.execute(
                "EXPLAIN QUERY PLAN " + CLAIM, ("x", 0.0, 0.0, 0.0, 1)
            ).fetchall()
        return [str(row[-1]) for row in rows]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one statement in its own transaction (for tests and tools)."""
        with self._transaction() as cur:
            return list(cur.execute(sql, params).fetchall())

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Transaction:
    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        self._conn = conn
        self._lock = lock

    def __enter__(self) -> Any:
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self._lock.release()
            raise _unavailable(exc) from exc
        except BaseException:
            self._lock.release()
            raise
        return self._conn.cursor()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._conn.execute("COMMIT")
            elif self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.OperationalError as error:
            raise _unavailable(error) from error
        finally:
            self._lock.release()
        if isinstance(exc, sqlite3.OperationalError) and _is_outage(exc):
            raise _unavailable(exc) from exc


_OUTAGE_WORDS = ("locked", "busy", "unable to open", "disk", "i/o", "readonly")


def _is_outage(exc: sqlite3.OperationalError) -> bool:
    """Tell a database that is busy or gone from a bug in a statement."""
    text = str(exc).lower()
    return any(word in text for word in _OUTAGE_WORDS)


def _unavailable(exc: sqlite3.Error) -> DatabaseUnavailableError:
    return DatabaseUnavailableError(f"SQLite job database: {exc}")
