"""A SQLite write waiting for the write lock tries again often, up to the
engine's busy timeout, and leaves the connection's own timeout as it was."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from plait._jobs.durable._engine import DatabaseUnavailableError
from plait._jobs.durable._sqlite import SQLiteEngine
from plait._jobs.durable._sqlite_tx import Transaction


def hold_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_write_waits_for_the_lock_and_goes_through(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    engine = SQLiteEngine(str(path), busy_timeout=30.0)
    other = hold_write_lock(path)
    done = threading.Event()
    outcome: list[object] = []

    def write() -> None:
        outcome.append(engine.purge("done", before=0.0))
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not done.wait(0.2)  # held: the write waits
    other.execute("COMMIT")
    other.close()
    assert done.wait(10)
    thread.join()
    assert outcome == [0]
    ((timeout,),) = engine.execute("PRAGMA busy_timeout")
    assert timeout == 30_000
    engine.close()


def test_a_write_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    engine = SQLiteEngine(str(path), busy_timeout=0.2)
    other = hold_write_lock(path)
    try:
        with pytest.raises(DatabaseUnavailableError, match="locked"):
            engine.purge("done", before=0.0)
    finally:
        other.close()
    ((timeout,),) = engine.execute("PRAGMA busy_timeout")
    assert timeout == 200
    assert engine.purge("done", before=0.0) == 0  # the lock is free again
    engine.close()


class InterruptedConnection(sqlite3.Connection):
    """Raises KeyboardInterrupt just after running the statement *after*."""

    after = ""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        cursor = super().execute(sql, *args)
        if sql == self.after:
            self.after = ""
            raise KeyboardInterrupt
        return cursor


@pytest.mark.parametrize("after", ["PRAGMA busy_timeout = 0", "BEGIN IMMEDIATE"])
def test_an_interrupt_while_beginning_a_write_leaves_nothing_held(
    tmp_path: Path, after: str
) -> None:
    path = tmp_path / "jobs.db"
    conn = sqlite3.connect(
        path, isolation_level=None, factory=InterruptedConnection, timeout=2.0
    )
    assert isinstance(conn, InterruptedConnection)
    conn.after = after
    lock = threading.Lock()
    with pytest.raises(KeyboardInterrupt), Transaction(conn, lock, 2.0):
        pass  # pragma: no cover
    assert not conn.in_transaction
    assert not lock.locked()
    assert conn.execute("PRAGMA busy_timeout").fetchall() == [(2000,)]
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # the write lock is free
    other.execute("ROLLBACK")
    other.close()
    conn.close()
