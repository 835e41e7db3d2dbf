"""scaling: bounded_map's cost per item as N grows (the plot's time curve).

Variants that spawn one task per item are run up to ``CAP`` items; beyond it
their per-item cost is extrapolated as flat (the report says so).
"""

from __future__ import annotations

from typing import Any

from .._model import Case, Family, Trial
from . import bounded_map

LIMIT = 100
CAP = {"quick": 100, "full": 100_000}
_SIZES = {"quick": (100, 300), "full": (1_000, 10_000, 100_000, 1_000_000)}
_NAMES = (
    "plait",
    "anyio_pool",
    "semaphore_gather",
    "aiometer",
    "aiostream",
    "lionherd",
)
VARIANTS = tuple(v for v in bounded_map.VARIANTS if v.name in _NAMES)


def cases(mode: str) -> list[Case]:
    return [
        Case(
            family="scaling",
            title=f"bounded_map limit={LIMIT}, N={n:,}",
            kind="time",
            n=n,
            baseline="anyio_pool",
            variants=_NAMES,
            params={"limit": LIMIT, "cap": CAP[mode]},
            backends=("asyncio", "trio"),
            rounds=1,  # the curve's shape, not a ratio; N=10^6 samples are slow
            group="scaling",
        )
        for n in _SIZES[mode]
    ]


def check(trial: Trial, result: Any) -> None:
    bounded_map.check(trial, result)


FAMILY = Family("scaling", VARIANTS, cases, check)
