"""What a worker holds and what it owes the database.

The ledger keeps the jobs a worker holds leases on, the outcomes waiting to
be sent (acknowledgements and releases), and, once a round trip says which
outcomes were accepted, the counts: the worker's stats, the per-minute
tallies for ``plait_throughput``, and the failure logs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._engine import Ack, Claimed
from ._logs import log_outcome, logger
from ._outcome import WorkerStats
from ._runs import RELEASE, Outcome, Runs
from ._upkeep import Tallies


class Ledger:
    """Held jobs, outcomes to send, and what was recorded."""

    def __init__(self, name: str, runs: Runs, finished: Callable[[int], None]) -> None:
        self.name = name
        self.runs = runs
        self.finished = finished
        self.held: dict[int, Claimed] = {}
        self.acks: list[Ack] = []
        self.releases: list[Claimed] = []
        self.stats = WorkerStats()
        self.tallies = Tallies()
        self.released_ids: list[str] = []
        self.finished_after_stop = 0

    @property
    def owed(self) -> bool:
        """Whether outcomes wait to be sent."""
        return bool(self.acks or self.releases)

    def hold(self, claimed: Claimed) -> None:
        """Take a claimed job and hand it to its lane's runners."""
        self.held[claimed.id] = claimed
        self.stats.claimed += 1
        self.runs.dispatch(claimed)

    def took_claims(self, asked: dict[str, int], claimed: Sequence[Claimed]) -> None:
        """Tell each lane asked for jobs how many its claim brought."""
        got = dict.fromkeys(asked, 0)
        for c in claimed:
            got[c.queue] += 1
        for name, n in asked.items():
            self.runs.lanes[name].took_claim(n, got[name])

    def outcome(self, claimed: Claimed, outcome: Outcome) -> None:
        """Keep a run's outcome to send (a lost lease: forget the job)."""
        if isinstance(outcome, Ack):
            self.acks.append(outcome)
            self.runs.finishing(claimed)
        elif outcome is RELEASE:
            self.releases.append(claimed)
            self.runs.finishing(claimed)
        else:
            self.forget(claimed, sent=False)

    def release_unsettled(self) -> None:
        """Owe a release for every held job with no outcome yet (stopping)."""
        pending = {a.id for a in self.acks} | {c.id for c in self.releases}
        for claimed in list(self.held.values()):
            if claimed.id not in pending:
                self.releases.append(claimed)
                self.runs.finishing(claimed)

    def take(self) -> tuple[list[Ack], list[Claimed]]:
        """Hand over the outcomes to send."""
        acks, self.acks = self.acks, []
        releases, self.releases = self.releases, []
        return acks, releases

    def put_back(self, acks: list[Ack], releases: list[Claimed]) -> None:
        """Owe again outcomes a failed round trip did not send."""
        self.acks[:0] = acks
        self.releases[:0] = releases

    def forget(self, claimed: Claimed, *, sent: bool) -> None:
        if self.held.pop(claimed.id, None) is not None:
            self.runs.settled(claimed, sent=sent)

    def settle(
        self,
        acks: Sequence[Ack],
        releases: Sequence[Claimed],
        accepted: tuple[int, ...],
        rejected: tuple[int, ...],
        now: float,
        *,
        stopping: bool,
    ) -> None:
        """Count what a round trip recorded; log failures and refusals."""
        stats = self.stats
        minute = int(now // 60)
        ok = set(accepted)
        for ack in acks:
            claimed = self.held.get(ack.id)
            if claimed is None:
                continue
            self.forget(claimed, sent=True)
            if ack.id not in ok:
                stats.rejected += 1
                logger.warning(
                    "worker %s: outcome of job %s rejected: its lease expired or "
                    "it was claimed again (it will be, or was, redelivered)",
                    self.name,
                    ack.id,
                )
                continue
            kind = ack.kind
            tally = self.tallies.row(minute, claimed.queue)
            if kind == "done":
                stats.done += 1
                tally[0] += 1
            else:
                log_outcome(self.name, claimed, ack)
                if kind == "retry":
                    stats.retried += 1
                    tally[1] += 1
                elif kind == "dead":
                    stats.dead += 1
                    tally[1] += 1
                    tally[2] += 1
                else:
                    stats.cancelled += 1
                    tally[3] += 1
            if stopping:
                self.finished_after_stop += 1
            if kind != "retry":
                self.finished(ack.id)
        for claimed in releases:
            self.forget(claimed, sent=True)
            stats.released += 1
            self.released_ids.append(str(claimed.id))
