"""Retries made visible: the on_retry hook, the log lines, the note on give-up."""

from __future__ import annotations

import logging

import anyio
import pytest

import plait
from plait.testing import Clock


class Flaky:
    def __init__(self, failures: int, exc: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        await anyio.sleep(0.05)  # each attempt takes 50 ms
        if self.calls <= self.failures:
            raise self.exc(self.calls)
        return "ok"


async def test_on_retry_sees_each_retry_with_error_delay_and_elapsed(
    clock: Clock,
) -> None:
    events: list[plait.ItemEvent] = []
    flaky = Flaky(2)
    result = await plait.retry(
        flaky, attempts=3, base_delay=0.1, jitter=0, on_retry=events.append
    )
    assert result == "ok"
    assert [(e.source, e.index, e.attempt, e.delay) for e in events] == [
        ("retry", None, 1, 0.1),
        ("retry", None, 2, 0.2),
    ]
    assert [repr(e.error) for e in events] == [
        "ConnectionError(1)",
        "ConnectionError(2)",
    ]
    assert events[0].item is flaky
    # Attempt 1 took 0.05 s; attempt 2 began 0.1 s later and took 0.05 s.
    assert [e.elapsed for e in events] == [clock.approx(0.05), clock.approx(0.2)]


async def test_giving_up_notes_attempts_and_time_and_logs_it(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    async def fetch() -> None:
        await anyio.sleep(0.05)
        raise ConnectionError("down")

    caplog.set_level(logging.DEBUG, logger="plait")
    with pytest.raises(ConnectionError) as info:
        await plait.retry(fetch, attempts=3, base_delay=0.1, jitter=0)
    # 3 attempts of 0.05 s, and delays of 0.1 s and 0.2 s between them.
    (note,) = info.value.__notes__
    head, took = note.rsplit(" over ", 1)
    assert head == "plait.retry gave up after 3 attempts"
    assert float(took.removesuffix("s")) == clock.approx(0.45)
    records = [(r.levelname, r.getMessage()) for r in caplog.records]
    name = "test_giving_up_notes_attempts_and_time_and_logs_it.<locals>.fetch"
    assert records == [
        (
            "DEBUG",
            f"plait: retry of {name}: attempt 1 of 3 failed "
            "(ConnectionError('down')); retrying in 0.1s",
        ),
        (
            "DEBUG",
            f"plait: retry of {name}: attempt 2 of 3 failed "
            "(ConnectionError('down')); retrying in 0.2s",
        ),
        (
            "INFO",
            f"plait: retry of {name}: gave up after 3 attempts over {took}: "
            "ConnectionError('down')",
        ),
    ]


async def test_an_error_retry_on_does_not_match_says_why_after_retries() -> None:
    calls = 0

    async def turns_fatal() -> None:
        nonlocal calls
        calls += 1
        raise (ConnectionError if calls == 1 else KeyError)(calls)

    with pytest.raises(KeyError) as info:
        await plait.retry(
            turns_fatal, attempts=5, base_delay=0, retry_on=ConnectionError
        )
    assert info.value.__notes__[0].startswith("plait.retry gave up after 2 attempts")
    assert info.value.__notes__[0].endswith(": retry_on does not retry it")


async def test_no_note_and_no_log_when_nothing_was_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="plait")
    with pytest.raises(ConnectionError) as info:
        await plait.retry(Flaky(1), attempts=1)
    assert not hasattr(info.value, "__notes__")
    with pytest.raises(KeyError) as info2:
        await plait.retry(Flaky(1, KeyError), attempts=3, retry_on=ConnectionError)
    assert not hasattr(info2.value, "__notes__")
    assert caplog.records == []


async def test_a_hook_that_raises_is_logged_and_the_retry_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: plait.ItemEvent) -> None:
        raise RuntimeError("hook bug")

    assert await plait.retry(Flaky(1), attempts=2, base_delay=0, on_retry=broken) == (
        "ok"
    )
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "on_retry" in record.getMessage()


def test_on_retry_must_be_callable() -> None:
    with pytest.raises(TypeError, match=r"RetryPolicy\(\) on_retry must be a callable"):
        plait.RetryPolicy(on_retry=3)  # type: ignore[arg-type]


async def test_an_observers_on_retry_is_a_retry_hook() -> None:
    class Retries(plait.Observer):
        def __init__(self) -> None:
            self.attempts: list[int] = []

        def on_retry(self, event: plait.ItemEvent) -> None:
            self.attempts.append(event.attempt)

    retries = Retries()
    policy = plait.RetryPolicy(attempts=4, base_delay=0, on_retry=retries.on_retry)
    await plait.retry(Flaky(3), policy=policy)
    assert retries.attempts == [1, 2, 3]
