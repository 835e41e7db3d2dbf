"""An optional OpenTelemetry adapter: one span per run of each service.

``opentelemetry-api`` is imported when an ``OpenTelemetryObserver`` is
created, never by ``import plait``; install it with ``pip install
'plait[otel]'``.
"""

from __future__ import annotations

from typing import Any, cast

from ._observers import ServiceEvent, SupervisorObserver


class OpenTelemetryObserver(SupervisorObserver):
    """Trace supervised services with OpenTelemetry: a span per service run.

    Each run of a service is a span named ``service <name>``, from its start
    to its end, with the attributes ``plait.supervisor``, ``plait.service``,
    ``plait.service.run`` and, when it ends, ``plait.service.outcome``. It
    gets a ``ready`` event when the service reports ready; a failure records
    the exception and sets the span's status to ERROR. A restart's backoff
    is the ``plait.service.restart_delay`` attribute of the next run's span.
    A give-up is a span of its own, ``supervisor <name> gave up``, with the
    causes recorded as exceptions.

    Args:
        tracer_provider: the provider to take the tracer from; default the
            global one.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed.

    Example:
        >>> import plait
        >>> observer = plait.OpenTelemetryObserver()
        >>> sup = plait.Supervisor(observers=[plait.LoggingObserver(), observer])
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError:
            raise ImportError(
                "OpenTelemetryObserver needs the opentelemetry-api package: "
                "pip install 'plait[otel]'"
            ) from None
        self._trace = trace
        self._tracer = trace.get_tracer("plait", tracer_provider=tracer_provider)
        self._spans: dict[tuple[str, str, int], Any] = {}
        self._delays: dict[tuple[str, str, int], float] = {}

    def on_start(self, event: ServiceEvent) -> None:
        """Open the run's span."""
        key = (event.supervisor, event.service, event.run)
        attributes: dict[str, Any] = {
            "plait.supervisor": event.supervisor,
            "plait.service": event.service,
            "plait.service.run": event.run,
        }
        delay = self._delays.pop(key, None)
        if delay is not None:
            attributes["plait.service.restart_delay"] = delay
        self._spans[key] = self._tracer.start_span(
            f"service {event.service}", attributes=attributes
        )

    def on_ready(self, event: ServiceEvent) -> None:
        """Add a ``ready`` event to the run's span."""
        span = self._spans.get((event.supervisor, event.service, event.run))
        if span is not None:
            span.add_event("ready")

    def on_failure(self, event: ServiceEvent) -> None:
        """Record the exception and mark the span as failed."""
        span = self._spans.get((event.supervisor, event.service, event.run))
        if span is not None and event.error is not None:
            span.record_exception(event.error)
            span.set_status(
                self._trace.Status(self._trace.StatusCode.ERROR, repr(event.error))
            )

    def on_exit(self, event: ServiceEvent) -> None:
        """End the run's span."""
        span = self._spans.pop((event.supervisor, event.service, event.run), None)
        if span is not None:
            span.set_attribute("plait.service.outcome", event.outcome or "")
            span.end()

    def on_restart(self, event: ServiceEvent) -> None:
        """Remember the backoff, for the next run's span."""
        key = (event.supervisor, event.service, event.run)
        self._delays[key] = event.delay or 0.0

    def on_give_up(self, event: ServiceEvent) -> None:
        """Record the give-up as a failed span of its own."""
        span = self._tracer.start_span(
            f"supervisor {event.supervisor} gave up",
            attributes={
                "plait.supervisor": event.supervisor,
                "plait.service": event.service,
            },
        )
        error = event.error
        if isinstance(error, BaseExceptionGroup):
            group = cast("BaseExceptionGroup[BaseException]", error)
            for cause in group.exceptions:
                span.record_exception(cause)
        status = self._trace.Status(self._trace.StatusCode.ERROR, str(event.error))
        span.set_status(status)
        span.end()
