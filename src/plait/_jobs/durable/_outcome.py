"""Running one claimed job with its handler, and turning the outcome into an Ack."""

from __future__ import annotations

import dataclasses
import json
import time
import traceback

from .._model import Job, JobHandlers
from ._engine import Ack, Claimed

ERROR_LIMIT = 8000


@dataclasses.dataclass(slots=True)
class WorkerStats:
    """What one worker did so far.

    Attributes:
        claimed: jobs it claimed.
        done: runs that succeeded and were recorded.
        retried: failed runs recorded with a retry scheduled.
        dead: runs recorded as dead-lettered (last attempt, or no handler).
        rejected: outcomes the database refused because the lease had
            expired or the job had been claimed again (fencing).
        released: jobs handed back unfinished at shutdown.
        lost_leases: jobs whose lease a heartbeat found gone; their run was
            cancelled.

    Example:
        >>> import anyio, plait, tempfile, os
        >>> handlers = plait.JobHandlers()
        >>> @handlers.register("noop")
        ... async def noop(job: plait.Job) -> None:
        ...     return None
        >>> async def main(dsn: str) -> plait.WorkerStats:
        ...     async with plait.DurableBackend(dsn) as backend:
        ...         await backend.submit_many([plait.Job("noop"), plait.Job("nope")])
        ...     worker = plait.JobWorker(dsn, handlers, until_empty=True)
        ...     await worker.run()
        ...     return worker.stats
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     stats = anyio.run(main, os.path.join(tmp, "jobs.db"))
        >>> stats.claimed, stats.done, stats.dead
        (2, 1, 1)
    """

    claimed: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0
    rejected: int = 0
    released: int = 0
    lost_leases: int = 0


async def run_handler(handlers: JobHandlers, claimed: Claimed, worker: str) -> Ack:
    if claimed.type not in handlers:
        known = ", ".join(map(repr, handlers.types())) or "none"
        return Ack(
            claimed.id,
            claimed.token,
            "dead",
            error=f"no handler registered for job type {claimed.type!r} at "
            f"worker {worker} (it handles: {known})",
        )
    handler = handlers.get(claimed.type)
    policy = handler.retry
    try:
        job = Job(
            claimed.type,
            json.loads(claimed.payload),
            priority=claimed.priority,
            not_before=claimed.not_before,
            idempotency_key=claimed.idempotency_key,
            id=str(claimed.id),
            attempt=claimed.attempts,
        )
        value = await handler.fn(job)
        result = _result_json(value)
    except Exception as exc:
        error = "".join(traceback.format_exception(exc))[-ERROR_LIMIT:]
        if claimed.attempts < policy.attempts and policy.retries(exc):
            due = time.time() + policy.delay(claimed.attempts)
            return Ack(
                claimed.id,
                claimed.token,
                "retry",
                error=error,
                not_before=due,
                max_attempts=policy.attempts,
            )
        return Ack(
            claimed.id,
            claimed.token,
            "dead",
            error=error,
            max_attempts=policy.attempts,
        )
    return Ack(
        claimed.id,
        claimed.token,
        "done",
        result=result,
        max_attempts=policy.attempts,
    )


def _result_json(value: object) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"handler result must be JSON-serialisable: {exc}") from None
