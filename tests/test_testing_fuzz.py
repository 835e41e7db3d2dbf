"""Schedule fuzzing: the demo race bug, replay by seed, the pytest option."""

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
from plait.testing import ScheduleFuzzer, fuzz_schedule, fuzz_seeds, run

Backend = Literal["asyncio", "trio"]
FUZZ_BACKENDS: list[Backend] = ["asyncio", "trio"]


class Account:
    """The demo bug: a withdrawal that checks the balance, then acts on it.

    ``withdraw_racy`` reads the balance, reaches a point that may switch
    tasks (in real code: an audit-log write that usually completes without
    yielding), then writes back a balance computed from its stale read. With
    asyncio's FIFO scheduler the point never yields, so each withdrawal runs
    to completion and the bug never shows; a fuzzer that switches tasks there
    lets two withdrawals both see the full balance and both pay out.
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


def test_demo_bug_hides_from_asyncio_scheduler() -> None:
    for _ in range(100):
        assert not bug_shows("asyncio", Account.withdraw_racy, None)


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_fuzzing_finds_demo_bug_and_reports_its_seed(backend: Backend) -> None:
    seed = find(
        fuzz_seeds(),
        lambda s: bug_shows(backend, Account.withdraw_racy, s),
        settings=settings(max_examples=200, database=None, derandomize=True),
    )
    # The reported seed replays the failure, every time.
    for _ in range(5):
        assert bug_shows(backend, Account.withdraw_racy, seed)


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
@settings(max_examples=200, database=None, derandomize=True)
@given(seed=fuzz_seeds())
def test_fixed_version_survives_the_same_fuzzing(backend: Backend, seed: int) -> None:
    assert not bug_shows(backend, Account.withdraw_fixed, seed)


def detection_rate(backend: Backend, *, fuzzed: bool, runs: int = 200) -> float:
    found = sum(
        bug_shows(backend, Account.withdraw_racy, seed if fuzzed else None)
        for seed in range(runs)
    )
    return found / runs


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_detection_rate_with_and_without_fuzzing(backend: Backend) -> None:
    # Seeded runs replay exactly, so these rates are fixed numbers, not
    # samples: without fuzzing no scheduler (not even trio's shuffling) can
    # switch tasks between the check and the act, since nothing yields there.
    assert detection_rate(backend, fuzzed=False) == 0.0
    assert detection_rate(backend, fuzzed=True) >= 0.1


class Seats:
    """A second demo: reserve, then commit after a call that really yields.

    The late caller reaches the check one step after the early one, so under
    asyncio's FIFO order the early caller always commits first. trio shuffles
    each batch of runnable tasks, so there the late caller sometimes checks
    between the early caller's check and commit: trio alone finds this one.
    """

    def __init__(self) -> None:
        self.free = 1
        self.sold = 0

    async def book_racy(self, warmups: int) -> None:
        await plait.fuzz_point("book: start")
        for _ in range(warmups):
            await anyio.lowlevel.checkpoint()  # e.g. opening a connection
        if self.free > 0:
            await anyio.lowlevel.checkpoint()  # e.g. charging the card
            self.free -= 1
            self.sold += 1


async def early_and_late_booking() -> Seats:
    seats = Seats()
    await plait.gather(seats.book_racy(0), seats.book_racy(1))
    return seats


def oversold_rate(backend: Backend, *, fuzzed: bool, runs: int = 200) -> float:
    oversold = 0
    for seed in range(runs):
        seats = run(
            early_and_late_booking, backend=backend, fuzz_seed=seed if fuzzed else None
        )
        oversold += seats.sold > 1
    return oversold / runs


def test_second_demo_hides_from_asyncio_but_not_from_trio() -> None:
    assert oversold_rate("asyncio", fuzzed=False, runs=100) == 0.0
    # trio's own shuffling is random here (no seed), so only bound the rate.
    assert 0.2 <= oversold_rate("trio", fuzzed=False) <= 0.8
    assert oversold_rate("asyncio", fuzzed=True) >= 0.1
    assert oversold_rate("trio", fuzzed=True) >= 0.1


async def interleaving(tasks: int = 5, steps: int = 3) -> list[str]:
    order: list[str] = []

    async def worker(name: str) -> None:
        for step in range(steps):
            await plait.fuzz_point()
            order.append(f"{name}{step}")
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        for n in range(tasks):
            tg.start_soon(worker, "abcde"[n])
    return order


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_a_seed_replays_exactly(backend: Backend) -> None:
    for seed in (0, 1, 2**32 - 1):
        first = run(interleaving, backend=backend, fuzz_seed=seed)
        for _ in range(3):
            assert run(interleaving, backend=backend, fuzz_seed=seed) == first


@pytest.mark.parametrize("backend", FUZZ_BACKENDS)
def test_different_seeds_give_different_interleavings(backend: Backend) -> None:
    orders = {
        tuple(run(interleaving, backend=backend, fuzz_seed=seed)) for seed in range(10)
    }
    assert len(orders) >= 5


def test_fuzz_schedule_records_and_restores() -> None:
    before = plait_random().getstate()
    assert current_fuzz_hook() is None
    with fuzz_schedule(7) as fuzzer:
        assert current_fuzz_hook() is fuzzer
        run(interleaving, virtual_time=False)
        assert len(fuzzer.trace) == 15
        assert {site for site, _ in fuzzer.trace} == {"user"}
        assert fuzzer.switches == sum(n for _, n in fuzzer.trace) > 0
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


def test_probability_zero_never_switches() -> None:
    with fuzz_schedule(1, probability=0.0) as fuzzer:
        run(interleaving)
    assert fuzzer.switches == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"seed": -1}, ValueError, "seed must be between"),
        ({"seed": 2**32}, ValueError, "seed must be between"),
        ({"seed": "1"}, TypeError, "seed must be an int"),
        ({"seed": 1, "probability": 1.5}, ValueError, "probability"),
        ({"seed": 1, "probability": "0.5"}, TypeError, "probability must be a number"),
        ({"seed": 1, "max_switches": 0}, ValueError, "max_switches must be >= 1"),
        ({"seed": 1, "max_switches": 1.0}, TypeError, "max_switches must be an int"),
    ],
)
def test_fuzz_schedule_validates(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match), fuzz_schedule(**kwargs):  # type: ignore[arg-type]
        pass


@pytest.mark.fuzz_schedule
async def test_marker_runs_the_test_under_the_fuzzer(fuzzer: ScheduleFuzzer) -> None:
    assert current_fuzz_hook() is fuzzer
    await plait.fuzz_point("here")
    assert fuzzer.trace[-1][0] == "here"


async def test_pattern_hand_off_points_reach_the_fuzzer(
    fuzzer: ScheduleFuzzer,
) -> None:
    async def one() -> int:
        await anyio.lowlevel.checkpoint()
        return 1

    assert await plait.gather(one(), one()) == (1, 1)
    assert [site for site, _ in fuzzer.trace] == ["task_start", "task_start"]
    fuzzer.trace.clear()
    assert await plait.bounded_map(lambda x: one(), range(3), limit=2) == [1, 1, 1]
    sites = sorted(site for site, _ in fuzzer.trace)
    assert sites == ["before_call"] * 3 + ["task_start"] * 2


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
    result.stdout.fnmatch_lines(["plait fuzzing: 2 seed(s) from *"])
