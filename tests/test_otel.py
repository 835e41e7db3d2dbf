"""OpenTelemetryObserver: a span per service run, via the SDK's in-memory exporter."""

from __future__ import annotations

import subprocess
import sys

import anyio
import pytest

import plait

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode


def provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider, exporter


async def test_one_span_per_run_with_failure_recorded() -> None:
    tracer_provider, exporter = provider()
    observer = plait.OpenTelemetryObserver(tracer_provider)
    calls: list[int] = []
    second_run = anyio.Event()

    async def flaky(stopping: anyio.Event) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first run fails")
        second_run.set()
        await stopping.wait()

    async with plait.Supervisor(
        name="app", observers=[observer], backoff=0.25, jitter=0
    ) as sup:
        await sup.start(flaky, name="flaky")
        await second_run.wait()
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["service flaky", "service flaky"]
    first, second = spans
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["plait.supervisor"] == "app"
    assert first.attributes["plait.service"] == "flaky"
    assert first.attributes["plait.service.run"] == 1
    assert first.attributes["plait.service.outcome"] == "failed"
    assert first.status.status_code is StatusCode.ERROR
    assert [event.name for event in first.events] == ["ready", "exception"]
    assert second.attributes["plait.service.run"] == 2
    assert second.attributes["plait.service.restart_delay"] == 0.25
    assert second.attributes["plait.service.outcome"] == "exited"
    assert second.status.status_code is not StatusCode.ERROR


async def test_give_up_is_a_failed_span_with_every_cause() -> None:
    tracer_provider, exporter = provider()
    observer = plait.OpenTelemetryObserver(tracer_provider)

    async def broken() -> None:
        await anyio.lowlevel.checkpoint()
        raise OSError("down")

    with pytest.raises(ExceptionGroup):
        async with plait.Supervisor(
            name="app", observers=[observer], backoff=0, max_restarts=1
        ) as sup:
            await sup.start(broken)
            await anyio.sleep_forever()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    give_up = spans["supervisor app gave up"]
    assert give_up.status.status_code is StatusCode.ERROR
    assert [event.name for event in give_up.events] == ["exception", "exception"]
    assert (
        len([s for s in exporter.get_finished_spans() if s.name == "service broken"])
        == 2
    )


def test_import_plait_does_not_import_opentelemetry() -> None:
    code = "import sys, plait; print('opentelemetry' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_missing_opentelemetry_is_a_clear_import_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install 'plait\[otel\]'"):
        plait.OpenTelemetryObserver()
