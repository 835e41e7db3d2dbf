"""A worker's round trips to its database: claim and acknowledge, look ahead,
and the last flush.

The worker's pump decides when to go; this module goes, and settles what
came back in the worker's ledger, whatever cancellation arrives meanwhile.
"""

from __future__ import annotations

import functools
import time
from typing import Protocol

import anyio
from anyio import CancelScope

from ._calls import close_in_thread, describe, in_thread, in_thread_then
from ._engine import Ack, Claimed, DatabaseUnavailableError, Engine, Exchange
from ._ledger import Ledger
from ._logs import logger
from ._upkeep import WorkerLike


class TripsWorker(WorkerLike, Protocol):
    """What the round trips read of their worker."""

    dsn: str
    poll_interval: float


class RoundTrips:
    """The round trips of one worker, settled in its *ledger*."""

    def __init__(self, worker: TripsWorker, ledger: Ledger) -> None:
        self.worker = worker
        self.ledger = ledger

    async def exchange(
        self,
        engine: Engine,
        acks: list[Ack],
        releases: list[Claimed],
        claims: dict[str, int],
        now: float,
    ) -> Exchange:
        """Send *acks* and *releases*, claim *claims*; settle what was recorded.

        The caller shields it; a native ``Task.cancel()`` gets through a
        shield, so what the round trip recorded and claimed is settled (its
        claimed jobs held, to be released) before that cancellation goes on.
        Outcomes it did not record (it failed, or never began) are owed again.
        """
        worker, ledger = self.worker, self.ledger
        settled = False

        def settle(result: Exchange) -> None:
            nonlocal settled
            settled = True
            ledger.settle(
                acks,
                releases,
                result.accepted,
                result.rejected,
                now,
                stopping=not worker.claiming,
            )
            ledger.took_claims(claims, result.claimed)
            for claimed in result.claimed:
                ledger.hold(claimed)

        try:
            return await in_thread_then(
                functools.partial(
                    engine.exchange,
                    acks,
                    [(c.id, c.token) for c in releases],
                    claims,
                    owner=worker.name,
                    lease=worker.lease,
                    now=now,
                ),
                settle,
            )
        except BaseException:
            if not settled:
                ledger.put_back(acks, releases)
            raise

    async def until_due(self, engine: Engine) -> float:
        """The idle wait: the poll interval, or less if a job falls due sooner."""
        poll_interval = self.worker.poll_interval
        try:
            due = await in_thread(engine.next_due, list(self.worker.queues))
        except DatabaseUnavailableError:
            return poll_interval
        if due is None:
            return poll_interval
        return max(0.001, min(poll_interval, due - time.time()))

    async def queue_empty(self, engine: Engine) -> bool:
        """Whether nothing of the worker's queues is held, owed, or pending."""
        if self.ledger.held or self.ledger.owed:
            return False
        try:
            return not await in_thread(
                engine.pending, list(self.worker.queues), now=time.time()
            )
        except DatabaseUnavailableError:
            return False

    async def final_flush(self, engine: Engine) -> None:
        """Record the last outcomes, release what is held, close *engine*."""
        with CancelScope(shield=True), anyio.move_on_after(30):
            await self._flush(engine)

    async def _flush(self, engine: Engine) -> None:
        worker = self.worker
        try:
            ledger = self.ledger
            ledger.release_unsettled()
            acks, releases = ledger.take()
            now = time.time()
            if acks or releases:
                await self.exchange(engine, acks, releases, {}, now)
            await in_thread(
                engine.heartbeat,
                [],
                lease=worker.lease,
                now=now,
                tallies=ledger.tallies.take(),
            )
            await in_thread(engine.unregister_worker, worker.name)
        except DatabaseUnavailableError as exc:
            logger.warning(
                "worker %s: could not record its last outcomes in %s (%s); "
                "their leases will expire and the jobs be redelivered",
                worker.name,
                describe(worker.dsn),
                exc,
            )
        finally:
            await close_in_thread(engine)
