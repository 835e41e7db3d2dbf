"""bounded_map: N items through ``fn``, ``limit`` at once, results in order."""

from __future__ import annotations

import functools
from typing import Any

from .._model import Case, Family, Trial, Variant
from ._common import (
    ASYNCIO_ONLY,
    FULL_N,
    LIMITS,
    QUICK_N,
    check_mapped,
    counting_observer,
    names,
    tqdm_observer,
)


async def plait_bounded_map(t: Trial) -> Any:
    import plait

    return await plait.bounded_map(t.work, range(t.n), limit=t.limit)


async def plait_observed(t: Trial) -> Any:
    import plait

    return await plait.bounded_map(
        t.work, range(t.n), limit=t.limit, observer=counting_observer()
    )


async def plait_tqdm(t: Trial) -> Any:
    import plait

    return await plait.bounded_map(
        t.work, range(t.n), limit=t.limit, observer=tqdm_observer()
    )


async def anyio_pool(t: Trial) -> Any:
    """The hand-written reference: ``limit`` workers pulling from one iterator."""
    import anyio

    results: list[Any] = [None] * t.n
    items = enumerate(range(t.n))
    work = t.work

    async def worker() -> None:
        for i, x in items:
            results[i] = await work(x)

    async with anyio.create_task_group() as tg:
        for _ in range(min(t.limit, t.n)):
            tg.start_soon(worker)
    return results


async def native_pool(t: Trial) -> Any:
    """The same pool on asyncio.TaskGroup or a trio nursery."""
    results: list[Any] = [None] * t.n
    items = enumerate(range(t.n))
    work = t.work

    async def worker() -> None:
        for i, x in items:
            results[i] = await work(x)

    workers = min(t.limit, t.n)
    if t.backend == "trio":
        import trio

        async with trio.open_nursery() as nursery:
            for _ in range(workers):
                nursery.start_soon(worker)
    else:
        import asyncio

        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(worker())
    return results


async def semaphore_gather(t: Trial) -> Any:
    import asyncio

    semaphore = asyncio.Semaphore(t.limit)
    work = t.work

    async def one(x: int) -> int:
        async with semaphore:
            return await work(x)

    return await asyncio.gather(*[one(x) for x in range(t.n)])


async def aiometer_run_all(t: Trial) -> Any:
    import aiometer

    jobs = [functools.partial(t.work, x) for x in range(t.n)]
    return await aiometer.run_all(jobs, max_at_once=t.limit)


async def aiostream_map(t: Trial) -> Any:
    from aiostream import stream

    work: Any = t.work  # aiostream's operator typing does not accept it as is
    mapped: Any = stream.map(stream.iterate(range(t.n)), work, task_limit=t.limit)
    return await stream.list(mapped)


async def lionherd_bounded_map(t: Trial) -> Any:
    from lionherd_core.libs.concurrency import bounded_map

    return await bounded_map(t.work, range(t.n), limit=t.limit)


async def quattro_gather(t: Trial) -> Any:
    import quattro

    return await quattro.gather(
        *[t.work(x) for x in range(t.n)], concurrency_limit=t.limit
    )


VARIANTS = (
    Variant("plait", "plait.bounded_map", "plait", plait_bounded_map),
    Variant(
        "plait_observed",
        "plait.bounded_map, an observer counting items",
        "plait",
        plait_observed,
    ),
    Variant(
        "plait_tqdm",
        "plait.bounded_map, TqdmObserver",
        "plait",
        plait_tqdm,
        requires=("tqdm",),
    ),
    Variant("anyio_pool", "hand-written anyio pool", "baseline", anyio_pool),
    Variant("native_pool", "hand-written native pool", "baseline", native_pool),
    Variant(
        "semaphore_gather",
        "asyncio.Semaphore + gather",
        "baseline",
        semaphore_gather,
        backends=ASYNCIO_ONLY,
        per_item_task=True,
    ),
    Variant(
        "aiometer",
        "aiometer.run_all",
        "peer",
        aiometer_run_all,
        requires=("aiometer",),
        per_item_task=True,
    ),
    Variant(
        "aiostream",
        "aiostream stream.map",
        "peer",
        aiostream_map,
        backends=ASYNCIO_ONLY,
        requires=("aiostream",),
        per_item_task=True,
    ),
    Variant(
        "lionherd",
        "lionherd-core bounded_map",
        "peer",
        lionherd_bounded_map,
        requires=("lionherd_core",),
        per_item_task=True,
    ),
    Variant(
        "quattro",
        "quattro.gather(concurrency_limit)",
        "peer",
        quattro_gather,
        backends=ASYNCIO_ONLY,
        requires=("quattro",),
        per_item_task=True,
    ),
)


def cases(mode: str) -> list[Case]:
    n = QUICK_N if mode == "quick" else FULL_N
    return [
        Case(
            family="bounded_map",
            title=f"bounded_map limit={limit}",
            kind="time",
            n=n,
            baseline="anyio_pool",
            variants=names(VARIANTS),
            params={"limit": limit},
            group="bounded_map",
        )
        for limit in LIMITS
    ]


def check(trial: Trial, result: Any) -> None:
    check_mapped(trial, result, ordered=True, bounded=True)


FAMILY = Family("bounded_map", VARIANTS, cases, check)
