"""Progress events of bounded_map, imap and as_completed, counted against the work.

Every item pulled ends in exactly one of succeeded, failed and cancelled;
each attempt is started once and fn is called once for it; one retry comes
between two attempts. Checked by a property over jobs that return, fail,
fail at first and are retried, hang, fail in their cleanup or swallow the
cancellation, under an outer cancellation at a drawn instant, on every
event loop. Then the ready-made observers: tqdm, rich, logging and
OpenTelemetry render what they are told.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import io
import logging
import math
from typing import Any

import anyio
import pytest
from anyio.lowlevel import checkpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plait
import plait.testing
from plait.testing import JobPlan, JobSpec, job_plans

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PATTERNS = ("bounded_map", "imap", "imap unordered", "as_completed")
TICK = 1 / 32


class Flaky(Exception):
    """A first attempt's failure, which the retry policy retries."""


class EventLog(plait.Observer):
    """Every event, in order: (hook, index, attempt, outcome)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int | None, int, str | None]] = []
        self.details: list[plait.ItemEvent] = []

    def _add(self, hook: str, event: plait.ItemEvent) -> None:
        self.events.append((hook, event.index, event.attempt, event.outcome))
        self.details.append(event)

    def on_open(self, event: plait.ItemEvent) -> None:
        self._add("open", event)

    def on_pull(self, event: plait.ItemEvent) -> None:
        self._add("pull", event)

    def on_start(self, event: plait.ItemEvent) -> None:
        self._add("start", event)

    def on_retry(self, event: plait.ItemEvent) -> None:
        self._add("retry", event)

    def on_failure(self, event: plait.ItemEvent) -> None:
        self._add("failure", event)

    def on_exit(self, event: plait.ItemEvent) -> None:
        self._add("exit", event)

    def on_close(self, event: plait.ItemEvent) -> None:
        self._add("close", event)

    def by_item(self) -> dict[int, list[tuple[str, int, str | None]]]:
        items: dict[int, list[tuple[str, int, str | None]]] = collections.defaultdict(
            list
        )
        for hook, index, attempt, outcome in self.events:
            if index is not None:
                items[index].append((hook, attempt, outcome))
        return dict(items)

    def outcomes(self) -> dict[int, str | None]:
        return {
            index: events[-1][2] for index, events in self.by_item().items() if events
        }


def check_accounting(log: EventLog, calls: collections.Counter[int]) -> None:
    """The invariants every stream's events keep, whatever happened."""
    hooks = [event[0] for event in log.events]
    assert hooks[0] == "open"
    assert hooks[-1] == "close"
    assert hooks.count("open") == hooks.count("close") == 1
    for index, events in log.by_item().items():
        kinds = [kind for kind, _, _ in events]
        assert kinds[0] == "pull", events
        assert kinds.count("pull") == 1, events
        assert kinds.count("exit") == 1, events
        assert kinds[-1] == "exit", events
        outcome = events[-1][2]
        assert outcome in ("succeeded", "failed", "cancelled")
        assert ("failure" in kinds) == (outcome == "failed"), events
        if outcome == "failed":
            assert kinds[-2] == "failure"
        starts = [attempt for kind, attempt, _ in events if kind == "start"]
        retries = [attempt for kind, attempt, _ in events if kind == "retry"]
        # One start per attempt, numbered from 1; fn called once for each.
        assert starts == list(range(1, len(starts) + 1)), events
        assert calls[index] == len(starts), (index, events, calls)
        assert events[-1][1] == len(starts)  # on_exit's attempt: attempts begun
        # One retry between two attempts; one after the last only if the
        # item was cancelled while it backed off.
        assert retries[: len(starts) - 1] == starts[:-1], events
        extra = retries[len(starts) - 1 :] if starts else retries
        assert extra in ([], [len(starts)]), events
        if extra:
            assert outcome == "cancelled"
        assert outcome != "succeeded" or starts, events
    assert set(calls) <= set(log.by_item())  # fn ran only for items pulled


async def run_pattern(
    pattern: str,
    plan: JobPlan,
    flaky: dict[int, int],
    *,
    limit: int,
    attempts: int,
    return_exceptions: bool,
) -> tuple[EventLog, collections.Counter[int], Any, bool]:
    """Run *plan* through *pattern*, observed; return the log, calls and outcome."""
    log = EventLog()
    calls: collections.Counter[int] = collections.Counter()

    async def fn(job: JobSpec) -> int:
        calls[job.index] += 1
        if calls[job.index] <= flaky.get(job.index, 0):
            await checkpoint()
            raise Flaky(job.index)
        return await job.run()

    policy = plait.RetryPolicy(
        attempts=attempts, base_delay=TICK, jitter=0, retry_on=Flaky
    )
    result: Any = None
    deadline = math.inf if plan.cancel_after is None else plan.cancel_after
    with anyio.move_on_after(deadline) as scope:
        try:
            if pattern == "bounded_map":
                result = await plait.bounded_map(
                    fn,
                    plan.jobs,
                    limit=limit,
                    retry=policy,
                    return_exceptions=return_exceptions,
                    observer=log,
                )
            elif pattern.startswith("imap"):
                async with plait.imap(
                    fn,
                    plan.jobs,
                    limit=limit,
                    retry=policy,
                    ordered=pattern == "imap",
                    return_exceptions=return_exceptions,
                    observer=log,
                ) as results:
                    result = [value async for value in results]
            else:
                calls_of = [lambda job=job: fn(job) for job in plan.jobs]
                async with plait.as_completed(
                    *calls_of, limit=limit, observer=log
                ) as done:
                    result = [handle async for handle in done]
        except (Exception, BaseExceptionGroup) as exc:
            result = exc
    return log, calls, result, scope.cancelled_caught


@PROPERTY
@given(
    plan=job_plans(
        min_jobs=1,
        max_jobs=6,
        max_delay=0.25,
        hangs=True,
        cleanup_failures=True,
        catches_cancellation=True,
    ),
    flaky=st.dictionaries(st.integers(0, 5), st.integers(1, 2), max_size=3),
    pattern=st.sampled_from(PATTERNS),
    limit=st.integers(1, 4),
    attempts=st.integers(1, 3),
    return_exceptions=st.booleans(),
)
def test_every_item_pulled_ends_exactly_once(
    backend: Any,
    plan: JobPlan,
    flaky: dict[int, int],
    pattern: str,
    limit: int,
    attempts: int,
    return_exceptions: bool,
) -> None:
    if any(job.hangs for job in plan.jobs) and plan.cancel_after is None:
        plan = JobPlan(plan.jobs, 0.5)  # a hang needs someone to end it
    if backend == "uvloop":  # real time: the same plan, four times as fast
        plan = JobPlan(
            tuple(dataclasses.replace(job, delay=job.delay / 4) for job in plan.jobs),
            None if plan.cancel_after is None else plan.cancel_after / 4,
        )
    main = functools.partial(
        run_pattern,
        pattern,
        plan,
        flaky,
        limit=limit,
        attempts=attempts,
        return_exceptions=return_exceptions,
    )
    log, calls, result, cancelled = plait.testing.run(
        main, backend=backend, virtual_time=backend != "uvloop"
    )
    check_accounting(log, calls)
    closed = log.events[-1][3]
    outcomes = log.outcomes()
    if isinstance(result, BaseException):
        assert closed == "failed"
        assert "failed" in outcomes.values()
    elif cancelled:
        assert closed == "cancelled"
    else:
        assert closed == "succeeded"
        assert sorted(outcomes) == list(range(len(plan.jobs)))  # all pulled
        if pattern == "bounded_map":
            for index, value in enumerate(result):
                failed = isinstance(value, Exception)
                assert outcomes[index] == ("failed" if failed else "succeeded")


async def test_totals_and_events_of_a_plain_map() -> None:
    log = EventLog()

    async def double(x: int) -> int:
        return 2 * x

    assert await plait.bounded_map(double, range(3), limit=2, observer=log) == [
        0,
        2,
        4,
    ]
    assert [event.total for event in log.details] == [3] * len(log.details)
    assert sorted(log.events) == sorted(
        [("open", None, 0, None), ("close", None, 0, "succeeded")]
        + [("pull", i, 0, None) for i in range(3)]
        + [("start", i, 1, None) for i in range(3)]
        + [("exit", i, 1, "succeeded") for i in range(3)]
    )
    assert len({event.stream for event in log.details}) == 1


async def test_a_generator_has_no_total_and_a_retry_carries_error_and_delay() -> None:
    log = EventLog()
    calls = collections.Counter[int]()

    async def once_flaky(x: int) -> int:
        calls[x] += 1
        if calls[x] == 1 and x == 1:
            raise ConnectionError("reset")
        return x

    policy = plait.RetryPolicy(attempts=2, base_delay=0.01, jitter=0)
    items = (n for n in range(3))
    async with plait.imap(
        once_flaky, items, limit=2, retry=policy, observer=log
    ) as results:
        assert [r async for r in results] == [0, 1, 2]
    assert {event.total for event in log.details} == {None}
    (retry,) = [e for e in log.details if e.index == 1 and e.error is not None]
    assert repr(retry.error) == "ConnectionError('reset')"
    assert retry.delay == 0.01
    assert retry.elapsed is not None
    assert retry.item == 1


async def test_several_observers_and_one_that_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = EventLog(), EventLog()

    class Broken(plait.Observer):
        def on_exit(self, event: plait.ItemEvent) -> None:
            raise RuntimeError("observer bug")

    async def same(x: int) -> int:
        return x

    result = await plait.bounded_map(
        same, [1, 2], limit=1, observer=[first, Broken(), second]
    )
    assert result == [1, 2]
    assert first.events == second.events
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2
    assert "failed in on_exit" in errors[0].getMessage()


async def test_observer_must_be_an_observer() -> None:
    async def same(x: int) -> int:
        return x

    with pytest.raises(
        TypeError, match=r"bounded_map\(\) observer must be a plait.Observer"
    ):
        await plait.bounded_map(same, [1], limit=1, observer=print)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"imap\(\) observer must be a plait.Observer"):
        plait.imap(same, [1], limit=1, observer=[object()])  # type: ignore[list-item]


async def test_tqdm_draws_the_bar_with_failures_and_retries() -> None:
    out = io.StringIO()
    bar = plait.TqdmObserver(desc="crawl", file=out, ascii=True, mininterval=0)
    calls = collections.Counter[int]()

    async def fetch(x: int) -> int:
        calls[x] += 1
        if x == 2 and calls[x] == 1:
            raise ConnectionError("reset")
        if x == 4:
            raise ValueError("bad item")
        return x

    policy = plait.RetryPolicy(
        attempts=2, base_delay=0, jitter=0, retry_on=ConnectionError
    )
    results = await plait.bounded_map(
        fetch, range(5), limit=2, retry=policy, return_exceptions=True, observer=bar
    )
    assert isinstance(results[4], ValueError)
    text = out.getvalue()
    assert "crawl: 100%|##########| 5/5" in text
    assert "failed=1, retried=1" in text
    assert bar.bar is None  # closed with the stream


async def test_rich_draws_the_task_and_can_share_a_display() -> None:
    from rich.console import Console
    from rich.progress import Progress

    async def same(x: int) -> int:
        return x

    out = io.StringIO()
    await plait.bounded_map(
        same,
        range(4),
        limit=2,
        observer=plait.RichObserver(console=Console(file=out, width=100)),
    )
    assert "bounded_map" in out.getvalue()
    assert "4/4" in out.getvalue()

    shared = io.StringIO()
    with Progress(console=Console(file=shared, width=100)) as progress:
        observer = plait.RichObserver(progress, description="pages")
        await plait.bounded_map(same, range(3), limit=2, observer=observer)
        async with plait.imap(same, range(2), limit=2, observer=observer) as results:
            assert [r async for r in results] == [0, 1]
        assert [task.description for task in progress.tasks] == ["pages", "pages"]
        assert [task.completed for task in progress.tasks] == [3, 2]
    assert "pages" in shared.getvalue()


async def test_logging_observer_logs_items_and_a_summary(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="plait")
    calls = collections.Counter[int]()

    async def fetch(x: int) -> int:
        calls[x] += 1
        if calls[x] == 1 and x == 0:
            raise ConnectionError("reset")
        if x == 1:
            raise KeyError("gone")
        return x

    policy = plait.RetryPolicy(attempts=2, base_delay=0, jitter=0, retry_on=OSError)
    await plait.bounded_map(
        fetch,
        [0, 1, 2],
        limit=1,
        retry=policy,
        return_exceptions=True,
        observer=plait.LoggingObserver(),
    )
    records = [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if not r.getMessage().startswith("plait: ")  # pause_before_retry's own
    ]
    assert ("DEBUG", "bounded_map: started of 3 items") in records
    assert (
        "INFO",
        "bounded_map item 0 (0): attempt 1 failed (ConnectionError('reset')); "
        "retrying in 0s",
    ) in records
    assert (
        "WARNING",
        "bounded_map item 1 (1): failed after 1 attempt: KeyError('gone')",
    ) in records
    summary = [message for level, message in records if level == "INFO"][-1]
    assert summary.startswith("bounded_map: succeeded after ")
    assert summary.endswith("s (1 failed, 2 succeeded)")


async def test_opentelemetry_spans_per_attempt_inside_the_stream() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    observer = plait.OpenTelemetryObserver(provider)
    calls = collections.Counter[int]()

    async def fetch(x: int) -> int:
        calls[x] += 1
        if calls[x] == 1 and x == 1:
            raise ConnectionError("reset")
        return x

    policy = plait.RetryPolicy(attempts=2, base_delay=0, jitter=0)
    await plait.bounded_map(fetch, range(2), limit=2, retry=policy, observer=observer)
    spans = exporter.get_finished_spans()
    stream = next(span for span in spans if span.name == "bounded_map")
    attempts = [span for span in spans if span.name == "bounded_map item"]
    assert stream.attributes is not None
    assert stream.attributes["plait.items.total"] == 2
    assert stream.attributes["plait.items.outcome"] == "succeeded"
    assert len(attempts) == 3
    for span in attempts:
        assert span.parent is not None
        assert span.parent.span_id == stream.context.span_id
    outcomes = sorted(
        (span.attributes["plait.item.index"], span.attributes["plait.item.outcome"])
        for span in attempts
        if span.attributes is not None
    )
    assert outcomes == [(0, "succeeded"), (1, "retried"), (1, "succeeded")]
