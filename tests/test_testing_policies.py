"""The strategies: RandomDelay, and PCT's guarantee shown on planted bugs.

PCT (Burckhardt et al., ASPLOS 2010) finds a bug of depth d in a run of n
tasks and k steps with probability at least 1/(n·k^(d-1)) per run. The
planted bugs below have depth 1, 2 and 3 (the number of ordering
constraints between steps that make them fail); each test runs enough
seeds that the bound expects at least five finds, and checks that PCT
finds at least that many. Seeds replay exactly, so the counts are fixed.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Literal

import anyio
import anyio.lowlevel
import pytest

from plait.testing import PCT, RandomDelay, Schedule, fuzz_schedule, run

Backend = Literal["asyncio", "trio"]
checkpoint = anyio.lowlevel.checkpoint


async def steps(n: int) -> None:
    for _ in range(n):
        await checkpoint()


# In each planted bug the steps that must come out of order resume tasks:
# a task's first step runs in the round after it was started, on every loop.


async def depth_1() -> None:
    """B uses the state before A initialises it: one constraint (B2 < A2)."""
    state = {"ready": False}

    async def a() -> None:
        await checkpoint()  # e.g. load the configuration
        state["ready"] = True

    async def b() -> None:
        await checkpoint()
        assert state["ready"], "used before initialised"

    async with anyio.create_task_group() as tg:
        tg.start_soon(a)
        tg.start_soon(b)


async def depth_2() -> None:
    """B writes between A's read and A's write: two constraints."""
    box = {"x": 0}

    async def a() -> None:
        await checkpoint()
        seen = box["x"]
        await checkpoint()
        box["x"] = seen + 1

    async def b() -> None:
        await steps(2)
        box["x"] += 10

    async with anyio.create_task_group() as tg:
        tg.start_soon(a)
        tg.start_soon(b)
    assert box["x"] == 11, "lost update"


async def depth_3() -> None:
    """B sees A's first write, then A's second: a1 < b1 < a2 < b2."""
    state = {"flag": 0, "saw_first": False}

    async def a() -> None:
        await checkpoint()
        state["flag"] = 1
        await checkpoint()
        state["flag"] = 2

    async def b() -> None:
        await steps(3)
        state["saw_first"] = state["flag"] == 1
        await checkpoint()
        assert not (state["saw_first"] and state["flag"] == 2), "saw both writes"

    async with anyio.create_task_group() as tg:
        tg.start_soon(a)
        tg.start_soon(b)


def shape(fn: Callable[[], Awaitable[None]], backend: Backend) -> tuple[int, int]:
    """Return (tasks, steps) of *fn* in the loop's natural order."""
    with fuzz_schedule(0, schedule=Schedule()) as fuzzer:
        run(fn, backend=backend)
    return fuzzer.tasks, fuzzer.decisions


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(
    ("depth", "planted"),
    [(1, depth_1), (2, depth_2), (3, depth_3)],
    ids=["depth1", "depth2", "depth3"],
)
def test_pct_finds_a_bug_of_depth_d_as_often_as_it_promises(
    depth: int, planted: Callable[[], Awaitable[None]], backend: Backend
) -> None:
    tasks, k = shape(planted, backend)
    bound = 1 / (tasks * k ** (depth - 1))
    runs = math.ceil(5 / bound)
    strategy = PCT(depth=depth, steps=k)
    found = 0
    for seed in range(runs):
        try:
            run(planted, backend=backend, fuzz_seed=seed, strategy=strategy)
        except* AssertionError:
            found += 1
    assert found / runs >= bound, (found, runs, bound)


def test_a_planted_bug_passes_in_the_loops_natural_order() -> None:
    for planted in (depth_1, depth_2, depth_3):
        run(planted)  # asyncio's own order
        for backend in ("asyncio", "trio"):
            run(planted, backend=backend, schedule=Schedule())


def test_strategies_describe_themselves() -> None:
    assert repr(RandomDelay()) == "RandomDelay(probability=0.5, max_delay=3)"
    assert repr(PCT()) == "PCT(depth=3, steps=None)"
    assert PCT(2, 10) == PCT(depth=2, steps=10) != PCT(depth=2)
    assert RandomDelay(0.1) == RandomDelay(probability=0.1) != PCT()
    assert len({RandomDelay(), RandomDelay(), PCT(), PCT()}) == 2


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: RandomDelay(probability=2),
            ValueError,
            "RandomDelay[(][)] probability",
        ),
        (lambda: RandomDelay(max_delay=0), ValueError, "max_delay must be a positive"),
        (lambda: PCT(depth=0), ValueError, "PCT[(][)] depth must be a positive int"),
        (lambda: PCT(steps=1.5), TypeError, "PCT[(][)] steps must be"),  # type: ignore[arg-type]
    ],
)
def test_strategies_check_their_arguments(
    make: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make()


async def three_workers() -> list[str]:
    order: list[str] = []

    async def worker(name: str) -> None:
        for n in range(3):
            await checkpoint()
            order.append(f"{name}{n}")

    async with anyio.create_task_group() as tg:
        for name in "abc":
            tg.start_soon(worker, name)
    return order


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_pct_with_depth_1_runs_each_task_to_its_end_in_priority_order(
    backend: Backend,
) -> None:
    # Without priority changes, the highest-priority runnable task always
    # runs; the others' wake-ups wait: each worker's steps come together.
    orders = set()
    for seed in range(20):
        order = run(three_workers, backend=backend, fuzz_seed=seed, strategy=PCT(1))
        blocks = [order[i : i + 3] for i in (0, 3, 6)]
        assert all(len({name[0] for name in block}) == 1 for block in blocks), order
        orders.add("".join(block[0][0] for block in blocks))
    assert len(orders) >= 4  # different priorities, different orders
