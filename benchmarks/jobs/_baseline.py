"""The hand-written queue plait is measured against: the batch limit.

As issue 14 measured it: one process per worker, one connection in
autocommit, a synchronous loop with no event loop; a claim takes 100 rows in
one statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite one
``UPDATE ... RETURNING``, which takes the write lock for the whole
statement), each job's payload goes through ``json.loads`` and a no-op
function, and the batch is acknowledged in one statement. Durability as
plait's: PostgreSQL with synchronous commits and fsync on (the server's
defaults, which ``.ci/postgres.sh`` keeps), SQLite in WAL with
``synchronous=FULL``.

What it leaves out, and plait keeps: leases with expiry and heartbeats,
fencing tokens on every acknowledgement, attempts and retries, results and
errors recorded, an event loop running handlers concurrently. It never
recovers a job whose worker died.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

BATCH = 100
# The idle wait of the hand-written loop: it polls, it does not LISTEN.
IDLE_POLL = 0.01

SCHEMA = """
CREATE TABLE IF NOT EXISTS baseline_jobs (
    id {serial} PRIMARY KEY,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued'
);
CREATE INDEX IF NOT EXISTS baseline_jobs_queued ON baseline_jobs (id)
    WHERE state = 'queued'
"""
PG_CLAIM = """
WITH c AS (
    SELECT id FROM baseline_jobs WHERE state = 'queued'
    ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
)
UPDATE baseline_jobs j SET state = 'running' FROM c WHERE j.id = c.id
RETURNING j.id, j.payload
"""
PG_ACK = "UPDATE baseline_jobs SET state = 'done' WHERE id = ANY(%s)"

SQLITE_CLAIM = """
UPDATE baseline_jobs SET state = 'running' WHERE id IN (
    SELECT id FROM baseline_jobs WHERE state = 'queued' ORDER BY id LIMIT ?
) RETURNING id, payload
"""


def noop(payload: Any) -> None:
    """The job: nothing, so what is measured is the queue."""


class Queue:
    """One autocommit connection: ``claim()`` and ``ack(ids)``, one
    statement each."""

    claim: Callable[[], list[tuple[int, str]]]
    ack: Callable[[Sequence[int]], None]

    def __init__(self, dsn: str) -> None:
        if dsn.startswith(("postgresql://", "postgres://")):
            import psycopg

            conn: Any = psycopg.connect(dsn, autocommit=True)
            for statement in SCHEMA.format(serial="BIGSERIAL").split(";"):
                conn.execute(statement)
            self.claim = lambda: conn.execute(PG_CLAIM, (BATCH,)).fetchall()
            self.ack = lambda ids: conn.execute(PG_ACK, (list(ids),))
            self._insert = "INSERT INTO baseline_jobs (payload) VALUES (%s)"
        else:
            conn = sqlite3.connect(
                dsn.removeprefix("sqlite://"), isolation_level=None, timeout=60
            )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.executescript(SCHEMA.format(serial="INTEGER"))

            def ack(ids: Sequence[int]) -> None:
                marks = ",".join("?" * len(ids))
                conn.execute(
                    f"UPDATE baseline_jobs SET state = 'done' WHERE id IN ({marks})",
                    tuple(ids),
                )

            self.claim = lambda: conn.execute(SQLITE_CLAIM, (BATCH,)).fetchall()
            self.ack = ack
            self._insert = "INSERT INTO baseline_jobs (payload) VALUES (?)"
        self._conn = conn

    def fill(self, payloads: Sequence[str]) -> None:
        """Insert *payloads* in one transaction (the untimed setup)."""
        cur = self._conn.cursor()
        cur.execute("BEGIN")
        cur.executemany(self._insert, [(p,) for p in payloads])
        cur.execute("COMMIT")

    def done(self) -> int:
        """Return how many jobs are done."""
        query = "SELECT count(*) FROM baseline_jobs WHERE state = 'done'"
        (n,) = self._conn.execute(query).fetchone()
        return int(n)

    def close(self) -> None:
        self._conn.close()


def drain(queue: Queue) -> int:
    """Claim, run and acknowledge batches until a claim finds none."""
    jobs = 0
    claim, ack, loads = queue.claim, queue.ack, json.loads
    while rows := claim():
        for _, payload in rows:
            noop(loads(payload))
        ack([row[0] for row in rows])
        jobs += len(rows)
    return jobs


def serve(queue: Queue, stop: Callable[[], bool]) -> list[float]:
    """Run jobs until *stop()*; return each job's submit-to-start latency.

    A job's payload carries its submit time as ``"t"``; an idle loop polls
    every ``IDLE_POLL`` seconds.
    """
    latencies: list[float] = []
    claim, ack, loads = queue.claim, queue.ack, json.loads
    while not stop():
        rows = claim()
        if not rows:
            time.sleep(IDLE_POLL)
            continue
        for _, payload in rows:
            data = loads(payload)
            latencies.append(time.time() - data["t"])
            noop(data)
        ack([row[0] for row in rows])
    return latencies
