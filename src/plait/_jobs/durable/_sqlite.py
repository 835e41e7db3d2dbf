"""The SQLite engine: one file, WAL, ``synchronous=FULL``, stdlib ``sqlite3``.

Each write is one ``BEGIN IMMEDIATE`` transaction, so a claim (one
conditional ``UPDATE ... RETURNING`` per queue) is atomic across processes.
The claim names its partial index with ``INDEXED BY``: once ``ANALYZE`` has
seen a table that was all queued, SQLite's planner was seen to scan the
table from its start on every claim as finished rows piled up; pinned, a
claim reads only claimable rows, and a schema that lost the index fails
loudly instead of slowly.

Other processes' commits show in ``PRAGMA data_version``, which a
``SQLiteWatch`` reads on a connection of its own: an idle worker polls that
counter (microseconds, no lock) instead of claiming, so it can look often.
"""

from __future__ import annotations

import pathlib
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ._engine import (
    CLAIMED_COLUMNS,
    Ack,
    Claimed,
    DatabaseUnavailableError,
    Exchange,
    NewJob,
    sqlite_path,
)
from ._schema import Dialect, ensure_schema
from ._sql import (
    ACK_SET,
    ACK_STATE,
    ACK_WHERE,
    RELEASE_SET,
    Tx,
    distinct_acks,
    insert_attempts,
    verdicts,
)
from ._sql_manage import ManagedQueries
from ._sqlite_tx import Transaction, WriterTurn

T = TypeVar("T")

CLAIM = f"""
UPDATE plait_jobs SET state = 'running', attempts = attempts + 1,
    lease_token = lease_token + 1, lease_owner = ?, lease_expires = ?,
    started_at = ?, worker = ?
WHERE id IN (
    SELECT id FROM plait_jobs INDEXED BY plait_jobs_ready
    WHERE queue = ? AND state IN ('queued', 'retrying') AND not_before <= ?
    ORDER BY priority DESC, not_before, id LIMIT ?
)
RETURNING {CLAIMED_COLUMNS}
"""

# Acks and releases go in batches, as a VALUES list joined to the jobs:
# one statement does the work of a batch where one a job held the write
# lock twice as long. The list has a fixed length, padded with NULL rows
# that match no job, because SQLite compiles each statement text once (the
# connection caches it) and compiling a VALUES list cost more than running
# it, about 7 us a row: every batch reuses the one text.
CHUNK = 64


def _values(columns: str) -> str:
    row = "(" + ", ".join("?" * len(columns.split(", "))) + ")"
    return f"WITH v({columns}) AS (VALUES {', '.join([row] * CHUNK)})"


ACK_MANY = f"""
{_values("id, token, state, result, error, nb, ma")}
UPDATE plait_jobs AS j SET {ACK_SET}
FROM v WHERE {ACK_WHERE}
"""

# Most acks: done, with a result and the handler's attempts. ACK_MANY with
# state 'done' and no error or not_before sets exactly this, binding less:
# the attempts are one value per statement (acks are grouped by it), which
# cost an eighth of the statement as a column of the VALUES list.
ACK_DONE = f"""
{_values("id, token, result")}
UPDATE plait_jobs AS j SET state = 'done', finished_at = ?, result = v.result,
    max_attempts = coalesce(?, j.max_attempts),
    lease_owner = NULL, lease_expires = NULL
FROM v WHERE {ACK_WHERE}
"""

# Which acks a batch wrote, when its row count says not all: RETURNING
# names the target's columns unqualified (SQLite does not take its alias
# there), and the token tells apart two acks of one job.
WRITTEN = "RETURNING id, lease_token"

RELEASE = f"""
{_values("id, token")}
UPDATE plait_jobs AS j SET {RELEASE_SET}
FROM v WHERE j.id = v.id AND j.state = 'running' AND j.lease_token = v.token
"""


def chunked(rows: Sequence[Sequence[Any]], *tail: Any) -> list[list[Any]]:
    """The parameters of a batched statement over *rows*: one list per
    ``CHUNK`` rows, padded with NULLs, each followed by *tail*."""
    chunks: list[list[Any]] = []
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        params = [value for row in part for value in row]
        params += [None] * (len(rows[0]) * (CHUNK - len(part)))
        params += tail
        chunks.append(params)
    return chunks


# One ack statement: its text, its parameters, and the claims (id, token)
# it acknowledges.
Batch = tuple[str, list[Any], list[tuple[int, int]]]


def _batches(sql: str, rows: Sequence[Sequence[Any]], *tail: Any) -> list[Batch]:
    """The statements acknowledging *rows* (id and token first), ``CHUNK``
    rows each."""
    claims = [(row[0], row[1]) for row in rows]
    starts = range(0, len(rows), CHUNK)
    return [
        (sql, params, claims[start : start + CHUNK])
        for start, params in zip(starts, chunked(rows, *tail), strict=True)
    ]


def _record(
    cur: sqlite3.Cursor, batches: Sequence[Batch]
) -> set[tuple[int, int]] | None:
    """Run the ack *batches*; return the claims (id, token) they wrote, or
    None if they wrote every one.

    Nearly every batch is written whole, and then its count of changed rows
    (``changes()``, which leaves out rows a trigger wrote) says so: returning
    a row per ack cost a sixth of the statement, in the write lock. If any
    count falls short, the batches run again from a savepoint, returning
    which claims they wrote.
    """
    if not batches:
        return None
    cur.execute("SAVEPOINT plait_acks")
    for sql, params, claims in batches:
        cur.execute(sql, params)
        ((changed,),) = cur.execute("SELECT changes()").fetchall()
        if changed != len(claims):
            break
    else:
        cur.execute("RELEASE plait_acks")
        return None
    cur.execute("ROLLBACK TO plait_acks")
    cur.execute("RELEASE plait_acks")
    written: set[tuple[int, int]] = set()
    for sql, params, _ in batches:
        written.update(cur.execute(sql + WRITTEN, params).fetchall())
    return written


def connect_file(path: str, *, create: bool, timeout: float) -> sqlite3.Connection:
    """Open *path*; with ``create=False`` a missing file is an error, not a
    new empty database."""
    if create:
        return sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=timeout
        )
    uri = "file:" + urllib.parse.quote(str(pathlib.Path(path).resolve())) + "?mode=rw"
    return sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, timeout=timeout
    )


class SQLiteEngine(ManagedQueries):
    """One connection to a SQLite job file, safe to call from any one thread
    at a time."""

    dialect: Dialect = "sqlite"

    def __init__(
        self, dsn: str, *, busy_timeout: float = 30.0, create: bool = True
    ) -> None:
        self.dsn = dsn
        self._path = sqlite_path(dsn)
        self._lock = threading.Lock()
        self._busy_timeout = busy_timeout
        self._turn = WriterTurn(self._path)
        try:
            self._conn = connect_file(self._path, create=create, timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise self._cannot_open(exc) from exc
        try:
            self._set_up()
            self._write(
                lambda tx: ensure_schema(tx.rows, "sqlite", where=repr(self._path))
            )
        except BaseException:
            self.close()
            raise

    def _set_up(self) -> None:
        """Set the connection's pragmas, in the writers' turn: switching a
        file to WAL takes its lock, and SQLite refused the switch at once,
        without waiting, while another connection migrated the file."""
        timeout = self._busy_timeout
        try:
            self._turn.wait_for(time.monotonic() + timeout)
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise self._cannot_open(exc) from exc
        finally:
            self._turn.give_back()

    def _cannot_open(self, why: object) -> DatabaseUnavailableError:
        return DatabaseUnavailableError(
            f"cannot open the SQLite job database {self._path!r}: {why}"
        )

    def _write(self, fn: Callable[[Tx], T]) -> T:
        with self._writing() as cur:
            return fn(_SQLiteTx(cur))

    def _writing(self) -> Transaction:
        return Transaction(self._conn, self._lock, self._busy_timeout, self._turn)

    def _read(self, fn: Callable[[Tx], T]) -> T:
        with Transaction(self._conn, self._lock, None) as cur:
            return fn(_SQLiteTx(cur))

    def _hint(self, index: str) -> str:
        return f"INDEXED BY {index}"

    def insert(self, jobs: Sequence[NewJob]) -> list[int]:
        now = time.time()

        def work(tx: Tx) -> list[int]:
            ids: list[int] = []
            for job in jobs:
                job_id = self._insert_one(tx, job, now)
                if job_id is None:
                    ((job_id,),) = tx.rows(
                        "SELECT id FROM plait_jobs WHERE idempotency_key = ?",
                        (job.idempotency_key,),
                    )
                ids.append(int(job_id))
            return ids

        return self._write(work)

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
        # Everything but the statements is done before taking the write lock
        # or after leaving it: other workers wait for it.
        done: dict[int | None, list[tuple[Any, ...]]] = {}
        other: list[tuple[Any, ...]] = []
        failures: list[Ack] = []
        distinct = distinct_acks(acks)
        for a in distinct:
            if a.kind == "done" and a.error is None and a.not_before is None:
                done.setdefault(a.max_attempts, []).append((a.id, a.token, a.result))
            else:
                other.append(
                    (
                        *(a.id, a.token, ACK_STATE[a.kind], a.result),
                        *(a.error, a.not_before, a.max_attempts),
                    )
                )
                if a.kind != "done":
                    failures.append(a)
        batches = [
            batch
            for attempts, rows in done.items()
            for batch in _batches(ACK_DONE, rows, now, attempts, now)
        ]
        batches += _batches(ACK_MANY, other, now, now)
        releases = chunked(release, now)
        queues = [(q, n) for q, n in claims.items() if n > 0]
        rows: list[Any] = []
        with self._writing() as cur:
            written = _record(cur, batches)
            if failures:
                if written is not None:
                    failures = [a for a in failures if (a.id, a.token) in written]
                insert_attempts(_SQLiteTx(cur), failures, owner, now)
            for params in releases:
                cur.execute(RELEASE, params)
            for queue, n in queues:
                rows += cur.execute(
                    CLAIM, (owner, now + lease, now, owner, queue, now, n)
                ).fetchall()
        rejected: list[int] = []
        if written is None and len(distinct) == len(acks):
            accepted = list(acks)  # each ack written once: the usual case
        else:
            if written is None:
                written = {(a.id, a.token) for a in distinct}
            accepted, rejected = verdicts(acks, written)
        claimed = list(map(Claimed._make, rows))
        claimed.sort(key=lambda c: (-c.priority, c.not_before, c.id))
        return Exchange(tuple(a.id for a in accepted), tuple(rejected), tuple(claimed))

    def explain_claim(self) -> list[str]:
        """Return SQLite's plan for the claim query (for tests)."""
        rows = self._read(
            lambda tx: tx.rows(
                "EXPLAIN QUERY PLAN " + CLAIM, ("x", 0.0, 0.0, "x", "q", 0.0, 1)
            )
        )
        return [str(row[-1]) for row in rows]

    def explain(self, sql: str, params: Sequence[Any] = ()) -> list[str]:
        """Return SQLite's plan for *sql*, one line per step."""
        rows = self._read(lambda tx: tx.rows("EXPLAIN QUERY PLAN " + sql, params))
        return [str(row[-1]) for row in rows]

    def open_watch(self) -> SQLiteWatch:
        """Open a connection that tells when another connection committed."""
        return SQLiteWatch(self._path)

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            finally:
                self._turn.close()


class SQLiteWatch:
    """Reads ``PRAGMA data_version``: it changes when any other connection
    to the file commits. Cheap enough to call from the event loop."""

    def __init__(self, path: str) -> None:
        try:
            self._conn = connect_file(path, create=False, timeout=1.0)
            self._last = self._version()
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(f"SQLite job database: {exc}") from exc

    def _version(self) -> int:
        ((version,),) = self._conn.execute("PRAGMA data_version").fetchall()
        return int(version)

    def changed(self) -> bool:
        """Whether another connection committed since the last call."""
        try:
            version = self._version()
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(f"SQLite job database: {exc}") from exc
        changed, self._last = version != self._last, version
        return changed

    def close(self) -> None:
        self._conn.close()


class _SQLiteTx:
    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._cur.execute(sql, params).fetchall()

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._cur.execute(sql, params).rowcount)

    def many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self._cur.executemany(sql, params)
