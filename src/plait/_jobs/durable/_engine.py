"""What a durable-job engine does, as plain data passed across a thread hop.

An engine is a blocking object (one database connection) that the async side
drives through ``anyio.to_thread``; every method is one transaction. SQLite
and PostgreSQL implement it with the same rows and the same state machine:

``queued``/``retrying`` --claim--> ``running`` --ack--> ``done`` | ``retrying``
| ``dead``; a released or lease-expired ``running`` job goes back to
``queued``/``retrying``. Every claim bumps the row's ``lease_token``; an ack
is accepted only with the current token and an unexpired lease (fencing).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol, TypeAlias
from urllib.parse import urlsplit, urlunsplit

STATES = ("queued", "running", "retrying", "done", "dead")
JobState: TypeAlias = Literal["queued", "running", "retrying", "done", "dead"]
"""Where a durable job stands: ``'queued'``, ``'running'``, ``'retrying'``,
``'done'`` or ``'dead'`` (failed for good)."""
AckKind = Literal["done", "retry", "dead"]

# A job whose lease expires this many times is dead-lettered: its worker
# keeps dying (a poison pill that crashes or hangs the process), and
# redelivering it for ever would take every worker down in turn.
MAX_LOST_LEASES = 3


class DatabaseUnavailableError(ConnectionError):
    """The job database cannot be reached; the message names the DSN without
    its password.

    A ``DurableBackend`` raises it on entering (and a submit raises it when
    the database goes away); a ``JobWorker`` logs it and retries with
    backoff instead.

    Example:
        >>> import anyio, plait
        >>> async def main() -> None:
        ...     async with plait.DurableBackend("/no/such/dir/jobs.db"):
        ...         pass
        >>> try:
        ...     anyio.run(main)
        ... except plait.DatabaseUnavailableError as exc:
        ...     print(exc)  # doctest: +ELLIPSIS
        cannot open the SQLite job database '/no/such/dir/jobs.db': ...
    """


@dataclasses.dataclass(frozen=True, slots=True)
class NewJob:
    """A row to insert."""

    type: str
    payload: str
    priority: int
    not_before: float
    idempotency_key: str | None
    max_attempts: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class Claimed:
    """A job claimed under a lease: ``token`` fences its acknowledgement."""

    id: int
    type: str
    payload: str
    priority: int
    not_before: float
    idempotency_key: str | None
    attempts: int
    token: int


@dataclasses.dataclass(frozen=True, slots=True)
class Ack:
    """The outcome of one claimed run, reported back under its token."""

    id: int
    token: int
    kind: AckKind
    result: str | None = None
    error: str | None = None
    not_before: float | None = None
    max_attempts: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Exchange:
    """What one round trip did: acks accepted and rejected, jobs claimed."""

    accepted: tuple[int, ...]
    rejected: tuple[int, ...]
    claimed: tuple[Claimed, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class JobRecord:
    """One job's row as stored: its state, attempts, result or last error.

    Attributes:
        id: the job id ``submit`` returned.
        type: the handler type.
        payload: the decoded JSON payload.
        state: ``"queued"``, ``"running"``, ``"retrying"``, ``"done"`` or
            ``"dead"``.
        priority: higher is claimed first.
        not_before: UNIX time before which it is not claimed (after a failure:
            when its retry is due).
        attempts: runs started and not released (the current one included).
        max_attempts: the attempts its handler's retry policy allows, once
            known (set at submit when the submitter has the handler).
        idempotency_key: its key, or ``None``.
        result: the handler's return value (decoded JSON) once done.
        error: the last failure, kept after dead-lettering.
        created_at: UNIX time it was submitted.
        finished_at: UNIX time it reached done or dead.
        lost_leases: how often a worker died or hung holding it.

    Example:
        >>> import anyio, plait, tempfile, os
        >>> async def main(dsn: str) -> plait.JobRecord | None:
        ...     async with plait.DurableBackend(dsn) as backend:
        ...         job_id = await backend.submit(plait.Job("t", {"n": 1}))
        ...         return await backend.get(job_id)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     record = anyio.run(main, os.path.join(tmp, "jobs.db"))
        >>> record.state, record.payload, record.attempts
        ('queued', {'n': 1}, 0)
    """

    id: str
    type: str
    payload: Any
    state: JobState
    priority: int
    not_before: float
    attempts: int
    max_attempts: int | None
    idempotency_key: str | None
    result: Any
    error: str | None
    created_at: float
    finished_at: float | None
    lost_leases: int


@dataclasses.dataclass(frozen=True, slots=True)
class QueueStats:
    """Counts of jobs per state and per type, and the age of the oldest due job.

    Attributes:
        counts: jobs per state; every state is present, zero or not.
        by_type: per job type, its counts per state (states with jobs only).
        oldest_queued_age: seconds the longest-waiting claimable job has been
            due (``queued`` or ``retrying`` with its not-before passed), or
            ``None`` when none is.

    Example:
        >>> import anyio, plait, tempfile, os
        >>> async def main(dsn: str) -> plait.QueueStats:
        ...     async with plait.DurableBackend(dsn) as backend:
        ...         await backend.submit_many([plait.Job("a"), plait.Job("b")])
        ...         return await backend.stats()
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     stats = anyio.run(main, os.path.join(tmp, "jobs.db"))
        >>> stats.counts["queued"], stats.by_type, stats.pending
        (2, {'a': {'queued': 1}, 'b': {'queued': 1}}, 2)
    """

    counts: dict[str, int]
    by_type: dict[str, dict[str, int]]
    oldest_queued_age: float | None

    @property
    def total(self) -> int:
        """All jobs stored, in any state."""
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        """Jobs not finished yet: queued, retrying or running."""
        return self.counts["queued"] + self.counts["retrying"] + self.counts["running"]


class Engine(Protocol):
    """A blocking connection to the job table; each call is one transaction."""

    dsn: str

    def insert(self, jobs: Sequence[NewJob]) -> list[int]: ...

    def exchange(
        self,
        acks: Sequence[Ack],
        release: Sequence[tuple[int, int]],
        claim: int,
        *,
        owner: str,
        lease: float,
        now: float,
    ) -> Exchange: ...

    def heartbeat(
        self, held: Sequence[tuple[int, int]], *, lease: float, now: float
    ) -> list[int]: ...

    def reap(self, *, now: float) -> int: ...

    def prune(self, *, done_before: float, dead_before: float | None) -> int: ...

    def stats(self, *, now: float) -> QueueStats: ...

    def get(self, job_id: int) -> JobRecord | None: ...

    def next_due(self) -> float | None: ...

    def close(self) -> None: ...


def redact(dsn: str) -> str:
    """Return *dsn* with any password replaced by ``***``."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return re.sub(r"(password\s*=\s*)\S+", r"\1***", dsn)
    if parts.password is None:
        return re.sub(r"(password\s*=\s*)[^\s&]+", r"\1***", dsn)
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def open_engine(dsn: str) -> Engine:
    """Connect to *dsn*: ``sqlite:///path``, a file path, or ``postgresql://``."""
    if dsn.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresEngine

        return PostgresEngine(dsn)
    from ._sqlite import SQLiteEngine

    return SQLiteEngine(dsn)


def sqlite_path(dsn: str) -> str:
    """Return the file path a SQLite DSN names (``sqlite:///abs``, ``sqlite:rel``)."""
    if dsn.startswith("sqlite://"):
        return dsn[len("sqlite://") :]
    if dsn.startswith("sqlite:"):
        return dsn[len("sqlite:") :]
    return dsn
