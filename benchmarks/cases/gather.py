"""gather: spawn N coroutines at once and collect their results in order."""

from __future__ import annotations

from typing import Any

from .._model import Case, Family, Trial, Variant
from ._common import ASYNCIO_ONLY, check_mapped, names

QUICK_N = 100
FULL_N = 10_000


async def plait_gather(t: Trial) -> Any:
    import plait

    work = t.work
    return await plait.gather(*[work(x) for x in range(t.n)])


async def anyio_task_group(t: Trial) -> Any:
    """The hand-written reference: ``create_task`` per coroutine, read the handles."""
    import anyio

    work = t.work
    async with anyio.create_task_group() as tg:
        handles = [tg.create_task(work(x)) for x in range(t.n)]
    return tuple([h.return_value for h in handles])


async def anyio_start_soon(t: Trial) -> Any:
    """The older hand-written form: ``start_soon`` a wrapper that stores the result."""
    import anyio

    results: list[Any] = [None] * t.n
    work = t.work

    async def store(i: int) -> None:
        results[i] = await work(i)

    async with anyio.create_task_group() as tg:
        for i in range(t.n):
            tg.start_soon(store, i)
    return results


async def native_task_group(t: Trial) -> Any:
    """asyncio.TaskGroup, or a trio nursery storing results by index."""
    work = t.work
    if t.backend == "trio":
        import trio

        results: list[Any] = [None] * t.n

        async def store(i: int) -> None:
            results[i] = await work(i)

        async with trio.open_nursery() as nursery:
            for i in range(t.n):
                nursery.start_soon(store, i)
        return results
    import asyncio

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(work(x)) for x in range(t.n)]
    return [task.result() for task in tasks]


async def asyncio_gather(t: Trial) -> Any:
    import asyncio

    work = t.work
    return await asyncio.gather(*[work(x) for x in range(t.n)])


async def anyio_gather(t: Trial) -> Any:
    import anyio

    work = t.work
    return await anyio.gather(*[work(x) for x in range(t.n)])


async def anyio_amap(t: Trial) -> Any:
    import anyio

    return await anyio.amap(t.work, range(t.n))


async def quattro_gather(t: Trial) -> Any:
    import quattro

    work = t.work
    return await quattro.gather(*[work(x) for x in range(t.n)])


async def lionherd_gather(t: Trial) -> Any:
    from lionherd_core.libs.concurrency import gather

    work = t.work
    return await gather(*[work(x) for x in range(t.n)])


VARIANTS = (
    Variant("plait", "plait.gather", "plait", plait_gather),
    Variant(
        "anyio_task_group",
        "hand-written anyio task group (create_task)",
        "baseline",
        anyio_task_group,
    ),
    Variant(
        "anyio_start_soon",
        "hand-written anyio task group (start_soon)",
        "baseline",
        anyio_start_soon,
    ),
    Variant(
        "native_task_group",
        "native asyncio.TaskGroup / trio nursery",
        "baseline",
        native_task_group,
    ),
    Variant(
        "asyncio_gather",
        "asyncio.gather",
        "baseline",
        asyncio_gather,
        backends=ASYNCIO_ONLY,
    ),
    Variant("anyio_gather", "anyio.gather", "peer", anyio_gather),
    Variant("anyio_amap", "anyio.amap", "peer", anyio_amap),
    Variant(
        "quattro",
        "quattro.gather",
        "peer",
        quattro_gather,
        backends=ASYNCIO_ONLY,
        requires=("quattro",),
    ),
    Variant(
        "lionherd",
        "lionherd-core gather",
        "peer",
        lionherd_gather,
        requires=("lionherd_core",),
    ),
)


def cases(mode: str) -> list[Case]:
    return [
        Case(
            family="gather",
            title="gather",
            kind="time",
            n=QUICK_N if mode == "quick" else FULL_N,
            baseline="anyio_task_group",
            variants=names(VARIANTS),
            group="gather",
        )
    ]


def check(trial: Trial, result: Any) -> None:
    check_mapped(trial, result, ordered=True, bounded=False)


FAMILY = Family("gather", VARIANTS, cases, check)
