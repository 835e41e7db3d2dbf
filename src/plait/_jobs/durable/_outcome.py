"""Turning what one claimed run did into the Ack that records it.

A run ends one of these ways, and each has one Ack: the handler returned
(``done``, or a failure if the value is not JSON); it raised anything at all,
an ``Exception`` or a ``BaseException`` (a failed attempt: retried while its
policy allows, else dead); it overran its handler's timeout (a failed attempt
with a ``TimeoutError``); it was cancelled on request (``cancelled``); no
handler is registered for its type (dead at once).
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback

from .._model import Job, JobHandler
from ._engine import Ack, Claimed

ERROR_LIMIT = 8000
MESSAGE_LIMIT = 2000


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
        cancelled: runs cancelled on request and recorded as cancelled.

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
    cancelled: int = 0


# Job's slots, set directly: a frozen dataclass refuses setattr, and
# object.__setattr__ per field cost more than a small job's handler.
(_TYPE, _PAYLOAD, _PRIORITY, _NOT_BEFORE, _KEY, _ID, _ATTEMPT, _QUEUE) = (
    getattr(Job, name).__set__
    for name in (
        "type",
        "payload",
        "priority",
        "not_before",
        "idempotency_key",
        "id",
        "attempt",
        "queue",
    )
)


def make_job(claimed: Claimed, payload: object) -> Job:
    """Build the handler's Job from a claimed row whose payload decoded.

    The row was validated when it was submitted, so this skips ``Job``'s
    checks (a JSON round trip of the payload per job, on the hot path).
    """
    job = object.__new__(Job)
    _TYPE(job, claimed.type)
    _PAYLOAD(job, payload)
    _PRIORITY(job, claimed.priority)
    _NOT_BEFORE(job, claimed.not_before)
    _KEY(job, claimed.idempotency_key)
    _ID(job, str(claimed.id))
    _ATTEMPT(job, claimed.attempts)
    _QUEUE(job, claimed.queue)
    return job


def succeeded(
    claimed: Claimed, handler: JobHandler, value: object, started: float
) -> Ack:
    """The Ack of a run that returned *value* (a failure if it is not JSON)."""
    if value is None:
        result = None
    else:
        try:
            result = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            error = TypeError(f"handler result must be JSON-serialisable: {exc}")
            return failed(claimed, handler, error, started)
    # Positional: made once a job, and keywords made the call half as long again.
    return Ack(
        claimed.id, claimed.token, "done", result, None, None, handler.retry.attempts
    )


def failed(
    claimed: Claimed, handler: JobHandler, exc: BaseException, started: float
) -> Ack:
    """The Ack of a run that raised *exc*: a retry while attempts remain, else dead.

    Any ``BaseException`` counts (``SystemExit``, a handler's own
    cancellation): it is retried while the policy has attempts left, as an
    ``Exception`` its ``retry_on`` matches would be, so a job that kills its
    handler this way is dead-lettered instead of crashing every worker.
    """
    policy = handler.retry
    retried = claimed.attempts < policy.attempts and (
        policy.retries(exc) or not isinstance(exc, Exception)
    )
    return Ack(
        claimed.id,
        claimed.token,
        "retry" if retried else "dead",
        error=error_text(exc),
        not_before=time.time() + policy.delay(claimed.attempts) if retried else None,
        max_attempts=policy.attempts,
        attempt=claimed.attempts,
        started_at=started,
        error_type=error_type(exc),
        message=error_message(exc),
    )


def timed_out(claimed: Claimed, handler: JobHandler, started: float) -> Ack:
    """The Ack of a run cancelled for overrunning its handler's timeout."""
    error = TimeoutError(
        f"job {claimed.id} ({claimed.type}) overran its handler's timeout of "
        f"{handler.timeout:g} s and was cancelled"
    )
    return failed(claimed, handler, error, started)


def cancelled(
    claimed: Claimed,
    handler: JobHandler | None,
    started: float,
    exc: BaseException | None = None,
) -> Ack:
    """The Ack of a run cancelled because its cancellation was asked for
    (*exc*: what the handler raised on its way out, if not the cancellation)."""
    return Ack(
        claimed.id,
        claimed.token,
        "cancelled",
        error=None if exc is None else error_text(exc),
        max_attempts=None if handler is None else handler.retry.attempts,
        attempt=claimed.attempts,
        started_at=started,
        error_type="Cancelled" if exc is None else error_type(exc),
        message="cancelled on request while it ran"
        if exc is None
        else error_message(exc),
    )


def no_handler(claimed: Claimed, worker: str, known: list[str]) -> Ack:
    """The Ack dead-lettering a job whose type no handler is registered for."""
    handles = ", ".join(map(repr, known)) or "none"
    message = (
        f"no handler registered for job type {claimed.type!r} at worker "
        f"{worker} (it handles: {handles})"
    )
    return Ack(
        claimed.id,
        claimed.token,
        "dead",
        error=storable(message),
        attempt=claimed.attempts,
        started_at=time.time(),
        error_type="LookupError",
        message=storable(message),
    )


def error_text(exc: BaseException) -> str:
    """*exc*'s traceback, its last ``ERROR_LIMIT`` characters, storable."""
    return storable("".join(traceback.format_exception(exc))[-ERROR_LIMIT:])


def error_message(exc: BaseException) -> str:
    """``str(exc)`` cut to ``MESSAGE_LIMIT``, storable; a broken ``__str__``
    gives a placeholder, as in a traceback, instead of failing the ack."""
    try:
        message = str(exc)
    except Exception:
        message = "<exception str() failed>"
    return storable(message[:MESSAGE_LIMIT])


def storable(text: str) -> str:
    """*text* with each NUL written as ``\\x00``: PostgreSQL's text cannot
    hold NUL, and an ack it refuses would fail every worker in turn."""
    return text.replace("\x00", "\\x00")


def error_type(exc: BaseException) -> str:
    """Name *exc*'s class as a traceback does: ``module.Name`` unless builtin."""
    cls = type(exc)
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return storable(cls.__qualname__)
    return storable(f"{module}.{cls.__qualname__}")
