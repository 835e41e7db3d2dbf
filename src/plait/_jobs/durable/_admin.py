"""The operator's calls on a ``DurableBackend``: one set of admin queries that
``plait jobs``, ``plait worker --status`` and the dashboard all use.

Each call is one or a few short transactions on the backend's connection
(run in a worker thread, as every engine call is); none holds a lock across
calls, and none touches the claim or acknowledgement path.
"""

from __future__ import annotations

import os
import time
from typing import Literal

import anyio

from ..._core._checks import check_positive_int, check_seconds, fail
from ._calls import in_thread
from ._engine import DatabaseUnavailableError, Engine, is_postgres, sqlite_path
from ._listing import (
    MAX_LIMIT,
    JobDetail,
    JobPage,
    Lister,
    check_filters,
    decode_cursor,
    encode_cursor,
)
from ._overview import QueueOverview, read_overview
from ._rows import JobState, ScheduleRecord, WorkerRecord
from ._sql import Tx

Purgeable = Literal["done", "dead", "cancelled"]
OVERVIEW_MAX_AGE = 2.0


def require_database(dsn: str) -> None:
    """Refuse a SQLite DSN whose file does not exist: a command that only
    reads or manages jobs must not create an empty database on a typo."""
    if is_postgres(dsn):
        return
    path = sqlite_path(dsn)
    if path != ":memory:" and not os.path.exists(path):
        raise DatabaseUnavailableError(
            f"no SQLite job database at {path!r}: check the path (only a "
            "worker, a submit or `plait jobs enqueue` creates one)"
        )


class JobAdmin:
    """Admin calls mixed into ``DurableBackend`` (see its docs)."""

    _overview_cache: QueueOverview | None = None
    _overview_lock: anyio.Lock | None = None

    def _require_engine(self) -> Engine:
        raise NotImplementedError

    def _parse_id(self, call: str, job_id: str) -> int:
        try:
            return int(job_id)
        except (TypeError, ValueError):
            fail(call, "job_id", "an id submit returned", job_id, error=ValueError)

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        type: str | None = None,
        queue: str | None = None,
        key_prefix: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPage:
        """List jobs matching every filter given, one keyset page at a time.

        The order follows the state filter: newest first without one; due
        first (``not_before``) for ``queued`` and ``retrying``; started first
        for ``running``; most recently finished first for ``done``,
        ``dead`` and ``cancelled``; by key with ``key_prefix``. A page costs
        the same however deep it is. Filters that the order's index does not
        serve (a type, say) are applied to a window of 10,000 rows read along
        it, so a page may hold fewer than *limit* jobs while more follow:
        only ``next_cursor is None`` means the end.

        Args:
            state: ``"queued"``, ``"running"``, ``"retrying"``, ``"done"``,
                ``"dead"`` or ``"cancelled"``.
            type: the job type, exactly.
            queue: the queue, exactly.
            key_prefix: idempotency keys starting with it.
            limit: jobs per page, 1 to 1000.
            cursor: the previous page's ``next_cursor``, listed with the same
                filters.

        Raises:
            ValueError: a bad state, limit or cursor.

        Example:
            >>> import anyio, plait, tempfile, os
            >>> async def main(dsn: str) -> list[str]:
            ...     async with plait.DurableBackend(dsn) as backend:
            ...         await backend.submit_many(
            ...             [plait.Job("a", idempotency_key=f"k{n}") for n in range(3)]
            ...         )
            ...         first = await backend.list_jobs(limit=2)
            ...         after = first.next_cursor
            ...         rest = await backend.list_jobs(limit=2, cursor=after)
            ...         return [j.idempotency_key for j in first.jobs + rest.jobs]
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     anyio.run(main, os.path.join(tmp, "jobs.db"))
            ['k2', 'k1', 'k0']
        """
        call = "list_jobs()"
        filters = check_filters(call, state, type, queue, key_prefix)
        check_positive_int(call, "limit", limit)
        if limit > MAX_LIMIT:
            fail(call, "limit", f"at most {MAX_LIMIT}", limit, error=ValueError)
        key = None if cursor is None else decode_cursor(call, filters, cursor)
        engine = self._require_engine()
        lister = Lister(engine.dialect)

        def read(tx: Tx) -> JobPage:
            lister.begin(tx)
            jobs, nxt = lister.page(tx, filters, limit, key)
            return JobPage(
                tuple(jobs), None if nxt is None else encode_cursor(filters, nxt)
            )

        return await in_thread(engine.read_with, read)

    async def inspect(self, job_id: str) -> JobDetail | None:
        """Return a job with its history, or ``None`` if there is none.

        The detail holds the job's row (payload, result, state, queue,
        timestamps, the worker that ran it last, the lease holder while it
        runs) and every attempt that did not succeed, oldest first, each with
        its error and traceback.
        """
        engine = self._require_engine()
        number = self._parse_id("inspect()", job_id)
        record = await in_thread(engine.get, number)
        if record is None:
            return None
        attempts = await in_thread(engine.attempts, number)
        return JobDetail(record, tuple(attempts))

    async def retry(self, job_id: str) -> bool:
        """Queue a dead or cancelled job again, due now, with a fresh budget
        of attempts (its history is kept).

        Returns:
            ``True`` when it was queued again, ``False`` when it is not dead
            or cancelled (it runs, waits or succeeded).

        Raises:
            KeyError: there is no such job.
        """
        engine = self._require_engine()
        number = self._parse_id("retry()", job_id)
        if await in_thread(engine.retry, [number], now=time.time()):
            return True
        if await in_thread(engine.get, number) is None:
            raise KeyError(f"no job with id {job_id!r}")
        return False

    async def retry_dead(
        self, *, type: str | None = None, queue: str | None = None
    ) -> int:
        """Queue every dead job (of *type*, in *queue*) again; return how many."""
        filters = check_filters("retry_dead()", "dead", type, queue, None)
        engine = self._require_engine()
        retried = 0
        cursor: str | None = None
        while True:
            page = await self.list_jobs(
                state=filters.state,
                type=filters.type,
                queue=filters.queue,
                limit=MAX_LIMIT,
                cursor=cursor,
            )
            ids = [int(job.id) for job in page.jobs]
            if ids:
                retried += len(await in_thread(engine.retry, ids, now=time.time()))
            if page.next_cursor is None:
                return retried
            cursor = page.next_cursor

    async def purge(self, *, state: Purgeable, older_than: float) -> int:
        """Delete jobs in final *state* that finished over *older_than*
        seconds ago, with their attempt history; return how many.

        Deletes in batches of 1,000, each its own transaction, so workers
        are never held up for long.
        """
        call = "purge()"
        if state not in ("done", "dead", "cancelled"):
            fail(
                call, "state", "'done', 'dead' or 'cancelled'", state, error=ValueError
            )
        check_seconds(call, "older_than", older_than)
        engine = self._require_engine()
        return await in_thread(engine.purge, state, before=time.time() - older_than)

    async def delete(self, job_id: str) -> bool:
        """Delete a finished job (done, dead or cancelled) and its history.

        Returns:
            ``True`` when it was deleted, ``False`` when it is not finished
            (it waits or runs: cancel it first).

        Raises:
            KeyError: there is no such job.
        """
        engine = self._require_engine()
        number = self._parse_id("delete()", job_id)

        if await in_thread(engine.delete, [number]):
            return True
        if await in_thread(engine.get, number) is None:
            raise KeyError(f"no job with id {job_id!r}")
        return False

    async def overview(self, *, max_age: float = OVERVIEW_MAX_AGE) -> QueueOverview:
        """Return counts per state and queue, the last hour's throughput, the
        live workers and the oldest due job's age.

        Counts are exact up to 10,000 jobs per state; past that they are
        estimated from a sample of the table and the state is listed in
        ``estimated``. A result younger than *max_age* seconds is returned
        again without reading the database (``taken_at`` says when it was
        read), so a dashboard polling every second reads every two; callers
        that miss the cache together share one read (the first reads, the
        others wait for it), so a dozen browser tabs cost one read too.
        Cancelled while waiting or reading, the call leaves the cache as it
        was for the next caller.
        """
        check_seconds("overview()", "max_age", max_age, finite=False)
        if self._overview_lock is None:
            self._overview_lock = anyio.Lock()
        async with self._overview_lock:
            cached = self._overview_cache
            if cached is not None and time.time() - cached.taken_at < max_age:
                return cached
            engine = self._require_engine()
            lister = Lister(engine.dialect)
            result: QueueOverview = await in_thread(
                engine.read_with, lambda tx: read_overview(tx, lister, time.time())
            )
            self._overview_cache = result
            return result

    async def workers(self, *, include_expired: bool = False) -> list[WorkerRecord]:
        """Return the registered workers, alive ones only unless
        *include_expired* (a worker that died stays listed for a day)."""
        records = await in_thread(self._require_engine().workers)
        now = time.time()
        return [w for w in records if include_expired or w.alive(now)]

    async def schedules(self) -> list[ScheduleRecord]:
        """Return the declared schedules, each with its next run."""
        return await in_thread(self._require_engine().schedules)
