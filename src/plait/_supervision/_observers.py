"""Instrumentation hooks for supervisors, and the default logging observer."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

logger = logging.getLogger("plait")


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceEvent:
    """Something that happened to a supervised service.

    Attributes:
        supervisor: the supervisor's name.
        service: the service's name (for ``on_give_up``, the service whose
            end exceeded the restart intensity).
        run: which run of the service it concerns (1 for the first start).
        time: when, on the event loop's clock.
        error: the exception, for ``on_failure`` and ``on_give_up``.
        delay: the backoff before the restart, for ``on_restart``.
        outcome: how the run ended, for ``on_exit``: ``'exited'`` (returned),
            ``'cancelled'`` (cancelled by its supervisor) or ``'failed'``.

    Example:
        >>> import plait
        >>> class PrintRestarts(plait.SupervisorObserver):
        ...     def on_restart(self, event: plait.ServiceEvent) -> None:
        ...         print(f"{event.service} restarts in {event.delay}s")
        >>> event = plait.ServiceEvent("sup", "db", run=2, time=0.0, delay=0.5)
        >>> PrintRestarts().on_restart(event)
        db restarts in 0.5s
    """

    supervisor: str
    service: str
    run: int
    time: float
    error: BaseException | None = None
    delay: float | None = None
    outcome: str | None = None


class SupervisorObserver:
    """Receives a supervisor's events; override the methods you need.

    Every method is called synchronously, in the supervisor's task, in the
    order the events happen. An observer that raises is logged and otherwise
    ignored: instrumentation never takes a service down.

    Example:
        >>> import plait
        >>> class CountFailures(plait.SupervisorObserver):
        ...     def __init__(self) -> None:
        ...         self.failures = 0
        ...     def on_failure(self, event: plait.ServiceEvent) -> None:
        ...         self.failures += 1
        >>> CountFailures().failures
        0
    """

    def on_start(self, event: ServiceEvent) -> None:
        """Call when a run of a service begins."""

    def on_ready(self, event: ServiceEvent) -> None:
        """Call when a run reports ready."""

    def on_exit(self, event: ServiceEvent) -> None:
        """Call when a run ends, whatever the outcome (after ``on_failure``)."""

    def on_failure(self, event: ServiceEvent) -> None:
        """Call when a run ends by raising an ``Exception``."""

    def on_restart(self, event: ServiceEvent) -> None:
        """Call when a restart is decided, before its backoff delay."""

    def on_give_up(self, event: ServiceEvent) -> None:
        """Call when the restart intensity is exceeded and the supervisor stops."""


class LoggingObserver(SupervisorObserver):
    """Log a supervisor's events with stdlib ``logging`` (logger ``plait``).

    Starts, readiness and clean exits log at DEBUG, restarts at INFO,
    failures at WARNING (with the traceback), a give-up at ERROR.

    Args:
        logger: the logger to use; default ``logging.getLogger("plait")``.

    Example:
        >>> import logging, plait
        >>> plait.LoggingObserver(logging.getLogger("myapp")).logger.name
        'myapp'
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger: logging.Logger = (
            logger if logger is not None else logging.getLogger("plait")
        )

    def on_start(self, event: ServiceEvent) -> None:
        """Log the start of a run at DEBUG."""
        self.logger.debug(
            "%s: starting service %r (run %d)",
            event.supervisor,
            event.service,
            event.run,
        )

    def on_ready(self, event: ServiceEvent) -> None:
        """Log readiness at DEBUG."""
        self.logger.debug("%s: service %r is ready", event.supervisor, event.service)

    def on_exit(self, event: ServiceEvent) -> None:
        """Log a run's end at DEBUG."""
        self.logger.debug(
            "%s: service %r ended (%s)", event.supervisor, event.service, event.outcome
        )

    def on_failure(self, event: ServiceEvent) -> None:
        """Log a failure at WARNING, with its traceback."""
        error = event.error
        self.logger.warning(
            "%s: service %r failed: %r",
            event.supervisor,
            event.service,
            error,
            exc_info=(type(error), error, error.__traceback__) if error else None,
        )

    def on_restart(self, event: ServiceEvent) -> None:
        """Log a restart decision at INFO."""
        self.logger.info(
            "%s: restarting service %r in %.3gs (run %d)",
            event.supervisor,
            event.service,
            event.delay or 0.0,
            event.run,
        )

    def on_give_up(self, event: ServiceEvent) -> None:
        """Log the give-up at ERROR."""
        self.logger.error(
            "%s: restart intensity exceeded by service %r; stopping all services",
            event.supervisor,
            event.service,
        )


def notify(
    observers: Iterable[SupervisorObserver], hook: str, event: ServiceEvent
) -> None:
    """Call *hook* on every observer; log and swallow what an observer raises."""
    for observer in observers:
        try:
            getattr(observer, hook)(event)
        except Exception:
            logger.exception("plait: observer %r failed in %s", observer, hook)
