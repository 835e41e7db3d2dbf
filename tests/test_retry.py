"""retry and RetryPolicy: backoff, jitter, deadlines, cancellation."""

from __future__ import annotations

import math

import anyio
import pytest

import plait
from plait.testing import Clock, seed_randomness


class Flaky:
    def __init__(self, failures: int, exc: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls: list[float] = []

    async def __call__(self, value: str = "ok") -> str:
        self.calls.append(anyio.current_time())
        if len(self.calls) <= self.failures:
            raise self.exc(len(self.calls))
        return value


async def test_succeeds_after_failures() -> None:
    flaky = Flaky(2)
    assert await plait.retry(flaky, "done", attempts=3, base_delay=0) == "done"
    assert len(flaky.calls) == 3


async def test_backoff_delays_are_exact_without_jitter(clock: Clock) -> None:
    flaky = Flaky(3)
    await plait.retry(flaky, attempts=4, base_delay=0.1, jitter=0)
    gaps = [b - a for a, b in zip(flaky.calls, flaky.calls[1:], strict=False)]
    assert gaps == [clock.approx(0.1), clock.approx(0.2), clock.approx(0.4)]


async def test_gives_up_with_the_last_error() -> None:
    flaky = Flaky(5)
    with pytest.raises(ConnectionError) as info:
        await plait.retry(flaky, attempts=3, base_delay=0)
    assert info.value.args == (3,)


async def test_only_retry_on_errors_are_retried() -> None:
    flaky = Flaky(1, exc=KeyError)
    with pytest.raises(KeyError):
        await plait.retry(flaky, attempts=3, base_delay=0, retry_on=ConnectionError)
    assert len(flaky.calls) == 1
    predicate = Flaky(1, exc=KeyError)
    await plait.retry(predicate, attempts=2, base_delay=0, retry_on=lambda e: True)
    assert len(predicate.calls) == 2


async def test_never_retries_cancellation() -> None:
    calls = 0

    async def cancelled_inside() -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep_forever()

    with anyio.move_on_after(0.01) as scope:
        await plait.retry(cancelled_inside, attempts=5, base_delay=0)
    assert scope.cancelled_caught
    assert calls == 1


async def test_deadline_aware_reraises_the_real_error_at_once(clock: Clock) -> None:
    flaky = Flaky(10)
    start = clock.now()
    with anyio.fail_after(1):
        with pytest.raises(ConnectionError) as info:
            await plait.retry(flaky, attempts=10, base_delay=0.4, jitter=0)
    # attempts at 0, 0.4; the next would start at 1.2, past the deadline.
    assert len(flaky.calls) == 2
    assert clock.now() - start == clock.approx(0.4)
    assert any("could not start before the deadline" in n for n in info.value.__notes__)


async def test_jitter_is_drawn_from_plaits_seedable_source() -> None:
    policy = plait.RetryPolicy(base_delay=1.0, jitter=0.5)
    seed_randomness(1234)
    first = [policy.delay(n) for n in (1, 2, 3)]
    seed_randomness(1234)
    assert [policy.delay(n) for n in (1, 2, 3)] == first
    assert all(0.5 * d <= j <= d for j, d in zip(first, (1, 2, 4), strict=True))
    seed_randomness(None)


def test_backoff_is_capped() -> None:
    policy = plait.RetryPolicy(base_delay=1, max_delay=5, multiplier=10, jitter=0)
    assert [policy.backoff(n) for n in (1, 2, 3, 400)] == [1, 5, 5, 5]


def test_bad_policy_fields_are_named() -> None:
    with pytest.raises(
        ValueError, match=r"RetryPolicy\(\) attempts must be a positive int, got 0"
    ):
        plait.RetryPolicy(attempts=0)
    with pytest.raises(
        ValueError,
        match=r"RetryPolicy\(\) base_delay must be a finite number of seconds >= 0",
    ):
        plait.RetryPolicy(base_delay=-1)
    with pytest.raises(
        ValueError, match=r"RetryPolicy\(\) jitter must be a number between 0 and 1"
    ):
        plait.RetryPolicy(jitter=2)
    with pytest.raises(
        TypeError, match=r"RetryPolicy\(\) retry_on must be Exception subclasses"
    ):
        plait.RetryPolicy(retry_on=(BaseException,))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"RetryPolicy\(\) attempts must be a positive int, got 2.5"
    ):
        plait.RetryPolicy(attempts=2.5)  # type: ignore[arg-type]


async def test_bad_retry_arguments() -> None:
    with pytest.raises(TypeError, match="unknown RetryPolicy field"):
        await plait.retry(Flaky(0), tries=3)
    with pytest.raises(TypeError, match="fn must be an async function"):
        await plait.retry(3)  # type: ignore[arg-type]

    def sync() -> int:
        return 1

    with pytest.raises(TypeError, match="must return an awaitable"):
        await plait.retry(sync)  # type: ignore[arg-type]


async def test_policy_and_fields_combine() -> None:
    base = plait.RetryPolicy(attempts=1, base_delay=0)
    flaky = Flaky(1)
    assert await plait.retry(flaky, policy=base, attempts=2) == "ok"


def test_infinite_or_nan_delays_are_refused_naming_the_field() -> None:
    """Issue 11: base_delay=inf was refused with a message about max_delay."""
    finite = r"must be a finite number of seconds"
    for value in (math.inf, math.nan):
        with pytest.raises(ValueError, match=rf"RetryPolicy\(\) base_delay {finite}"):
            plait.RetryPolicy(base_delay=value)
        with pytest.raises(ValueError, match=rf"RetryPolicy\(\) base_delay {finite}"):
            plait.RetryPolicy(base_delay=value, max_delay=math.inf)
    with pytest.raises(ValueError, match=r"RetryPolicy\(\) max_delay must be a"):
        plait.RetryPolicy(max_delay=math.inf)
