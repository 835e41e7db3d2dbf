"""Waiting jobs, due first: one index range per (queue, priority) group of
``plait_jobs_ready``, the groups found by skipping from one to the next in
one statement, their pages merged."""

from __future__ import annotations

import heapq
from typing import Any

from ._job_views import JobSummary, summary
from ._keyset import IndexReader, Page
from ._list_filters import Filters
from ._sql import Tx


def waiting_groups(
    reader: IndexReader, tx: Tx, queue: str | None
) -> list[tuple[str, int, float]]:
    """The (queue, priority) groups of waiting jobs in index order, each
    with its earliest not-before: one statement that skips from one
    group to the next (a loose index scan, a few index seeks a group)."""
    ready = f"plait_jobs {reader.hint('plait_jobs_ready')}"
    waiting = "state IN ('queued', 'retrying')"
    lower = (
        f"(SELECT max(priority) FROM {ready} WHERE queue = g.queue AND "
        f"{waiting} AND priority < g.priority)"
    )
    if queue is None:
        first = f"{waiting} ORDER BY queue, priority DESC LIMIT 1"
        params: tuple[Any, ...] = ()
        later = f"(SELECT min(queue) FROM {ready} WHERE queue > g.queue AND {waiting})"
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


def due_page(
    reader: IndexReader,
    tx: Tx,
    f: Filters,
    limit: int,
    key: list[Any] | None,
    window: int,
) -> Page:
    """Waiting jobs due first: each (queue, priority) group is one index
    range in (not_before, id) order; the groups' pages are merged, reading
    at most *window* rows in all."""
    groups = waiting_groups(reader, tx, f.queue)
    ready = f"plait_jobs {reader.hint('plait_jobs_ready')}"
    post = ["state = ?"]
    post_params: list[Any] = [f.state]
    if f.type is not None:
        post.append("type = ?")
        post_params.append(f.type)
    # The window is shared out, so a page reads at most *window* rows.
    share = max(limit + 1, window // max(1, len(groups)))
    ranges: list[tuple[list[str], list[Any]]] = []
    for queue, priority, _ in groups:
        where = ["queue = ? AND priority = ? AND state IN ('queued', 'retrying')"]
        params: list[Any] = [queue, priority]
        if key is not None:
            where.append("(not_before, id) > (?, ?)")
            params += key[:2]
        ranges.append((where, params))
    next_keys: list[list[Any]] = []
    pages = reader.window_rows(
        tx,
        ready,
        ranges,
        ["not_before", "id"],
        post,
        post_params,
        limit,
        share,
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
    return _summaries(reader, tx, chosen, post, post_params), nxt_key


def _summaries(
    reader: IndexReader,
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
        f"SELECT {reader.columns} FROM plait_jobs "
        f"WHERE id IN ({marks}) AND {' AND '.join(post)}",
        [i for _, i in chosen] + post_params,
    )
    by_id = {int(row[0]): summary(row) for row in rows}
    return [by_id[i] for _, i in chosen if i in by_id]
