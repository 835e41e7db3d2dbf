"""The log lines an operator reads: one per failed attempt, retry, dead
letter, cancellation and lost lease, on the ``plait.durable`` logger.

Each record carries the facts as ``extra`` fields, so a JSON log handler
picks them up without parsing the message: ``event`` (``job.retry``,
``job.dead``, ``job.cancelled``, ``job.lease_lost``, ``job.lease_expired``,
``job.traceback``), ``job_id``, ``job_type``, ``queue``, ``attempt``,
``max_attempts``, ``worker``, ``error_type``, ``error_message`` and, for a
retry, ``retry_in`` (seconds). The traceback is a second record at DEBUG.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ._engine import Ack, Claimed, Reaped

logger = logging.getLogger("plait.durable")


def _fields(
    event: str, worker: str, job_id: int, type_: str, queue: str, attempt: int
) -> dict[str, Any]:
    return {
        "event": event,
        "worker": worker,
        "job_id": str(job_id),
        "job_type": type_,
        "queue": queue,
        "attempt": attempt,
    }


def log_outcome(worker: str, claimed: Claimed, ack: Ack) -> None:
    """Log a recorded outcome other than success."""
    if ack.kind == "done":
        return
    fields = _fields(
        f"job.{ack.kind}", worker, claimed.id, claimed.type, claimed.queue, ack.attempt
    )
    fields.update(
        max_attempts=ack.max_attempts,
        error_type=ack.error_type,
        error_message=ack.message,
    )
    of = "" if ack.max_attempts is None else f" of {ack.max_attempts}"
    where = f"job {claimed.id} ({claimed.type}, queue {claimed.queue})"
    error = f"{ack.error_type}: {ack.message}"
    if ack.kind == "retry":
        retry_in = max(0.0, (ack.not_before or 0.0) - time.time())
        fields["retry_in"] = retry_in
        logger.warning(
            "%s attempt %d%s failed: %s; retrying in %.3g s",
            where,
            ack.attempt,
            of,
            error,
            retry_in,
            extra=fields,
        )
    elif ack.kind == "dead":
        logger.error(
            "%s dead-lettered after attempt %d%s: %s",
            where,
            ack.attempt,
            of,
            error,
            extra=fields,
        )
    else:
        logger.info("%s cancelled during attempt %d", where, ack.attempt, extra=fields)
    if ack.error is not None and logger.isEnabledFor(logging.DEBUG):
        fields = dict(fields, event="job.traceback", traceback=ack.error)
        logger.debug("%s attempt %d:\n%s", where, ack.attempt, ack.error, extra=fields)


def log_lease_lost(worker: str, claimed: Claimed) -> None:
    """Log a heartbeat that found a running job's lease gone."""
    logger.warning(
        "job %s (%s, queue %s) attempt %d: worker %s lost its lease (it was "
        "late to renew it, or the job was claimed again); its run is cancelled "
        "and the job redelivered",
        claimed.id,
        claimed.type,
        claimed.queue,
        claimed.attempts,
        worker,
        extra=_fields(
            "job.lease_lost",
            worker,
            claimed.id,
            claimed.type,
            claimed.queue,
            claimed.attempts,
        ),
    )


def log_reaped(worker: str, reaped: Reaped) -> None:
    """Log a job whose lease expired, found by this worker's reaper."""
    fields = _fields(
        "job.lease_expired",
        worker,
        reaped.id,
        reaped.type,
        reaped.queue,
        reaped.attempt,
    )
    fields.update(holder=reaped.worker, state=reaped.state)
    then = {
        "dead": "dead-lettered (its lease was lost too often)",
        "cancelled": "cancelled (its cancellation had been asked for)",
    }.get(reaped.state, "requeued")
    logger.warning(
        "job %s (%s, queue %s) attempt %d: the lease of worker %s expired "
        "(it died or hung); %s",
        reaped.id,
        reaped.type,
        reaped.queue,
        reaped.attempt,
        reaped.worker,
        then,
        extra=fields,
    )
