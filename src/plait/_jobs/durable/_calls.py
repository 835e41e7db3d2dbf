"""Opening an engine, driving it from async code, and reconnecting with backoff."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

import anyio
import anyio.to_thread
from anyio import TASK_STATUS_IGNORED
from anyio.abc import TaskStatus

from ..._patterns._retry import RetryPolicy
from ._engine import DatabaseUnavailableError, Engine, is_postgres, redact
from ._logs import logger

T = TypeVar("T")
P = ParamSpec("P")


class Closeable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closeable)


# Reconnection backoff: 0.1 s doubling to 10 s, full jitter so a fleet of
# workers does not reconnect in lockstep after a database restart.
CONNECT_BACKOFF = RetryPolicy(
    attempts=1_000_000, base_delay=0.1, max_delay=10.0, jitter=0.5
)


async def in_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run one blocking engine call in a worker thread; return once it has ended.

    anyio waits for the thread when the caller is cancelled, but a native
    asyncio ``Task.cancel()`` interrupts even a shielded wait. The call then
    still waits for the thread before the cancellation goes on, so no engine
    call outlives the worker or backend that made it (the stress harness saw a
    write land in a SQLite directory after ``run()`` had returned).
    """
    return await _ThreadCall(functools.partial(fn, *args, **kwargs)).call(None)


async def in_thread_then(fn: Callable[[], T], then: Callable[[T], object]) -> T:
    """Run *fn* in a worker thread, hand its result to *then*, return it.

    For a call whose effects the caller must record, such as the worker's
    round trip that claims jobs and records outcomes: a native
    ``Task.cancel()`` that interrupts the wait after the call has begun waits
    for it and calls *then* with its result before the cancellation goes on,
    where ``in_thread`` would drop the result. *then* runs in the event loop,
    never when the call raised or never began (it then never will).
    """
    return await _ThreadCall(fn).call(then)


async def open_in_thread(open_: Callable[[], C]) -> C:
    """Run *open_* (a connection's opener) in a worker thread; return what it opened.

    A native ``Task.cancel()`` that waited for the open to finish closes what
    it opened before the cancellation goes on: nothing else holds it.
    """
    opened: list[C] = []
    try:
        return await in_thread_then(open_, opened.append)
    except BaseException:
        for resource in opened:
            resource.close()
        raise


async def close_in_thread(resource: Closeable) -> None:
    """Close *resource* in a worker thread; a cancellation never leaves it open.

    Where ``in_thread`` drops a call a native ``Task.cancel()`` stopped before
    it began, this closes *resource* in the event loop instead, before the
    cancellation goes on (closing is quick; an error doing so is logged, so
    the cancellation is what leaves).
    """
    call = _ThreadCall(resource.close)
    try:
        await call.call(None)
    except BaseException:
        if not call.begun:
            try:
                resource.close()
            except Exception:
                logger.exception("closing %r after a cancellation failed", resource)
        raise


class _ThreadCall(Generic[T]):
    """A call for a worker thread that can be abandoned before it begins.

    A cancelled caller either stops the call before it begins or waits for
    it: never leaves it running. The lock closes the window between anyio's
    worker checking that the call is still wanted and the call beginning.
    """

    _value: T  # what the call returned, once _returned

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self._begun = self._abandoned = self._returned = False
        self._finished = threading.Event()

    async def call(self, then: Callable[[T], object] | None) -> T:
        try:
            value = await anyio.to_thread.run_sync(self.run)
        except BaseException:
            if self.abandon():
                await self.wait_until_finished()
                if then is not None and self._returned:
                    # A native cancellation cut the wait short, after the call.
                    then(self._value)
            raise
        if then is not None:
            then(value)
        return value

    def run(self) -> T:
        with self._lock:
            self._begun = not self._abandoned
        if not self._begun:
            # Its caller has gone; anyio drops what a cancelled call returns.
            raise RuntimeError("engine call abandoned by its cancelled caller")
        try:
            self._value = value = self._fn()
            self._returned = True
            return value
        finally:
            self._finished.set()

    @property
    def begun(self) -> bool:
        """Whether the call began (once abandoned, it never will)."""
        return self._begun

    def abandon(self) -> bool:
        """Stop the call if it has not begun; return whether it had."""
        with self._lock:
            self._abandoned = True
            return self._begun

    async def wait_until_finished(self) -> None:
        # Polls rather than waiting in another thread: the pool may be full.
        with anyio.CancelScope(shield=True):
            while not self._finished.is_set():
                try:
                    await anyio.sleep(0.005)
                except anyio.get_cancelled_exc_class():
                    continue  # another Task.cancel(): the call still runs


def open_engine(dsn: str, *, create: bool = True) -> Engine:
    """Connect to *dsn*: ``sqlite:///path``, a file path, or ``postgresql://``.

    With ``create=False`` a SQLite file that does not exist is a
    DatabaseUnavailableError rather than a new empty database (for commands
    that only read). Either way the tables are created or migrated to this
    code's schema version, or SchemaVersionError refuses a newer one.
    """
    if is_postgres(dsn):
        from ._postgres import PostgresEngine

        return PostgresEngine(dsn)
    from ._sqlite import SQLiteEngine

    return SQLiteEngine(dsn, create=create)


async def connect(dsn: str, *, create: bool = True) -> Engine:
    """Open *dsn* once; DatabaseUnavailableError (naming it, redacted) if down.

    A native ``Task.cancel()`` that waited for the open to finish closes the
    engine it opened before the cancellation goes on: nothing else holds it.
    """
    return await open_in_thread(functools.partial(open_engine, dsn, create=create))


async def connect_retrying(dsn: str, *, what: str) -> Engine:
    """Open *dsn*, retrying with backoff (logged) until the database answers."""
    failures = 0
    while True:
        try:
            return await connect(dsn)
        except DatabaseUnavailableError as exc:
            failures += 1
            delay = CONNECT_BACKOFF.delay(failures)
            logger.warning(
                "%s: %s; retrying in %.1f s (attempt %d)",
                what,
                exc,
                delay,
                failures,
            )
            await anyio.sleep(delay)


def describe(dsn: str) -> str:
    """Name *dsn* for messages, without its password."""
    return redact(dsn)


# An idle SQLite worker looks at the file's commit counter this often, backing
# off from the first to the second while nothing changes: the bound on its
# pickup latency across processes.
WATCH_FASTEST = 0.005
WATCH_SLOWEST = 0.025


async def watch_for_commits(
    engine: Any,
    name: str,
    wake: Callable[[], None],
    *,
    task_status: TaskStatus[None] = TASK_STATUS_IGNORED,
) -> None:
    """Call *wake* whenever another connection commits to a SQLite file.

    SQLite has no NOTIFY; its ``PRAGMA data_version`` changes at every
    commit by another connection and costs microseconds to read, so this
    polls it (every 5 ms, backing off to 25 ms while nothing changes).
    """
    watch: Any = None
    try:
        try:
            watch = await open_in_thread(engine.open_watch)
        finally:
            task_status.started()
        delay = WATCH_FASTEST
        while True:
            await anyio.sleep(delay)
            try:
                changed = await in_thread(watch.changed)
            except DatabaseUnavailableError as exc:
                logger.warning("worker %s: commit watch: %s", name, exc)
                wake()
                delay = 1.0
                continue
            if changed:
                wake()
                delay = WATCH_FASTEST
            else:
                delay = min(delay * 2, WATCH_SLOWEST)
    except DatabaseUnavailableError as exc:
        logger.warning("worker %s: no commit watch (%s); polling only", name, exc)
    finally:
        if watch is not None:
            watch.close()


async def listen_for_jobs(
    engine: Any,
    name: str,
    wake: Callable[[], None],
    *,
    task_status: TaskStatus[None] = TASK_STATUS_IGNORED,
) -> None:
    """Call *wake* on every NOTIFY of new jobs; reconnect with backoff.

    Reports ready once LISTEN is in place (or its first attempt failed), so
    the worker's first claim cannot miss a job submitted in between.
    """
    open_listener = engine.open_listener
    failures = 0
    while True:
        listener: Any = None
        try:
            try:
                listener = await open_in_thread(open_listener)
            finally:
                task_status.started()
                task_status = TASK_STATUS_IGNORED
            if failures:
                wake()
            failures = 0
            while True:
                await anyio.wait_readable(listener.fileno())
                if listener.drain():
                    wake()
        except DatabaseUnavailableError as exc:
            failures += 1
            delay = min(10.0, 0.1 * 2**failures)
            logger.warning(
                "worker %s: listener: %s; retrying in %.1f s",
                name,
                exc,
                delay,
            )
            await anyio.sleep(delay)
        finally:
            if listener is not None:
                listener.close()
