"""The PostgreSQL engine: psycopg 3 sync connections driven from worker threads.

Claims use ``FOR UPDATE SKIP LOCKED`` so workers on many machines never wait
for each other's rows; acknowledgements of a whole batch are one
``UPDATE ... FROM unnest(...)`` in the transaction that claims the next
batch, so a busy worker pays one durable commit per batch, not two per job.
Inserts ``NOTIFY`` a channel named after the table's schema; workers LISTEN
on a second connection and wake at once (see ``PostgresListener``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ._engine import (
    MAX_LOST_LEASES,
    Ack,
    Claimed,
    DatabaseUnavailableError,
    Exchange,
    JobRecord,
    NewJob,
    QueueStats,
    redact,
)
from ._sqlite import ACK_STATE, RECORD_COLUMNS, build_stats, record_from_row

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS plait_jobs (
    id BIGSERIAL PRIMARY KEY,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued',
    not_before DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER,
    idempotency_key TEXT UNIQUE,
    lease_token BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires DOUBLE PRECISION,
    lost_leases INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS plait_jobs_claim ON plait_jobs
    (priority DESC, not_before, id) WHERE state IN ('queued', 'retrying');
CREATE INDEX IF NOT EXISTS plait_jobs_lease ON plait_jobs
    (lease_expires) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS plait_jobs_finished ON plait_jobs
    (finished_at) WHERE state IN ('done', 'dead')
"""

# Serialises concurrent schema creation (CREATE ... IF NOT EXISTS can race).
SCHEMA_LOCK = 0x706C616974

INSERT = """
INSERT INTO plait_jobs (type, payload, priority, not_before, idempotency_key,
    max_attempts, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
"""

CLAIM = """
WITH c AS (
    SELECT id FROM plait_jobs
    WHERE state IN ('queued', 'retrying') AND not_before <= %(now)s
    ORDER BY priority DESC, not_before, id LIMIT %(n)s
    FOR UPDATE SKIP LOCKED
)
UPDATE plait_jobs j SET state = 'running', attempts = j.attempts + 1,
    lease_token = j.lease_token + 1, lease_owner = %(owner)s,
    lease_expires = %(expires)s, started_at = %(now)s
FROM c WHERE j.id = c.id
RETURNING j.id, j.type, j.payload, j.priority, j.not_before, j.idempotency_key,
    j.attempts, j.lease_token
"""

ACK = """
UPDATE plait_jobs j SET state = v.state, result = v.result,
    error = coalesce(v.error, j.error), not_before = coalesce(v.nb, j.not_before),
    max_attempts = coalesce(v.ma, j.max_attempts), finished_at = v.fin,
    lease_owner = NULL, lease_expires = NULL
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[],
    %s::float8[], %s::int[], %s::float8[]) AS v(id, token, state, result, error,
    nb, ma, fin)
WHERE j.id = v.id AND j.state = 'running' AND j.lease_token = v.token
    AND j.lease_expires >= %s
RETURNING j.id
"""

RELEASE = """
UPDATE plait_jobs j SET
    state = CASE WHEN j.attempts > 1 THEN 'retrying' ELSE 'queued' END,
    attempts = j.attempts - 1, lease_owner = NULL, lease_expires = NULL
FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, token)
WHERE j.id = v.id AND j.state = 'running' AND j.lease_token = v.token
"""

HEARTBEAT = """
UPDATE plait_jobs j SET lease_expires = %s
FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, token)
WHERE j.id = v.id AND j.state = 'running' AND j.lease_token = v.token
    AND j.lease_expires >= %s
RETURNING j.id
"""

REAP = f"""
UPDATE plait_jobs SET
    state = CASE WHEN lost_leases + 1 >= {MAX_LOST_LEASES} THEN 'dead'
        WHEN attempts > 1 THEN 'retrying' ELSE 'queued' END,
    attempts = CASE WHEN lost_leases + 1 >= {MAX_LOST_LEASES} THEN attempts
        ELSE attempts - 1 END,
    error = CASE WHEN lost_leases + 1 >= {MAX_LOST_LEASES} THEN
        'lease lost {MAX_LOST_LEASES} times: the worker running it died or hung '
        || '(last: ' || coalesce(lease_owner, '-') || ')' ELSE error END,
    finished_at = CASE WHEN lost_leases + 1 >= {MAX_LOST_LEASES} THEN %s
        ELSE finished_at END,
    lost_leases = lost_leases + 1, lease_owner = NULL, lease_expires = NULL
WHERE state = 'running' AND lease_expires < %s
"""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ImportError(
            "PostgreSQL job queues need psycopg 3: pip install 'plait[postgres]'"
        ) from None
    return psycopg


def _connect(dsn: str) -> Any:
    psycopg = _psycopg()
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to the job database {redact(dsn)}: {exc}".strip()
        ) from None


class PostgresEngine:
    """One psycopg connection to the job table; reconnects after an outage."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._lock = threading.Lock()
        self._conn = _connect(dsn)
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in SCHEMA.split(";"):
                self._conn.execute(statement)
        (schema,) = self._conn.execute("SELECT current_schema()").fetchone()
        self.channel = f"plait_jobs:{schema}"

    def _run(self, fn: Callable[[Any], T]) -> T:
        """Run *fn(cursor)* in one transaction; outages become
        DatabaseUnavailableError and the next call reconnects."""
        psycopg = _psycopg()
        with self._lock:
            for attempt in range(1, 4):
                try:
                    if self._conn.closed or self._conn.broken:
                        self._conn.close()
                        self._conn = _connect(self.dsn)
                    with self._conn.transaction(), self._conn.cursor() as cur:
                        return fn(cur)
                except (
                    psycopg.errors.DeadlockDetected,
                    psycopg.errors.SerializationFailure,
                ):
                    # A deadlock between a reaper and an ack touching the same
                    # rows in different orders: the transaction is safe to redo.
                    if attempt == 3:
                        raise
                except psycopg.OperationalError as exc:
                    if not (self._conn.closed or self._conn.broken):
                        raise
                    raise DatabaseUnavailableError(
                        f"lost the job database {redact(self.dsn)}: {exc}".strip()
                    ) from None
            raise AssertionError("unreachable")

    def insert(self, jobs: Sequence[NewJob]) -> list[int]:
        now = time.time()
        params = [
            (
                j.type,
                j.payload,
                j.priority,
                j.not_before,
                j.idempotency_key,
                j.max_attempts,
                now,
            )
            for j in jobs
        ]

        def work(cur: Any) -> list[int]:
            cur.executemany(INSERT, params, returning=True)
            ids: list[int | None] = []
            while True:
                row = cur.fetchone()
                ids.append(None if row is None else row[0])
                if not cur.nextset():
                    break
            pairs = list(zip(jobs, ids, strict=True))
            missing = [j.idempotency_key for j, i in pairs if i is None]
            if missing:
                cur.execute(
                    "SELECT idempotency_key, id FROM plait_jobs "
                    "WHERE idempotency_key = ANY(%s)",
                    (missing,),
                )
                known = dict(cur.fetchall())
                ids = [known[j.idempotency_key] if i is None else i for j, i in pairs]
            cur.execute("SELECT pg_notify(%s, '')", (self.channel,))
            return [int(i) for i in ids if i is not None]

        return self._run(work)

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
        def work(cur: Any) -> Exchange:
            accepted: set[int] = set()
            if acks:
                cur.execute(
                    ACK,
                    (
                        [a.id for a in acks],
                        [a.token for a in acks],
                        [ACK_STATE[a.kind] for a in acks],
                        [a.result for a in acks],
                        [a.error for a in acks],
                        [a.not_before for a in acks],
                        [a.max_attempts for a in acks],
                        [None if a.kind == "retry" else now for a in acks],
                        now,
                    ),
                )
                accepted = {row[0] for row in cur.fetchall()}
            if release:
                cur.execute(RELEASE, ([r[0] for r in release], [r[1] for r in release]))
                # Released jobs are free at once: wake the other workers.
                cur.execute("SELECT pg_notify(%s, '')", (self.channel,))
            claimed: list[Claimed] = []
            if claim > 0:
                cur.execute(
                    CLAIM,
                    {"now": now, "n": claim, "owner": owner, "expires": now + lease},
                )
                claimed = [Claimed(*row) for row in cur.fetchall()]
            claimed.sort(key=lambda c: (-c.priority, c.not_before, c.id))
            return Exchange(
                tuple(a.id for a in acks if a.id in accepted),
                tuple(a.id for a in acks if a.id not in accepted),
                tuple(claimed),
            )

        return self._run(work)

    def heartbeat(
        self, held: Sequence[tuple[int, int]], *, lease: float, now: float
    ) -> list[int]:
        def work(cur: Any) -> list[int]:
            cur.execute(
                HEARTBEAT,
                (now + lease, [h[0] for h in held], [h[1] for h in held], now),
            )
            kept = {row[0] for row in cur.fetchall()}
            return [job_id for job_id, _ in held if job_id not in kept]

        return self._run(work)

    def reap(self, *, now: float) -> int:
        def work(cur: Any) -> int:
            cur.execute(REAP, (now, now))
            requeued = int(cur.rowcount)
            if requeued:
                cur.execute("SELECT pg_notify(%s, '')", (self.channel,))
            return requeued

        return self._run(work)

    def prune(self, *, done_before: float, dead_before: float | None) -> int:
        def work(cur: Any) -> int:
            cur.execute(
                "DELETE FROM plait_jobs WHERE state IN ('done', 'dead') AND "
                "((state = 'done' AND finished_at < %s) OR "
                "(state = 'dead' AND finished_at < %s))",
                (done_before, dead_before),
            )
            return int(cur.rowcount)

        return self._run(work)

    def stats(self, *, now: float) -> QueueStats:
        def work(cur: Any) -> QueueStats:
            cur.execute(
                "SELECT type, state, count(*) FROM plait_jobs GROUP BY type, state"
            )
            rows = cur.fetchall()
            cur.execute(
                "SELECT min(not_before) FROM plait_jobs WHERE state IN "
                "('queued', 'retrying') AND not_before <= %s",
                (now,),
            )
            (oldest,) = cur.fetchone()
            return build_stats(rows, None if oldest is None else max(0.0, now - oldest))

        return self._run(work)

    def get(self, job_id: int) -> JobRecord | None:
        def work(cur: Any) -> JobRecord | None:
            cur.execute(
                f"SELECT {RECORD_COLUMNS} FROM plait_jobs WHERE id = %s", (job_id,)
            )
            row = cur.fetchone()
            return None if row is None else record_from_row(row)

        return self._run(work)

    def next_due(self) -> float | None:
        def work(cur: Any) -> float | None:
            cur.execute(
                "SELECT min(not_before) FROM plait_jobs "
                "WHERE state IN ('queued', 'retrying')"
            )
            (due,) = cur.fetchone()
            return None if due is None else float(due)

        return self._run(work)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one statement in its own transaction (for tests and tools)."""

        def work(cur: Any) -> list[Any]:
            cur.execute(sql.replace("?", "%s"), params)
            return list(cur.fetchall()) if cur.description else []

        return self._run(work)

    def open_listener(self) -> PostgresListener:
        """Open a second connection that LISTENs on this table's channel."""
        return PostgresListener(self.dsn, self.channel)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresListener:
    """A LISTENing connection: wait on ``fileno()``, then ``drain()``."""

    def __init__(self, dsn: str, channel: str) -> None:
        self._conn = _connect(dsn)
        quoted = channel.replace('"', '""')
        self._conn.execute(f'LISTEN "{quoted}"')

    def fileno(self) -> int:
        return int(self._conn.fileno())

    def drain(self) -> int:
        """Consume pending notifications without blocking; return how many."""
        psycopg = _psycopg()
        try:
            return sum(1 for _ in self._conn.notifies(timeout=0))
        except psycopg.Error as exc:
            raise DatabaseUnavailableError(f"listener connection lost: {exc}") from None

    def close(self) -> None:
        self._conn.close()
