"""The queue at a glance: counts per state and queue, throughput over the
last hour, live workers, the oldest due job, read in bounded time.

Counting a million rows is a scan whatever the index, so each count reads
at most ``COUNT_BOUND`` + 1 index entries: the waiting jobs (``queued`` and
``retrying`` together, from ``plait_jobs_ready``), the running ones
(``plait_jobs_lease``), and each final state on its own
(``plait_jobs_finished``). A group past the bound is estimated from
``SAMPLE_WINDOWS`` evenly spaced windows of ``SAMPLE_WIDTH`` ids each (one
primary-key range each, 5,000 rows in all) and its states are listed in
``QueueOverview.estimated``. Throughput
comes from ``plait_throughput``, which workers add to at their heartbeat,
off the claim path; the oldest due job from one index seek per (queue,
priority) group of waiting jobs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ._listing import Lister
from ._rows import STATES, WORKER_COLUMNS, WorkerRecord, worker_from_row
from ._sql import Tx

COUNT_BOUND = 10_000
SAMPLE_WINDOWS = 250
SAMPLE_WIDTH = 20
HOUR_BUCKETS = 60

_FINISHED = "state IN ('done', 'dead', 'cancelled')"
# Each bounded count: the states it counts, the index that serves it (SQLite
# pins it), and its WHERE clause (repeating the partial index's own term, as
# SQLite needs to use it).
_COUNTS = (
    (("queued", "retrying"), "plait_jobs_ready", "state IN ('queued', 'retrying')"),
    (("running",), "plait_jobs_lease", "state = 'running'"),
    (("done",), "plait_jobs_finished", f"{_FINISHED} AND state = 'done'"),
    (("dead",), "plait_jobs_finished", f"{_FINISHED} AND state = 'dead'"),
    (("cancelled",), "plait_jobs_finished", f"{_FINISHED} AND state = 'cancelled'"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class ThroughputBucket:
    """Outcomes recorded in one minute, over all queues.

    Attributes:
        minute: UNIX time the minute starts.
        done: jobs that succeeded.
        failed: failed attempts, retried or not (a job dead after two
            attempts counts two here and one in ``dead``).
        dead: jobs dead-lettered.
        cancelled: jobs cancelled.

    Example:
        >>> import plait
        >>> bucket = plait.ThroughputBucket(minute=1_800_000_000.0, done=120, dead=1)
        >>> bucket.done + bucket.failed + bucket.dead + bucket.cancelled
        121
    """

    minute: float
    done: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class QueueOverview:
    """What ``DurableBackend.overview`` returns: the queue at a glance.

    Attributes:
        counts: jobs per state; every state is present.
        by_queue: per queue, its jobs per state (states with jobs only).
        estimated: the states whose counts (in ``counts`` and ``by_queue``)
            are estimates, sampled (show them as approximate): a final
            state with more than ``exact_limit`` jobs, ``running`` past it,
            or ``queued`` and ``retrying`` when together past it. An
            estimate scales what 5,000 ids spread evenly over the table
            hold: close for a state with many jobs, but a state with few
            jobs beside a big one (a thousand retrying in a backlog of a
            hundred thousand) may be missed, or counted several times over.
        throughput: the last hour in one-minute buckets, oldest first; the
            current minute fills as workers heartbeat (every third of their
            lease).
        workers: the workers alive now (heartbeat not expired), by name.
        oldest_queued_age: seconds the longest-due queued or retrying job has
            waited past its not-before time, or ``None`` when none is due.
        taken_at: UNIX time these figures were read.
        exact_limit: up to how many jobs the counts are exact (per final
            state; for queued and retrying together; for running).

    Example:
        >>> import anyio, plait, tempfile, os
        >>> async def main(dsn: str) -> plait.QueueOverview:
        ...     async with plait.DurableBackend(dsn) as backend:
        ...         await backend.submit_many(
        ...             [plait.Job("a"), plait.Job("b", queue="mail")]
        ...         )
        ...         return await backend.overview()
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     view = anyio.run(main, os.path.join(tmp, "jobs.db"))
        >>> view.counts["queued"], view.by_queue, view.estimated
        (2, {'default': {'queued': 1}, 'mail': {'queued': 1}}, frozenset())
        >>> len(view.throughput), view.workers
        (60, ())
    """

    counts: Mapping[str, int]
    by_queue: Mapping[str, Mapping[str, int]]
    estimated: frozenset[str]
    throughput: tuple[ThroughputBucket, ...]
    workers: tuple[WorkerRecord, ...]
    oldest_queued_age: float | None
    taken_at: float
    exact_limit: int = COUNT_BOUND


def read_overview(tx: Tx, lister: Lister, now: float) -> QueueOverview:
    """Read every figure of the overview in one transaction."""
    lister.begin(tx)
    counts: dict[str, int] = dict.fromkeys(STATES, 0)
    by_queue: dict[str, dict[str, int]] = {}
    estimated: set[str] = set()
    # First how many each group holds, up to the bound (an index walk that
    # keeps nothing: cheap); then, for the groups within it, the same read
    # grouped by queue and state (a sort: only where the counts are exact).
    totals = tx.rows(
        " UNION ALL ".join(
            f"SELECT {n}, count(*) FROM (SELECT 1 FROM {_bounded(lister, n)}) AS b{n}"
            for n in range(len(_COUNTS))
        ),
        (COUNT_BOUND + 1,) * len(_COUNTS),
    )
    exact = [int(n) for n, total in totals if 0 < int(total) <= COUNT_BOUND]
    for n, total in totals:
        if int(total) > COUNT_BOUND:
            estimated.update(_COUNTS[int(n)][0])
    if exact:
        rows = tx.rows(
            " UNION ALL ".join(
                f"SELECT queue, state, count(*) FROM (SELECT queue, state FROM "
                f"{_bounded(lister, n)}) AS g{n} GROUP BY queue, state"
                for n in exact
            ),
            (COUNT_BOUND + 1,) * len(exact),
        )
        for queue, state, c in rows:
            counts[state] += int(c)
            by_queue.setdefault(queue, {})[state] = int(c)
    if estimated:
        for (queue, state), n in _estimate(tx, estimated).items():
            counts[state] += n
            by_queue.setdefault(queue, {})[state] = n
    return QueueOverview(
        counts=counts,
        by_queue={q: by_queue[q] for q in sorted(by_queue)},
        estimated=frozenset(estimated),
        throughput=_throughput(tx, now),
        workers=tuple(
            w for w in (worker_from_row(r) for r in _workers(tx)) if w.alive(now)
        ),
        oldest_queued_age=_oldest_due_age(tx, lister, now),
        taken_at=now,
    )


def _bounded(lister: Lister, n: int) -> str:
    """The FROM clause of count group *n*'s bounded read (its LIMIT a ``?``)."""
    _, index, where = _COUNTS[n]
    return f"plait_jobs {lister.hint(index)} WHERE {where} LIMIT ?"


def _estimate(tx: Tx, states: set[str]) -> dict[tuple[str, str], int]:
    """Estimate per (queue, state) counts of *states* from evenly spaced id
    windows: each window is one primary-key range, so this reads
    SAMPLE_WINDOWS * SAMPLE_WIDTH ids whatever the table's size."""
    # Two subqueries: SQLite answers a lone min() or max() of the key from
    # the b-tree's edge, but scans the table for both in one SELECT.
    ((low, high),) = tx.rows(
        "SELECT (SELECT min(id) FROM plait_jobs), (SELECT max(id) FROM plait_jobs)"
    )
    if low is None:
        return {}
    span = int(high) - int(low) + 1
    step = max(SAMPLE_WIDTH, span // SAMPLE_WINDOWS)
    windows = min(SAMPLE_WINDOWS, -(-span // step))
    marks = ", ".join("?" * len(states))
    rows = tx.rows(
        "WITH RECURSIVE w(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM w "
        "WHERE n + 1 < ?) "
        "SELECT j.queue, j.state, count(*) FROM w JOIN plait_jobs j "
        "ON j.id >= ? + w.n * ? AND j.id < ? + w.n * ? + ? "
        f"WHERE j.state IN ({marks}) GROUP BY j.queue, j.state",
        (windows, low, step, low, step, SAMPLE_WIDTH, *sorted(states)),
    )
    # The last window may reach past the highest id: count only ids inside.
    covered = sum(min(SAMPLE_WIDTH, span - n * step) for n in range(windows))
    scale = span / covered
    return {(q, s): round(int(n) * scale) for q, s, n in rows}


def _throughput(tx: Tx, now: float) -> tuple[ThroughputBucket, ...]:
    current = int(now // 60)
    first = current - HOUR_BUCKETS + 1
    rows = tx.rows(
        "SELECT minute, sum(done), sum(failed), sum(dead), sum(cancelled) "
        "FROM plait_throughput WHERE minute >= ? GROUP BY minute",
        (first,),
    )
    found: dict[int, Any] = {int(r[0]): r for r in rows}
    buckets: list[ThroughputBucket] = []
    for minute in range(first, current + 1):
        row = found.get(minute)
        counts = (0, 0, 0, 0) if row is None else tuple(int(v) for v in row[1:])
        buckets.append(ThroughputBucket(minute * 60.0, *counts))
    return tuple(buckets)


def _workers(tx: Tx) -> list[Any]:
    return tx.rows(f"SELECT {WORKER_COLUMNS} FROM plait_workers ORDER BY name")


def _oldest_due_age(tx: Tx, lister: Lister, now: float) -> float | None:
    """The first entry of each (queue, priority) group of the ready index is
    that group's earliest not-before."""
    due = [nb for _, _, nb in lister.groups(tx, None) if nb <= now]
    return None if not due else max(0.0, now - min(due))
