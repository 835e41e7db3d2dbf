"""fuzz_schedule, fuzz_point and the pytest plugin under schedule exploration.

The front door of exploration: what ``fuzz_schedule`` explores and restores,
what ``plait.fuzz_point()`` and plait's own hand-off points do, the old
names in their new meaning, and the pytest marker and options.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import anyio
import anyio.lowlevel
import pytest
from hypothesis import find, given, settings

import plait
from plait._core._fuzz import current_fuzz_hook
from plait._core._random import plait_random
from plait.testing import (
    ExplorationNotSupportedError,
    RandomDelay,
    ScheduleFuzzer,
    fuzz_schedule,
    fuzz_seeds,
    run,
)

Backend = Literal["asyncio", "trio"]
FUZZ_BACKENDS: list[Backend] = ["asyncio", "trio"]


class Account:
    """A withdrawal that checks the balance, then acts on a stale read.

    ``withdraw_racy`` reads the balance, reaches a point that may switch
    tasks (in real code: an audit-log write that usually completes without
    yielding, marked with ``plait.fuzz_point()``), then writes back a balance
    computed from its stale read. Nothing yields there in the loop's order,
    so each withdrawal runs to completion; exploration may make the marked
    point yield, and then two withdrawals both pay out.
    """

    def __init__(self, balance: int) -> None:
        self.opening = balance
        self.balance = balance
        self.paid = 0
        self.lock = anyio.Lock()

    async def withdraw_racy(self, amount: int) -> bool:
        balance = self.balance
        await plait.fuzz_point("withdraw: between check and act")
        if balance < amount:
            return False
        self.balance = balance - amount
        self.paid += amount
        return True

    async def withdraw_fixed(self, amount: int) -> bool:
        # The same code, with the check and the act in one critical section.
        async with self.lock:
            balance = self.balance
            await plait.fuzz_point("withdraw: between check and act")
            if balance < amount:
                return False
            self.balance = balance - amount
            self.paid += amount
            return True

    def consistent(self) -> bool:
        return self.balance >= 0 and self.balance + self.paid == self.opening


Withdraw = Callable[[Account, int], Awaitable[bool]]


async def two_withdrawals(withdraw: Withdraw) -> Account:
    account = Account(100)
    await plait.gather(withdraw(account, 60), withdraw(account, 60))
    return account


def bug_shows(backend: Backend, withdraw: Withdraw, seed: int | None) -> bool:
    account = run(two_withdrawals, withdraw, backend=backend, fuzz_seed=seed)
    return not account.consistent()


def test_fuzz_point_bug_hides_from_asyncio_scheduler() -> None:
    for _ in range(20):
        assert not bug_shows("asyncio", Account.withdraw_racy, None)


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_exploring_finds_fuzz_point_bug_and_its_seed_replays(backend: Backend) -> None:
    seed = find(
        fuzz_seeds(),
        lambda s: bug_shows(backend, Account.withdraw_racy, s),
        settings=settings(max_examples=200, database=None, derandomize=True),
    )
    for _ in range(5):
        assert bug_shows(backend, Account.withdraw_racy, seed)


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
@settings(max_examples=100, database=None, derandomize=True)
@given(seed=fuzz_seeds())
def test_fixed_version_survives_the_same_exploration(
    backend: Backend, seed: int
) -> None:
    assert not bug_shows(backend, Account.withdraw_fixed, seed)


class Seats:
    """A race with no fuzz point: it needs a step to come later than usual.

    The late caller reaches the check one step after the early one, so in
    asyncio's order the early caller always commits first. Exploration
    delays the early caller's commit past the late caller's check.
    """

    def __init__(self) -> None:
        self.free = 1
        self.sold = 0

    async def book(self, warmups: int) -> None:
        for _ in range(warmups):
            await anyio.lowlevel.checkpoint()  # e.g. opening a connection
        if self.free > 0:
            await anyio.lowlevel.checkpoint()  # e.g. charging the card
            self.free -= 1
            self.sold += 1


async def early_and_late_booking() -> Seats:
    seats = Seats()
    await plait.gather(seats.book(0), seats.book(1))
    return seats


def oversold(backend: Backend, seed: int | None) -> bool:
    return run(early_and_late_booking, backend=backend, fuzz_seed=seed).sold > 1


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_exploration_finds_a_race_at_plain_checkpoints(backend: Backend) -> None:
    # Seeded runs replay exactly, so these are fixed numbers, not samples.
    assert not oversold("asyncio", None)
    found = sum(oversold(backend, seed) for seed in range(100))
    assert found >= 10


async def interleaving(tasks: int = 5, steps: int = 3) -> list[str]:
    order: list[str] = []

    async def worker(name: str) -> None:
        for step in range(steps):
            order.append(f"{name}{step}")
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        for n in range(tasks):
            tg.start_soon(worker, "abcde"[n])
    return order


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_a_seed_replays_exactly(backend: Backend, strategy: str) -> None:
    for seed in (0, 1, 2**32 - 1):
        first = run(interleaving, backend=backend, fuzz_seed=seed, strategy=strategy)
        for _ in range(3):
            again = run(
                interleaving, backend=backend, fuzz_seed=seed, strategy=strategy
            )
            assert again == first


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_different_seeds_give_different_interleavings(backend: Backend) -> None:
    orders = {
        tuple(run(interleaving, backend=backend, fuzz_seed=seed)) for seed in range(10)
    }
    assert len(orders) >= 5


def test_fuzz_schedule_explores_runs_inside_it_and_restores() -> None:
    before = plait_random().getstate()
    assert current_fuzz_hook() is None
    with fuzz_schedule(7) as fuzzer:
        assert current_fuzz_hook() is fuzzer
        run(interleaving, virtual_time=False)
        assert fuzzer.decisions >= 15
        assert fuzzer.switches == len(fuzzer.deviations) > 0
        assert all(step.location for step in fuzzer.trace)
        assert "seed=7" in repr(fuzzer)
    assert current_fuzz_hook() is None
    assert plait_random().getstate() == before


def test_fuzzing_seeds_plaits_random_source() -> None:
    def jitter(seed: int) -> list[float]:
        with fuzz_schedule(seed):
            policy = plait.RetryPolicy(jitter=0.5)
            return [policy.delay(n) for n in (1, 2, 3)]

    assert jitter(3) == jitter(3)
    assert jitter(3) != jitter(4)


def test_probability_zero_keeps_the_loops_order() -> None:
    natural = run(interleaving)
    with fuzz_schedule(1, probability=0.0) as fuzzer:
        assert run(interleaving) == natural
    assert fuzzer.switches == 0
    assert fuzzer.strategy == RandomDelay(probability=0.0, max_delay=3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"seed": -1},
            ValueError,
            "fuzz_schedule[(][)] seed must be an int between 0 and 4294967295",
        ),
        ({"seed": 2**32}, ValueError, "seed must be"),
        ({"seed": "1"}, TypeError, "seed must be an int"),
        ({"seed": 1, "probability": 1.5}, ValueError, "probability"),
        ({"seed": 1, "probability": "0.5"}, TypeError, "probability must be"),
        ({"seed": 1, "max_switches": 0}, ValueError, "max_delay must be a positive"),
        ({"seed": 1, "max_switches": 1.0}, TypeError, "max_delay must be"),
        (
            {"seed": 1, "strategy": "dfs"},
            ValueError,
            "strategy must be 'random', 'pct'",
        ),
        ({"seed": 1, "strategy": 3}, TypeError, "strategy must be"),
        (
            {"seed": 1, "strategy": "pct", "probability": 0.2},
            ValueError,
            "probability must be left out with a strategy other than 'random'",
        ),
    ],
)
def test_fuzz_schedule_validates(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match), fuzz_schedule(**kwargs):  # type: ignore[arg-type]
        pass


async def test_entered_in_a_running_loop_it_explores_the_rest_of_the_block(
    anyio_backend: object,
) -> None:
    if isinstance(anyio_backend, tuple) and anyio_backend[1].get("use_uvloop"):
        with (
            pytest.raises(ExplorationNotSupportedError, match="uvloop"),
            fuzz_schedule(3),
        ):
            pass
        return
    orders = set()
    for seed in range(10):
        with fuzz_schedule(seed) as fuzzer:
            orders.add(tuple(await interleaving()))
        assert fuzzer.decisions >= 15
    assert len(orders) >= 5


def test_fuzz_point_outside_an_explored_loop_is_an_error() -> None:
    # Entered outside any loop, the block explores only loops plait.testing
    # starts; a fuzz point in another loop says so instead of doing nothing.

    async def main() -> None:
        await plait.fuzz_point()

    with fuzz_schedule(1), pytest.raises(RuntimeError, match="not being explored"):
        anyio.run(main)


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_plaits_hand_off_points_are_not_decision_points(backend: Backend) -> None:
    async def one() -> int:
        return 1

    async def main() -> tuple[int, ...]:
        return await plait.gather(one(), one(), one())

    with fuzz_schedule(0, probability=1.0) as fuzzer:
        assert run(main, backend=backend) == (1, 1, 1)
    # gather's start and after-call points would have yielded with
    # probability 1; they are not yields the code has, so they are skipped.
    assert not [step for step in fuzzer.trace if step.site is not None]
    assert all(d.kind == "step" for d in fuzzer.deviations)


def test_uvloop_cannot_be_explored() -> None:
    async def main() -> None: ...

    with pytest.raises(ExplorationNotSupportedError, match="uvloop"):
        run(main, backend="uvloop", virtual_time=False, fuzz_seed=1)


def test_a_failure_names_its_seed_and_replay_and_shows_the_trace() -> None:
    async def main() -> None:
        seats = await early_and_late_booking()
        assert seats.sold == 1, "oversold"

    seed = next(s for s in range(100) if oversold("asyncio", s))
    with pytest.raises(AssertionError, match="oversold") as caught:
        run(main, fuzz_seed=seed)
    (note,) = caught.value.__notes__
    assert f"fuzz_seed={seed}, strategy=RandomDelay(" in note
    assert "backend='asyncio'" in note
    assert "test_testing_fuzz.py" in note  # the lines the tasks resumed at
    assert "* book" in note or "*" in note


@pytest.mark.fuzz_schedule
async def test_marker_explores_the_test(
    fuzzer: ScheduleFuzzer, anyio_backend: object
) -> None:
    await interleaving()
    if isinstance(anyio_backend, tuple) and anyio_backend[1].get("use_uvloop"):
        assert current_fuzz_hook() is None  # uvloop: unexplored
        assert fuzzer.decisions == 0
    else:
        assert current_fuzz_hook() is fuzzer
        assert fuzzer.decisions >= 15


PLUGIN_TEST = """
import plait, pytest

@pytest.mark.fuzz_schedule
def test_seeded(fuzz_seed):
    assert fuzz_seed != 4
"""


def test_option_runs_each_test_under_n_seeds(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PLUGIN_TEST)
    result = pytester.runpytest("--plait-seeds=6", "--plait-seed=1")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_seeded?seed=4?*",
            "*failed with seed 4; replay with --plait-seed=4 --plait-seeds=1*",
        ]
    )


def test_option_rejects_a_bad_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PLUGIN_TEST)
    result = pytester.runpytest("--plait-seed=soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--plait-seed must be an int or 'random'*"])


def test_random_first_seed_is_printed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PLUGIN_TEST.replace("!= 4", "> -1"))
    result = pytester.runpytest("--plait-seed=random", "--plait-seeds=2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["plait schedule exploration: 2 seed(s) from *"])


ASYNC_PLUGIN_TEST = """
import anyio, anyio.lowlevel, pytest

@pytest.fixture(params=[
    pytest.param(("asyncio", {}), id="asyncio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    pytest.param(("trio", {}), id="trio"),
])
def anyio_backend(request):
    return request.param

@pytest.mark.anyio
@pytest.mark.fuzz_schedule(probability=0.5, max_switches=2)
@pytest.mark.virtual_time
async def test_deposits():
    box = {"n": 0}
    async def add(warmup):
        for _ in range(warmup):
            await anyio.lowlevel.checkpoint()
        n = box["n"]
        await anyio.lowlevel.checkpoint()
        box["n"] = n + 1
    async with anyio.create_task_group() as tg:
        tg.start_soon(add, 0)
        tg.start_soon(add, 3)
    assert box["n"] == 2, "lost update"
"""


def test_marker_explores_async_tests_and_reports_the_trace(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(ASYNC_PLUGIN_TEST)
    result = pytester.runpytest("--plait-seeds=40", "-p", "no:randomly")
    outcomes = result.parseoutcomes()
    # uvloop runs once, unexplored (and passes), and skips the other seeds.
    assert outcomes["skipped"] == 39
    assert outcomes["failed"] >= 2  # both asyncio and trio find the bug
    result.stdout.fnmatch_lines(
        [
            "*test_deposits?asyncio-seed=*",
            "*test_deposits?trio-seed=*",
            "*strategy RandomDelay(probability=0.5, max_delay=2): * deviations*",
            "*step  task*resumed at*",
            "*test_marker_explores_async_tests_and_reports_the_trace.py:* in add*",
        ]
    )
    result.stdout.no_fnmatch_line("*test_deposits?uvloop*FAILED*")
