"""The words of supervision: restart policies and strategies, states, statistics.

The enums accept their plain string values everywhere an option takes them
(``restart="transient"``), and a service's statistics are handed out as a
frozen snapshot, so reading them never races the supervisor's bookkeeping.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TypeVar

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
        BACKING_OFF: ended and waits to be restarted: out its backoff, or
            for its group's restart under way.
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
