"""How a SQLite transaction begins and ends: a read, or a write that waits
for its turn among plait's writers, then for SQLite's write lock.

Writers take turns through a lock file beside the database. SQLite gives
its write lock to a waiting connection only when that one tries again, so
a waiting writer polled ``BEGIN IMMEDIATE``. Each try opens a read snapshot
of the WAL, and snapshots taken all the time keep the WAL from being reset:
with three worker processes it grew to 20 MB where one process kept it at
4, every transaction read further into it, and the lock was held a fifth
longer per job. plait's writers instead wait for an advisory ``flock`` of
``<database>-plait-writer`` first: trying it is one system call that
touches nothing of the database, and the writer holding it is normally the
only one asking SQLite for the lock. SQLite's own locking still orders
them against any other program writing the file.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time

from ._engine import DatabaseUnavailableError

# How often a waiting writer tries again. SQLite's own busy handler sleeps
# in growing steps, up to 100 ms: a worker that commits and begins its next
# round trip at once keeps the lock while the others sleep (one of three
# worker processes did 59,600 of 60,000 jobs so). Trying every half
# millisecond shares the lock among them.
WRITE_RETRY = 0.0005

if sys.platform != "win32":
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

else:  # pragma: no cover - no flock: SQLite's lock alone orders the writers

    def _try_lock(fd: int) -> bool:
        return True

    def _unlock(fd: int) -> None:
        pass


class WriterTurn:
    """The turn to write *database*, among plait's connections to it.

    The lock file is opened at the first write, so a connection that only
    reads creates nothing. It is named after the database's real path, so
    connections through a symbolic link share it; one that another user
    created is opened read-only (``flock`` needs no more). Where it cannot
    be opened at all (a read-only folder), the turn is always free and
    SQLite's lock alone orders the writers. Not thread-safe: the engine
    takes it under its own lock. A child forked after the first write shares
    its parent's lock, as it would share its SQLite connection: open the
    engine again in the child.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> first = WriterTurn(os.path.join(folder, "jobs.db"))
        >>> second = WriterTurn(os.path.join(folder, "jobs.db"))
        >>> first.take(deadline=time.monotonic())
        True
        >>> second.take(deadline=time.monotonic())
        False
        >>> first.give_back()
        >>> second.take(deadline=time.monotonic())
        True
        >>> second.give_back(); first.close(); second.close()
    """

    def __init__(self, database: str) -> None:
        self.path = os.path.realpath(database) + "-plait-writer"
        self._fd: int | None = None
        self._opened = False

    def take(self, deadline: float) -> bool:
        """Take the turn, trying again every ``WRITE_RETRY`` seconds until
        *deadline* (``time.monotonic()``); False if it did not come."""
        fd = self._file()
        if fd is None:
            return True
        try:
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(WRITE_RETRY)
        except OSError:
            # Not lockable here (NFS emulates flock with fcntl, which a
            # read-only descriptor cannot take): the turn is always free.
            self.close()
            return True
        return True

    def wait_for(self, deadline: float) -> None:
        """Take the turn, or raise SQLite's own "database is locked" error
        once *deadline* (``time.monotonic()``) passes without it."""
        if not self.take(deadline):
            raise sqlite3.OperationalError(
                "database is locked (another plait writer kept its turn)"
            )

    def give_back(self) -> None:
        """Let the next writer go (harmless if the turn is not held)."""
        if self._fd is not None:
            _unlock(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _file(self) -> int | None:
        if not self._opened:
            self._opened = True
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except PermissionError:
                self._fd = _open_existing(self.path)
            except OSError:
                self._fd = None
        return self._fd


def _open_existing(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


class Transaction:
    """A transaction on *conn*: a write (``BEGIN IMMEDIATE``, waiting up to
    *write_wait* seconds for *turn*, then for the write lock) or, with
    ``None``, a read."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock: threading.Lock,
        write_wait: float | None,
        turn: WriterTurn | None = None,
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._write_wait = write_wait
        self._turn = turn

    def __enter__(self) -> sqlite3.Cursor:
        self._lock.acquire()
        try:
            if self._write_wait is None:
                self._conn.execute("BEGIN")
            else:
                deadline = time.monotonic() + self._write_wait
                if self._turn is not None:
                    self._turn.wait_for(deadline)
                self._begin_write(self._write_wait, deadline)
        except BaseException as exc:
            try:
                # An interrupt just after BEGIN must not leave the write lock
                # held by a transaction nobody will end.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            finally:
                self._end()
            if isinstance(exc, sqlite3.Error):
                raise unavailable(exc) from exc
            raise
        return self._conn.cursor()

    def _begin_write(self, wait: float, deadline: float) -> None:
        # Another program may hold the lock: try again as the turn is tried.
        conn = self._conn
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() >= deadline:
                        raise
                time.sleep(WRITE_RETRY)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            try:
                if exc_type is None:
                    self._conn.execute("COMMIT")
            finally:
                # A failed or interrupted COMMIT, or the block's error: the
                # write lock must not stay held by a transaction nobody ends.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
        except sqlite3.OperationalError as error:
            raise unavailable(error) from error
        finally:
            self._end()
        if isinstance(exc, sqlite3.OperationalError) and _is_outage(exc):
            raise unavailable(exc) from exc

    def _end(self) -> None:
        try:
            if self._turn is not None:
                self._turn.give_back()
        finally:
            self._lock.release()


_OUTAGE_WORDS = ("locked", "busy", "unable to open", "disk", "i/o", "readonly")


def _is_outage(exc: sqlite3.OperationalError) -> bool:
    """Tell a database that is busy or gone from a bug in a statement."""
    text = str(exc).lower()
    return any(word in text for word in _OUTAGE_WORDS)


def unavailable(exc: sqlite3.Error) -> DatabaseUnavailableError:
    return DatabaseUnavailableError(f"SQLite job database: {exc}")
