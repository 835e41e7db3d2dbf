"""A worker's settings, checked once for JobWorker and DurableBackend alike."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from typing import cast

from ..._core._checks import (
    check_optional_seconds,
    check_positive_int,
    check_seconds,
    fail,
)
from .._model import JobHandlers, check_name
from ._engine import is_postgres

DEFAULT_RETENTION = 7 * 24 * 3600.0
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

Queues = Sequence[str] | Mapping[str, int] | None


def check_dsn(call: str, dsn: object) -> str:
    """Return *dsn* as a str if it names a SQLite file or a PostgreSQL database.

    A path (``str`` or ``os.PathLike``), ``sqlite:///path`` or
    ``postgresql://...``. An empty string and ``:memory:`` are refused: each
    connection would get a private database, so jobs would vanish between
    the backend and its worker.
    """
    rule = "sqlite:///path/to/jobs.db, a file path, or postgresql://..."
    if isinstance(dsn, os.PathLike):
        dsn = os.fspath(cast("os.PathLike[str] | os.PathLike[bytes]", dsn))
    if not isinstance(dsn, str):
        fail(call, "dsn", rule, dsn, error=TypeError)
    bare = dsn.removeprefix("sqlite://").removeprefix("sqlite:")
    if not dsn or not bare or bare in (":memory:", "/:memory:"):
        fail(
            call,
            "dsn",
            rule + " (a file every process can open, not a private database)",
            dsn,
            error=ValueError,
        )
    if _SCHEME.match(dsn) and not (is_postgres(dsn) or dsn.startswith("sqlite://")):
        fail(call, "dsn", rule, dsn, error=ValueError)
    return dsn


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Checked worker settings (see ``JobWorker`` for their meaning)."""

    queues: dict[str, int]
    concurrency: int
    lease: float
    grace: float
    poll_interval: float | None
    retention: float
    dead_retention: float | None


def check_options(
    call: str,
    handlers: JobHandlers,
    *,
    queues: Queues,
    concurrency: object,
    lease: object,
    grace: object,
    poll_interval: object,
    retention: object,
    dead_retention: object,
) -> WorkerOptions:
    """Check a worker's settings, naming *call* and the argument on failure."""
    if not isinstance(handlers, JobHandlers):
        fail(call, "handlers", "a plait.JobHandlers", handlers, error=TypeError)
    per_queue = check_positive_int(call, "concurrency", concurrency)
    return WorkerOptions(
        queues=resolve_queues(call, handlers, queues, per_queue),
        concurrency=per_queue,
        lease=check_seconds(call, "lease", lease, positive=True),
        grace=check_seconds(call, "grace", grace, finite=False),
        poll_interval=check_optional_seconds(
            call, "poll_interval", poll_interval, positive=True
        ),
        retention=check_seconds(call, "retention", retention, finite=False),
        dead_retention=check_optional_seconds(
            call, "dead_retention", dead_retention, finite=False
        ),
    )


def resolve_queues(
    call: str, handlers: JobHandlers, queues: Queues, per_queue: int
) -> dict[str, int]:
    """The queues served, each with its concurrency.

    ``None``: ``"default"`` and every queue a handler names, each with
    *per_queue*; a list of names, each with *per_queue*; a mapping of name to
    concurrency.
    """
    if queues is None:
        names = {"default", *(h.queue for h in handlers.registered())}
        return dict.fromkeys(sorted(names), per_queue)
    if isinstance(queues, str):
        fail(
            call,
            "queues",
            "a list of queue names or a mapping",
            queues,
            error=TypeError,
        )
    if isinstance(queues, Mapping):
        resolved = {
            check_name(call, "queues", name): check_positive_int(
                call, f"queues[{name!r}]", limit
            )
            for name, limit in queues.items()
        }
    elif isinstance(queues, Sequence):
        resolved = {check_name(call, "queues", name): per_queue for name in queues}
    else:
        fail(
            call,
            "queues",
            "a list of queue names or a mapping",
            queues,
            error=TypeError,
        )
    if not resolved:
        fail(call, "queues", "at least one queue", queues, error=ValueError)
    return resolved
