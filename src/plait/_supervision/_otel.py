"""An optional OpenTelemetry adapter: a span per service run, per item attempt.

``opentelemetry-api`` is imported when an ``OpenTelemetryObserver`` is
created, never by ``import plait``; install it with ``pip install
'plait[otel]'``.
"""

from __future__ import annotations

from typing import Any, cast

from .._core._observers import ItemEvent
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

    As the ``observer`` of a stream (``bounded_map``, ``imap``,
    ``as_completed``), the stream is a span named after the pattern, from
    ``on_open`` to ``on_close`` (``plait.items.total``,
    ``plait.items.outcome``), and each attempt of an item's call a span
    inside it, ``<pattern> item`` (``plait.item.index``,
    ``plait.item.attempt``, ``plait.item.outcome``); an attempt that failed
    records its exception and an ERROR status, and one that is retried
    carries ``plait.retry.delay``.

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
        self._streams: dict[int, Any] = {}
        self._attempts: dict[tuple[int, int | None], Any] = {}

    def on_open(self, event: ItemEvent) -> None:
        """Open the stream's span."""
        attributes: dict[str, Any] = {"plait.pattern": event.source}
        if event.total is not None:
            attributes["plait.items.total"] = event.total
        self._streams[event.stream] = self._tracer.start_span(
            event.source, attributes=attributes
        )

    def on_close(self, event: ItemEvent) -> None:
        """End the stream's span."""
        span = self._streams.pop(event.stream, None)
        if span is not None:
            span.set_attribute("plait.items.outcome", event.outcome or "")
            span.end()

    def on_retry(self, event: ItemEvent) -> None:
        """End the failed attempt's span, with its error and the delay."""
        span = self._attempts.pop((event.stream, event.index), None)
        if span is not None:
            self._fail(span, event.error)
            span.set_attribute("plait.retry.delay", event.delay or 0.0)
            span.set_attribute("plait.item.outcome", "retried")
            span.end()

    def _start_attempt(self, event: ItemEvent) -> None:
        stream = self._streams.get(event.stream)
        context = None if stream is None else self._trace.set_span_in_context(stream)
        attributes: dict[str, Any] = {
            "plait.pattern": event.source,
            "plait.item.attempt": event.attempt,
        }
        if event.index is not None:
            attributes["plait.item.index"] = event.index
        self._attempts[(event.stream, event.index)] = self._tracer.start_span(
            f"{event.source} item", context=context, attributes=attributes
        )

    def _fail(self, span: Any, error: BaseException | None) -> None:
        if error is not None:
            span.record_exception(error)
            span.set_status(
                self._trace.Status(self._trace.StatusCode.ERROR, repr(error))
            )

    def on_start(self, event: ServiceEvent | ItemEvent) -> None:
        """Open the run's span, or the item attempt's."""
        if isinstance(event, ItemEvent):
            self._start_attempt(event)
            return
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

    def on_failure(self, event: ServiceEvent | ItemEvent) -> None:
        """Record the exception and mark the span as failed."""
        if isinstance(event, ItemEvent):
            attempt = self._attempts.get((event.stream, event.index))
            if attempt is not None:
                self._fail(attempt, event.error)
            return
        span = self._spans.get((event.supervisor, event.service, event.run))
        if span is not None:
            self._fail(span, event.error)

    def on_exit(self, event: ServiceEvent | ItemEvent) -> None:
        """End the run's span, or the item attempt's."""
        if isinstance(event, ItemEvent):
            attempt = self._attempts.pop((event.stream, event.index), None)
            if attempt is not None:
                attempt.set_attribute("plait.item.outcome", event.outcome or "")
                attempt.end()
            return
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
        error, message = event.error, str(event.error)
        if isinstance(error, BaseExceptionGroup):
            group = cast("BaseExceptionGroup[BaseException]", error)
            for cause in group.exceptions:
                span.record_exception(cause)
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, message))
        span.end()
