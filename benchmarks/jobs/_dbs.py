"""Throwaway job databases: a SQLite file in a temp dir, a PostgreSQL schema."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator


@contextlib.contextmanager
def sqlite_dsn() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield "sqlite:///" + os.path.join(tmp, "jobs.db")


@contextlib.contextmanager
def pg_schema(base: str) -> Iterator[str]:
    """Yield *base* pointed at a new schema; drop the schema afterwards."""
    import psycopg

    schema = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def make(engine: str, postgres: str | None) -> contextlib.AbstractContextManager[str]:
    """A fresh database on *engine* (``sqlite`` or ``postgres``)."""
    if engine == "sqlite":
        return sqlite_dsn()
    assert postgres is not None
    return pg_schema(postgres)


def is_postgres(dsn: str) -> bool:
    return dsn.startswith(("postgresql://", "postgres://"))


def execute(dsn: str, statements: list[str]) -> None:
    """Run *statements* on *dsn* in one transaction."""
    if is_postgres(dsn):
        import psycopg

        with psycopg.connect(dsn) as conn, conn.transaction():
            for statement in statements:
                conn.execute(statement)
        return
    import sqlite3

    lite = sqlite3.connect(dsn.removeprefix("sqlite://"), isolation_level=None)
    try:
        lite.execute("BEGIN")
        for statement in statements:
            lite.execute(statement)
        lite.execute("COMMIT")
    finally:
        lite.close()


def settle(dsn: str, table: str) -> None:
    """After a bulk fill: ``VACUUM (ANALYZE)`` on PostgreSQL, as autovacuum
    would within a minute (statistics for the planner, hint bits set);
    nothing on SQLite (whose planner plait pins with ``INDEXED BY``)."""
    if is_postgres(dsn):
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"VACUUM (ANALYZE) {table}")


def sql(dsn: str, query: str) -> list[tuple[object, ...]]:
    """Run one read-only query on *dsn* and return its rows."""
    if is_postgres(dsn):
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            return list(conn.execute(query).fetchall())
    import sqlite3

    lite = sqlite3.connect(dsn.removeprefix("sqlite://"))
    try:
        return list(lite.execute(query).fetchall())
    finally:
        lite.close()
