"""What a durable-job engine does, as plain data passed across a thread hop.

An engine is a blocking object (one database connection) that the async side
drives through ``anyio.to_thread``; every method is one transaction. SQLite
and PostgreSQL implement it over the same tables and the same state machine
(``_schema.py`` describes both):

``queued``/``retrying`` --claim--> ``running`` --ack--> ``done`` | ``retrying``
| ``dead`` | ``cancelled``; a released or lease-expired ``running`` job goes
back to ``queued``/``retrying``; a queued or retrying job can be
``cancelled`` at once, a running one is flagged and ends ``cancelled`` when
its worker acknowledges (or its lease expires). Every claim bumps the row's
``lease_token``; an ack is accepted only with the current token and an
unexpired lease (fencing).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ._rows import (
    AttemptRecord,
    JobRecord,
    QueueStats,
    ScheduleRecord,
    WorkerRecord,
)

AckKind = Literal["done", "retry", "dead", "cancelled"]

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


class SchemaVersionError(RuntimeError):
    """The job database was made or migrated by a newer plait than this one.

    Raised on connecting, before anything is read or written: a worker older
    than the schema refuses to run rather than misread the rows. Upgrade
    plait where it runs (the message names both versions). It is not a
    ``DatabaseUnavailableError``: a worker does not retry it.

    Example:
        >>> import plait
        >>> issubclass(plait.SchemaVersionError, plait.DatabaseUnavailableError)
        False
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
    queue: str = "default"


class Claimed(NamedTuple):
    """A job claimed under a lease: ``token`` fences its acknowledgement.

    A named tuple, as ``Ack`` is, not a frozen dataclass: it is made once
    per job on the worker's hot path, from a fetched row as it comes, and a
    frozen dataclass's ``__init__`` cost over ten times as much.
    """

    id: int
    type: str
    payload: str
    priority: int
    not_before: float
    idempotency_key: str | None
    attempts: int
    token: int
    queue: str


CLAIMED_COLUMNS = (
    "id, type, payload, priority, not_before, idempotency_key, attempts, "
    "lease_token, queue"
)


class Ack(NamedTuple):
    """The outcome of one claimed run, reported back under its token.

    Any kind but ``done`` also writes an attempt row (``plait_attempts``)
    with ``attempt``, ``started_at``, ``error_type``, ``message`` and the
    traceback in ``error``, in the transaction that records the outcome.
    """

    id: int
    token: int
    kind: AckKind
    result: str | None = None
    error: str | None = None
    not_before: float | None = None
    max_attempts: int | None = None
    attempt: int = 0
    started_at: float | None = None
    error_type: str | None = None
    message: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Exchange:
    """What one round trip did: acks accepted and rejected, jobs claimed."""

    accepted: tuple[int, ...]
    rejected: tuple[int, ...]
    claimed: tuple[Claimed, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat found: leases lost, and cancellations asked for."""

    lost: tuple[int, ...]
    cancel: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Tally:
    """Outcomes a worker recorded in one minute, added to ``plait_throughput``."""

    minute: int
    queue: str
    done: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Reaped:
    """A job whose lease expired, and what the reaper did with it."""

    id: int
    type: str
    queue: str
    attempt: int
    worker: str | None
    state: str


@dataclasses.dataclass(frozen=True, slots=True)
class Fired:
    """What firing one due schedule did: the ticks it enqueued, each job's id
    (``None`` where the tick's job already existed), and how many missed
    ticks it skipped."""

    schedule: str
    ticks: tuple[float, ...]
    job_ids: tuple[int | None, ...]
    skipped: int


def schedule_key(name: str, tick: float) -> str:
    """The idempotency key of schedule *name*'s job for *tick*: one job per tick."""
    when = datetime.datetime.fromtimestamp(tick, datetime.UTC).isoformat()
    return f"plait:schedule:{name}@{when}"


# Given a stored schedule and the time now: the ticks to enqueue (oldest
# first), how many due ticks were skipped, and the next tick after now.
T = TypeVar("T")

TickPlan = Callable[[ScheduleRecord, float], tuple[list[float], int, float]]


class Engine(Protocol):
    """A blocking connection to the job tables; each call is one transaction."""

    dsn: str

    @property
    def dialect(self) -> Literal["sqlite", "postgres"]: ...

    def insert(self, jobs: Sequence[NewJob]) -> list[int]: ...

    def exchange(
        self,
        acks: Sequence[Ack],
        release: Sequence[tuple[int, int]],
        claims: Mapping[str, int],
        *,
        owner: str,
        lease: float,
        now: float,
    ) -> Exchange: ...

    def heartbeat(
        self,
        held: Sequence[tuple[int, int]],
        *,
        lease: float,
        now: float,
        worker: WorkerRecord | None = None,
        tallies: Sequence[Tally] = (),
    ) -> Beat: ...

    def reap(self, *, now: float) -> list[Reaped]: ...

    def prune(
        self, *, done_before: float, dead_before: float | None, now: float
    ) -> int: ...

    def stats(self, *, now: float) -> QueueStats: ...

    def get(self, job_id: int) -> JobRecord | None: ...

    def attempts(self, job_id: int) -> list[AttemptRecord]: ...

    def next_due(self, queues: Sequence[str]) -> float | None: ...

    def pending(self, queues: Sequence[str], *, now: float) -> bool: ...

    def cancel(self, ids: Sequence[int], *, now: float) -> dict[int, str]: ...

    def retry(self, ids: Sequence[int], *, now: float) -> list[int]: ...

    def register_worker(self, record: WorkerRecord) -> None: ...

    def unregister_worker(self, name: str) -> None: ...

    def workers(self) -> list[WorkerRecord]: ...

    def declare_schedules(
        self, schedules: Sequence[ScheduleRecord], *, now: float
    ) -> None: ...

    def fire_schedules(
        self, names: Sequence[str], *, now: float, plan: TickPlan
    ) -> list[Fired]: ...

    def schedules(self) -> list[ScheduleRecord]: ...

    def purge(self, state: str, *, before: float) -> int: ...

    def delete(self, ids: Sequence[int]) -> list[int]: ...

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def read_with(self, fn: Callable[[Any], T]) -> T: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def explain(self, sql: str, params: Sequence[Any] = ()) -> list[str]: ...

    def close(self) -> None: ...


class CommitWatch(Protocol):
    """Tells when another connection committed (SQLite's engine opens one)."""

    def changed(self) -> bool: ...

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


def is_postgres(dsn: str) -> bool:
    """Whether *dsn* names a PostgreSQL database."""
    return dsn.startswith(("postgresql://", "postgres://"))


def sqlite_path(dsn: str) -> str:
    """Return the file path a SQLite DSN names (``sqlite:///abs``, ``sqlite:rel``)."""
    if dsn.startswith("sqlite://"):
        return dsn[len("sqlite://") :]
    if dsn.startswith("sqlite:"):
        return dsn[len("sqlite:") :]
    return dsn
