"""A SQLite write waits for its turn among plait's writers (a lock file
beside the database), then for the write lock, trying again often, up to
the engine's busy timeout; it leaves the connection's own timeout as it was
and gives the turn back on every path."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plait._jobs.durable._engine import DatabaseUnavailableError
from plait._jobs.durable._sqlite import SQLiteEngine
from plait._jobs.durable._sqlite_tx import Transaction, WriterTurn


def hold_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def assert_a_write_waits_until(engine: SQLiteEngine, free: Callable[[], None]) -> None:
    """A write begun now waits until *free* runs, then goes through."""
    done = threading.Event()
    outcome: list[object] = []

    def write() -> None:
        outcome.append(engine.purge("done", before=0.0))
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not done.wait(0.2)  # held: the write waits
    free()
    assert done.wait(10)
    thread.join()
    assert outcome == [0]


def test_a_write_waits_for_the_lock_and_goes_through(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    engine = SQLiteEngine(str(path), busy_timeout=30.0)
    other = hold_write_lock(path)

    def commit() -> None:
        other.execute("COMMIT")
        other.close()

    assert_a_write_waits_until(engine, commit)
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
    turn = WriterTurn(str(path))
    with pytest.raises(KeyboardInterrupt), Transaction(conn, lock, 2.0, turn):
        pass  # pragma: no cover
    assert not conn.in_transaction
    assert not lock.locked()
    assert turn_is_free(path)
    turn.close()
    assert conn.execute("PRAGMA busy_timeout").fetchall() == [(2000,)]
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # the write lock is free
    other.execute("ROLLBACK")
    other.close()
    conn.close()


def turn_is_free(path: Path) -> bool:
    other = WriterTurn(str(path))
    try:
        taken = other.take(deadline=0.0)
        other.give_back()
        return taken
    finally:
        other.close()


def test_a_write_waits_for_another_writers_turn(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    engine = SQLiteEngine(str(path), busy_timeout=30.0)
    other = WriterTurn(str(path))
    assert other.take(deadline=0.0)
    assert_a_write_waits_until(engine, other.give_back)
    assert turn_is_free(path)  # given back after the commit
    other.close()
    engine.close()


def test_a_write_gives_up_waiting_for_its_turn_after_the_busy_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    engine = SQLiteEngine(str(path), busy_timeout=0.2)
    other = WriterTurn(str(path))
    assert other.take(deadline=0.0)
    try:
        with pytest.raises(DatabaseUnavailableError, match="locked"):
            engine.purge("done", before=0.0)
    finally:
        other.give_back()
        other.close()
    assert engine.purge("done", before=0.0) == 0
    engine.close()


def test_a_failed_write_gives_its_turn_back(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    engine = SQLiteEngine(str(path))
    with pytest.raises(sqlite3.OperationalError):
        engine.execute("UPDATE no_such_table SET x = 1")
    assert turn_is_free(path)
    engine.close()


def test_writes_go_on_where_the_turn_file_cannot_be_opened(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    (tmp_path / "jobs.db-plait-writer").mkdir()  # not a file: cannot be opened
    engine = SQLiteEngine(str(path))
    assert engine.purge("done", before=0.0) == 0
    engine.close()


class CommitInterrupted(sqlite3.Connection):
    """Raises KeyboardInterrupt instead of running COMMIT, once."""

    armed = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and self.armed:
            self.armed = False
            raise KeyboardInterrupt
        return super().execute(sql, *args)


def test_an_interrupt_at_commit_rolls_back_and_gives_everything_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    conn = sqlite3.connect(path, isolation_level=None, factory=CommitInterrupted)
    assert isinstance(conn, CommitInterrupted)
    conn.execute("CREATE TABLE t (x)")
    lock = threading.Lock()
    turn = WriterTurn(str(path))
    conn.armed = True
    with pytest.raises(KeyboardInterrupt), Transaction(conn, lock, 2.0, turn) as cur:
        cur.execute("INSERT INTO t VALUES (1)")
    assert not conn.in_transaction  # rolled back: the write lock is free
    assert conn.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
    assert not lock.locked()
    assert turn_is_free(path)
    turn.close()
    conn.close()


def test_a_database_reached_through_a_link_shares_the_turn(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    link = tmp_path / "link.db"
    path.touch()
    link.symlink_to(path)
    direct, linked = WriterTurn(str(path)), WriterTurn(str(link))
    assert direct.path == linked.path
    assert direct.take(deadline=0.0)
    assert not linked.take(deadline=0.0)
    direct.give_back()
    direct.close()
    linked.close()


def test_a_turn_file_that_cannot_be_written_is_locked_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "jobs.db"
    (tmp_path / "jobs.db-plait-writer").touch()
    real_open = os.open

    def no_write(file: str, flags: int, *args: Any) -> int:
        if flags & os.O_RDWR:
            raise PermissionError(13, "another user's file", file)
        return real_open(file, flags, *args)

    monkeypatch.setattr(os, "open", no_write)
    turn = WriterTurn(str(path))
    assert turn.take(deadline=0.0)
    monkeypatch.undo()
    assert not turn_is_free(path)  # a read-only descriptor still locks
    turn.give_back()
    turn.close()


def test_a_turn_file_that_cannot_be_locked_leaves_the_turn_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On NFS, flock is emulated with fcntl locks, which a read-only
    # descriptor cannot take (EBADF): SQLite's lock alone orders the writers.
    import errno
    import fcntl

    def refuse(fd: int, operation: int) -> None:
        raise OSError(errno.EBADF, "bad file descriptor")

    monkeypatch.setattr(fcntl, "flock", refuse)
    path = tmp_path / "jobs.db"
    engine = SQLiteEngine(str(path))
    assert engine.purge("done", before=0.0) == 0
    assert engine.purge("done", before=0.0) == 0
    engine.close()
