"""explore(), shrinking, the trace, replaying a Schedule, hypothesis' schedules().

The scenarios here are small latent bugs in plain anyio that pass in the
loop's natural order; ``tests/test_testing_corpus.py`` has the full corpus.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any, Literal

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, find, settings

from plait.testing import (
    PCT,
    Deviation,
    ExplorationNotSupportedError,
    RandomDelay,
    Schedule,
    ScheduleFuzzer,
    current_clock,
    explore,
    fuzz_schedule,
    run,
    schedules,
)
from plait.testing._fuzzing import DrawnSchedule

Backend = Literal["asyncio", "trio"]
BACKENDS: list[Backend] = ["asyncio", "trio"]
checkpoint = anyio.lowlevel.checkpoint


async def lost_update() -> None:
    box = {"n": 0}

    async def add(warmup: int) -> None:
        for _ in range(warmup):
            await checkpoint()  # e.g. authenticate
        n = box["n"]
        await checkpoint()  # e.g. write the audit record
        box["n"] = n + 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(add, 0)
        tg.start_soon(add, 2)
    assert box["n"] == 2, f"an update was lost: {box['n']}"


async def fixed_update() -> None:
    box = {"n": 0}
    lock = anyio.Lock()

    async def add(warmup: int) -> None:
        for _ in range(warmup):
            await checkpoint()
        async with lock:
            n = box["n"]
            await checkpoint()
            box["n"] = n + 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(add, 0)
        tg.start_soon(add, 2)
    assert box["n"] == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_explore_finds_shrinks_and_replays(backend: Backend) -> None:
    found = explore(lost_update, backend=backend, runs=100)
    assert found.failed
    assert isinstance(found.error, AssertionError)
    assert found.seed is not None
    assert found.schedule is not None
    assert 1 <= len(found.schedule) <= found.deviations
    # The shrunk schedule replays the failure, and needs every deviation.
    with pytest.raises(AssertionError, match="lost"):
        run(lost_update, backend=backend, fuzz_seed=found.seed, schedule=found.schedule)
    for left_out in found.schedule:
        fewer = Schedule(d for d in found.schedule if d != left_out)
        run(lost_update, backend=backend, fuzz_seed=found.seed, schedule=fewer)
    report = str(found)
    assert f"seed {found.seed} failed" in report
    assert f"schedule=Schedule.parse({str(found.schedule)!r})" in report
    assert "test_testing_explore.py" in report  # the lines tasks resumed at
    assert "<- held back, as if woken later" in report or "<- ran before" in report
    assert report.count("*") >= len(found.schedule)


@pytest.mark.parametrize("backend", BACKENDS)
def test_explore_says_how_many_schedules_passed(backend: Backend) -> None:
    found = explore(fixed_update, backend=backend, runs=30)
    assert not found.failed
    assert found.schedules == 31  # the natural order, then 30 seeds
    assert found.error is None
    assert found.schedule is None
    assert found.seed is None
    assert "no failure in 31 schedules" in str(found)
    assert "no failure in 31 schedules" in repr(found)


def test_explore_reports_a_failure_in_the_loops_own_order() -> None:
    async def broken() -> None:
        raise ValueError("always")

    found = explore(broken, runs=10)
    assert found.failed
    assert found.seed is None
    assert found.schedules == 1
    assert found.schedule == Schedule()
    assert "the loop's natural order fails" in str(found)


def test_explore_measures_the_run_for_pct() -> None:
    found = explore(fixed_update, strategy="pct", runs=5)
    assert isinstance(found.strategy, PCT)
    assert found.strategy.depth == 3
    assert found.strategy.steps is not None
    assert found.strategy.steps >= 10
    assert not found.failed


async def transfers() -> None:
    """Two transfers taking two locks in opposite orders, no deadline."""
    a, b = anyio.Lock(), anyio.Lock()

    async def transfer(first: anyio.Lock, second: anyio.Lock, warmup: int) -> None:
        for _ in range(warmup):
            await checkpoint()
        async with first, second:
            await checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(transfer, a, b, 0)
        tg.start_soon(transfer, b, a, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_deadlock_is_a_virtual_deadline_firing_at_once(backend: Backend) -> None:
    started = time.monotonic()
    found = explore(transfers, backend=backend, runs=100, deadline=600)
    assert found.failed
    assert isinstance(found.error, TimeoutError)
    assert time.monotonic() - started < 30  # no run waited out 600 s

    async def timed() -> float:
        start = current_clock().now()
        try:
            with anyio.fail_after(600):
                await transfers()
        except TimeoutError:
            return current_clock().now() - start
        return -1.0

    # Under the found schedule the deadline fires at its virtual instant.
    assert found.schedule is not None
    elapsed = run(
        timed, backend=backend, fuzz_seed=found.seed or 0, schedule=found.schedule
    )
    assert elapsed == 600


@pytest.mark.parametrize("backend", BACKENDS)
def test_virtual_time_is_exact_under_exploration(backend: Backend) -> None:
    async def sleepers() -> list[tuple[int, float]]:
        woke: list[tuple[int, float]] = []

        async def sleeper(n: int) -> None:
            await anyio.sleep(n)
            woke.append((n, current_clock().now()))

        async with anyio.create_task_group() as tg:
            for n in (3, 1, 2):
                tg.start_soon(sleeper, n)
        return woke

    for seed in range(20):
        woke = run(sleepers, backend=backend, fuzz_seed=seed)
        assert sorted(woke) == [(1, 1.0), (2, 2.0), (3, 3.0)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_explorer_knows_which_deadline_woke_a_task(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On real time the two deadlines are microseconds apart, so both sleeps
    # usually end in one pass of the loop; the glue still tells them apart.
    async def sleepers() -> None:
        async def early() -> None:
            await anyio.sleep(0.001)

        async def late() -> None:
            await anyio.sleep(0.001)

        async with anyio.create_task_group() as tg:
            tg.start_soon(early)
            tg.start_soon(late)

    fired: dict[str, float] = {}
    with fuzz_schedule(0) as fuzzer:
        add = fuzzer.add

        def spy(task: object, **options: Any) -> Any:
            if options.get("fired") is not None:
                fired[fuzzer.glue.name(task) if fuzzer.glue else "?"] = options["fired"]
            return add(task, **options)

        monkeypatch.setattr(fuzzer, "add", spy)
        run(sleepers, backend=backend, virtual_time=False)
    assert set(fired) == {"early", "late"}
    # Whichever called sleep first has the earlier deadline: two timers.
    assert fired["early"] != fired["late"]


def test_a_sleep_that_ended_first_is_never_held_behind_a_later_one() -> None:
    # asyncio fires timers in deadline order, and on real time the two
    # deadlines are microseconds apart, so both usually fire in one pass:
    # early's wake-up may wait behind other steps, never behind late's, as
    # if its own sleep had ended later (anyio's
    # test_nested_task_group_filtering failed explored when it could, and
    # about half of these seeds ran late first).
    async def sleepers() -> list[str]:
        woke: list[str] = []

        async def early() -> None:
            await anyio.sleep(0.001)
            woke.append("early")

        async def late() -> None:
            await anyio.sleep(0.001)
            woke.append("late")

        async with anyio.create_task_group() as tg:
            tg.start_soon(early)
            tg.start_soon(late)
        return woke

    for seed in range(40):
        woke = run(sleepers, backend="asyncio", virtual_time=False, fuzz_seed=seed)
        assert woke == ["early", "late"], f"seed {seed}"


def test_explore_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match=r"explore\(\) runs must be a positive int"):
        explore(lost_update, runs=0)
    with pytest.raises(ValueError, match=r"explore\(\) backend must be one of"):
        explore(lost_update, backend="curio")
    with pytest.raises(ValueError, match=r"explore\(\) strategy must be"):
        explore(lost_update, strategy="exhaustive")


def test_a_schedule_reads_back_its_text() -> None:
    schedule = Schedule(
        [
            Deviation("step", 3, 0, 4, 1),
            Deviation("point", 2, 1),
            Deviation("step", 3, 2, 5, 0),
        ]
    )
    assert str(schedule) == "3.0>4.1 2.1y 3.2>5.0"
    assert Schedule.parse(str(schedule)) == schedule
    assert eval(repr(schedule)) == schedule  # the repr is the call that makes it
    assert len(Schedule()) == 0
    assert str(Schedule()) == ""
    with pytest.raises(ValueError, match=r"Schedule.parse\(\) text must be words"):
        Schedule.parse("3>4")


async def interleaving() -> list[str]:
    order: list[str] = []

    async def worker(name: str) -> None:
        for n in range(3):
            order.append(f"{name}{n}")
            await checkpoint()

    async with anyio.create_task_group() as tg:
        for name in "abcd":
            tg.start_soon(worker, name)
    return order


def test_the_natural_order_is_asyncios_own() -> None:
    assert run(interleaving, schedule=Schedule()) == run(interleaving)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hypothesis_draws_the_schedule_and_shrinks_it(backend: Backend) -> None:
    drawn = find(
        schedules(),
        lambda schedule: _fails(backend, schedule),
        settings=settings(
            max_examples=300,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert isinstance(drawn, DrawnSchedule)
    assert drawn.taken is not None
    assert 1 <= len(drawn.taken) <= 6
    # What hypothesis found replays without it.
    with pytest.raises(AssertionError):
        run(lost_update, backend=backend, schedule=drawn.taken)
    assert "a drawn schedule: Schedule.parse(" in repr(drawn)
    assert "Schedule.parse(" in notes[-1]


def _fails(backend: Backend, schedule: DrawnSchedule) -> bool:
    try:
        run(lost_update, backend=backend, schedule=schedule)
    except AssertionError as error:
        notes.extend(error.__notes__)
        return True
    return False


notes: list[str] = []


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks need Python 3.12+")
def test_an_eager_tasks_first_step_is_no_decision_point() -> None:
    async def spawner() -> None:
        # asyncio's own task group: anyio starts its tasks lazily anyway.
        async with asyncio.TaskGroup() as tg:
            for _ in range(5):
                tg.create_task(asyncio.sleep(0))

    async def decisions(eager: bool) -> int:
        loop = asyncio.get_running_loop()
        if eager:
            loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
        with fuzz_schedule(0, schedule=Schedule()) as fuzzer:
            await spawner()
        return fuzzer.decisions

    # Each task's first step ran inside create_task: 5 decision points fewer.
    assert asyncio.run(decisions(True)) + 5 == asyncio.run(decisions(False))
    for seed in range(20):
        run(spawner, fuzz_seed=seed)


REPLAY_SCRIPT = """
import random, sys
import anyio, anyio.lowlevel
from plait.testing import run

noise = [object() for _ in range(random.randrange(5000))]  # move allocations


async def main() -> list[int]:
    order: list[int] = []

    async def waiter(n: int) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            order.append(n)
            with anyio.CancelScope(shield=True):
                await anyio.lowlevel.checkpoint()
            order.append(-n)

    async with anyio.create_task_group() as tg:
        for n in range(1, 8):
            tg.start_soon(waiter, n)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()  # reaches the tasks in a set's order
    return order


print([run(main, backend=sys.argv[1], fuzz_seed=seed) for seed in range(5)])
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_seed_replays_in_another_process(backend: Backend) -> None:
    # anyio delivers a cancellation to a set of tasks, whose order follows
    # memory addresses; the natural order sorts such steps by task, so the
    # interleaving does not depend on where a process put its objects.
    outputs = {
        subprocess.run(
            [sys.executable, "-c", REPLAY_SCRIPT, backend],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
        ).stdout
        for hash_seed in (1, 2, 3)
    }
    assert len(outputs) == 1


def test_run_and_explore_check_their_exploration_arguments() -> None:
    with pytest.raises(ValueError, match=r"run\(\) strategy must be left out with a"):
        run(lost_update, schedule=Schedule(), strategy="pct")
    with pytest.raises(ValueError, match=r"run\(\) strategy must be given with a fuzz"):
        run(lost_update, strategy="pct")
    with pytest.raises(TypeError, match=r"run\(\) schedule must be a Schedule"):
        run(lost_update, schedule="1.0h1:1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"run\(\) seed must be an int between"):
        run(lost_update, fuzz_seed=-1)
    with pytest.raises(ExplorationNotSupportedError, match="uvloop"):
        explore(lost_update, backend="uvloop")


def test_a_schedule_fuzzer_takes_the_old_keywords() -> None:
    fuzzer = ScheduleFuzzer(3, probability=0.2, max_switches=2)
    assert fuzzer.strategy == RandomDelay(probability=0.2, max_delay=2)
    assert ScheduleFuzzer(3).strategy == RandomDelay()
