"""Keeping a worker's schedules: declare them, then enqueue each tick once.

Every worker that serves handlers with schedules runs ``keep_schedules``:
it stores the definitions (``plait_schedules``), then sleeps until the next
tick and asks the engine to fire whatever is due. Firing reads and advances
the schedule's row in the transaction that inserts the tick's job, and the
job's idempotency key names the tick, so however many workers fire at once,
or die half-way, each tick becomes exactly one job.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable

import anyio

from .._model import JobHandlers
from .._schedule import Schedule
from ._calls import in_thread
from ._engine import DatabaseUnavailableError, Engine, Fired
from ._logs import logger
from ._rows import ScheduleRecord

# Longest sleep between two looks at the schedules: a definition changed by
# another worker's deploy is picked up within it.
LOOK_AT_LEAST_EVERY = 60.0


def to_record(schedule: Schedule, handlers: JobHandlers, now: float) -> ScheduleRecord:
    """The row *schedule* is stored as, its first tick after *now*."""
    handler = handlers.find(schedule.type)
    queue = schedule.queue or (handler.queue if handler is not None else "default")
    return ScheduleRecord(
        name=schedule.name,
        type=schedule.type,
        queue=queue,
        payload=dict(schedule.payload),
        priority=schedule.priority,
        every=schedule.every,
        cron=schedule.cron,
        timezone=schedule.timezone,
        missed=schedule.missed,
        max_catch_up=schedule.max_catch_up,
        next_run=schedule.next_after(now),
        last_tick=None,
        last_job_id=None,
        declared_at=now,
    )


def plan(record: ScheduleRecord, now: float) -> tuple[list[float], int, float]:
    """The ticks of a due stored schedule to enqueue, how many it skips, and
    its next tick after *now* (the stored definition is the one that counts)."""
    spec = Schedule(
        name=record.name,
        type=record.type,
        every=record.every,
        cron=record.cron,
        timezone=record.timezone,
        missed="catch_up" if record.missed == "catch_up" else "skip",
        max_catch_up=record.max_catch_up,
    )
    ticks, skipped = spec.due(record.next_run, now)
    return ticks, skipped, spec.next_after(now)


async def keep_schedules(
    engine: Engine, handlers: JobHandlers, worker: str, poke: Callable[[], None]
) -> None:
    """Declare *handlers*' schedules, then fire each tick as it falls due."""
    specs = handlers.schedules()
    if not specs:
        return
    names = [s.name for s in specs]
    while True:
        now = time.time()
        try:
            await in_thread(
                engine.declare_schedules,
                [to_record(s, handlers, now) for s in specs],
                now=now,
            )
            break
        except DatabaseUnavailableError as exc:
            logger.warning("worker %s: declaring schedules: %s; retrying", worker, exc)
            await anyio.sleep(1.0)
    while True:
        try:
            fired = await in_thread(
                engine.fire_schedules, names, now=time.time(), plan=plan
            )
        except DatabaseUnavailableError as exc:
            logger.warning("worker %s: firing schedules: %s; retrying", worker, exc)
            await anyio.sleep(1.0)
            continue
        for f in fired:
            _log_fired(worker, f)
        if any(i is not None for f in fired for i in f.job_ids):
            poke()
        now = time.time()
        wake = min(min(s.next_after(now) for s in specs), now + LOOK_AT_LEAST_EVERY)
        await anyio.sleep(max(0.0, wake - time.time()))


def _log_fired(worker: str, fired: Fired) -> None:
    for tick, job_id in zip(fired.ticks, fired.job_ids, strict=True):
        when = datetime.datetime.fromtimestamp(tick, datetime.UTC).isoformat()
        logger.info(
            "schedule %s: tick %s %s",
            fired.schedule,
            when,
            "already enqueued" if job_id is None else f"enqueued as job {job_id}",
            extra={
                "event": "schedule.tick",
                "worker": worker,
                "schedule": fired.schedule,
                "tick": tick,
                "job_id": None if job_id is None else str(job_id),
            },
        )
    if fired.skipped:
        logger.warning(
            "schedule %s: skipped %d missed tick(s) that passed while no worker ran",
            fired.schedule,
            fired.skipped,
            extra={
                "event": "schedule.skipped",
                "worker": worker,
                "schedule": fired.schedule,
                "skipped": fired.skipped,
            },
        )
