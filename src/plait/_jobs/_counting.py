"""What the in-process backends share: handler lookup, retries, counts, failures.

A failure that survives its retries is logged with the job and counted, never
lost; it does not propagate to whoever submitted the job.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid

from anyio import sleep

from .._core._checks import fail
from .._patterns._retry import pause_before_retry
from ._model import Job, JobHandlers

logger = logging.getLogger("plait")


@dataclasses.dataclass(frozen=True, slots=True)
class BackendStats:
    """Counts of a backend's jobs; ``submitted`` is the sum of the others.

    Attributes:
        submitted: jobs accepted by ``submit``.
        running: jobs accepted and not yet ended (waiting, running or
            backing off between retries).
        done: jobs whose handler returned.
        failed: jobs whose handler raised on its last attempt.
        cancelled: jobs cancelled at shutdown.

    Example:
        >>> import plait
        >>> stats = plait.BackendStats(submitted=3, done=2, failed=1)
        >>> stats.done + stats.failed + stats.cancelled + stats.running
        3
    """

    submitted: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0


class JobCounter:
    """What both backends share: handler lookup, retries, counts, failures."""

    handlers: JobHandlers
    """The handlers jobs are routed to, by type."""

    def __init__(self, handlers: JobHandlers) -> None:
        if not isinstance(handlers, JobHandlers):
            fail(
                f"{type(self).__name__}()",
                "handlers",
                "a plait.JobHandlers",
                handlers,
                error=TypeError,
            )
        self.handlers = handlers
        self._submitted = self._done = self._failed = self._cancelled = 0
        self._failures: dict[str, BaseException] = {}
        self._keys: dict[str, str] = {}

    def stats(self) -> BackendStats:
        """Return the backend's job counts."""
        ended = self._done + self._failed + self._cancelled
        return BackendStats(
            submitted=self._submitted,
            running=self._submitted - ended,
            done=self._done,
            failed=self._failed,
            cancelled=self._cancelled,
        )

    @property
    def failures(self) -> dict[str, BaseException]:
        """The final exception of every failed job, by job id."""
        return dict(self._failures)

    def _accept(self, job: Job) -> tuple[Job, bool]:
        """Give *job* an id; return it and whether it is new (not a duplicate key)."""
        if not isinstance(job, Job):
            raise TypeError(f"job must be a plait.Job, got {job!r}")
        self.handlers.get(job.type)  # an unknown type is the caller's error, now
        if job.idempotency_key is not None and job.idempotency_key in self._keys:
            return dataclasses.replace(job, id=self._keys[job.idempotency_key]), False
        job = dataclasses.replace(job, id=job.id or uuid.uuid4().hex, attempt=1)
        assert job.id is not None
        if job.idempotency_key is not None:
            self._keys[job.idempotency_key] = job.id
        self._submitted += 1
        return job, True

    async def _execute(self, job: Job) -> BaseException | None:
        """Run *job* with retries; count and log the outcome; return the failure."""
        handler = self.handlers.get(job.type)
        if job.not_before is not None:
            await sleep(max(0.0, job.not_before - time.time()))
        attempt = 1
        while True:
            try:
                # The first attempt runs the accepted job itself: replace()
                # re-validates the payload, which costs per job under load.
                this = (
                    job if attempt == 1 else dataclasses.replace(job, attempt=attempt)
                )
                await handler.fn(this)
            except Exception as exc:
                try:
                    await pause_before_retry(handler.retry, attempt, exc)
                except Exception as final:
                    self._record_failure(job, attempt, final)
                    return final
                attempt += 1
                continue
            self._done += 1
            return None

    def _record_failure(self, job: Job, attempt: int, exc: BaseException) -> None:
        self._failed += 1
        assert job.id is not None
        self._failures[job.id] = exc
        logger.warning(
            "plait: job %s of type %r failed after %d attempt(s): %r; payload %s",
            job.id,
            job.type,
            attempt,
            exc,
            job.to_json(),
            exc_info=(type(exc), exc, exc.__traceback__),
        )
