"""The admin API's queries on a large table: what a dashboard page costs.

The table is made the way a busy queue looks after a week: ids in
submission order, the oldest 90 % done, then 1 % dead (each with an attempt
row), 0.5 % cancelled, 0.1 % retrying (due in a minute), 100 running, and
the newest ~8 % queued and due; five queues, ten types, three priorities,
an idempotency key on every tenth job, an hour of per-minute throughput and
three live workers. It is written with one ``INSERT ... SELECT`` per part
(untimed), then settled (``_dbs.settle``; SQLite gets no ``ANALYZE``, as a
fresh database has none).

Each call is timed through the public API, in this process, from the call
to its return (the thread hop and building the result objects included):
the median and the slowest of ``REPEATS`` calls, after one untimed call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

import plait
from plait._jobs.durable._listing import Filters, encode_cursor

from . import _dbs
from ._dashboard import page_records

REPEATS = 15
QUEUES = 5
TYPES = 10

# Each part: (share of N, state). Ids are assigned in this order.
PARTS = (
    (0.90, "done"),
    (0.01, "dead"),
    (0.005, "cancelled"),
    (0.001, "retrying"),
    (None, "running"),
    (None, "queued"),
)
RUNNING = 100

COLUMNS = (
    "type, payload, priority, state, not_before, attempts, max_attempts, "
    "idempotency_key, created_at, started_at, finished_at, queue, worker, error, "
    "lease_owner, lease_expires, lease_token"
)


def _select(n0: int, n1: int, state: str, now: float, total: int) -> str:
    """The SELECT of rows n0+1..n1 (a recursive CTE ``g(n)`` supplies n)."""
    week = 7 * 86400.0
    created = f"({now - week} + g.n * {week / total})"
    finished = f"{created} + 1" if state in ("done", "dead", "cancelled") else "NULL"
    started = f"{created} + 0.5" if state != "queued" else "NULL"
    not_before = f"{now + 60}" if state == "retrying" else created
    attempts = {"queued": "0", "retrying": "1", "dead": "3"}.get(state, "1")
    error = (
        '\'Traceback (most recent call last):\n  File "app.py", line 1\n'
        "RuntimeError: planned failure of job ' || g.n"
        if state in ("dead", "retrying")
        else "NULL"
    )
    running = state == "running"
    return (
        f"SELECT 'type' || (g.n % {TYPES}), '{{\"n\": ' || g.n || '}}', "
        f"(g.n % 3) - 1, '{state}', {not_before}, {attempts}, 3, "
        "CASE WHEN g.n % 10 = 0 THEN 'key-' || g.n ELSE NULL END, "
        f"{created}, {started}, {finished}, 'q' || (g.n % {QUEUES}), "
        f"{'NULL' if state == 'queued' else repr('bench-worker')}, {error}, "
        f"{repr('bench-worker') if running else 'NULL'}, "
        f"{now + 3600 if running else 'NULL'}, 1 "
        f"FROM g WHERE g.n > {n0} AND g.n <= {n1}"
    )


def fill(dsn: str, total: int, now: float) -> None:
    """Write the table of *total* jobs (see the module's docstring)."""
    anyio.run(_create, dsn)
    bounds: list[tuple[int, int, str]] = []
    start = 0
    for share, state in PARTS:
        if share is not None:
            count = int(total * share)
        elif state == "running":
            count = min(RUNNING, max(0, total - start))
        else:
            count = total - start
        bounds.append((start, start + count, state))
        start += count
    series = (
        f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
        f"WHERE n < {total}) "
    )
    statements = [
        f"{series}INSERT INTO plait_jobs ({COLUMNS}) "
        + _select(n0, n1, state, now, total)
        for n0, n1, state in bounds
    ]
    if _dbs.is_postgres(dsn):
        # PostgreSQL wants the WITH inside the INSERT's SELECT.
        statements = [
            f"INSERT INTO plait_jobs ({COLUMNS}) {series}"
            + _select(n0, n1, state, now, total)
            for n0, n1, state in bounds
        ]
    statements.append(
        "INSERT INTO plait_attempts (job_id, attempt, worker, started_at, "
        "finished_at, outcome, error_type, message, traceback) "
        "SELECT id, 3, worker, started_at, finished_at, 'failed', 'RuntimeError', "
        "'planned failure', error FROM plait_jobs WHERE state = 'dead'"
    )
    minute = int(now // 60)
    statements.append(
        "INSERT INTO plait_throughput (minute, queue, done, failed, dead, cancelled) "
        + " UNION ALL ".join(
            f"SELECT {minute - m}, 'q{q}', {600 + m}, 3, 1, 0"
            for m in range(60)
            for q in range(QUEUES)
        )
    )
    statements.append(
        "INSERT INTO plait_workers (name, host, pid, queues, running, state, "
        "version, started_at, last_seen, expires_at) "
        + " UNION ALL ".join(
            f"SELECT 'bench-{w}', 'bench-host', {1000 + w}, "
            f"'{{\"q0\": 10, \"q1\": 10}}', 33, 'running', 'bench', {now - 3600}, "
            f"{now}, {now + 3600}"
            for w in range(3)
        )
    )
    _dbs.execute(dsn, statements)
    _dbs.settle(dsn, "plait_jobs")


async def _create(dsn: str) -> None:
    async with plait.DurableBackend(dsn):
        pass


def admin_cases(engine: str, postgres: str | None, total: int) -> list[dict[str, Any]]:
    """Fill a table of *total* jobs on *engine* and time each admin call."""
    with _dbs.make(engine, postgres) as dsn:
        fill(dsn, total, time.time())
        return anyio.run(_time_calls, dsn, engine, total)


async def _time_calls(dsn: str, engine: str, total: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    async with plait.DurableBackend(dsn, work=False) as backend:
        stats = await backend.stats()
        if stats.total != total:
            raise AssertionError(f"admin table: {stats.total} jobs, not {total}")
        first_dead = (await backend.list_jobs(state="dead", limit=1)).jobs[0]
        mid_done = (await backend.list_jobs(state="done", limit=1)).jobs[0]
        deep = {
            "newest": encode_cursor(Filters(), [total // 2]),
            "done": encode_cursor(
                Filters(state="done"),
                [(mid_done.finished_at or 0.0) - 3 * 86400, total // 2],
            ),
        }
        calls: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("overview (uncached)", lambda: backend.overview(max_age=0)),
            ("list: newest, first page", lambda: backend.list_jobs()),
            (
                "list: newest, a page half-way down",
                lambda: backend.list_jobs(cursor=deep["newest"]),
            ),
            ("list: queued (due first)", lambda: backend.list_jobs(state="queued")),
            (
                "list: queued in one queue",
                lambda: backend.list_jobs(state="queued", queue="q1"),
            ),
            ("list: dead", lambda: backend.list_jobs(state="dead")),
            (
                "list: done, a page three days back",
                lambda: backend.list_jobs(state="done", cursor=deep["done"]),
            ),
            (
                "list: done of one type (window filter)",
                lambda: backend.list_jobs(state="done", type="type3"),
            ),
            ("list: key prefix", lambda: backend.list_jobs(key_prefix="key-5")),
            ("list: running", lambda: backend.list_jobs(state="running")),
            ("inspect a dead job", lambda: backend.inspect(first_dead.id)),
            ("workers", lambda: backend.workers()),
        ]
        for name, call in calls:
            await call()  # untimed: a server answers from a warm cache
            times = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                answer = await call()
                times.append(time.perf_counter() - started)
            record = {
                "case": "admin",
                "engine": engine,
                "jobs": total,
                "query": name,
                "median": statistics.median(times),
                "max": max(times),
            }
            if isinstance(answer, plait.QueueOverview):
                record["estimated"] = sorted(answer.estimated)
            records.append(record)
    records += await page_records(dsn, engine, total, repeats=REPEATS)
    return records
