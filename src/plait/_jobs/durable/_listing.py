"""Listing jobs for an operator: a per-state order, keyset pages along an index.

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

from typing import Any

from ._due_merge import due_page
from ._keyset import IndexReader, Page
from ._list_filters import Filters, Order
from ._sql import Tx

WINDOW = 10_000
MAX_LIMIT = 1000


class Lister(IndexReader):
    """The queries of one dialect: ``page(tx, filters, limit, key)``."""

    def page(self, tx: Tx, filters: Filters, limit: int, key: list[Any] | None) -> Page:
        """Return up to *limit* jobs after *key*, and the next page's key
        (``None`` at the end)."""
        order = filters.order()
        if order == "due":
            return due_page(self, tx, filters, limit, key, WINDOW)
        table, where, params, sort, post, post_params = self._plan(order, filters, key)
        return self.window_page(
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


def _after_prefix(prefix: str) -> str:
    """The smallest string above every string starting with *prefix*, in
    code-point (SQLite BINARY, PostgreSQL "C") order."""
    return prefix + "\U0010ffff"
