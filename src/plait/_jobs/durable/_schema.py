"""The job tables, their versions, and the migration of older databases.

Schema version 3 (this code's) has five tables, the same on SQLite and
PostgreSQL (``REAL``/``DOUBLE PRECISION`` times are UNIX seconds):

- ``plait_jobs``: one row per job. ``state`` is ``queued``, ``running``,
  ``retrying``, ``done``, ``dead`` or ``cancelled``; ``queue`` names its
  queue; ``lease_token``/``lease_owner``/``lease_expires`` fence a running
  claim; ``worker`` ran its latest attempt; ``cancel_requested_at`` flags a
  running job to cancel.
- ``plait_attempts``: one row per attempt that did not succeed (a handler
  error or timeout, a lost lease, a cancelled run), with its error.
- ``plait_workers``: the worker registry, refreshed at every heartbeat.
- ``plait_schedules``: periodic and cron schedules and their next tick.
- ``plait_throughput``: outcomes per minute and queue, flushed by workers at
  their heartbeat, off the claim path.
- ``plait_schema_version``: the versions applied.

Indexes serve the claim (``plait_jobs_ready``: per queue, in priority
order, covering the counts of waiting jobs), the reaper (``plait_jobs_lease``)
and, state first, the lists, counts and pruning of finished jobs
(``plait_jobs_finished``: each state's jobs by finishing time is one range).
On PostgreSQL idempotency keys sort bytewise (``COLLATE "C"``), so a
key-prefix filter is an index range whatever the server's locale, and their
uniqueness is a partial index of the keys that are set (version 3): a claim
and an ack change the state, which indexes hold, so each writes a new entry
in every index of the table, and a full index took one for every keyless
job each time. Nothing counts rows on the claim or ack path.

A database made before versioning (version 1: ``plait_jobs`` alone) is
migrated in place on first use, in one transaction; one that a newer plait
migrated is refused with ``SchemaVersionError``.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ._engine import SchemaVersionError

SCHEMA_VERSION = 3

Dialect = Literal["sqlite", "postgres"]
# Run one statement with ``?`` placeholders; return its rows (if any).
Execute = Callable[[str, Sequence[Any]], list[Any]]

_V1 = """
CREATE TABLE IF NOT EXISTS plait_jobs (
    id {serial},
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued',
    not_before {real} NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER,
    idempotency_key TEXT UNIQUE,
    lease_token {bigint} NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires {real},
    lost_leases INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    created_at {real} NOT NULL,
    started_at {real},
    finished_at {real}
);
CREATE INDEX IF NOT EXISTS plait_jobs_claim ON plait_jobs
    (priority DESC, not_before, id) WHERE state IN ('queued', 'retrying');
CREATE INDEX IF NOT EXISTS plait_jobs_lease ON plait_jobs
    (lease_expires) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS plait_jobs_finished ON plait_jobs
    (finished_at) WHERE state IN ('done', 'dead')
"""

_V2 = """
CREATE TABLE plait_schema_version (
    version INTEGER PRIMARY KEY,
    plait_version TEXT NOT NULL,
    applied_at {real} NOT NULL
);
ALTER TABLE plait_jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE plait_jobs ADD COLUMN worker TEXT;
ALTER TABLE plait_jobs ADD COLUMN cancel_requested_at {real};
UPDATE plait_jobs SET worker = lease_owner WHERE lease_owner IS NOT NULL;
DROP INDEX plait_jobs_claim;
CREATE INDEX plait_jobs_ready ON plait_jobs
    (queue, priority DESC, not_before, id, state)
    WHERE state IN ('queued', 'retrying');
DROP INDEX plait_jobs_finished;
CREATE INDEX plait_jobs_finished ON plait_jobs
    (state, finished_at, id, queue) WHERE state IN ('done', 'dead', 'cancelled');
CREATE TABLE plait_attempts (
    id {serial},
    job_id {bigint} NOT NULL,
    attempt INTEGER NOT NULL,
    worker TEXT,
    started_at {real},
    finished_at {real},
    outcome TEXT NOT NULL,
    error_type TEXT,
    message TEXT,
    traceback TEXT
);
CREATE INDEX plait_attempts_job ON plait_attempts (job_id, id);
CREATE TABLE plait_workers (
    name TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues TEXT NOT NULL,
    running INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'running',
    version TEXT NOT NULL,
    started_at {real} NOT NULL,
    last_seen {real} NOT NULL,
    expires_at {real} NOT NULL
);
CREATE TABLE plait_schedules (
    name TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    every {real},
    cron TEXT,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    missed TEXT NOT NULL DEFAULT 'skip',
    max_catch_up INTEGER NOT NULL DEFAULT 1,
    next_run {real} NOT NULL,
    last_tick {real},
    last_job_id {bigint},
    declared_at {real} NOT NULL
);
CREATE TABLE plait_throughput (
    minute {bigint} NOT NULL,
    queue TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    dead INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, queue)
)
"""

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "real": "REAL",
        "bigint": "INTEGER",
    },
    "postgres": {
        "serial": "BIGSERIAL PRIMARY KEY",
        "real": "DOUBLE PRECISION",
        "bigint": "BIGINT",
    },
}

_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' "
    "AND name IN ('plait_jobs', 'plait_schema_version')",
    "postgres": "SELECT table_name FROM information_schema.tables "
    "WHERE table_schema = current_schema() "
    "AND table_name IN ('plait_jobs', 'plait_schema_version')",
}


def statements(script: str, dialect: Dialect) -> list[str]:
    """Split a DDL *script* into statements with the dialect's types."""
    text = script.format(**_TYPES[dialect])
    return [s.strip() for s in text.split(";") if s.strip()]


def stored_version(execute: Execute, dialect: Dialect) -> int:
    """Return the database's schema version: 0 for none, 1 for the unversioned
    ``plait_jobs`` of the first release."""
    tables = {row[0] for row in execute(_TABLES[dialect], ())}
    if "plait_schema_version" in tables:
        ((version,),) = execute("SELECT max(version) FROM plait_schema_version", ())
        return int(version)
    return 1 if "plait_jobs" in tables else 0


def ensure_schema(execute: Execute, dialect: Dialect, *, where: str) -> int:
    """Create or migrate the tables to SCHEMA_VERSION; return the version found.

    Call it inside one transaction that excludes other migrators (SQLite's
    ``BEGIN IMMEDIATE``, PostgreSQL's advisory lock). *where* names the
    database in the refusal message.
    """
    found = stored_version(execute, dialect)
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the job database {where} has schema version {found}, newer than "
            f"this plait ({plait_version()}) understands ({SCHEMA_VERSION}): "
            "a newer plait migrated it; upgrade plait here before running a "
            "worker or a backend on it"
        )
    if found == 0:
        for statement in statements(_V1, dialect):
            execute(statement, ())
    if found < 2:
        for statement in statements(_V2, dialect):
            execute(statement, ())
        if dialect == "postgres":
            execute(
                "ALTER TABLE plait_jobs ALTER COLUMN idempotency_key "
                'TYPE TEXT COLLATE "C"',
                (),
            )
        _copy_v1_errors(execute)
    if found < 3 and dialect == "postgres":
        _partial_key_index(execute)
    if found < SCHEMA_VERSION:
        execute(
            "INSERT INTO plait_schema_version (version, plait_version, applied_at) "
            "VALUES (?, ?, ?)",
            (SCHEMA_VERSION, plait_version(), time.time()),
        )
    return found


def _partial_key_index(execute: Execute) -> None:
    """Make the idempotency key unique among the jobs that have one (version 3).

    SQLite keeps its column constraint: dropping it means rebuilding the
    table, and SQLite updates only the indexes whose columns change.
    """
    rows = execute(
        "SELECT conname FROM pg_constraint "
        "WHERE conrelid = 'plait_jobs'::regclass AND contype = 'u'",
        (),
    )
    for (name,) in rows:
        quoted = name.replace('"', '""')
        execute(f'ALTER TABLE plait_jobs DROP CONSTRAINT "{quoted}"', ())
    execute(
        "CREATE UNIQUE INDEX plait_jobs_key ON plait_jobs (idempotency_key) "
        "WHERE idempotency_key IS NOT NULL",
        (),
    )


def _copy_v1_errors(execute: Execute) -> None:
    """Give each job of a version-1 database that kept an error its attempt row.

    Version 1 kept only the last failure's traceback on the job; it becomes
    that attempt's history row, so a migrated dead job shows why it died.
    """
    rows = execute(
        "SELECT id, state, attempts, error, started_at, finished_at "
        "FROM plait_jobs WHERE error IS NOT NULL",
        (),
    )
    for job_id, state, attempts, error, started, finished in rows:
        lost = error.startswith("lease lost ")
        error_type, message = (None, error) if lost else split_error(error)
        attempt = attempts - 1 if state == "done" else attempts
        execute(
            "INSERT INTO plait_attempts (job_id, attempt, worker, started_at, "
            "finished_at, outcome, error_type, message, traceback) "
            "VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                max(attempt, 1),
                started,
                finished,
                "lost" if lost else "failed",
                error_type,
                message,
                None if lost else error,
            ),
        )


def split_error(traceback_text: str) -> tuple[str | None, str]:
    """Return the exception type and message from a traceback's last line."""
    lines = [line for line in traceback_text.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    name, sep, message = last.partition(": ")
    if sep and name and " " not in name:
        return name, message
    if last and " " not in last:
        return last, ""
    return None, last


def plait_version() -> str:
    """Return the installed plait's version (``"unknown"`` from a bare checkout)."""
    try:
        return importlib.metadata.version("plait")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
