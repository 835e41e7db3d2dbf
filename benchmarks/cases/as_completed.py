"""as_completed: N awaitables, results received in completion order.

The unlimited case compares plait with anyio's own ``as_completed`` and
asyncio's; the limited case runs at most ``limit`` at once.
"""

from __future__ import annotations

from typing import Any

from .._model import Case, Family, Trial, Variant
from ._common import ASYNCIO_ONLY, check_mapped

QUICK_N = 100
FULL_N = 10_000
LIMIT = 100


async def plait_as_completed(t: Trial) -> Any:
    import plait

    work = t.work
    limit = t.params.get("limit")
    out: list[Any] = []
    async with plait.as_completed(*[work(x) for x in range(t.n)], limit=limit) as done:
        async for handle in done:
            out.append(handle.return_value)
    return out


async def anyio_as_completed(t: Trial) -> Any:
    import anyio

    work = t.work
    out: list[Any] = []
    async with anyio.as_completed(*[work(x) for x in range(t.n)]) as done:
        async for handle in done:
            out.append(handle.return_value)
    return out


async def asyncio_as_completed(t: Trial) -> Any:
    import asyncio

    work = t.work
    return [await f for f in asyncio.as_completed([work(x) for x in range(t.n)])]


async def anyio_stream(t: Trial) -> Any:
    """The reference: a task per awaitable (or ``limit`` workers) and a stream."""
    import anyio

    work = t.work
    limit = t.params.get("limit")
    coros = iter([work(x) for x in range(t.n)])
    send, receive = anyio.create_memory_object_stream[Any](t.n)
    out: list[Any] = []

    async def one(coro: Any) -> None:
        send.send_nowait(await coro)

    async def worker() -> None:
        for coro in coros:
            send.send_nowait(await coro)

    with send, receive:
        async with anyio.create_task_group() as tg:
            if limit is None:
                for coro in coros:
                    tg.start_soon(one, coro)
            else:
                for _ in range(min(limit, t.n)):
                    tg.start_soon(worker)
            for _ in range(t.n):
                out.append(await receive.receive())
    return out


async def lionherd_completion_stream(t: Trial) -> Any:
    from lionherd_core.libs.concurrency import CompletionStream

    work = t.work
    out: list[Any] = []
    limit = t.params.get("limit")
    async with CompletionStream([work(x) for x in range(t.n)], limit=limit) as s:
        async for _, value in s:
            out.append(value)
    return out


VARIANTS = (
    Variant("plait", "plait.as_completed", "plait", plait_as_completed),
    Variant(
        "anyio_stream",
        "hand-written anyio task group + memory stream",
        "baseline",
        anyio_stream,
    ),
    Variant("anyio", "anyio.as_completed", "peer", anyio_as_completed),
    Variant(
        "asyncio",
        "asyncio.as_completed",
        "baseline",
        asyncio_as_completed,
        backends=ASYNCIO_ONLY,
    ),
    Variant(
        "lionherd",
        "lionherd-core CompletionStream",
        "peer",
        lionherd_completion_stream,
        requires=("lionherd_core",),
    ),
)


def cases(mode: str) -> list[Case]:
    n = QUICK_N if mode == "quick" else FULL_N
    return [
        Case(
            family="as_completed",
            title="as_completed",
            kind="time",
            n=n,
            baseline="anyio_stream",
            variants=("plait", "anyio_stream", "anyio", "asyncio", "lionherd"),
            group="as_completed",
        ),
        Case(
            family="as_completed",
            title=f"as_completed limit={LIMIT}",
            kind="time",
            n=n,
            baseline="anyio_stream",
            variants=("plait", "anyio_stream", "lionherd"),
            params={"limit": LIMIT},
            group="as_completed",
        ),
    ]


def check(trial: Trial, result: Any) -> None:
    check_mapped(trial, result, ordered=False, bounded="limit" in trial.params)


FAMILY = Family("as_completed", VARIANTS, cases, check)
