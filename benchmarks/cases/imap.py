"""imap: stream N results to a consumer, ``limit`` at once, ordered or not."""

from __future__ import annotations

from typing import Any

from .._model import Case, Family, Trial, Variant
from ._common import (
    ASYNCIO_ONLY,
    FULL_N,
    LIMITS,
    QUICK_N,
    check_mapped,
    names,
    tqdm_observer,
)


def _ordered(t: Trial) -> bool:
    return bool(t.params["ordered"])


async def plait_imap(t: Trial) -> Any:
    import plait

    out: list[Any] = []
    async with plait.imap(
        t.work, range(t.n), limit=t.limit, ordered=_ordered(t)
    ) as results:
        async for value in results:
            out.append(value)
    return out


async def plait_imap_tqdm(t: Trial) -> Any:
    import plait

    out: list[Any] = []
    async with plait.imap(
        t.work, range(t.n), limit=t.limit, ordered=_ordered(t), observer=tqdm_observer()
    ) as results:
        async for value in results:
            out.append(value)
    return out


async def anyio_pool_stream(t: Trial) -> Any:
    """The hand-written reference: a pool sending results through a memory stream.

    The stream holds up to ``limit`` results; ordered output is rebuilt by the
    consumer from ``(index, value)`` pairs.
    """
    import anyio

    ordered = _ordered(t)
    send, receive = anyio.create_memory_object_stream[Any](t.limit)
    items = enumerate(range(t.n))
    work = t.work
    out: list[Any] = []

    async def worker(stream: Any) -> None:
        async with stream:
            if ordered:
                for i, x in items:
                    await stream.send((i, await work(x)))
            else:
                for _, x in items:
                    await stream.send(await work(x))

    async with anyio.create_task_group() as tg:
        async with send:
            for _ in range(min(t.limit, t.n)):
                tg.start_soon(worker, send.clone())
        async with receive:
            if ordered:
                pending: dict[int, Any] = {}
                expected = 0
                async for i, value in receive:
                    if i != expected:
                        pending[i] = value
                        continue
                    out.append(value)
                    expected += 1
                    while expected in pending:
                        out.append(pending.pop(expected))
                        expected += 1
            else:
                async for value in receive:
                    out.append(value)
    return out


async def aiometer_amap(t: Trial) -> Any:
    import aiometer

    out: list[Any] = []
    async with aiometer.amap(t.work, range(t.n), max_at_once=t.limit) as results:
        async for value in results:
            out.append(value)
    return out


async def aiostream_map(t: Trial) -> Any:
    from aiostream import stream

    work: Any = t.work  # aiostream's operator typing does not accept it as is
    mapped: Any = stream.map(
        stream.iterate(range(t.n)), work, ordered=_ordered(t), task_limit=t.limit
    )
    out: list[Any] = []
    async with mapped.stream() as values:
        async for value in values:
            out.append(value)
    return out


async def lionherd_completion_stream(t: Trial) -> Any:
    from lionherd_core.libs.concurrency import CompletionStream

    out: list[Any] = []
    async with CompletionStream([t.work(x) for x in range(t.n)], limit=t.limit) as s:
        async for _, value in s:
            out.append(value)
    return out


VARIANTS = (
    Variant("plait", "plait.imap", "plait", plait_imap),
    Variant(
        "plait_tqdm",
        "plait.imap, TqdmObserver",
        "plait",
        plait_imap_tqdm,
        requires=("tqdm",),
    ),
    Variant(
        "anyio_pool_stream",
        "hand-written anyio pool + memory stream",
        "baseline",
        anyio_pool_stream,
    ),
    Variant(
        "aiometer",
        "aiometer.amap",
        "peer",
        aiometer_amap,
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
        "lionherd-core CompletionStream",
        "peer",
        lionherd_completion_stream,
        requires=("lionherd_core",),
        per_item_task=True,
    ),
)

# Peers that cannot keep input order are left out of the ordered cases.
_UNORDERED_ONLY = {"aiometer", "lionherd"}


def cases(mode: str) -> list[Case]:
    n = QUICK_N if mode == "quick" else FULL_N
    out: list[Case] = []
    for ordered in (True, False):
        variants = tuple(
            name
            for name in names(VARIANTS)
            if not (ordered and name in _UNORDERED_ONLY)
        )
        word = "ordered" if ordered else "unordered"
        out.extend(
            Case(
                family="imap",
                title=f"imap {word} limit={limit}",
                kind="time",
                n=n,
                baseline="anyio_pool_stream",
                variants=variants,
                params={"limit": limit, "ordered": ordered},
                group=f"imap {word}",
            )
            for limit in LIMITS
        )
    return out


def check(trial: Trial, result: Any) -> None:
    check_mapped(trial, result, ordered=_ordered(trial), bounded=True)


FAMILY = Family("imap", VARIANTS, cases, check)
