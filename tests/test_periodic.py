"""every() and Scheduler: drift-free ticks, missed ticks, overlap, stopping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import plait
from plait.testing import RealClock, VirtualClock, seed_randomness

Clock = VirtualClock | RealClock


def unit_for(clock: Clock) -> float:
    return 10.0 if clock.virtual else 0.05


def recorder(
    times: list[float],
    start: list[float],
    durations: list[float],
    stop: anyio.Event,
    runs: int,
) -> Callable[[], Awaitable[None]]:
    """A job that records when it starts, sleeps its duration, stops after *runs*."""

    async def job() -> None:
        times.append(anyio.current_time() - start[0])
        index = len(times) - 1
        await anyio.sleep(durations[index] if index < len(durations) else 0)
        if len(times) >= runs:
            stop.set()

    return job


async def run_every(
    clock: Clock, durations: list[float], runs: int, **options: Any
) -> list[float]:
    unit = unit_for(clock)
    times: list[float] = []
    stop = anyio.Event()
    start = [anyio.current_time()]
    job = recorder(times, start, [d * unit for d in durations], stop, runs)
    await plait.every(unit, job, stopping=stop, **options)
    return [t / unit for t in times]


async def test_ticks_are_aligned_to_the_start_not_to_the_runs(clock: Clock) -> None:
    unit = unit_for(clock)
    ticks = await run_every(clock, [0.3] * 5, runs=5)
    assert [t * unit for t in ticks] == [clock.approx(k * unit) for k in range(5)]
    if clock.virtual:
        assert ticks == [0.0, 1.0, 2.0, 3.0, 4.0]


async def test_missed_ticks_are_skipped_by_default(clock: Clock) -> None:
    ticks = await run_every(clock, [2.5], runs=4)
    if clock.virtual:
        assert ticks == [0.0, 3.0, 4.0, 5.0]
    else:
        assert len(ticks) == 4
        # Not at once (that is catch_up's 2.5): at the next tick on the grid,
        # or a later one if the machine ran the 2.5-tick job late.
        assert ticks[1] * unit_for(clock) >= 3 * unit_for(clock) - 2e-3


async def test_catch_up_runs_once_then_returns_to_the_grid(clock: Clock) -> None:
    ticks = await run_every(clock, [2.5], runs=4, missed="catch_up")
    if clock.virtual:
        assert ticks == [0.0, 2.5, 3.0, 4.0]
    else:
        assert ticks[1] == pytest.approx(2.5, abs=0.5 / unit_for(clock))


async def test_overlap_starts_every_tick(clock: Clock) -> None:
    unit = unit_for(clock)
    ticks = await run_every(clock, [2.5] * 4, runs=4, overlap=True)
    assert [t * unit for t in ticks] == [clock.approx(k * unit) for k in range(4)]
    if clock.virtual:
        assert ticks == [0.0, 1.0, 2.0, 3.0]


async def test_not_immediate_waits_one_interval(clock: Clock) -> None:
    unit = unit_for(clock)
    ticks = await run_every(clock, [], runs=2, immediate=False)
    assert [t * unit for t in ticks] == [clock.approx(k * unit) for k in (1, 2)]
    if clock.virtual:
        assert ticks == [1.0, 2.0]


async def test_jitter_delays_runs_within_bounds_reproducibly(clock: Clock) -> None:
    seed_randomness(3)
    first = await run_every(clock, [], runs=4, jitter=unit_for(clock) / 2)
    seed_randomness(3)
    again = await run_every(clock, [], runs=4, jitter=unit_for(clock) / 2)
    if clock.virtual:
        assert first == pytest.approx(again)
        assert all(k <= t <= k + 0.5 for k, t in enumerate(first))
        assert first != [0.0, 1.0, 2.0, 3.0]


async def test_stopping_waits_for_the_run_under_way(clock: Clock) -> None:
    unit = unit_for(clock)
    stop = anyio.Event()
    finished: list[float] = []

    async def job() -> None:
        stop.set()
        await anyio.sleep(unit)
        finished.append(anyio.current_time())

    start = anyio.current_time()
    await plait.every(unit * 10, job, stopping=stop, grace=unit * 5)
    assert len(finished) == 1
    assert anyio.current_time() - start == clock.approx(unit)


async def test_stopping_cancels_the_run_after_the_grace(clock: Clock) -> None:
    unit = unit_for(clock)
    stop = anyio.Event()
    cancelled: list[bool] = []

    async def job() -> None:
        stop.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise

    start = anyio.current_time()
    await plait.every(unit, job, stopping=stop, grace=unit * 2)
    assert cancelled == [True]
    assert anyio.current_time() - start == clock.approx(2 * unit)


async def test_errors_raise_by_default_unwrapped(clock: Clock) -> None:
    async def job() -> None:
        raise KeyError("tick failed")

    with pytest.raises(KeyError, match="tick failed"):
        await plait.every(unit_for(clock), job)


async def test_runs_that_fail_together_are_all_raised(clock: Clock) -> None:
    arrived: list[str] = []
    both = anyio.Event()
    raised: list[ValueError] = []

    async def fail(tag: str) -> None:
        arrived.append(tag)
        if len(arrived) == 2:
            both.set()
        # Shielded, so the first failure cannot cancel the second one first.
        with anyio.CancelScope(shield=True):
            await both.wait()
        raised.append(ValueError(tag))
        raise raised[-1]

    scheduler = plait.Scheduler()
    scheduler.every(unit_for(clock), fail, "a")
    scheduler.every(unit_for(clock), fail, "b")
    with pytest.raises(ExceptionGroup) as info:
        await scheduler.run()
    assert sorted(map(str, info.value.exceptions)) == ["a", "b"]
    assert all(e in raised for e in info.value.exceptions)


async def test_errors_log_keeps_ticking(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    stop = anyio.Event()
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)
        if len(runs) == 3:
            stop.set()
        raise KeyError("tick failed")

    await plait.every(unit_for(clock), job, errors="log", stopping=stop)
    assert len(runs) == 3
    assert caplog.text.count("tick failed") >= 3


async def test_every_as_a_supervised_service(clock: Clock) -> None:
    unit = unit_for(clock)
    runs: list[float] = []
    three = anyio.Event()

    async def refresh() -> None:
        runs.append(anyio.current_time())
        if len(runs) == 3:
            three.set()

    async with plait.Supervisor(observers=()) as sup:
        await sup.start(plait.every, unit, refresh, name="refresher")
        await three.wait()
        report = await sup.shutdown()
    assert report.stopped == ("refresher",)
    assert len(runs) == 3


async def test_every_refuses_bad_arguments() -> None:
    async def job() -> None:
        pass

    def sync_job() -> None:
        pass

    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"interval": 0},
            r"every\(\) interval must be a finite number of seconds > 0, got 0",
        ),
        (
            {"interval": -1},
            r"every\(\) interval must be a finite number of seconds > 0, got -1",
        ),
        ({"jitter": -1}, r"every\(\) jitter must be a finite number of seconds >= 0"),
        ({"jitter": 5}, r"every\(\) jitter must be at most the interval"),
        (
            {"missed": "never"},
            r"every\(\) missed must be one of 'skip', 'catch_up', got 'never'",
        ),
        ({"errors": "ignore"}, r"every\(\) errors must be one of 'raise', 'log'"),
        ({"grace": -2}, r"every\(\) grace must be a number of seconds >= 0"),
        ({"fn": sync_job}, "sync_job is a regular function"),
    ]
    for overrides, match in cases:
        options: dict[str, Any] = {"interval": 1.0, "fn": job, **overrides}
        with pytest.raises((TypeError, ValueError), match=match):
            await plait.every(options.pop("interval"), options.pop("fn"), **options)


# -- Scheduler -----------------------------------------------------------------


async def test_sequential_scheduler_never_overlaps(clock: Clock) -> None:
    unit = unit_for(clock)
    running = 0
    peak = 0
    log: list[tuple[str, float]] = []
    done = anyio.Event()

    async def job(name: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        log.append((name, anyio.current_time()))
        await anyio.sleep(unit * 0.6)
        running -= 1
        if len(log) >= 6:
            done.set()

    async with plait.Scheduler(sequential=True) as scheduler:
        scheduler.every(unit, job, "a")
        scheduler.every(unit, job, "b")
        await done.wait()
    assert peak == 1
    names = [name for name, _ in log]
    assert sorted(names[:2]) == ["a", "b"]  # both got a turn, in some order
    stats = scheduler.stats()
    assert [s.name for s in stats] == ["job", "job"]
    assert sum(s.runs for s in stats) == len(log)
    assert sum(s.missed_ticks for s in stats) > 0


async def test_concurrent_scheduler_runs_jobs_side_by_side(clock: Clock) -> None:
    unit = unit_for(clock)
    running = 0
    peak = 0
    both = anyio.Event()

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 2:
            both.set()
        await anyio.sleep(unit * 0.5)
        running -= 1

    async with plait.Scheduler() as scheduler:
        scheduler.every(unit, job, name="x")
        scheduler.every(unit, job, name="y")
        await both.wait()
    assert peak == 2


async def test_scheduler_run_as_a_service_and_added_jobs(clock: Clock) -> None:
    unit = unit_for(clock)
    seen: list[str] = []
    late_ran = anyio.Event()

    async def early() -> None:
        seen.append("early")

    async def late() -> None:
        seen.append("late")
        late_ran.set()

    scheduler = plait.Scheduler(grace=unit)
    scheduler.every(unit, early)
    async with plait.Supervisor(observers=()) as sup:
        await sup.start(scheduler.run, name="scheduler")
        scheduler.every(unit, late)
        await late_ran.wait()
        report = await sup.shutdown()
    assert report.stopped == ("scheduler",)
    assert seen[0] == "early"
    assert "late" in seen
    with pytest.raises(RuntimeError, match="has stopped"):
        scheduler.every(unit, early)
    with pytest.raises(RuntimeError, match="has stopped; create a new one"):
        await scheduler.run()


async def test_scheduler_stop_and_error_propagation(clock: Clock) -> None:
    unit = unit_for(clock)

    async def bad() -> None:
        raise OSError("job broke")

    scheduler = plait.Scheduler()
    scheduler.every(unit, bad)
    with pytest.raises(OSError, match="job broke"):
        await scheduler.run()

    ran = anyio.Event()

    async def good() -> None:
        ran.set()

    other = plait.Scheduler()
    other.every(unit, good)
    async with anyio.create_task_group() as tg:
        tg.start_soon(other.run)
        await ran.wait()
        other.stop()
    assert other.stats()[0].runs >= 1


def test_scheduler_bad_options() -> None:
    with pytest.raises(
        ValueError, match=r"Scheduler\(\) grace must be a number of seconds >= 0"
    ):
        plait.Scheduler(grace=-1)
    with pytest.raises(ValueError, match="errors must be"):
        plait.Scheduler(errors="swallow")  # type: ignore[arg-type]
    scheduler = plait.Scheduler()

    async def job() -> None:
        pass

    with pytest.raises(
        ValueError,
        match=r"Scheduler\.every\(\) interval must be a finite number of seconds > 0",
    ):
        scheduler.every(0, job)


async def test_sequential_stop_does_not_start_queued_runs(clock: Clock) -> None:
    unit = unit_for(clock)
    started: list[str] = []
    scheduler = plait.Scheduler(sequential=True, grace=unit * 10)

    async def long(name: str) -> None:
        started.append(name)
        if len(started) == 1:
            # "b" is queued behind this run by now; ask for the stop.
            await anyio.wait_all_tasks_blocked()
            scheduler.stop()
        await anyio.sleep(unit)

    scheduler.every(unit * 100, long, "a")
    scheduler.every(unit * 100, long, "b")
    await scheduler.run()
    assert len(started) == 1
    assert sorted(s.runs for s in scheduler.stats()) == [0, 1]


# -- Scheduler's lifecycle: entered once, the block's error ---------------------


async def test_a_scheduler_is_entered_once() -> None:
    scheduler = plait.Scheduler()
    async with scheduler:
        with pytest.raises(RuntimeError, match="already been entered"):
            async with scheduler:
                pass
    with pytest.raises(RuntimeError, match="Scheduler can be entered only once"):
        async with scheduler:
            pass
    with pytest.raises(RuntimeError, match="has stopped; create a new one"):
        await scheduler.run()


async def test_a_scheduler_run_elsewhere_cannot_be_entered(clock: Clock) -> None:
    scheduler = plait.Scheduler()
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        with pytest.raises(RuntimeError, match="already running"):
            async with scheduler:
                pass
        scheduler.stop()
    ran = plait.Scheduler()
    ran.stop()
    await ran.run()
    with pytest.raises(RuntimeError, match="has stopped; create a new one"):
        async with ran:
            pass


async def test_a_scheduler_block_error_leaves_as_itself_after_the_stop(
    clock: Clock,
) -> None:
    unit = unit_for(clock)
    finished: list[str] = []
    running = anyio.Event()

    async def job() -> None:
        running.set()
        await anyio.sleep(unit)
        finished.append("run")

    with pytest.raises(LookupError, match="block"):
        async with plait.Scheduler(grace=unit * 10) as scheduler:
            scheduler.every(unit * 100, job)
            await running.wait()
            raise LookupError("block")
    assert finished == ["run"]  # the run under way had its grace
