"""A worker: claims durable jobs in batches per queue and runs them."""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable, Iterable

import anyio
from anyio import TASK_STATUS_IGNORED, CancelScope, create_task_group
from anyio.abc import TaskStatus

from ..._core._checks import check_seconds
from .._model import JobHandlers, check_name
from ._calls import connect_retrying, listen_for_jobs, watch_for_commits
from ._engine import Claimed, DatabaseUnavailableError, Engine, Exchange
from ._ledger import Ledger
from ._logs import log_lease_lost, logger
from ._options import DEFAULT_RETENTION, Queues, check_dsn, check_options
from ._outcome import WorkerStats
from ._round_trips import RoundTrips
from ._runs import Outcome, Runs
from ._schedules import keep_schedules
from ._upkeep import Upkeep

FINAL = {"done", "dead", "cancelled"}
DRAIN_POLL = 0.1


class JobWorker:
    """Run jobs from a durable queue: claim in batches, heartbeat, acknowledge.

    ``await worker.run()`` serves ``queues``, each with its own concurrency:
    it claims up to that many jobs of a queue at a time (highest priority
    first) under a lease of ``lease`` seconds, runs each with the handler
    registered for its type, and records the outcome; a heartbeat extends
    the leases of running jobs every ``lease / 4`` seconds. Outcomes are
    acknowledged in batches, in the same transaction as the next claim, and
    each is accepted only under the claim's own lease token: a worker that
    lost its lease (it hung past the lease, and another worker took the job)
    cannot record a result. Delivery is **at least once**: a worker that dies
    mid-job has its job redelivered after the lease expires, so handlers
    should be idempotent.

    A failed run (the handler raised anything, ``BaseException`` included, or
    overran its handler's ``timeout``) is an attempt, recorded with its error
    and logged; it is retried as its handler's ``RetryPolicy`` says, with the
    backoff stored as the job's next not-before time; after the last attempt
    (or for a type no handler is registered for) the job is dead-lettered. A
    job whose worker died holding it three times is dead-lettered too, so a
    job that crashes its process cannot take down every worker in turn. A
    job whose cancellation is asked for while it runs has its handler
    cancelled at the next heartbeat and ends ``cancelled``, not retried.

    ``worker.stop()`` (the CLI calls it on SIGTERM) stops claiming, releases
    the jobs claimed ahead and not started, lets running jobs finish for up
    to ``grace`` seconds, then cancels the rest and releases them so another
    worker takes them at once. Cancelling
    ``run()`` from outside (a cancel scope, or asyncio's ``Task.cancel()``)
    does the same without the grace period: no job starts once it is
    cancelled, outcomes already known are recorded, and every job it holds,
    including any claimed by a round trip the cancellation interrupted, is
    released; ``run()`` then ends with that cancellation.

    The worker registers itself (``plait_workers``) and refreshes the entry
    at each heartbeat, and keeps the schedules declared with its handlers.

    Args:
        dsn: ``sqlite:///path/to/jobs.db`` (or a path) or ``postgresql://...``.
        handlers: the handlers to run jobs with, by type.
        queues: the queues to serve: a list of names, each with
            ``concurrency``, or a mapping of name to concurrency. Default:
            ``"default"`` and every queue a handler names.
        concurrency: jobs of one queue run at once, unless ``queues`` maps
            it. The worker claims ahead: the next batch, as many again, is
            claimed while the current one runs, and further (doubling, up to
            16 times the concurrency) while jobs finish before a round trip
            to the database brings more. The leases of jobs claimed ahead are
            kept alive, and a stopping worker releases them at once.
        lease: seconds a claim is valid without a heartbeat.
        grace: seconds ``stop()`` waits for running jobs before releasing them.
        poll_interval: longest wait between claims when idle, a safety net:
            an idle worker wakes on PostgreSQL's NOTIFY, and on SQLite by
            watching the file's commit counter every 5-25 ms. Default 1 s
            (SQLite), 5 s (PostgreSQL).
        retention: seconds a done job is kept before pruning. Default 7 days.
        dead_retention: seconds a dead or cancelled job is kept; ``None``
            (default) keeps them until pruned by hand.
        until_empty: return once no job of its queues is running, retrying
            or due (jobs scheduled for later stay queued: they are future work).
        name: this worker's name in leases, logs and the registry; default
            host:pid:id.

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
        queues: Queues = None,
        concurrency: int = 10,
        lease: float = 30.0,
        grace: float = 30.0,
        poll_interval: float | None = None,
        retention: float = DEFAULT_RETENTION,
        dead_retention: float | None = None,
        until_empty: bool = False,
        name: str | None = None,
    ) -> None:
        options = check_options(
            "JobWorker()",
            handlers,
            queues=queues,
            concurrency=concurrency,
            lease=lease,
            grace=grace,
            poll_interval=poll_interval,
            retention=retention,
            dead_retention=dead_retention,
        )
        self.dsn: str = check_dsn("JobWorker()", dsn)
        self.handlers = handlers
        self.queues: dict[str, int] = options.queues
        self.concurrency: int = options.concurrency
        self.lease: float = options.lease
        self.grace: float = options.grace
        self.retention: float = options.retention
        self.dead_retention: float | None = options.dead_retention
        self.until_empty = until_empty
        if name is not None:
            check_name("JobWorker()", "name", name)
        self.name: str = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        is_pg = self.dsn.startswith(("postgresql://", "postgres://"))
        self.poll_interval: float = options.poll_interval or (5.0 if is_pg else 1.0)
        self._runs = Runs(handlers, self.name, self.queues, self._outcome)
        self._ledger = ledger = Ledger(self.name, self._runs, self._finished)
        self._trips = RoundTrips(self, ledger)
        self.stats: WorkerStats = ledger.stats
        self.released_ids: list[str] = ledger.released_ids
        self._claiming = True
        self._stop_at: float | None = None
        self._upkeep = Upkeep(
            self, self._runs, ledger.tallies, lose=self._lose, poke=self.poke
        )
        # Called with the id of each job this worker records done, dead or
        # cancelled (a DurableBackend's wait() wakes on it).
        self.on_finished: Callable[[int], None] | None = None
        self._maybe_work = True
        self._poked = False
        self._wake = anyio.Event()
        self._started = False

    def stop(self, *, grace: float | None = None) -> None:
        """Stop claiming; release what still runs after *grace* seconds.

        Jobs claimed ahead and not yet started are released at once. Safe
        to call from the worker's event loop at any time, more than once
        (a later call can only shorten the grace period).
        """
        grace = self.grace if grace is None else grace
        check_seconds("JobWorker.stop()", "grace", grace, finite=False)
        deadline = anyio.current_time() + grace
        self._claiming = False
        self._stop_at = (
            deadline if self._stop_at is None else min(self._stop_at, deadline)
        )
        # Jobs claimed ahead and not started go back at once, for another
        # worker to run; only the running ones have the grace period.
        self._runs.stop()
        self._kick()

    @property
    def claiming(self) -> bool:
        """Whether it still claims jobs (``stop()`` ends that)."""
        return self._claiming

    def held(self) -> list[Claimed]:
        """The jobs it holds leases on (running, or waiting for their outcome
        to be recorded)."""
        return list(self._ledger.held.values())

    def poke(self) -> None:
        """Tell the worker new jobs may be claimable: it claims at once.

        PostgreSQL's NOTIFY (or, on SQLite, a commit by another process) does
        this across processes; a ``DurableBackend`` calls it for its own
        worker after every submit.
        """
        self._maybe_work = self._poked = True
        self._kick()

    def cancel_now(self, job_ids: Iterable[str | int]) -> list[str]:
        """Cancel the runs of *job_ids* this worker holds, without waiting for
        its next heartbeat; return the ids it held.

        Only the mechanism: the job must also be flagged in the database
        (``DurableBackend``'s cancel does both), or the run is recorded as
        cancelled while the job row says otherwise.
        """
        held: list[str] = []
        for job_id in map(int, job_ids):
            if job_id in self._ledger.held:
                self._runs.cancel(job_id, "cancel")
                held.append(str(job_id))
        return held

    async def run(self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> None:
        """Work jobs until ``stop()`` (or, with ``until_empty``, the queue empties).

        Connects first, retrying with backoff while the database is down;
        reports ready through *task_status* once connected.
        """
        if self._started:
            raise RuntimeError("a JobWorker runs once; create a new one")
        self._started = True
        self._upkeep.started_at = time.time()
        engine = await connect_retrying(self.dsn, what=f"worker {self.name}")
        try:
            async with create_task_group() as tg:
                tg.start_soon(self._upkeep.run, engine)
                watch = listen_for_jobs if hasattr(engine, "open_listener") else None
                await tg.start(watch or watch_for_commits, engine, self.name, self.poke)
                tg.start_soon(
                    keep_schedules, engine, self.handlers, self.name, self.poke
                )
                task_status.started()
                async with create_task_group() as runners:
                    with self._runs.running(runners):
                        await self._pump(engine)
                tg.cancel_scope.cancel()
        finally:
            # In a task of its own: asyncio's Task.cancel() gets through
            # shields, and after one a further cancellation was seen to reach
            # this task in its shielded flush, cutting it short with the jobs
            # it held unreleased. The task group waits for the flush whatever
            # this task is sent meanwhile.
            async with create_task_group() as flush:
                flush.start_soon(self._trips.final_flush, engine)

    def _kick(self) -> None:
        self._wake.set()

    async def _wait(self, timeout: float | None) -> bool:
        """Wait for a kick or *timeout*; True if kicked."""
        if not self._wake.is_set():
            with anyio.move_on_after(math.inf if timeout is None else timeout):
                await self._wake.wait()
        kicked = self._wake.is_set()
        if kicked:
            self._wake = anyio.Event()
        return kicked

    async def _pump(self, engine: Engine) -> None:
        # An idle worker is woken by NOTIFY or the commit watch; it polls
        # only as a safety net, and for jobs scheduled to fall due.
        backoff = wait_for = self.poll_interval
        while True:
            if self._stop_at is not None and anyio.current_time() >= self._stop_at:
                self._runs.cancel_all("stop")
            ledger = self._ledger
            if not (self._claiming or ledger.held or ledger.owed):
                return
            wants = {
                lane.name: lane.free
                for lane in self._runs.lanes.values()
                if self._claiming and lane.free > 0
            }
            if not ledger.owed and not (wants and self._maybe_work):
                timeout = wait_for if wants else None
                if self._stop_at is not None:
                    left = max(0.0, self._stop_at - anyio.current_time())
                    timeout = left if timeout is None else min(timeout, left)
                if not await self._wait(timeout) and wants:
                    self._maybe_work = True
                continue
            acks, releases = ledger.take()
            claims = wants if self._maybe_work else {}
            self._poked = False
            now = time.time()
            # Shielded: outcomes taken from the ledger and jobs claimed must be
            # settled, or a cancellation arriving now would drop recorded
            # outcomes and strand claimed jobs until their lease expired. It
            # delays a cancellation by one round trip.
            result: Exchange | None = None
            try:
                with CancelScope(shield=True):
                    result = await self._trips.exchange(
                        engine, acks, releases, claims, now
                    )
            except DatabaseUnavailableError as exc:
                logger.warning("worker %s: %s; retrying", self.name, exc)
            if result is None:
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, self.poll_interval)
                continue
            backoff = 0.01
            if claims:
                # A wake-up that arrived during the round trip may announce
                # jobs committed after this claim looked: keep it.
                full = sum(claims.values()) == len(result.claimed)
                self._maybe_work = full or self._poked
                if result.claimed:
                    wait_for = self.poll_interval
                elif self.until_empty and await self._trips.queue_empty(engine):
                    self._claiming = False
                else:
                    wait_for = await self._trips.until_due(engine)
                    if self.until_empty:
                        # Draining while other workers still run jobs that
                        # may come back (a retry announces nothing).
                        wait_for = min(wait_for, DRAIN_POLL)
            retries = [a.not_before for a in acks if a.kind == "retry" and a.not_before]
            if retries:
                # Nothing announces a retry falling due: wake for it here.
                wait_for = max(0.001, min(wait_for, min(retries) - time.time()))

    def _outcome(self, claimed: Claimed, outcome: Outcome) -> None:
        """Take a run's outcome from the runners (see ``Runs``)."""
        self._ledger.outcome(claimed, outcome)
        self._kick()

    def _finished(self, job_id: int) -> None:
        if self.on_finished is not None:
            self.on_finished(job_id)

    @property
    def finished_after_stop(self) -> int:
        """Jobs whose outcome was recorded after ``stop()``."""
        return self._ledger.finished_after_stop

    def _lose(self, job_id: int) -> None:
        claimed = self._ledger.held.get(job_id)
        if claimed is not None and self._runs.cancel(job_id, "lost"):
            self.stats.lost_leases += 1
            log_lease_lost(self.name, claimed)
