"""A worker: claims durable jobs in batches and runs N handlers at a time."""

from __future__ import annotations

import math
import os
import socket
import time

import anyio
from anyio import TASK_STATUS_IGNORED, CancelScope, create_task_group
from anyio.abc import TaskGroup, TaskStatus

from ..._core._checks import (
    check_optional_seconds,
    check_positive_int,
    check_seconds,
    fail,
)
from .._model import JobHandlers
from ._calls import connect_retrying, describe, in_thread, listen_for_jobs, logger
from ._engine import Ack, Claimed, DatabaseUnavailableError, Engine
from ._outcome import WorkerStats, run_handler

DEFAULT_RETENTION = 7 * 24 * 3600.0


class JobWorker:
    """Run jobs from a durable queue: claim in batches, heartbeat, acknowledge.

    ``await worker.run()`` claims up to ``concurrency`` jobs at a time under a
    lease of ``lease`` seconds, runs each with the handler registered for its
    type, and records the outcome; a heartbeat extends the leases of running
    jobs every ``lease / 3`` seconds. Outcomes are acknowledged in batches,
    in the same transaction as the next claim, and each is accepted only
    under the claim's own lease token: a worker that lost its lease (it hung
    past the lease, and another worker took the job) cannot record a result.
    Delivery is **at least once**: a worker that dies mid-job has its job
    redelivered after the lease expires, so handlers should be idempotent.

    A failed run is retried as its handler's ``RetryPolicy`` says, with the
    backoff stored as the job's next not-before time; after the last attempt
    (or for a type no handler is registered for) the job is dead-lettered
    with the error kept. A job whose worker died holding it three times is
    dead-lettered too, so a job that crashes its process cannot take down
    every worker in turn.

    ``worker.stop()`` (the CLI calls it on SIGTERM) stops claiming, lets
    running jobs finish for up to ``grace`` seconds, then cancels the rest
    and releases them so another worker takes them at once. Cancelling
    ``run()`` from outside does the same without the grace period.

    Args:
        dsn: ``sqlite:///path/to/jobs.db`` (or a path) or ``postgresql://...``.
        handlers: the handlers to run jobs with, by type.
        concurrency: jobs run at once (and the most claimed in one batch).
        lease: seconds a claim is valid without a heartbeat.
        grace: seconds ``stop()`` waits for running jobs before releasing them.
        poll_interval: longest wait between claims when idle (SQLite polls
            with backoff up to it; PostgreSQL wakes on NOTIFY and polls at
            this pace only as a safety net). Default 1 s (SQLite), 5 s
            (PostgreSQL).
        retention: seconds a done job is kept before pruning. Default 7 days.
        dead_retention: seconds a dead job is kept; ``None`` (default) keeps
            them until pruned by hand.
        until_empty: return once no job is running, retrying or due (jobs
            scheduled for later stay queued: they are future work).
        name: this worker's name in leases and logs; default host:pid:id.

    Example:
        >>> import anyio, plait, tempfile, os
        >>> handlers = plait.JobHandlers()
        >>> @handlers.register("add")
        ... async def add(job: plait.Job) -> int:
        ...     return job.payload["a"] + job.payload["b"]
        >>> async def main(dsn: str) -> object:
        ...     async with plait.DurableBackend(dsn, work=False) as backend:
        ...         job_id = await backend.submit(plait.Job("add", {"a": 1, "b": 2}))
        ...         await plait.JobWorker(dsn, handlers, until_empty=True).run()
        ...         return (await backend.get(job_id)).result
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     anyio.run(main, os.path.join(tmp, "jobs.db"))
        3
    """

    def __init__(
        self,
        dsn: str,
        handlers: JobHandlers,
        *,
        concurrency: int = 10,
        lease: float = 30.0,
        grace: float = 30.0,
        poll_interval: float | None = None,
        retention: float = DEFAULT_RETENTION,
        dead_retention: float | None = None,
        until_empty: bool = False,
        name: str | None = None,
    ) -> None:
        call = "JobWorker()"
        if not isinstance(handlers, JobHandlers):
            fail(call, "handlers", "a plait.JobHandlers", handlers, error=TypeError)
        check_positive_int(call, "concurrency", concurrency)
        check_seconds(call, "lease", lease, positive=True)
        check_seconds(call, "grace", grace, finite=False)
        check_optional_seconds(call, "poll_interval", poll_interval, positive=True)
        check_seconds(call, "retention", retention, finite=False)
        check_optional_seconds(call, "dead_retention", dead_retention, finite=False)
        self.dsn: str = str(dsn)
        self.handlers = handlers
        self.concurrency = concurrency
        self.lease: float = float(lease)
        self.grace: float = float(grace)
        self.retention: float = float(retention)
        self.dead_retention = dead_retention
        self.until_empty = until_empty
        self.name: str = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        is_pg = self.dsn.startswith(("postgresql://", "postgres://"))
        self.poll_interval: float = poll_interval or (5.0 if is_pg else 1.0)
        self.stats: WorkerStats = WorkerStats()
        self.released_ids: list[str] = []
        self.finished_after_stop: int = 0
        self._engine: Engine | None = None
        self._claiming = True
        self._stop_at: float | None = None
        self._held: dict[int, int] = {}
        self._running: dict[int, CancelScope] = {}
        self._lost: set[int] = set()
        self._acks: list[Ack] = []
        self._releases: list[tuple[int, int]] = []
        self._maybe_work = True
        self._poked = False
        self._wake = anyio.Event()
        self._started = False
        self._listening = False

    def stop(self, *, grace: float | None = None) -> None:
        """Stop claiming; release what still runs after *grace* seconds.

        Safe to call from the worker's event loop at any time, more than once
        (a later call can only shorten the grace period).
        """
        grace = self.grace if grace is None else grace
        check_seconds("JobWorker.stop()", "grace", grace, finite=False)
        deadline = anyio.current_time() + grace
        self._claiming = False
        self._stop_at = (
            deadline if self._stop_at is None else min(self._stop_at, deadline)
        )
        self._kick()

    async def run(self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> None:
        """Work jobs until ``stop()`` (or, with ``until_empty``, the queue empties).

        Connects first, retrying with backoff while the database is down;
        reports ready through *task_status* once connected.
        """
        if self._started:
            raise RuntimeError("a JobWorker runs once; create a new one")
        self._started = True
        self._engine = await connect_retrying(self.dsn, what=f"worker {self.name}")
        self._listening = hasattr(self._engine, "open_listener")
        try:
            async with create_task_group() as tg:
                tg.start_soon(self._housekeeping)
                if self._listening:
                    await tg.start(self._listen)
                task_status.started()
                async with create_task_group() as handlers_tg:
                    await self._pump(handlers_tg)
                tg.cancel_scope.cancel()
        finally:
            with CancelScope(shield=True), anyio.move_on_after(30):
                await self._final_flush()

    def _kick(self) -> None:
        self._wake.set()

    async def _wait(self, timeout: float | None) -> bool:
        """Wait for a kick or *timeout*; True if kicked."""
        if self._wake.is_set():
            self._wake = anyio.Event()
            return True
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            await self._wake.wait()
        kicked = self._wake.is_set()
        if kicked:
            self._wake = anyio.Event()
        return kicked

    async def _pump(self, handlers_tg: TaskGroup) -> None:
        engine = self._engine
        assert engine is not None
        # With NOTIFY to wake it, an idle worker polls only as a safety net.
        quickest = self.poll_interval if self._listening else 0.01
        backoff = wait_for = quickest
        while True:
            if self._stop_at is not None and anyio.current_time() >= self._stop_at:
                for scope in self._running.values():
                    scope.cancel()
            if not (self._claiming or self._running or self._acks or self._releases):
                return
            want = self.concurrency - len(self._held) if self._claiming else 0
            if (
                not self._acks
                and not self._releases
                and (want <= 0 or not self._maybe_work)
            ):
                timeout: float | None = None
                if want > 0:
                    timeout = wait_for
                if self._stop_at is not None:
                    left = max(0.0, self._stop_at - anyio.current_time())
                    timeout = left if timeout is None else min(timeout, left)
                if not await self._wait(timeout) and want > 0:
                    self._maybe_work = True
                    backoff = wait_for = min(backoff * 2, self.poll_interval)
                continue
            acks, self._acks = self._acks, []
            releases, self._releases = self._releases, []
            claim = max(0, want) if self._maybe_work else 0
            self._poked = False
            try:
                result = await in_thread(
                    engine.exchange,
                    acks,
                    releases,
                    claim,
                    owner=self.name,
                    lease=self.lease,
                    now=time.time(),
                )
            except DatabaseUnavailableError as exc:
                self._acks[:0] = acks
                self._releases[:0] = releases
                logger.warning("worker %s: %s; retrying", self.name, exc)
                await anyio.sleep(backoff)
                backoff = wait_for = min(backoff * 2, self.poll_interval)
                continue
            self._settle(acks, releases, result.accepted, result.rejected)
            for claimed in result.claimed:
                self._held[claimed.id] = claimed.token
                self.stats.claimed += 1
                handlers_tg.start_soon(self._run_job, claimed)
            if claim > 0:
                # A NOTIFY that arrived during the round trip may announce
                # jobs committed after this claim looked: keep it.
                self._maybe_work = len(result.claimed) == claim or self._poked
                if result.claimed:
                    backoff = wait_for = quickest
                elif self.until_empty and await self._queue_empty():
                    self._claiming = False
                else:
                    wait_for = await self._until_due(backoff)
            retries = [a.not_before for a in acks if a.kind == "retry" and a.not_before]
            if retries:
                # No NOTIFY announces a retry falling due: wake for it here.
                wait_for = max(0.001, min(wait_for, min(retries) - time.time()))

    async def _until_due(self, idle_delay: float) -> float:
        """Shorten the idle wait to when the next scheduled job falls due."""
        assert self._engine is not None
        try:
            due = await in_thread(self._engine.next_due)
        except DatabaseUnavailableError:
            return idle_delay
        if due is None:
            return idle_delay
        return max(0.001, min(idle_delay, due - time.time()))

    async def _queue_empty(self) -> bool:
        assert self._engine is not None
        if self._held or self._acks:
            return False
        try:
            stats = await in_thread(self._engine.stats, now=time.time())
        except DatabaseUnavailableError:
            return False
        counts = stats.counts
        return (
            counts["running"] == 0
            and counts["retrying"] == 0
            and stats.oldest_queued_age is None
        )

    def _settle(
        self,
        acks: list[Ack],
        releases: list[tuple[int, int]],
        accepted: tuple[int, ...],
        rejected: tuple[int, ...],
    ) -> None:
        by_id = {ack.id: ack for ack in acks}
        for job_id in accepted:
            kind = by_id[job_id].kind
            if kind == "done":
                self.stats.done += 1
            elif kind == "retry":
                self.stats.retried += 1
            else:
                self.stats.dead += 1
            if not self._claiming:
                self.finished_after_stop += 1
        for job_id in rejected:
            self.stats.rejected += 1
            logger.warning(
                "worker %s: outcome of job %s rejected: its lease expired or it "
                "was claimed again (it will be, or was, redelivered)",
                self.name,
                job_id,
            )
        for job_id in (*accepted, *rejected):
            self._held.pop(job_id, None)
        for job_id, _ in releases:
            self._held.pop(job_id, None)
            self.stats.released += 1
            self.released_ids.append(str(job_id))

    async def _run_job(self, claimed: Claimed) -> None:
        ack: Ack | None = None
        try:
            with CancelScope() as scope:
                self._running[claimed.id] = scope
                ack = await run_handler(self.handlers, claimed, self.name)
        finally:
            del self._running[claimed.id]
            if ack is not None:
                self._acks.append(ack)
            elif claimed.id in self._lost:
                self._lost.discard(claimed.id)
                self._held.pop(claimed.id, None)
            else:
                self._releases.append((claimed.id, claimed.token))
            self._kick()

    async def _housekeeping(self) -> None:
        """Heartbeat held leases, requeue expired ones, prune old jobs."""
        assert self._engine is not None
        engine = self._engine
        beat = self.lease / 3
        next_reap = next_prune = 0.0
        while True:
            try:
                held = list(self._held.items())
                if held:
                    lost = await in_thread(
                        engine.heartbeat, held, lease=self.lease, now=time.time()
                    )
                    for job_id in lost:
                        self._lose(job_id)
                now = anyio.current_time()
                if now >= next_reap:
                    next_reap = now + min(beat, 5.0)
                    requeued = await in_thread(engine.reap, now=time.time())
                    if requeued:
                        logger.warning(
                            "worker %s: requeued %d job(s) whose lease expired",
                            self.name,
                            requeued,
                        )
                        self.poke()
                if now >= next_prune:
                    next_prune = now + 60.0
                    wall = time.time()
                    dead_before = (
                        None
                        if self.dead_retention is None
                        else wall - self.dead_retention
                    )
                    await in_thread(
                        engine.prune,
                        done_before=wall - self.retention,
                        dead_before=dead_before,
                    )
            except DatabaseUnavailableError as exc:
                logger.warning("worker %s: heartbeat failed: %s", self.name, exc)
            await anyio.sleep(beat)

    def _lose(self, job_id: int) -> None:
        if job_id in self._running and job_id not in self._lost:
            self.stats.lost_leases += 1
            self._lost.add(job_id)
            self._running[job_id].cancel()
            logger.warning(
                "worker %s: lost the lease of job %s; cancelled its run",
                self.name,
                job_id,
            )

    async def _listen(self, *, task_status: TaskStatus[None]) -> None:
        assert self._engine is not None
        await listen_for_jobs(
            self._engine, self.name, self.poke, task_status=task_status
        )

    def poke(self) -> None:
        """Tell the worker new jobs may be claimable: it claims at once.

        PostgreSQL's NOTIFY does this across processes; a ``DurableBackend``
        calls it for its own worker after every submit.
        """
        self._maybe_work = self._poked = True
        self._kick()

    async def _final_flush(self) -> None:
        engine = self._engine
        if engine is None:
            return
        try:
            for job_id, token in list(self._held.items()):
                pending = {a.id for a in self._acks} | {r[0] for r in self._releases}
                if job_id not in pending:
                    self._releases.append((job_id, token))
            if self._acks or self._releases:
                acks, self._acks = self._acks, []
                releases, self._releases = self._releases, []
                result = await in_thread(
                    engine.exchange,
                    acks,
                    releases,
                    0,
                    owner=self.name,
                    lease=self.lease,
                    now=time.time(),
                )
                self._settle(acks, releases, result.accepted, result.rejected)
        except DatabaseUnavailableError as exc:
            logger.warning(
                "worker %s: could not record its last outcomes in %s (%s); "
                "their leases will expire and the jobs be redelivered",
                self.name,
                describe(self.dsn),
                exc,
            )
        finally:
            self._engine = None
            await in_thread(engine.close)
