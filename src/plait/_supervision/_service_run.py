"""Running one service once: readiness, outcome, bookkeeping and hooks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from anyio import current_time
from anyio.abc import TaskGroup

from .._core._awaitables import is_awaitable, raise_not_awaitable
from .._core._cancellation import non_cancel_subgroup
from .._core._fuzz import fuzz_point
from ._observers import ServiceEvent, SupervisorObserver, notify
from ._services import Outcome, Run, Service, ServiceState


class ServiceRunner:
    """Starts runs of services in a task group and reports how each ended.

    Args:
        supervisor: the supervisor's name, for events.
        observers: the observers to notify.
        on_end: called with the service and run once a run has ended.
    """

    def __init__(
        self,
        supervisor: str,
        observers: Sequence[SupervisorObserver],
        on_end: Callable[[Service, Run], None],
    ) -> None:
        self.supervisor, self.observers, self.on_end = supervisor, observers, on_end

    def event(self, service: Service, run: Run, **fields: Any) -> ServiceEvent:
        """Return an event about *run* of *service*, stamped now."""
        return ServiceEvent(
            self.supervisor, service.name, run.number, current_time(), **fields
        )

    def launch(self, tg: TaskGroup, service: Service, *, initial: bool) -> Run:
        """Start a new run of *service* in *tg* and return it."""
        service.runs += 1
        run = Run(service.runs, initial=initial)
        service.run = run
        service.state = ServiceState.STARTING
        tg.start_soon(self._run, service, run, name=f"plait.service.{service.name}")
        return run

    def mark_ready(self, service: Service, run: Run, value: object) -> None:
        """Record that *run* is ready (once), and wake whoever waits for it."""
        if run.ready or run.done.is_set():
            return
        run.ready, run.value, run.initial = True, value, False
        run.started_at = current_time()
        if service.state is ServiceState.STARTING:
            service.state = ServiceState.RUNNING
        notify(self.observers, "on_ready", self.event(service, run))
        run.settled.set()

    async def _run(self, service: Service, run: Run) -> None:
        notify(self.observers, "on_start", self.event(service, run))
        kwargs: dict[str, Any] = {}
        if service.pass_task_status:
            kwargs["task_status"] = (
                _ReadyStatus(self, service, run)
                if service.wait_for_started
                else _IgnoredStatus()
            )
        if service.pass_stopping:
            kwargs["stopping"] = run.stopping
        try:
            with run.scope:
                await fuzz_point("task_start")
                made = service.fn(*service.args, **kwargs)
                if not is_awaitable(made):
                    raise_not_awaitable("Supervisor.start", "fn", service.fn, made)
                if not service.wait_for_started:
                    self.mark_ready(service, run, None)
                await made
            # A run cancelled at the end of its grace was forced, even if it
            # caught the cancellation and returned.
            forced = run.scope.cancel_called
            run.outcome = Outcome.CANCELLED if forced else Outcome.EXITED
        except Exception as exc:
            run.outcome, run.error = Outcome.FAILED, exc
        except BaseExceptionGroup as group:
            rest = non_cancel_subgroup(group)
            if not isinstance(rest, ExceptionGroup):
                self._end(service, run, Outcome.CANCELLED)
                raise
            run.outcome, run.error = Outcome.FAILED, rest
        except BaseException:
            self._end(service, run, Outcome.CANCELLED)
            raise
        self._end(service, run, run.outcome)

    def _end(self, service: Service, run: Run, outcome: Outcome) -> None:
        run.outcome, run.ended_at = outcome, current_time()
        if outcome is Outcome.FAILED:
            service.errors += 1
            service.last_error, service.last_error_at = run.error, current_time()
            service.state = ServiceState.FAILED
            event = self.event(service, run, error=run.error)
            notify(self.observers, "on_failure", event)
        else:
            service.state = ServiceState.STOPPED
        event = self.event(service, run, outcome=outcome.value)
        notify(self.observers, "on_exit", event)
        run.done.set()
        run.settled.set()
        self.on_end(service, run)


class _ReadyStatus:
    """The ``task_status`` a service receives: ``started()`` marks it ready."""

    def __init__(self, runner: ServiceRunner, service: Service, run: Run) -> None:
        self._runner, self._service, self._run = runner, service, run

    def started(self, value: object = None) -> None:
        if self._run.ready:
            raise RuntimeError("called 'started' twice on the same task status")
        self._runner.mark_ready(self._service, self._run, value)


class _IgnoredStatus:
    """The ``task_status`` of a service started with ``ready='begin'``."""

    def started(self, value: object = None) -> None:
        pass
