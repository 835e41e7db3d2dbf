"""Supervisors' events, and the logging observer for supervisors and streams."""

from __future__ import annotations

import dataclasses
import logging

from .._core._awaitables import short_repr
from .._core._observers import ItemEvent, Observer
from .._core._observers import notify as notify


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


class SupervisorObserver(Observer):
    """Receives a supervisor's events; override the methods you need.

    A ``plait.Observer`` under the name supervisors have always used: the
    hooks a supervisor calls are ``on_start``, ``on_ready``, ``on_failure``,
    ``on_exit``, ``on_restart`` and ``on_give_up``, each with a
    ``ServiceEvent``. Any ``Observer`` will do, and the same one can watch a
    ``bounded_map`` too.

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


class LoggingObserver(SupervisorObserver):
    """Log what supervisors and streams of items report, with stdlib ``logging``.

    Services: starts, readiness and clean exits log at DEBUG, restarts at
    INFO, failures at WARNING (with the traceback), a give-up at ERROR.
    Items (as ``observer=`` of ``bounded_map``, ``imap``, ``as_completed``):
    each attempt's start and each item's end at DEBUG, retries at INFO, an
    item that failed at WARNING (with the traceback), and when the stream
    ends a summary at INFO: how many items succeeded, failed and were
    cancelled, over how long.

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
        self._streams: dict[int, tuple[float, dict[str, int]]] = {}

    def on_open(self, event: ItemEvent) -> None:
        """Start counting a stream's outcomes; log its start at DEBUG."""
        self._streams[event.stream] = (event.time, {})
        total = "" if event.total is None else f" of {event.total} items"
        self.logger.debug("%s: started%s", event.source, total)

    def on_start(self, event: ServiceEvent | ItemEvent) -> None:
        """Log the start of a service's run, or of an item's attempt, at DEBUG."""
        if isinstance(event, ItemEvent):
            self.logger.debug("%s: attempt %d", _item(event), event.attempt)
            return
        self.logger.debug(
            "%s: starting service %r (run %d)",
            event.supervisor,
            event.service,
            event.run,
        )

    def on_ready(self, event: ServiceEvent) -> None:
        """Log readiness at DEBUG."""
        self.logger.debug("%s: service %r is ready", event.supervisor, event.service)

    def on_retry(self, event: ItemEvent) -> None:
        """Log an item's retry at INFO."""
        self.logger.info(
            "%s: attempt %d failed (%r); retrying in %.3gs",
            _item(event),
            event.attempt,
            event.error,
            event.delay or 0.0,
        )

    def on_exit(self, event: ServiceEvent | ItemEvent) -> None:
        """Log a run's end, or an item's, at DEBUG (and count the item's)."""
        if isinstance(event, ItemEvent):
            counts = self._streams.get(event.stream, (0.0, {}))[1]
            outcome = event.outcome or "?"
            counts[outcome] = counts.get(outcome, 0) + 1
            self.logger.debug("%s: %s", _item(event), outcome)
            return
        self.logger.debug(
            "%s: service %r ended (%s)", event.supervisor, event.service, event.outcome
        )

    def on_failure(self, event: ServiceEvent | ItemEvent) -> None:
        """Log a failure at WARNING, with its traceback."""
        error = event.error
        exc_info = (type(error), error, error.__traceback__) if error else None
        if isinstance(event, ItemEvent):
            self.logger.warning(
                "%s: failed after %d attempt%s: %r",
                _item(event),
                event.attempt,
                "s" if event.attempt != 1 else "",
                error,
                exc_info=exc_info,
            )
            return
        self.logger.warning(
            "%s: service %r failed: %r",
            event.supervisor,
            event.service,
            error,
            exc_info=exc_info,
        )

    def on_close(self, event: ItemEvent) -> None:
        """Log a summary of the stream at INFO."""
        began, counts = self._streams.pop(event.stream, (event.time, {}))
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        self.logger.info(
            "%s: %s after %.3gs (%s)",
            event.source,
            event.outcome,
            event.time - began,
            summary or "no items",
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


def _item(event: ItemEvent) -> str:
    if event.index is None:
        return f"{event.source} of {short_repr(event.item)}"
    return f"{event.source} item {event.index} ({short_repr(event.item)})"
