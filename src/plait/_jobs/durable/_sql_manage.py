"""The queries that manage jobs, workers and schedules, shared by both engines.

Cancelling, retrying and pruning jobs, the worker registry, and firing
schedules: everything but claiming and running jobs (``_sql.py``), written
once with ``?`` placeholders over ``SQLEngine``'s transactions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._engine import Fired, NewJob, TickPlan, schedule_key
from ._rows import (
    SCHEDULE_COLUMNS,
    WORKER_COLUMNS,
    ScheduleRecord,
    WorkerRecord,
    schedule_from_row,
    worker_from_row,
)
from ._sql import ADD_TALLY, UPSERT_WORKER, SQLEngine, Tx, marks, worker_params

# A dead worker's registry row stays this long (listed as expired), and the
# per-minute outcome counts this long.
WORKER_KEPT = 24 * 3600.0
THROUGHPUT_KEPT = 7 * 24 * 3600.0
PRUNE_BATCH = 1000


class ManagedQueries(SQLEngine):
    """Engine methods for operators and upkeep, on top of ``SQLEngine``."""

    def prune(
        self, *, done_before: float, dead_before: float | None, now: float
    ) -> int:
        deleted = self.purge("done", before=done_before)
        if dead_before is not None:
            deleted += self.purge("dead", before=dead_before)
            deleted += self.purge("cancelled", before=dead_before)

        def registry(tx: Tx) -> None:
            tx.count(
                "DELETE FROM plait_workers WHERE expires_at < ?", (now - WORKER_KEPT,)
            )
            tx.count(
                "DELETE FROM plait_throughput WHERE minute < ?",
                (int((now - THROUGHPUT_KEPT) // 60),),
            )

        self._write(registry)
        return deleted

    def purge(self, state: str, *, before: float) -> int:
        """Delete the jobs in final *state* that finished before *before*,
        with their attempt rows, in batches of PRUNE_BATCH (one transaction
        each, so workers wait for none of them long); return how many."""
        hint = self._hint("plait_jobs_finished")
        deleted = 0
        while True:

            def batch(tx: Tx) -> int:
                # SQLite uses a partial index only when the query repeats its
                # WHERE term verbatim.
                ids = [
                    row[0]
                    for row in tx.rows(
                        f"SELECT id FROM plait_jobs {hint} WHERE state IN "
                        "('done', 'dead', 'cancelled') AND state = ? "
                        f"AND finished_at < ? LIMIT {PRUNE_BATCH}",
                        (state, before),
                    )
                ]
                _delete_rows(tx, ids)
                return len(ids)

            count = self._write(batch)
            deleted += count
            if count < PRUNE_BATCH:
                return deleted

    def delete(self, ids: Sequence[int]) -> list[int]:
        """Delete the finished (done, dead, cancelled) jobs among *ids* with
        their attempt rows; return the ids deleted, sorted."""
        if not ids:
            return []

        def work(tx: Tx) -> list[int]:
            found = [
                int(row[0])
                for row in tx.rows(
                    f"SELECT id FROM plait_jobs WHERE id IN ({marks(ids)}) "
                    "AND state IN ('done', 'dead', 'cancelled')",
                    ids,
                )
            ]
            _delete_rows(tx, found)
            return sorted(found)

        return self._write(work)

    def cancel(self, ids: Sequence[int], *, now: float) -> dict[int, str]:
        """Cancel queued or retrying jobs at once; flag running ones.

        Returns each existing job's state after: ``"cancelled"``,
        ``"running"`` (flagged: its worker cancels it), or the final state it
        had already reached.
        """
        if not ids:
            return {}
        where = f"id IN ({marks(ids)})"

        def work(tx: Tx) -> dict[int, str]:
            cancelled = tx.rows(
                "UPDATE plait_jobs SET state = 'cancelled', finished_at = ?, "
                f"cancel_requested_at = ? WHERE {where} AND state IN "
                "('queued', 'retrying') RETURNING queue",
                (now, now, *ids),
            )
            tx.count(
                "UPDATE plait_jobs SET cancel_requested_at = ? WHERE "
                f"{where} AND state = 'running' AND cancel_requested_at IS NULL",
                (now, *ids),
            )
            per_queue: dict[str, int] = {}
            for (queue,) in cancelled:
                per_queue[queue] = per_queue.get(queue, 0) + 1
            minute = int(now // 60)
            tx.many(ADD_TALLY, [(minute, q, 0, 0, 0, n) for q, n in per_queue.items()])
            rows = tx.rows(f"SELECT id, state FROM plait_jobs WHERE {where}", ids)
            return {int(job_id): state for job_id, state in rows}

        return self._write(work)

    def retry(self, ids: Sequence[int], *, now: float) -> list[int]:
        """Queue dead or cancelled jobs again with a fresh attempt budget."""
        if not ids:
            return []

        def work(tx: Tx) -> list[int]:
            rows = tx.rows(
                "UPDATE plait_jobs SET state = 'queued', attempts = 0, "
                "not_before = ?, finished_at = NULL, cancel_requested_at = NULL, "
                f"lost_leases = 0, result = NULL WHERE id IN ({marks(ids)}) "
                "AND state IN ('dead', 'cancelled') RETURNING id",
                (now, *ids),
            )
            if rows:
                self._notify(tx)
            return sorted(int(row[0]) for row in rows)

        return self._write(work)

    def register_worker(self, record: WorkerRecord) -> None:
        self._write(lambda tx: tx.count(UPSERT_WORKER, worker_params(record)))

    def unregister_worker(self, name: str) -> None:
        self._write(
            lambda tx: tx.count("DELETE FROM plait_workers WHERE name = ?", (name,))
        )

    def workers(self) -> list[WorkerRecord]:
        rows = self._read(
            lambda tx: tx.rows(
                f"SELECT {WORKER_COLUMNS} FROM plait_workers ORDER BY name"
            )
        )
        return [worker_from_row(row) for row in rows]

    def schedules(self) -> list[ScheduleRecord]:
        rows = self._read(
            lambda tx: tx.rows(
                f"SELECT {SCHEDULE_COLUMNS} FROM plait_schedules ORDER BY name"
            )
        )
        return [schedule_from_row(row) for row in rows]

    def declare_schedules(
        self, schedules: Sequence[ScheduleRecord], *, now: float
    ) -> None:
        """Store each schedule's definition; keep its next tick unless its
        timing (interval, cron expression, timezone) changed."""

        def work(tx: Tx) -> None:
            for s in schedules:
                # Workers starting together all declare: the first insert
                # wins, the others wait for it and then update the row.
                if tx.rows(
                    f"INSERT INTO plait_schedules ({SCHEDULE_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?) "
                    "ON CONFLICT (name) DO NOTHING RETURNING name",
                    (*schedule_params(s), s.next_run, now),
                ):
                    continue
                old = tx.rows(
                    "SELECT every, cron, timezone FROM plait_schedules WHERE name = ? "
                    f"{self.lock_rows}",
                    (s.name,),
                )
                same_timing = tuple(old[0]) == (s.every, s.cron, s.timezone)
                tx.count(
                    "UPDATE plait_schedules SET type = ?, queue = ?, payload = ?, "
                    "priority = ?, every = ?, cron = ?, timezone = ?, missed = ?, "
                    "max_catch_up = ?, declared_at = ?"
                    + ("" if same_timing else ", next_run = ?")
                    + " WHERE name = ?",
                    (
                        *schedule_params(s)[1:],
                        now,
                        *(() if same_timing else (s.next_run,)),
                        s.name,
                    ),
                )

        self._write(work)

    def fire_schedules(
        self, names: Sequence[str], *, now: float, plan: TickPlan
    ) -> list[Fired]:
        """Enqueue the due ticks of schedules *names*, each exactly once.

        The schedule row is read and advanced in the transaction that inserts
        the tick's job (and the job's idempotency key names the tick), so two
        workers, or a worker killed half-way, never enqueue a tick twice.
        """
        if not names:
            return []

        def work(tx: Tx) -> list[Fired]:
            fired: list[Fired] = []
            due = tx.rows(
                f"SELECT {SCHEDULE_COLUMNS} FROM plait_schedules WHERE name IN "
                f"({marks(names)}) AND next_run <= ? ORDER BY name {self.skip_locked}",
                (*names, now),
            )
            for s in map(schedule_from_row, due):
                ticks, skipped, next_run = plan(s, now)
                ids: list[int | None] = []
                for tick in ticks:
                    job = NewJob(
                        type=s.type,
                        payload=json.dumps(s.payload, sort_keys=True),
                        priority=s.priority,
                        not_before=now,
                        idempotency_key=schedule_key(s.name, tick),
                        max_attempts=None,
                        queue=s.queue,
                    )
                    ids.append(self._insert_one(tx, job, now))
                enqueued = [i for i in ids if i is not None]
                tx.count(
                    "UPDATE plait_schedules SET next_run = ?, "
                    "last_tick = coalesce(?, last_tick), "
                    "last_job_id = coalesce(?, last_job_id) WHERE name = ?",
                    (
                        next_run,
                        ticks[-1] if ticks else None,
                        enqueued[-1] if enqueued else None,
                        s.name,
                    ),
                )
                fired.append(Fired(s.name, tuple(ticks), tuple(ids), skipped))
            if any(i is not None for f in fired for i in f.job_ids):
                self._notify(tx)
            return fired

        return self._write(work)


def schedule_params(s: ScheduleRecord) -> tuple[Any, ...]:
    return (
        s.name,
        s.type,
        s.queue,
        json.dumps(s.payload, sort_keys=True),
        s.priority,
        s.every,
        s.cron,
        s.timezone,
        s.missed,
        s.max_catch_up,
    )


def _delete_rows(tx: Tx, ids: Sequence[int]) -> None:
    """Delete jobs *ids* and their attempt rows, in *tx*."""
    if ids:
        where = f"IN ({marks(ids)})"
        tx.count(f"DELETE FROM plait_attempts WHERE job_id {where}", ids)
        tx.count(f"DELETE FROM plait_jobs WHERE id {where}", ids)
