"""Which psycopg driving mode the PostgreSQL engine uses, measured.

``python -m benchmarks.jobs.driver``: round trips per second of one small
transaction (BEGIN; UPDATE ... RETURNING; COMMIT, as a claim is) through
psycopg's sync connection in an anyio worker thread (on asyncio and trio),
and through psycopg's AsyncConnection (asyncio only). Synchronous commit is
turned off for this session so the figure is the driver's overhead, not the
disk's fsync.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import anyio
import anyio.to_thread

SETUP = (
    "CREATE TEMP TABLE bench_counter (id int PRIMARY KEY, n bigint);"
    "INSERT INTO bench_counter VALUES (1, 0)"
)
QUERY = "UPDATE bench_counter SET n = n + 1 WHERE id = 1 RETURNING n"


async def sync_in_thread(dsn: str, n: int) -> float:
    import psycopg

    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("SET synchronous_commit = off")
    conn.execute(SETUP)

    def one() -> Any:
        with conn.transaction():
            return conn.execute(QUERY).fetchone()

    started = time.perf_counter()
    for _ in range(n):
        await anyio.to_thread.run_sync(one)
    seconds = time.perf_counter() - started
    conn.close()
    return n / seconds


async def native_async(dsn: str, n: int) -> float:
    import psycopg

    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    await conn.execute("SET synchronous_commit = off")
    await conn.execute(SETUP)
    started = time.perf_counter()
    for _ in range(n):
        async with conn.transaction():
            await (await conn.execute(QUERY)).fetchone()
    seconds = time.perf_counter() - started
    await conn.close()
    return n / seconds


def main() -> int:
    dsn = os.environ.get("PLAIT_TEST_POSTGRES_DSN")
    if not dsn:
        print('set PLAIT_TEST_POSTGRES_DSN (eval "$(bash .ci/postgres.sh)")')
        return 1
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rows = [
        ("sync connection in a worker thread, asyncio", sync_in_thread, "asyncio", {}),
        (
            "sync connection in a worker thread, uvloop",
            sync_in_thread,
            "asyncio",
            {"use_uvloop": True},
        ),
        ("sync connection in a worker thread, trio", sync_in_thread, "trio", {}),
        ("AsyncConnection, asyncio", native_async, "asyncio", {}),
        ("AsyncConnection, uvloop", native_async, "asyncio", {"use_uvloop": True}),
    ]
    for label, fn, backend, options in rows:
        rate = anyio.run(fn, dsn, n, backend=backend, backend_options=options)
        print(f"{label}: {rate:,.0f} transactions/s ({1e6 / rate:.0f} us each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
