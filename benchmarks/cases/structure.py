"""structure: what an unused option costs, counted rather than timed.

One untimed run per variant at N and at 2N, counting tasks spawned, anyio
cancel scopes entered and scheduler steps; the marginal count per item is
``(count(2N) - count(N)) / N``. plait with ``timeout=None, retry=None,
rate=None, observer=None`` must match the hand-written pool: no extra task,
scope or checkpoint per item. Variants that set an option show what it does
cost (an observer: none of the three either).
"""

from __future__ import annotations

from typing import Any

from .._model import Backend, Case, Family, Trial, Variant
from . import bounded_map, gather, imap
from ._common import check_mapped, counting_observer

LIMIT = 10
# Every option of bounded_map and imap, given as unused.
UNUSED: dict[str, Any] = {
    "timeout": None,
    "retry": None,
    "rate": None,
    "observer": None,
}


async def plait_unused(t: Trial) -> Any:
    import plait

    return await plait.bounded_map(t.work, range(t.n), limit=t.limit, **UNUSED)


async def plait_timeout(t: Trial) -> Any:
    import plait

    return await plait.bounded_map(t.work, range(t.n), limit=t.limit, timeout=3600)


async def plait_retry(t: Trial) -> Any:
    import plait

    return await plait.bounded_map(
        t.work, range(t.n), limit=t.limit, retry=plait.RetryPolicy()
    )


async def plait_observer(t: Trial) -> Any:
    import plait

    return await plait.bounded_map(
        t.work, range(t.n), limit=t.limit, observer=counting_observer()
    )


async def imap_unused(t: Trial) -> Any:
    import plait

    out: list[Any] = []
    async with plait.imap(t.work, range(t.n), limit=t.limit, **UNUSED) as results:
        async for value in results:
            out.append(value)
    return out


VARIANTS = (
    Variant("plait", "plait.bounded_map, options unused", "plait", plait_unused),
    Variant("plait_timeout", "plait.bounded_map(timeout=3600)", "plait", plait_timeout),
    Variant(
        "plait_retry", "plait.bounded_map(retry=RetryPolicy())", "plait", plait_retry
    ),
    Variant(
        "plait_observer",
        "plait.bounded_map(observer=...) counting items",
        "plait",
        plait_observer,
    ),
    bounded_map.FAMILY.variant("anyio_pool"),
    Variant("gather_plait", "plait.gather", "plait", gather.plait_gather),
    Variant(
        "gather_anyio",
        "hand-written anyio task group",
        "baseline",
        gather.anyio_task_group,
    ),
    Variant("imap_plait", "plait.imap, options unused", "plait", imap_unused),
    imap.FAMILY.variant("anyio_pool_stream"),
)

# Stepping is counted through asyncio's pure-Python Handle and trio's
# instrument API; uvloop's handles are C, so it is left out.
_BACKENDS: tuple[Backend, ...] = ("asyncio", "trio")


def cases(mode: str) -> list[Case]:
    n = 200 if mode == "quick" else 2_000
    return [
        Case(
            family="structure",
            title=f"bounded_map limit={LIMIT}",
            kind="structure",
            n=n,
            baseline="anyio_pool",
            variants=(
                "plait",
                "plait_timeout",
                "plait_retry",
                "plait_observer",
                "anyio_pool",
            ),
            params={"limit": LIMIT},
            backends=_BACKENDS,
            group="structure",
        ),
        Case(
            family="structure",
            title="gather",
            kind="structure",
            n=n,
            baseline="gather_anyio",
            variants=("gather_plait", "gather_anyio"),
            backends=_BACKENDS,
            group="structure",
        ),
        Case(
            family="structure",
            title=f"imap ordered limit={LIMIT}",
            kind="structure",
            n=n,
            baseline="anyio_pool_stream",
            variants=("imap_plait", "anyio_pool_stream"),
            params={"limit": LIMIT, "ordered": True},
            backends=_BACKENDS,
            group="structure",
        ),
    ]


def check(trial: Trial, result: Any) -> None:
    bounded = "limit" in trial.params
    ordered = bool(trial.params.get("ordered", True))
    check_mapped(trial, result, ordered=ordered, bounded=bounded)


FAMILY = Family("structure", VARIANTS, cases, check)
