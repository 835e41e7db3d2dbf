"""Running services: each one's run state, changed only by the runner's transitions.

A service's ``ServiceSpec`` never changes. What changes while it runs (its
``ServiceState``, its current ``Run``, its counts) lives in a ``Child``, OTP's
word for a supervised process, and only ``ServiceRunner`` changes it, through
the transitions below; the supervisor, the shutdown and the statistics read
it. The transitions, and the observer hook each one calls::

    launch        -> STARTING   (on_start)
    mark_ready    STARTING -> RUNNING   (on_ready)
    run ends      -> STOPPED | FAILED   (on_failure, on_exit)
    back_off      -> BACKING_OFF   (a restart is due; on_restart is the caller's)
    request_stop  -> STOPPING   (its ``stopping`` event is set)
    force_stop    (still STOPPING: cancelled when its grace ran out)
    settle        BACKING_OFF -> STOPPED   (shut down while waiting to restart)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from typing import Any, cast

from anyio import CancelScope, Event, current_time
from anyio.abc import TaskGroup

from .._core._awaitables import is_awaitable, raise_not_awaitable
from .._core._cancellation import is_cancelled, non_cancel_subgroup
from .._core._fuzz import fuzz_point
from ._observers import ServiceEvent, SupervisorObserver, notify
from ._service_spec import ServiceSpec
from ._services import ServiceState, ServiceStats


class Outcome(enum.StrEnum):
    """How one run of a service ended."""

    EXITED = "exited"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Run:
    """One run of a service: its scope, stop request, readiness and end."""

    def __init__(self, number: int, *, initial: bool) -> None:
        self.number = number
        # The first run, while start() waits for it: its early end is
        # start()'s to raise, not a restart's.
        self.initial = initial
        # Shielded: only the supervisor cancels a service, after its grace.
        self.scope = CancelScope(shield=True)
        self.stopping = Event()
        self.settled = Event()  # set once ready or ended, whichever is first
        self.done = Event()
        self.ready = False
        self.value: object = None
        self.stop_requested = False
        # When its grace runs out: counted from the first request to stop
        # it, never put off by a later one (a shutdown that comes while a
        # group restart waits for it to stop).
        self.stop_deadline = math.inf
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None
        self.started_at: float | None = None
        self.forced_at: float | None = None  # cancelled when its grace ran out
        self.ended_at: float | None = None
        # It ended by an exception that went on up into the supervisor's task
        # group (see ServiceRunner._run): that error leaves the supervisor's
        # async with, so nobody else may raise it or restart for it.
        self.escaped = False


class Child:
    """A service as its supervisor runs it: spec, state, current run and counts.

    Written only by ``ServiceRunner``'s transitions; everything else reads.
    """

    def __init__(self, spec: ServiceSpec, *, added_at: float) -> None:
        self.spec = spec
        self.added_at = added_at
        self.state = ServiceState.STARTING
        self.run: Run | None = None
        self.runs = 0
        self.errors = 0
        self.last_error: BaseException | None = None
        self.last_error_at: float | None = None

    @property
    def name(self) -> str:
        """The service's name."""
        return self.spec.name

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
        spec = self.spec
        return ServiceStats(
            name=spec.name,
            state=self.state,
            restart=spec.restart,
            priority=spec.priority,
            depends_on=spec.depends_on,
            runs=self.runs,
            restarts=max(0, self.runs - 1),
            errors=self.errors,
            started_at=started_at,
            uptime=uptime,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            error_rate=self.errors * 60.0 / age,
        )


class ServiceRunner:
    """Runs services in a task group; the one writer of every ``Child``.

    Args:
        supervisor: the supervisor's name, for events.
        observers: the observers to notify.
        tg: the supervisor's task group, where runs start.
        on_end: called with the child and run once a run has ended.
    """

    def __init__(
        self,
        supervisor: str,
        observers: Sequence[SupervisorObserver],
        tg: TaskGroup,
        on_end: Callable[[Child, Run], None],
    ) -> None:
        self.supervisor, self.observers = supervisor, observers
        self.tg, self.on_end = tg, on_end

    def event(self, child: Child, run: Run, **fields: Any) -> ServiceEvent:
        """Return an event about *run* of *child*, stamped now."""
        return ServiceEvent(
            self.supervisor, child.name, run.number, current_time(), **fields
        )

    def launch(self, child: Child, *, initial: bool) -> Run:
        """Start a new run of *child* and return it (-> STARTING)."""
        child.runs += 1
        run = Run(child.runs, initial=initial)
        child.run = run
        child.state = ServiceState.STARTING
        self.tg.start_soon(self._run, child, run, name=f"plait.service.{child.name}")
        return run

    def mark_ready(self, child: Child, run: Run, value: object) -> None:
        """Record that *run* is ready (once), and wake whoever waits for it."""
        if run.ready or run.done.is_set():
            return
        run.ready, run.value, run.initial = True, value, False
        run.started_at = current_time()
        if child.state is ServiceState.STARTING:
            child.state = ServiceState.RUNNING
        notify(self.observers, "on_ready", self.event(child, run))
        run.settled.set()

    def release_caller(self, run: Run) -> None:
        """Note that ``start`` stopped waiting: an early end is now a restart's."""
        run.initial = run.initial and run.settled.is_set()

    def back_off(self, child: Child) -> None:
        """Mark *child* as waiting out its backoff before a restart."""
        child.state = ServiceState.BACKING_OFF

    def settle(self, child: Child) -> None:
        """Mark *child*, shut down while it waited to restart, as stopped for good."""
        if not child.active and not child.terminated:
            child.state = ServiceState.STOPPED

    def request_stop(self, child: Child, grace: float) -> Run | None:
        """Ask *child*'s run under way to stop within *grace* seconds; return
        it (``None`` if none). A run asked again keeps the earlier deadline."""
        run = child.run
        if run is None or run.done.is_set():
            return None
        run.stop_deadline = min(run.stop_deadline, current_time() + grace)
        run.stop_requested = True
        child.state = ServiceState.STOPPING
        run.stopping.set()
        return run

    def force_stop(self, run: Run) -> None:
        """Cancel *run*, whose grace ran out: its stop is forced, however it ends."""
        run.forced_at = current_time()
        run.scope.cancel()

    async def _run(self, child: Child, run: Run) -> None:
        spec = child.spec
        notify(self.observers, "on_start", self.event(child, run))
        kwargs: dict[str, Any] = {}
        if spec.pass_task_status:
            kwargs["task_status"] = (
                _ReadyStatus(self, child, run)
                if spec.wait_for_started
                else _IgnoredStatus()
            )
        if spec.pass_stopping:
            kwargs["stopping"] = run.stopping
        error: BaseException | None = None
        try:
            with run.scope:
                await fuzz_point("task_start")
                made = spec.fn(*spec.args, **kwargs)
                if not is_awaitable(made):
                    raise_not_awaitable("Supervisor.start", "fn", spec.fn, made)
                if not spec.wait_for_started:
                    self.mark_ready(child, run, None)
                await made
        except Exception as exc:
            error = exc
        except BaseException as exc:
            # Not the supervisor's cancellation (its scope took that): a
            # foreign cancellation, or what no service may survive (SystemExit,
            # KeyboardInterrupt, ...). It ends the run and goes on up.
            run.escaped = True
            self._end(child, run, _non_cancel_part(exc))
            raise
        self._end(child, run, error)

    def _end(self, child: Child, run: Run, error: BaseException | None) -> None:
        if error is not None:
            outcome = Outcome.FAILED
        elif run.scope.cancel_called:
            # Cancelled when its grace ran out: forced, even if it caught the
            # cancellation and returned.
            outcome = Outcome.CANCELLED
        else:
            outcome = Outcome.EXITED
        run.outcome, run.error, run.ended_at = outcome, error, current_time()
        if outcome is Outcome.FAILED:
            child.errors += 1
            child.last_error, child.last_error_at = error, run.ended_at
            child.state = ServiceState.FAILED
            notify(self.observers, "on_failure", self.event(child, run, error=error))
        else:
            child.state = ServiceState.STOPPED
        event = self.event(child, run, outcome=outcome.value)
        notify(self.observers, "on_exit", event)
        run.done.set()
        run.settled.set()
        self.on_end(child, run)


def _non_cancel_part(exc: BaseException) -> BaseException | None:
    """Return what of *exc* is not a cancellation (``None`` for a cancellation)."""
    if isinstance(exc, BaseExceptionGroup):
        return non_cancel_subgroup(cast("BaseExceptionGroup[BaseException]", exc))
    return None if is_cancelled(exc) else exc


class _ReadyStatus:
    """The ``task_status`` a service receives: ``started()`` marks it ready."""

    def __init__(self, runner: ServiceRunner, child: Child, run: Run) -> None:
        self._runner, self._child, self._run = runner, child, run

    def started(self, value: object = None) -> None:
        if self._run.ready:
            raise RuntimeError("called 'started' twice on the same task status")
        self._runner.mark_ready(self._child, self._run, value)


class _IgnoredStatus:
    """The ``task_status`` of a service started with ``ready='begin'``."""

    def started(self, value: object = None) -> None:
        pass
