"""What a supervisor knows about each service: policies, states, statistics.

The enums accept their plain string values everywhere an option takes them
(``restart="transient"``), and a service's statistics are handed out as a
frozen snapshot, so reading them never races the supervisor's bookkeeping.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any, TypeVar

from anyio import CancelScope, Event

from .._core._checks import fail

E = TypeVar("E", bound=enum.StrEnum)


class RestartPolicy(enum.StrEnum):
    """When a supervisor restarts a service that ended, in OTP's words.

    Attributes:
        PERMANENT: restarted whenever it ends, cleanly or not.
        TRANSIENT: restarted only when it raised an ``Exception``.
        TEMPORARY: never restarted.

    Example:
        >>> import plait
        >>> plait.RestartPolicy("transient") is plait.RestartPolicy.TRANSIENT
        True
    """

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class RestartStrategy(enum.StrEnum):
    """Which services a supervisor restarts when one of them must restart.

    Attributes:
        ONE_FOR_ONE: only the service that ended.
        ONE_FOR_ALL: every running service: the others are stopped (in
            shutdown order) and all are started again in start order.
        REST_FOR_ONE: the service that ended and every service started
            after it.

    Example:
        >>> import plait
        >>> plait.RestartStrategy("rest_for_one").value
        'rest_for_one'
    """

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class ServiceState(enum.StrEnum):
    """Where a service is in its life.

    Attributes:
        STARTING: running, but has not reported ready yet.
        RUNNING: reported ready (or needs no report) and runs.
        BACKING_OFF: ended and waits out its backoff before a restart.
        STOPPING: asked to stop; runs until it exits or its grace runs out.
        STOPPED: ended and will not be restarted.
        FAILED: raised and will not be restarted.

    Example:
        >>> import plait
        >>> plait.ServiceState.RUNNING == "running"
        True
    """

    STARTING = "starting"
    RUNNING = "running"
    BACKING_OFF = "backing_off"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


def parse_enum(enum_type: type[E], call: str, argument: str, value: object) -> E:
    """Return *value* as a member of *enum_type*, or raise naming *argument*."""
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        try:
            return enum_type(value)
        except ValueError:
            pass
    choices = ", ".join(repr(member.value) for member in enum_type)
    rule = f"one of {choices} (or a plait.{enum_type.__name__})"
    fail(call, argument, rule, value, error=ValueError)


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceStats:
    """A snapshot of one service's health; times are on the event loop's clock.

    Attributes:
        name: the service's name.
        state: its ``ServiceState`` when the snapshot was taken.
        restart: its ``RestartPolicy``.
        priority: its shutdown priority (lower stops first).
        depends_on: names of the services it depends on.
        runs: how many times it was started (the first start included).
        restarts: how many of those runs were restarts.
        errors: how many runs ended by raising an ``Exception``.
        started_at: when the current (or last) run began, or ``None``.
        uptime: seconds the current run has been up (0 when not running).
        last_error: the exception that ended the latest failed run.
        last_error_at: when that happened.
        error_rate: errors per minute since the service was added (the age
            counted is at least one second).

    Example:
        >>> import anyio, plait
        >>> async def main() -> plait.ServiceStats:
        ...     async def worker(stopping: anyio.Event) -> None:
        ...         await stopping.wait()
        ...     async with plait.Supervisor(observers=()) as sup:
        ...         await sup.start(worker)
        ...         return sup.stats()["worker"]
        >>> stats = anyio.run(main)
        >>> stats.state, stats.runs, stats.restarts, stats.errors
        (<ServiceState.RUNNING: 'running'>, 1, 0, 0)
    """

    name: str
    state: ServiceState
    restart: RestartPolicy
    priority: int
    depends_on: tuple[str, ...]
    runs: int
    restarts: int
    errors: int
    started_at: float | None
    uptime: float
    last_error: BaseException | None
    last_error_at: float | None
    error_rate: float


class Outcome(enum.StrEnum):
    """How one run of a service ended."""

    EXITED = "exited"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Run:
    """One run of a service: its scope, stop request, readiness and end."""

    def __init__(self, number: int, *, initial: bool) -> None:
        self.number = number
        self.initial = initial
        # Shielded: only the supervisor cancels a service, after its grace.
        self.scope = CancelScope(shield=True)
        self.stopping = Event()
        self.settled = Event()  # set once ready or ended, whichever is first
        self.done = Event()
        self.ready = False
        self.value: object = None
        self.stop_requested = False
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None
        self.started_at: float | None = None
        self.forced_at: float | None = None  # cancelled when its grace ran out
        self.ended_at: float | None = None


@dataclasses.dataclass(slots=True, eq=False)
class Service:
    """A supervised service: what to run, its policies, and its bookkeeping."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    restart: RestartPolicy
    priority: int
    depends_on: tuple[str, ...]
    grace: float | None
    wait_for_started: bool
    pass_task_status: bool
    pass_stopping: bool
    added_at: float
    state: ServiceState = ServiceState.STARTING
    run: Run | None = None
    runs: int = 0
    errors: int = 0
    last_error: BaseException | None = None
    last_error_at: float | None = None
    last_restart_at: float | None = None
    backoff_step: int = 0

    @property
    def active(self) -> bool:
        """Tell whether a run of this service is under way."""
        return self.run is not None and not self.run.done.is_set()

    @property
    def terminated(self) -> bool:
        """Tell whether the service has ended for good."""
        return self.state in (ServiceState.STOPPED, ServiceState.FAILED)

    def snapshot(self, now: float) -> ServiceStats:
        """Return this service's statistics as of *now*."""
        run = self.run
        started_at = run.started_at if run is not None else None
        uptime = 0.0
        if started_at is not None and self.active and run is not None and run.ready:
            uptime = max(0.0, now - started_at)
        age = max(1.0, now - self.added_at)
        return ServiceStats(
            name=self.name,
            state=self.state,
            restart=self.restart,
            priority=self.priority,
            depends_on=self.depends_on,
            runs=self.runs,
            restarts=max(0, self.runs - 1),
            errors=self.errors,
            started_at=started_at,
            uptime=uptime,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            error_rate=self.errors * 60.0 / age,
        )
