"""Keyset windows: ranges of one index read in its order, each up to a window.

A page is read along an index from the position its cursor names, so page
1,000 costs what page 1 costs. A filter the index does not serve is applied
to a window of rows read along it, which bounds the time a page takes; the
page then ends where its window ends (see ``IndexReader.window_rows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._job_views import (
    ERROR_TAIL,
    SUMMARY_COLUMNS,
    SUMMARY_NAMES,
    JobSummary,
    summary,
)
from ._sql import Tx

Page = tuple[list[JobSummary], list[Any] | None]


class IndexReader:
    """The keyset reads of one dialect, along the index a caller names."""

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

    def window_page(
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
        ((rows, nxt),) = self.window_rows(
            tx, table, ranges, sort, post, post_params, limit, window, full=True
        )
        return [summary(row) for row in rows], nxt

    def window_rows(
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
            at = [SUMMARY_NAMES.index(k) for k in keys]
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


def _from(table: str, where: list[str]) -> str:
    return f"FROM {table}" + (f" WHERE {' AND '.join(where)}" if where else "")
