"""memory: peak RSS of bounded_map over N items, one run per fresh process.

Items return ``x & 0xFF`` (a cached small int), so the only O(N) memory a
correct bounded_map must hold is its results list; the report subtracts
that list and divides by N: bytes per item, which is flat near zero when the
implementation holds O(limit) state.
"""

from __future__ import annotations

from typing import Any

from .._model import Case, Family, Trial, expect
from . import bounded_map

LIMIT = 100
CAP = {"quick": 1_000, "full": 100_000}
_SIZES = {
    "quick": (1_000, 3_000),
    "full": (10_000, 30_000, 100_000, 300_000, 1_000_000),
}
_NAMES = (
    "plait",
    "anyio_pool",
    "semaphore_gather",
    "aiometer",
    "aiostream",
    "lionherd",
)
VARIANTS = tuple(v for v in bounded_map.VARIANTS if v.name in _NAMES)


def setup(t: Trial) -> None:
    work = t.work

    async def small(x: int) -> int:
        await work(x)
        return x & 0xFF

    t.work = small


def cases(mode: str) -> list[Case]:
    return [
        Case(
            family="memory",
            title=f"memory, bounded_map limit={LIMIT}, N={n:,}",
            kind="memory",
            n=n,
            baseline="anyio_pool",
            variants=_NAMES,
            params={"limit": LIMIT, "cap": CAP[mode]},
            backends=("asyncio", "trio"),
            group="memory",
        )
        for n in _SIZES[mode]
    ]


def check(trial: Trial, result: Any) -> None:
    n = trial.n
    values = list(result)
    expect(len(values) == n, f"expected {n} results, got {len(values)}")
    expect(all(v == (i & 0xFF) for i, v in enumerate(values)), "results out of order")
    expect(trial.probe.done == n, f"{trial.probe.done} of {n} items done")
    expect(trial.probe.peak <= trial.limit, f"peak {trial.probe.peak} > limit")


FAMILY = Family("memory", VARIANTS, cases, check, setup)
