"""A worker's upkeep: heartbeats, the registry, reaping, pruning, tallies.

Every ``lease / 4`` seconds one transaction extends the leases the worker
holds, reports which of them were lost or asked to be cancelled, refreshes
the worker's registry row and adds the outcomes counted since the last
beat to ``plait_throughput``; expired leases of any worker are reaped every
few seconds and old jobs pruned every minute. None of it is on the claim or
acknowledgement path.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Protocol

import anyio

from ._calls import in_thread
from ._engine import Claimed, DatabaseUnavailableError, Engine, Tally
from ._logs import log_reaped, logger
from ._rows import WorkerRecord
from ._runs import Runs
from ._schema import plait_version


class Tallies:
    """Outcomes counted per minute and queue: done, failed, dead, cancelled."""

    def __init__(self) -> None:
        self._rows: dict[tuple[int, str], list[int]] = {}

    def row(self, minute: int, queue: str) -> list[int]:
        """The four counters of *minute* and *queue*, to add to."""
        counts = self._rows.get((minute, queue))
        if counts is None:
            counts = self._rows[minute, queue] = [0, 0, 0, 0]
        return counts

    def take(self) -> list[Tally]:
        """Hand over what was counted and start again from zero."""
        rows, self._rows = self._rows, {}
        return [
            Tally(minute, queue, *counts) for (minute, queue), counts in rows.items()
        ]

    def put_back(self, tallies: list[Tally]) -> None:
        """Count again what could not be written."""
        for t in tallies:
            counts = self.row(t.minute, t.queue)
            for i, n in enumerate((t.done, t.failed, t.dead, t.cancelled)):
                counts[i] += n


class WorkerLike(Protocol):
    """What the upkeep reads of its worker."""

    name: str
    queues: dict[str, int]
    lease: float
    retention: float
    dead_retention: float | None

    @property
    def claiming(self) -> bool: ...

    def held(self) -> list[Claimed]: ...


class Upkeep:
    """The housekeeping loop of one worker."""

    def __init__(
        self,
        worker: WorkerLike,
        runs: Runs,
        tallies: Tallies,
        *,
        lose: Callable[[int], None],
        poke: Callable[[], None],
    ) -> None:
        self.worker = worker
        self.runs = runs
        self.tallies = tallies
        self.lose = lose
        self.poke = poke
        self.started_at = time.time()

    def record(self) -> WorkerRecord:
        """The worker's registry row as of now."""
        worker = self.worker
        now = time.time()
        return WorkerRecord(
            name=worker.name,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=dict(worker.queues),
            running=len(self.runs.scopes),
            state="running" if worker.claiming else "stopping",
            version=plait_version(),
            started_at=self.started_at,
            last_seen=now,
            expires_at=now + worker.lease,
        )

    async def run(self, engine: Engine) -> None:
        """Beat until cancelled; a database outage is logged and retried."""
        worker = self.worker
        beat = worker.lease / 4
        next_reap = next_prune = 0.0
        while True:
            tallies = self.tallies.take()
            try:
                found = await in_thread(
                    engine.heartbeat,
                    [(c.id, c.token) for c in worker.held()],
                    lease=worker.lease,
                    now=time.time(),
                    worker=self.record(),
                    tallies=tallies,
                )
                for job_id in found.lost:
                    self.lose(job_id)
                for job_id in found.cancel:
                    self.runs.cancel(job_id, "cancel")
                now = anyio.current_time()
                if now >= next_reap:
                    next_reap = now + min(beat, 5.0)
                    await self._reap(engine)
                if now >= next_prune:
                    next_prune = now + 60.0
                    await self._prune(engine)
            except DatabaseUnavailableError as exc:
                self.tallies.put_back(tallies)
                logger.warning("worker %s: heartbeat failed: %s", worker.name, exc)
            await anyio.sleep(beat)

    async def _reap(self, engine: Engine) -> None:
        reaped = await in_thread(engine.reap, now=time.time())
        minute = int(time.time() // 60)
        for job in reaped:
            log_reaped(self.worker.name, job)
            counts = self.tallies.row(minute, job.queue)
            counts[1] += 1
            counts[2] += job.state == "dead"
            counts[3] += job.state == "cancelled"
        if any(job.state in ("queued", "retrying") for job in reaped):
            self.poke()

    async def _prune(self, engine: Engine) -> None:
        worker = self.worker
        wall = time.time()
        dead = worker.dead_retention
        await in_thread(
            engine.prune,
            done_before=wall - worker.retention,
            dead_before=None if dead is None else wall - dead,
            now=wall,
        )
