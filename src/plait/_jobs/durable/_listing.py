"""Listing jobs for an operator: filters, a per-state order, keyset pages.

Every page is read along an index, in the order that index gives, from the
position the cursor names, so page 1,000 costs what page 1 costs. Which
index depends on the state filter, and so does the order (as the state tabs
of Oban Web and River UI do):

- no state: newest first (the primary key, ``id`` descending);
- ``queued``/``retrying``: due first (``not_before``, then ``id``), merged
  from the groups of ``plait_jobs_ready``, one per queue and priority in use
  (found by skipping from one group to the next in one statement: a page
  costs a few index seeks per group);
- ``running``: started first (a running set is as small as the workers'
  concurrency);
- ``done``/``dead``/``cancelled``: most recently finished first
  (``plait_jobs_finished``);
- with a key prefix: by key (the unique index of idempotency keys).

A filter the chosen index does not serve (a type, say) is applied to a
window of at most ``WINDOW`` rows read along it: a page then holds fewer
than ``limit`` jobs while more may follow, and the cursor moves on past the
window. The time per call stays bounded whatever the table's size; only
``next_cursor is None`` means the end.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import heapq
import json
from collections.abc import Sequence
from typing import Any, Literal, cast

from .._model import payload_json
from ._rows import STATES, AttemptRecord, JobRecord, JobState
from ._schema import split_error
from ._sql import Tx

WINDOW = 10_000
MAX_LIMIT = 1000
ERROR_TAIL = 400

Order = Literal["newest", "due", "started", "finished", "key"]


@dataclasses.dataclass(frozen=True, slots=True)
class JobSummary:
    """One job as a list shows it: no payload, result or traceback.

    Attributes:
        id: the job id ``submit`` returned.
        type, queue, state, priority: as stored.
        attempts: runs started and not released.
        max_attempts: what its handler's retry policy allows, once known.
        idempotency_key: its key, or ``None``.
        created_at, not_before: UNIX times (``not_before``: when it is due).
        started_at, finished_at: its latest attempt's start, and when it
            reached a final state (``None`` until then).
        worker: the worker that ran its latest attempt.
        error_line: its last failure in one line (``"ValueError: no such
            mailbox"``), or ``None``.

    Example:
        >>> import anyio, plait, tempfile, os
        >>> async def main(dsn: str) -> plait.JobSummary:
        ...     async with plait.DurableBackend(dsn) as backend:
        ...         await backend.submit(plait.Job("email.send", queue="mail"))
        ...         return (await backend.list_jobs()).jobs[0]
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     job = anyio.run(main, os.path.join(tmp, "jobs.db"))
        >>> job.type, job.queue, job.state, job.attempts
        ('email.send', 'mail', 'queued', 0)
    """

    id: str
    type: str
    queue: str
    state: JobState
    priority: int
    attempts: int
    max_attempts: int | None
    idempotency_key: str | None
    created_at: float
    not_before: float
    started_at: float | None
    finished_at: float | None
    worker: str | None
    error_line: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class JobPage:
    """One page of ``DurableBackend.list_jobs``.

    Attributes:
        jobs: up to ``limit`` jobs, in the order of the state filter.
        next_cursor: pass it as ``cursor`` for the next page; ``None`` at the
            end. A page with fewer than ``limit`` jobs is not the end unless
            this is ``None``.

    Example:
        >>> import anyio, plait, tempfile, os
        >>> async def main(dsn: str) -> list[int]:
        ...     sizes = []
        ...     async with plait.DurableBackend(dsn) as backend:
        ...         await backend.submit_many([plait.Job("t") for _ in range(5)])
        ...         page = await backend.list_jobs(limit=2)
        ...         sizes.append(len(page.jobs))
        ...         while page.next_cursor is not None:
        ...             page = await backend.list_jobs(limit=2, cursor=page.next_cursor)
        ...             sizes.append(len(page.jobs))
        ...     return sizes
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     anyio.run(main, os.path.join(tmp, "jobs.db"))
        [2, 2, 1]
    """

    jobs: tuple[JobSummary, ...]
    next_cursor: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class JobDetail:
    """A job with its history, as ``DurableBackend.inspect`` returns it.

    Attributes:
        record: the job's row: payload, result, state, queue, timestamps,
            the worker that ran it last and the lease holder while it runs.
        attempts: every attempt that did not succeed, oldest first, with its
            error and traceback; a successful attempt is the record itself
            (``started_at``, ``worker``, ``finished_at``, ``result``).

    Example:
        >>> import anyio, plait, tempfile, os
        >>> handlers = plait.JobHandlers()
        >>> policy = plait.RetryPolicy(attempts=2, base_delay=0.01)
        >>> @handlers.register("fail", retry=policy)
        ... async def fail(job: plait.Job) -> None:
        ...     raise ValueError(f"no mailbox {job.payload['to']}")
        >>> async def main(dsn: str) -> plait.JobDetail | None:
        ...     async with plait.DurableBackend(dsn, handlers=handlers) as backend:
        ...         job_id = await backend.submit(plait.Job("fail", {"to": "x"}))
        ...         await backend.wait(job_id, timeout=30)
        ...         return await backend.inspect(job_id)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     detail = anyio.run(main, os.path.join(tmp, "jobs.db"))
        >>> detail.record.state, [a.outcome for a in detail.attempts]
        ('dead', ['failed', 'failed'])
        >>> detail.attempts[-1].message
        'no mailbox x'
    """

    record: JobRecord
    attempts: tuple[AttemptRecord, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Filters:
    """What ``list_jobs`` was asked for, checked."""

    state: JobState | None = None
    type: str | None = None
    queue: str | None = None
    key_prefix: str | None = None

    def order(self) -> Order:
        if self.key_prefix is not None:
            return "key"
        if self.state is None:
            return "newest"
        if self.state in ("queued", "retrying"):
            return "due"
        if self.state == "running":
            return "started"
        return "finished"

    def signature(self) -> str:
        text = payload_json(dataclasses.asdict(self))
        return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def check_filters(
    call: str, state: object, type: object, queue: object, key_prefix: object
) -> Filters:
    """Validate list filters; TypeError/ValueError naming *call* and the argument."""
    if state is not None and state not in STATES:
        raise ValueError(
            f"{call} state must be one of {', '.join(STATES)} or None, got {state!r}"
        )
    for name, value in (("type", type), ("queue", queue), ("key_prefix", key_prefix)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{call} {name} must be a str or None, got {value!r}")
    if key_prefix == "":
        raise ValueError(f"{call} key_prefix must not be empty, got ''")
    return Filters(state, type, queue, key_prefix)  # type: ignore[arg-type]


def encode_cursor(filters: Filters, key: Sequence[Any]) -> str:
    text = json.dumps([filters.signature(), list(key)], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(call: str, filters: Filters, cursor: str) -> list[Any]:
    """Return the sort key a cursor carries; ValueError if it is not one of
    these filters' cursors."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        signature, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error):
        signature, key = None, None
    if signature != filters.signature() or not isinstance(key, list):
        raise ValueError(
            f"{call} cursor must be the next_cursor of a page listed with the "
            f"same filters, got {cursor!r}"
        )
    return cast("list[object]", key)  # a JSON array: any JSON values


SUMMARY_COLUMNS = (
    "id, type, queue, state, priority, attempts, max_attempts, idempotency_key, "
    "created_at, not_before, started_at, finished_at, worker"
)
_SUMMARY_NAMES: tuple[str, ...] = tuple(SUMMARY_COLUMNS.replace(",", " ").split())


Page = tuple[list[JobSummary], list[Any] | None]


class Lister:
    """The queries of one dialect: ``page(tx, filters, limit, key)``."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        tail = "substr(error, -{n})" if self.sqlite else "right(error, {n})"
        self.columns = f"{SUMMARY_COLUMNS}, {tail.format(n=ERROR_TAIL)}"

    def begin(self, tx: Tx) -> None:
        """Start an admin read: on PostgreSQL, without JIT compilation, which
        the planner's pessimistic estimates for bounded reads (a LIMIT under
        a GROUP BY, one index range per sample window) trigger, and which
        then costs more than the read (100 ms against 8 ms, measured)."""
        if not self.sqlite:
            tx.count("SET LOCAL jit = off")

    def hint(self, index: str) -> str:
        """Pin SQLite's plan to *index* (its planner strays on skewed tables)."""
        return f"INDEXED BY {index}" if self.sqlite else ""

    def page(self, tx: Tx, filters: Filters, limit: int, key: list[Any] | None) -> Page:
        """Return up to *limit* jobs after *key*, and the next page's key
        (``None`` at the end)."""
        order = filters.order()
        if order == "due":
            return self._due(tx, filters, limit, key)
        table, where, params, sort, post, post_params = self._plan(order, filters, key)
        return self._window(
            tx, table, where, params, sort, post, post_params, limit, WINDOW
        )

    def _plan(
        self, order: Order, f: Filters, key: list[Any] | None
    ) -> tuple[str, list[str], list[Any], list[str], list[str], list[Any]]:
        """The index range (table, conditions and parameters), the sort
        columns (with directions), and the filters left for the window."""
        where: list[str] = []
        params: list[Any] = []
        post: list[str] = []
        post_params: list[Any] = []
        if order == "key":
            assert f.key_prefix is not None
            table = "plait_jobs"
            where.append("idempotency_key >= ? AND idempotency_key < ?")
            params += [f.key_prefix, _after_prefix(f.key_prefix)]
            if key is not None:
                where.append("idempotency_key > ?")
                params.append(key[0])
            sort = ["idempotency_key"]
            if f.state is not None:
                post.append("state = ?")
                post_params.append(f.state)
        elif order == "newest":
            table = "plait_jobs"
            if key is not None:
                where.append("id < ?")
                params.append(key[0])
            sort = ["id DESC"]
        elif order == "started":
            table = f"plait_jobs {self.hint('plait_jobs_lease')}"
            where.append("state = 'running'")
            if key is not None:
                where.append("(started_at, id) > (?, ?)")
                params += key[:2]
            sort = ["started_at", "id"]
        else:
            table = f"plait_jobs {self.hint('plait_jobs_finished')}"
            where.append("state IN ('done', 'dead', 'cancelled') AND state = ?")
            params.append(f.state)
            if key is not None:
                # A row value: one index range on (state, finished_at, id).
                where.append("(finished_at, id) < (?, ?)")
                params += key[:2]
            sort = ["finished_at DESC", "id DESC"]
        if f.type is not None:
            post.append("type = ?")
            post_params.append(f.type)
        if f.queue is not None:
            post.append("queue = ?")
            post_params.append(f.queue)
        return table, where, params, sort, post, post_params

    def _window(
        self,
        tx: Tx,
        table: str,
        where: list[str],
        params: list[Any],
        sort: list[str],
        post: list[str],
        post_params: list[Any],
        limit: int,
        window: int,
    ) -> Page:
        """Read *table* where *where* holds, in *sort* order (one direction
        for all columns); with *post* filters, only the first *window* rows
        of that range."""
        ranges = [(where, params)]
        ((rows, nxt),) = self._window_rows(
            tx, table, ranges, sort, post, post_params, limit, window, full=True
        )
        return [summary(row) for row in rows], nxt

    def _window_rows(
        self,
        tx: Tx,
        table: str,
        ranges: list[tuple[list[str], list[Any]]],
        sort: list[str],
        post: list[str],
        post_params: list[Any],
        limit: int,
        window: int,
        *,
        full: bool,
    ) -> list[tuple[list[Sequence[Any]], list[Any] | None]]:
        """Read several ranges of one index, each in *sort* order (one
        direction for all columns), with the *post* filters applied to the
        first *window* rows of each: every range's matching rows (``full``:
        the summary columns; else the sort key only) up to *limit*, and the
        key its next page starts after (``None`` at the range's end).

        Each range is read in order, its filters applied as it goes, up to
        *limit* + 1 matches or *window* rows, whichever comes first. On
        PostgreSQL that is one statement while the pages fill (a page whose
        filters match often reads little more than the page); only a range
        that ran out of window first needs a second one, which finds where
        its window ended (walking the index alone) so that the next page
        starts there. SQLite would sort the rows of a window read that way,
        so there every window's end is found first and each page is read up
        to it: two statements, both along the index.
        """
        if not ranges:
            return []
        order_by = ", ".join(sort)
        keys = [s.split()[0] for s in sort]
        descending = sort[0].endswith(" DESC")
        if full:
            select, inner = self.columns, f"{SUMMARY_COLUMNS}, error"
            at = [_SUMMARY_NAMES.index(k) for k in keys]
        else:
            # The key and what the filters read: from the index alone where
            # it holds them.
            select = ", ".join(keys)
            inner = ", ".join(dict.fromkeys(keys + [p.split()[0] for p in post]))
            at = list(range(len(keys)))
        nested = bool(post) and not self.sqlite
        edges: dict[int, list[Any]] = {}
        if post and not nested:
            every = list(range(len(ranges)))
            edges = self._edges(tx, table, ranges, order_by, keys, window, every)
        arms: list[str] = []
        values: list[Any] = []
        op = ">=" if descending else "<="
        for n, (where, params) in enumerate(ranges):
            if nested:
                # The inner LIMIT bounds the rows read; the outer one stops
                # at the page. Both read in index order, so neither sorts.
                source = (
                    f"FROM (SELECT {inner} {_from(table, where)} "
                    f"ORDER BY {order_by} LIMIT ?) AS w{n} WHERE {' AND '.join(post)}"
                )
                values += [*params, window, *post_params, limit + 1]
            else:
                bounded, bound_params = list(where), list(params)
                if n in edges:
                    marks = ", ".join("?" * len(keys))
                    bounded.append(f"({', '.join(keys)}) {op} ({marks})")
                    bound_params += edges[n]
                source = _from(table, bounded + post)
                values += [*bound_params, *post_params, limit + 1]
            arms.append(
                f"SELECT {n}, p{n}.* FROM (SELECT {select} {source} "
                f"ORDER BY {order_by} LIMIT ?) AS p{n}"
            )
        found: dict[int, list[Sequence[Any]]] = {n: [] for n in range(len(ranges))}
        for row in tx.rows(" UNION ALL ".join(arms), values):
            found[int(row[0])].append(row[1:])
        if nested:
            short = [n for n in range(len(ranges)) if len(found[n]) <= limit]
            edges = self._edges(tx, table, ranges, order_by, keys, window, short)
        pages: list[tuple[list[Sequence[Any]], list[Any] | None]] = []
        for n in range(len(ranges)):
            # UNION ALL promises no order across or within its arms: restore it.
            rows = sorted(
                found[n], key=lambda r: tuple(r[i] for i in at), reverse=descending
            )
            if len(rows) > limit:
                pages.append((rows[:limit], [rows[limit - 1][i] for i in at]))
            else:
                # Fewer matches than asked for: the window's end is where the
                # next page starts, if the range went on past it.
                pages.append((rows, edges.get(n)))
        return pages

    def _edges(
        self,
        tx: Tx,
        table: str,
        ranges: list[tuple[list[str], list[Any]]],
        order_by: str,
        keys: list[str],
        window: int,
        short: list[int],
    ) -> dict[int, list[Any]]:
        """The sort key of the last row of each *short* range's window, for
        the ranges that go on past it (a range read to its end has none)."""
        if not short:
            return {}
        arms: list[str] = []
        values: list[Any] = []
        for n in short:
            where, params = ranges[n]
            arms.append(
                f"SELECT {n}, {', '.join(keys)} FROM (SELECT {', '.join(keys)} "
                f"{_from(table, where)} ORDER BY {order_by} LIMIT 1 OFFSET ?) "
                f"AS e{n}"
            )
            values += [*params, window - 1]
        return {
            int(r[0]): list(r[1:]) for r in tx.rows(" UNION ALL ".join(arms), values)
        }

    def groups(self, tx: Tx, queue: str | None) -> list[tuple[str, int, float]]:
        """The (queue, priority) groups of waiting jobs in index order, each
        with its earliest not-before: one statement that skips from one
        group to the next (a loose index scan, a few index seeks a group)."""
        ready = f"plait_jobs {self.hint('plait_jobs_ready')}"
        waiting = "state IN ('queued', 'retrying')"
        lower = (
            f"(SELECT max(priority) FROM {ready} WHERE queue = g.queue AND "
            f"{waiting} AND priority < g.priority)"
        )
        if queue is None:
            first = f"{waiting} ORDER BY queue, priority DESC LIMIT 1"
            params: tuple[Any, ...] = ()
            later = (
                f"(SELECT min(queue) FROM {ready} WHERE queue > g.queue AND {waiting})"
            )
        else:
            first = f"queue = ? AND {waiting} ORDER BY priority DESC LIMIT 1"
            params = (queue,)
            later = "NULL"
        rows = tx.rows(
            "WITH RECURSIVE g(queue, priority) AS ("
            f"SELECT queue, priority FROM (SELECT queue, priority FROM {ready} "
            f"WHERE {first}) AS first "
            "UNION ALL "
            f"SELECT CASE WHEN {lower} IS NOT NULL THEN g.queue ELSE {later} END, "
            f"coalesce({lower}, (SELECT max(priority) FROM {ready} WHERE "
            f"queue = {later} AND {waiting})) "
            "FROM g WHERE g.queue IS NOT NULL) "
            f"SELECT queue, priority, (SELECT min(not_before) FROM {ready} WHERE "
            f"queue = g.queue AND priority = g.priority AND {waiting}) "
            "FROM g WHERE queue IS NOT NULL",
            params,
        )
        return [(q, int(p), float(nb)) for q, p, nb in rows]

    def _due(self, tx: Tx, f: Filters, limit: int, key: list[Any] | None) -> Page:
        """Waiting jobs due first: each (queue, priority) group is one index
        range in (not_before, id) order; the groups' pages are merged."""
        groups = self.groups(tx, f.queue)
        ready = f"plait_jobs {self.hint('plait_jobs_ready')}"
        post = ["state = ?"]
        post_params: list[Any] = [f.state]
        if f.type is not None:
            post.append("type = ?")
            post_params.append(f.type)
        # The window is shared out, so a page reads at most WINDOW rows.
        window = max(limit + 1, WINDOW // max(1, len(groups)))
        ranges: list[tuple[list[str], list[Any]]] = []
        for queue, priority, _ in groups:
            where = ["queue = ? AND priority = ? AND state IN ('queued', 'retrying')"]
            params: list[Any] = [queue, priority]
            if key is not None:
                where.append("(not_before, id) > (?, ?)")
                params += key[:2]
            ranges.append((where, params))
        next_keys: list[list[Any]] = []
        pages = self._window_rows(
            tx,
            ready,
            ranges,
            ["not_before", "id"],
            post,
            post_params,
            limit,
            window,
            full=False,
        )
        merged: list[tuple[float, int]] = []
        for rows, nxt in pages:
            merged.extend((float(nb), int(id_)) for nb, id_ in rows)
            if nxt is not None:
                next_keys.append(nxt)
        merged = heapq.nsmallest(limit + 1, merged)
        # The page ends where the first group's own page ended, or at the
        # limit; nothing before that point was left unread in any group.
        bound = min(((float(nb), int(i)) for nb, i in next_keys), default=None)
        chosen = [k for k in merged if bound is None or k <= bound]
        nxt_key: list[Any] | None = None if bound is None else list(bound)
        if len(chosen) > limit:
            chosen = chosen[:limit]
            nxt_key = list(chosen[-1])
        return self._summaries(tx, chosen, post, post_params), nxt_key

    def _summaries(
        self,
        tx: Tx,
        chosen: list[tuple[float, int]],
        post: list[str],
        post_params: list[Any],
    ) -> list[JobSummary]:
        """The summaries of the jobs keyed in *chosen*, in that order; a job
        that no longer matches *post* (claimed since, say) is left out."""
        if not chosen:
            return []
        marks = ", ".join("?" * len(chosen))
        rows = tx.rows(
            f"SELECT {self.columns} FROM plait_jobs "
            f"WHERE id IN ({marks}) AND {' AND '.join(post)}",
            [i for _, i in chosen] + post_params,
        )
        by_id = {int(row[0]): summary(row) for row in rows}
        return [by_id[i] for _, i in chosen if i in by_id]


def _from(table: str, where: list[str]) -> str:
    return f"FROM {table}" + (f" WHERE {' AND '.join(where)}" if where else "")


def _after_prefix(prefix: str) -> str:
    """The smallest string above every string starting with *prefix*, in
    code-point (SQLite BINARY, PostgreSQL "C") order."""
    return prefix + "\U0010ffff"


def summary(row: Sequence[Any]) -> JobSummary:
    """Build a JobSummary from a row of ``Lister.columns``."""
    tail = row[13]
    error_line = None
    if tail:
        error_type, message = split_error(tail)
        error_line = f"{error_type}: {message}" if error_type else message
    return JobSummary(
        id=str(row[0]),
        type=row[1],
        queue=row[2],
        state=row[3],
        priority=row[4],
        attempts=row[5],
        max_attempts=row[6],
        idempotency_key=row[7],
        created_at=row[8],
        not_before=row[9],
        started_at=row[10],
        finished_at=row[11],
        worker=row[12],
        error_line=error_line,
    )
