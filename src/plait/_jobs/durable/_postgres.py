"""The PostgreSQL engine: psycopg 3 sync connections driven from worker threads.

Claims use ``FOR UPDATE SKIP LOCKED`` so workers on many machines never wait
for each other's rows; acknowledgements of a whole batch are one
``UPDATE ... FROM unnest(...)`` in the transaction that claims the next
batch, so a busy worker pays one durable commit per batch, not two per job.
Inserts ``NOTIFY`` a channel named after the table's schema; workers LISTEN
on a second connection and wake at once (see ``PostgresListener``).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ._engine import (
    CLAIMED_COLUMNS,
    Ack,
    Claimed,
    DatabaseUnavailableError,
    Exchange,
    NewJob,
    redact,
)
from ._schema import Dialect, ensure_schema
from ._sql import (
    ACK_SET,
    ACK_STATE,
    ACK_WHERE,
    INSERT,
    RELEASE_SET,
    Tx,
    distinct_acks,
    insert_attempts,
    verdicts,
)
from ._sql_manage import ManagedQueries

T = TypeVar("T")

# Serialises concurrent schema creation and migration.
SCHEMA_LOCK = 0x706C616974

# The claimed ids come back as one array the primary key looks up: joined
# instead, the planner was seen to hash the whole table for 200 rows.
CLAIM = f"""
UPDATE plait_jobs SET state = 'running', attempts = attempts + 1,
    lease_token = lease_token + 1, lease_owner = %(owner)s,
    lease_expires = %(expires)s, started_at = %(now)s, worker = %(owner)s
WHERE id = ANY(ARRAY(
    SELECT id FROM plait_jobs
    WHERE queue = %(queue)s AND state IN ('queued', 'retrying')
        AND not_before <= %(now)s
    ORDER BY priority DESC, not_before, id LIMIT %(n)s
    FOR UPDATE SKIP LOCKED
))
RETURNING {CLAIMED_COLUMNS}
"""

# The arrays go in binary: in text, psycopg quotes every element, checking
# each string with a regex, and the server parses them back.
ACK = f"""
UPDATE plait_jobs j SET {ACK_SET.replace("?", "%s")}
FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::text[], %b::text[],
    %b::float8[], %b::int[]) AS v(id, token, state, result, error, nb, ma)
WHERE {ACK_WHERE.replace("?", "%s")}
RETURNING j.id, j.lease_token
"""

RELEASE = f"""
UPDATE plait_jobs j SET {RELEASE_SET.replace("?", "%s")}
FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, token)
WHERE j.id = v.id AND j.state = 'running' AND j.lease_token = v.token
"""

HEARTBEAT = """
UPDATE plait_jobs j SET lease_expires = %s
FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, token)
WHERE j.id = v.id AND j.state = 'running' AND j.lease_token = v.token
    AND j.lease_expires >= %s
RETURNING j.id, j.cancel_requested_at
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


@functools.cache
def _pg(sql: str) -> str:
    """The shared ``?``-placeholder SQL in psycopg's ``%s`` style."""
    return sql.replace("?", "%s")


class PostgresEngine(ManagedQueries):
    """One psycopg connection to the job tables; reconnects after an outage.

    The batched statements run unprepared: psycopg prepares a statement
    after a few runs, and PostgreSQL's generic plan for it guesses ten rows
    for an ``unnest`` of a parameter array and none in the lease index, then
    joins them the wrong way round (a 200-job acknowledgement took 60 ms
    instead of 2). Planned each time, it sees the arrays' lengths.
    """

    dialect: Dialect = "postgres"
    skip_locked = "FOR UPDATE SKIP LOCKED"
    lock_rows = "FOR UPDATE"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._lock = threading.Lock()
        self._conn = _connect(dsn)
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                ensure_schema(_PostgresTx(cur).rows, "postgres", where=redact(dsn))
            (schema,) = self._conn.execute("SELECT current_schema()").fetchone()
        except BaseException:
            self._conn.close()
            raise
        self.channel = f"plait_jobs:{schema}"

    def _write(self, fn: Callable[[Tx], T]) -> T:
        return self._pg_write(fn)

    def _pg_write(self, fn: Callable[[_PostgresTx], T]) -> T:
        """Run *fn(tx)* in one transaction; outages become
        DatabaseUnavailableError and the next call reconnects."""
        psycopg = _psycopg()
        with self._lock:
            for attempt in range(1, 4):
                try:
                    if self._conn.closed or self._conn.broken:
                        self._conn.close()
                        self._conn = _connect(self.dsn)
                    with self._conn.transaction(), self._conn.cursor() as cur:
                        return fn(_PostgresTx(cur))
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

    def _notify(self, tx: Tx) -> None:
        tx.rows("SELECT pg_notify(?, '')", (self.channel,))

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
                j.queue,
            )
            for j in jobs
        ]

        def work(tx: _PostgresTx) -> list[int]:
            cur = tx.cursor
            cur.executemany(_pg(INSERT), params, returning=True)
            ids: list[int | None] = []
            while True:
                row = cur.fetchone()
                ids.append(None if row is None else row[0])
                if not cur.nextset():
                    break
            pairs = list(zip(jobs, ids, strict=True))
            missing = [j.idempotency_key for j, i in pairs if i is None]
            if missing:
                known = dict(
                    tx.rows(
                        "SELECT idempotency_key, id FROM plait_jobs "
                        "WHERE idempotency_key = ANY(?)",
                        (missing,),
                    )
                )
                ids = [known[j.idempotency_key] if i is None else i for j, i in pairs]
            self._notify(tx)
            return [int(i) for i in ids if i is not None]

        return self._pg_write(work)

    def exchange(
        self,
        acks: Sequence[Ack],
        release: Sequence[tuple[int, int]],
        claims: Mapping[str, int],
        *,
        owner: str,
        lease: float,
        now: float,
    ) -> Exchange:
        def work(tx: _PostgresTx) -> Exchange:
            cur = tx.cursor
            accepted: list[Ack] = []
            rejected: list[int] = []
            if acks:
                distinct = distinct_acks(acks)
                cur.execute(
                    ACK,
                    (
                        now,
                        [a.id for a in distinct],
                        [a.token for a in distinct],
                        [ACK_STATE[a.kind] for a in distinct],
                        [a.result for a in distinct],
                        [a.error for a in distinct],
                        [a.not_before for a in distinct],
                        [a.max_attempts for a in distinct],
                        now,
                    ),
                    prepare=False,
                )
                accepted, rejected = verdicts(acks, set(cur.fetchall()))
                insert_attempts(tx, accepted, owner, now)
            if release:
                cur.execute(
                    RELEASE,
                    (now, [r[0] for r in release], [r[1] for r in release]),
                    prepare=False,
                )
                # Released jobs are free at once: wake the other workers.
                self._notify(tx)
            claimed: list[Claimed] = []
            for queue, n in claims.items():
                if n > 0:
                    cur.execute(
                        CLAIM,
                        {
                            "queue": queue,
                            "now": now,
                            "n": n,
                            "owner": owner,
                            "expires": now + lease,
                        },
                        prepare=False,
                    )
                    claimed += list(map(Claimed._make, cur.fetchall()))
            claimed.sort(key=lambda c: (-c.priority, c.not_before, c.id))
            return Exchange(
                tuple(a.id for a in accepted),
                tuple(rejected),
                tuple(claimed),
            )

        return self._pg_write(work)

    def _extend(
        self, tx: Tx, held: Sequence[tuple[int, int]], expires: float, now: float
    ) -> list[tuple[int, Any]]:
        assert isinstance(tx, _PostgresTx)
        cur = tx.cursor
        cur.execute(
            HEARTBEAT,
            (expires, [h[0] for h in held], [h[1] for h in held], now),
            prepare=False,
        )
        return [(int(row[0]), row[1]) for row in cur.fetchall()]

    def explain(self, sql: str, params: Sequence[Any] = ()) -> list[str]:
        """Return PostgreSQL's plan for *sql*, one line per step."""
        rows = self._write(lambda tx: tx.rows("EXPLAIN " + sql, params))
        return [str(row[0]) for row in rows]

    def open_listener(self) -> PostgresListener:
        """Open a second connection that LISTENs on this table's channel."""
        return PostgresListener(self.dsn, self.channel)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _PostgresTx:
    def __init__(self, cur: Any) -> None:
        self.cursor = cur

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self.cursor.execute(_pg(sql), params)
        return list(self.cursor.fetchall()) if self.cursor.description else []

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.cursor.execute(_pg(sql), params)
        return int(self.cursor.rowcount)

    def many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        rows = list(params)
        if rows:
            self.cursor.executemany(_pg(sql), rows)


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
