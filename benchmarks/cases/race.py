"""race: N contestants, one wins after a checkpoint, the rest wait until cancelled.

Timed: from the call to the return, which must come after every loser was
cancelled and has finished; the check reads the probe right after return.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .._model import Case, Family, Trial, Variant, expect
from .._work import cancelled_exc, native_checkpoint, sleep_forever
from ._common import names

Contestant = Callable[[int], Coroutine[Any, Any, int]]


def setup(t: Trial) -> None:
    probe = t.probe
    winner = t.n // 2
    checkpoint = native_checkpoint(t.backend)
    forever = sleep_forever(t.backend)
    cancelled = cancelled_exc(t.backend)

    async def contestant(i: int) -> int:
        try:
            if i == winner:
                await checkpoint()
                return i
            await forever()
            raise AssertionError("a loser was never cancelled")
        except cancelled:
            probe.cancelled += 1
            raise
        finally:
            probe.finished += 1

    t.data["contestant"] = contestant
    t.data["winner"] = winner


def _contestant(t: Trial) -> Contestant:
    fn: Contestant = t.data["contestant"]
    return fn


async def plait_race(t: Trial) -> Any:
    import plait

    c = _contestant(t)
    return await plait.race(*[c(i) for i in range(t.n)])


async def anyio_task_group(t: Trial) -> Any:
    """The hand-written reference: first to finish cancels the group's scope."""
    import anyio

    won: list[int] = []

    async def run(aw: Awaitable[int]) -> None:
        value = await aw
        if not won:
            won.append(value)
            tg.cancel_scope.cancel()

    c = _contestant(t)
    async with anyio.create_task_group() as tg:
        for i in range(t.n):
            tg.start_soon(run, c(i))
    return won[0]


async def native(t: Trial) -> Any:
    """asyncio.wait(FIRST_COMPLETED) + cancel + wait, or a trio nursery."""
    c = _contestant(t)
    if t.backend == "trio":
        import trio

        won: list[int] = []

        async def run(i: int) -> None:
            value = await c(i)
            if not won:
                won.append(value)
                nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            for i in range(t.n):
                nursery.start_soon(run, i)
        return won[0]
    import asyncio

    tasks = [asyncio.create_task(c(i)) for i in range(t.n)]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.wait(pending)
    return done.pop().result()


async def lionherd_race(t: Trial) -> Any:
    from lionherd_core.libs.concurrency import race

    c = _contestant(t)
    return await race(*[c(i) for i in range(t.n)])


async def aiometer_run_any(t: Trial) -> Any:
    import aiometer

    c = _contestant(t)
    return await aiometer.run_any([functools.partial(c, i) for i in range(t.n)])


VARIANTS = (
    Variant("plait", "plait.race", "plait", plait_race),
    Variant(
        "anyio_task_group",
        "hand-written anyio task group",
        "baseline",
        anyio_task_group,
    ),
    Variant(
        "native",
        "asyncio.wait FIRST_COMPLETED + cancel / trio nursery",
        "baseline",
        native,
    ),
    Variant(
        "lionherd",
        "lionherd-core race",
        "peer",
        lionherd_race,
        requires=("lionherd_core",),
    ),
    Variant(
        "aiometer",
        "aiometer.run_any",
        "peer",
        aiometer_run_any,
        requires=("aiometer",),
        unfit="waits for every contestant instead of cancelling the losers: hangs",
    ),
)


def cases(mode: str) -> list[Case]:
    sizes = (10, 100) if mode == "quick" else (10, 1000)
    return [
        Case(
            family="race",
            title=f"race of {n}",
            kind="time",
            n=n,
            baseline="anyio_task_group",
            variants=names(VARIANTS),
            group="race",
        )
        for n in sizes
    ]


def check(trial: Trial, result: Any) -> None:
    n = trial.n
    probe = trial.probe
    expect(result == trial.data["winner"], f"race returned {result!r}")
    expect(probe.cancelled == n - 1, f"{probe.cancelled} of {n - 1} losers cancelled")
    expect(probe.finished == n, f"{probe.finished} of {n} contestants finished")


FAMILY = Family("race", VARIANTS, cases, check, setup)
