"""Background jobs as plain data, handlers by type, and the backend protocol.

A job is a type name and a JSON payload, so the same ``submit`` call works on
an in-process backend today and a durable one (SQLite, PostgreSQL) later.
What cannot travel as data, such as the exception classes a retry policy
matches, lives with the handler's registration instead.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self, TypeAlias, runtime_checkable

from .._core._checks import check_int, check_number, check_optional_seconds, fail
from .._patterns._retry import RetryPolicy
from ._schedule import Missed, Schedule

JobHandlerFn: TypeAlias = Callable[["Job"], Awaitable[object]]
"""A job handler: an async function taking the ``Job``; its result is kept."""


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """A unit of background work: a handler type and a JSON payload.

    Attributes:
        type: the name a handler was registered under.
        payload: JSON-serialisable data for the handler.
        priority: higher runs first within its queue on backends that
            queue; a 32-bit signed int. Default 0.
        not_before: UNIX time (seconds, finite, >= 0) before which a queuing
            backend does not start the job, or ``None`` for now.
        idempotency_key: a second submit with the same key is a no-op on
            durable backends; ``None`` for none.
        id: set by the backend when the job is submitted.
        attempt: set by the backend: 1 for the first run, 2 for the first
            retry, and so on.
        queue: the named queue a durable backend stores it in; ``None``
            (default) for its handler's queue, else ``"default"``.

    Example:
        >>> import plait
        >>> job = plait.Job("email.send", {"to": "ada@example.org"})
        >>> job.type, job.payload["to"]
        ('email.send', 'ada@example.org')
    """

    type: str
    payload: Mapping[str, Any] = dataclasses.field(default_factory=dict[str, Any])
    priority: int = 0
    not_before: float | None = None
    idempotency_key: str | None = None
    id: str | None = None
    attempt: int = 1
    queue: str | None = None

    def __post_init__(self) -> None:
        call = "Job()"
        check_name(call, "type", self.type)
        if not isinstance(self.payload, Mapping):
            fail(call, "payload", "a mapping", self.payload, error=TypeError)
        payload_json(self.payload)
        check_int(
            call, "priority", self.priority, minimum=PRIORITY_MIN, maximum=PRIORITY_MAX
        )
        if self.not_before is not None:
            check_number(call, "not_before", self.not_before, unit="a UNIX time")
        if self.idempotency_key is not None:
            check_name(call, "idempotency_key", self.idempotency_key)
        if self.queue is not None:
            check_name(call, "queue", self.queue)

    def to_json(self) -> str:
        """Return the payload as JSON text (keys sorted, so it is stable)."""
        return payload_json(self.payload)


# Priorities are stored as a 32-bit INTEGER column on PostgreSQL.
PRIORITY_MIN = -(2**31)
PRIORITY_MAX = 2**31 - 1


def check_name(call: str, name: str, value: object) -> str:
    """Return *value* if it is a non-empty str (a type, queue, key or name).

    NUL is refused: PostgreSQL's text cannot hold it, so such a name would
    fail only at submit, on one engine.
    """
    if not isinstance(value, str):
        fail(call, name, "a non-empty str", value, error=TypeError)
    if not value:
        fail(call, name, "a non-empty str", value, error=ValueError)
    if "\x00" in value:
        fail(call, name, "a str without NUL characters", value, error=ValueError)
    return value


def payload_json(payload: Mapping[str, Any]) -> str:
    """Serialise *payload*, or raise TypeError naming what is not JSON."""
    try:
        return json.dumps(payload, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Job payload must be JSON-serialisable: {exc}") from None


@dataclasses.dataclass(frozen=True, slots=True)
class JobHandler:
    """A registered handler: the async function and its retry policy.

    Example:
        >>> import plait
        >>> handlers = plait.JobHandlers()
        >>> @handlers.register("noop")
        ... async def noop(job: plait.Job) -> None:
        ...     return None
        >>> handler = handlers.get("noop")
        >>> handler.type, handler.retry.attempts
        ('noop', 1)
    """

    type: str
    fn: JobHandlerFn
    retry: RetryPolicy
    timeout: float | None = None
    queue: str = "default"


class JobHandlers:
    """Handlers registered by job type, with the retry policy of each.

    Example:
        >>> import plait
        >>> handlers = plait.JobHandlers()
        >>> @handlers.register("greet", retry=plait.RetryPolicy(attempts=2))
        ... async def greet(job: plait.Job) -> str:
        ...     return f"hello {job.payload['name']}"
        >>> handlers.get("greet").retry.attempts
        2
    """

    def __init__(self) -> None:
        self._handlers: dict[str, JobHandler] = {}
        self._schedules: dict[str, Schedule] = {}

    def register(
        self,
        type: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        queue: str = "default",
    ) -> Callable[[JobHandlerFn], JobHandlerFn]:
        """Register the decorated async function as the handler for *type*.

        Args:
            type: the job type it handles; registering a type twice is an error.
            retry: how failed runs are retried; default: no retry
                (``RetryPolicy(attempts=1)``).
            timeout: seconds a run may take; a durable worker cancels a run
                that overruns and counts it as a failed attempt (a
                ``TimeoutError``), retried as *retry* says. ``None``: no limit.
            queue: the queue a durable backend puts this type's jobs in when
                a ``Job`` names none.
        """
        call = "JobHandlers.register()"
        check_name(call, "type", type)
        if retry is not None and not isinstance(retry, RetryPolicy):
            fail(call, "retry", "a plait.RetryPolicy", retry, error=TypeError)
        check_optional_seconds(call, "timeout", timeout, positive=True)
        check_name(call, "queue", queue)
        policy = retry if retry is not None else RetryPolicy(attempts=1)

        def decorate(fn: JobHandlerFn) -> JobHandlerFn:
            self.add(type, fn, retry=policy, timeout=timeout, queue=queue)
            return fn

        return decorate

    def add(
        self,
        type: str,
        fn: JobHandlerFn,
        *,
        retry: RetryPolicy,
        timeout: float | None = None,
        queue: str = "default",
    ) -> None:
        """Register *fn* for *type* without a decorator."""
        call = "JobHandlers.add()"
        check_name(call, "type", type)
        check_optional_seconds(call, "timeout", timeout, positive=True)
        check_name(call, "queue", queue)
        if type in self._handlers:
            raise ValueError(f"a handler for job type {type!r} is already registered")
        if not callable(fn):
            raise TypeError(
                f"handler for {type!r} must be an async function, got {fn!r}"
            )
        self._handlers[type] = JobHandler(type, fn, retry, timeout, queue)

    def get(self, type: str) -> JobHandler:
        """Return the handler for *type*; KeyError naming it if there is none."""
        try:
            return self._handlers[type]
        except KeyError:
            raise KeyError(f"no handler registered for job type {type!r}") from None

    def schedule(
        self,
        type: str,
        *,
        every: float | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
        payload: Mapping[str, Any] | None = None,
        name: str | None = None,
        queue: str | None = None,
        priority: int = 0,
        missed: Missed = "skip",
        max_catch_up: int = 10,
    ) -> Schedule:
        """Enqueue a *type* job every *every* seconds, or by a *cron* expression.

        A durable worker serving these handlers enqueues each tick exactly
        once, whatever the number of workers and restarts (see ``Schedule``
        for the arguments). Needs the ``plait[cron]`` extra for *cron*.
        In-process backends ignore schedules.

        Returns:
            The declared ``Schedule``.
        """
        call = "JobHandlers.schedule()"
        check_name(call, "type", type)
        if name is not None:
            check_name(call, "name", name)
        if payload is not None and not isinstance(payload, Mapping):
            fail(call, "payload", "a mapping", payload, error=TypeError)
        label = type if name is None else name
        if label in self._schedules:
            raise ValueError(
                f"{call} a schedule named {label!r} is already declared; "
                "give the second one a name="
            )
        if payload is not None:
            payload_json(payload)
        schedule = Schedule(
            name=label,
            type=type,
            every=every,
            cron=cron,
            timezone=timezone,
            payload=dict(payload or {}),
            queue=queue,
            priority=priority,
            missed=missed,
            max_catch_up=max_catch_up,
        )
        self._schedules[label] = schedule
        return schedule

    def schedules(self) -> list[Schedule]:
        """Return the declared schedules, sorted by name."""
        return [self._schedules[name] for name in sorted(self._schedules)]

    def registered(self) -> list[JobHandler]:
        """Return the registered handlers, sorted by type."""
        return [self._handlers[type] for type in sorted(self._handlers)]

    def find(self, type: str) -> JobHandler | None:
        """Return the handler for *type*, or ``None`` if there is none."""
        return self._handlers.get(type)

    def __contains__(self, type: object) -> bool:
        return type in self._handlers

    def types(self) -> list[str]:
        """Return the registered job types, sorted."""
        return sorted(self._handlers)


@dataclasses.dataclass(frozen=True, slots=True)
class DrainReport:
    """What a backend's shutdown did with the jobs it still had.

    Attributes:
        finished: jobs that completed (done or failed) during the drain.
        cancelled: ids of jobs cancelled when the drain timeout ran out.
        released: ids of jobs handed back to a durable queue for another
            worker to take.

    Example:
        >>> import plait
        >>> report = plait.DrainReport(finished=3, cancelled=("job-7",))
        >>> report.finished, report.cancelled, report.released
        (3, ('job-7',), ())
    """

    finished: int = 0
    cancelled: tuple[str, ...] = ()
    released: tuple[str, ...] = ()


@runtime_checkable
class TaskBackend(Protocol):
    """What every background-job backend offers.

    A backend is an async context manager, so its jobs always have an owner:
    leaving the block drains it. ``submit`` returns the job's id.

    Example:
        >>> import plait
        >>> class Nothing:
        ...     handlers = plait.JobHandlers()
        >>> isinstance(Nothing(), plait.TaskBackend)
        False
    """

    handlers: JobHandlers

    async def submit(self, job: Job) -> str:
        """Hand *job* to the backend and return its id."""
        ...

    async def submit_many(self, jobs: Iterable[Job]) -> list[str]:
        """Hand several jobs over at once (in one batch where the backend can)."""
        ...

    async def shutdown(self, *, drain_timeout: float | None = None) -> DrainReport:
        """Stop taking jobs, drain what runs for up to *drain_timeout* seconds."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...
