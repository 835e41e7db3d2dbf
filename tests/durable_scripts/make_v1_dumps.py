# mypy: ignore-errors
# (It runs against the first release's code, not this checkout's.)
"""Make the version-1 job databases the migration tests start from.

Run with the first release's code on the path (schema version 1: the
unversioned ``plait_jobs`` table), e.g. from a checkout of commit aab374e::

    PYTHONPATH=/path/to/v1/src python tests/durable_scripts/make_v1_dumps.py \\
        tests/durable_scripts/v1 "$PLAIT_TEST_POSTGRES_DSN"

It drives that code's own DurableBackend, JobWorker and engine to leave jobs
in every state it has (queued, queued for later, running under a live
lease, running under an expired lease, retrying, done after a retry, dead
from errors, dead from lost leases, dead for want of a handler), then writes
``sqlite.sql`` (SQLite's ``iterdump``) and ``postgres.sql`` (the rows as
INSERTs after the v1 DDL, with the id sequence set).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio

import plait
from plait._jobs.durable._engine import open_engine


def fill(dsn: str) -> None:
    handlers = plait.JobHandlers()

    @handlers.register("ok")
    async def ok(job: plait.Job) -> dict[str, Any]:
        return {"n": job.payload["n"]}

    @handlers.register("flaky", retry=plait.RetryPolicy(attempts=3, base_delay=0))
    async def flaky(job: plait.Job) -> int:
        if job.attempt < 2:
            raise ValueError(f"flaky attempt {job.attempt}")
        return job.attempt

    @handlers.register("bad", retry=plait.RetryPolicy(attempts=2, base_delay=0))
    async def bad(job: plait.Job) -> None:
        raise KeyError(f"missing {job.payload['n']}")

    @handlers.register(
        "later", retry=plait.RetryPolicy(attempts=5, base_delay=3600, max_delay=3600)
    )
    async def later(job: plait.Job) -> None:
        raise RuntimeError("try again in an hour")

    async def main() -> None:
        async with plait.DurableBackend(dsn) as backend:
            await backend.submit_many(
                [plait.Job("ok", {"n": n}, priority=n % 3) for n in range(3)]
                + [plait.Job("flaky", {"n": 1}), plait.Job("bad", {"n": 2})]
                + [plait.Job("later", {"n": 3}), plait.Job("nobody", {"n": 4})]
                + [plait.Job("ok", {"n": 5}, idempotency_key="key-5")]
            )
            worker = plait.JobWorker(dsn, handlers, poll_interval=0.01)
            async with anyio.create_task_group() as tg:
                await tg.start(worker.run)
                # Everything finishes but "later", which waits an hour to retry.
                while (await backend.stats()).counts != {
                    "queued": 0,
                    "running": 0,
                    "retrying": 1,
                    "done": 5,
                    "dead": 2,
                }:
                    await anyio.sleep(0.01)
                worker.stop()
            await backend.submit_many(
                [
                    plait.Job("ok", {"n": 10}),
                    plait.Job("ok", {"n": 11}, priority=5, idempotency_key="key-11"),
                    plait.Job("ok", {"n": 12}, not_before=time.time() + 7 * 86400),
                    plait.Job("ok", {"n": 13}),
                    plait.Job("ok", {"n": 14}),
                    plait.Job("ok", {"n": 15}),
                ]
            )

    anyio.run(main)
    engine = open_engine(dsn)
    now = time.time()

    # n=10, 11 stay queued; n=15 loses its lease three times (dead); n=13
    # runs under a lease valid for a week, n=14 under one that has expired.
    def claim_only(n: int, owner: str, lease: float) -> Any:
        engine.execute(
            "UPDATE plait_jobs SET priority = 100 WHERE payload = ?", (f'{{"n": {n}}}',)
        )
        (claimed,) = engine.exchange(
            [], [], 1, owner=owner, lease=lease, now=now
        ).claimed
        engine.execute("UPDATE plait_jobs SET priority = 0 WHERE id = ?", (claimed.id,))
        assert claimed.payload == f'{{"n": {n}}}', claimed
        return claimed

    for round_ in range(3):
        claim_only(15, f"v1-crash-{round_}", 0.001)
        engine.reap(now=now + 1)
    claim_only(13, "v1-live", 7 * 86400)
    claim_only(14, "v1-gone", 0.001)
    engine.close()


def dump_sqlite(path: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return "\n".join(conn.iterdump()) + "\n"
    finally:
        conn.close()


def dump_postgres(dsn: str) -> str:
    import psycopg

    from plait._jobs.durable._postgres import SCHEMA

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute("SELECT * FROM plait_jobs ORDER BY id")
        columns = [d.name for d in cur.description or ()]
        lines = [statement.strip() + ";" for statement in SCHEMA.split(";")]
        for row in cur.fetchall():
            values = ", ".join(_literal(v) for v in row)
            lines.append(
                f"INSERT INTO plait_jobs ({', '.join(columns)}) VALUES ({values});"
            )
        lines.append(
            "SELECT setval(pg_get_serial_sequence('plait_jobs', 'id'), "
            "(SELECT max(id) FROM plait_jobs));"
        )
    return "\n".join(lines) + "\n"


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def main(out: Path, pg_base: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "jobs.db")
        fill(path)
        (out / "sqlite.sql").write_text(dump_sqlite(path))
    import psycopg

    schema = "v1_" + uuid.uuid4().hex[:8]
    with psycopg.connect(pg_base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        dsn = f"{pg_base}?options=-csearch_path%3D{schema}"
        fill(dsn)
        (out / "postgres.sql").write_text(dump_postgres(dsn))
    finally:
        with psycopg.connect(pg_base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    print(json.dumps({"wrote": [str(out / "sqlite.sql"), str(out / "postgres.sql")]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
