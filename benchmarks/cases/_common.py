"""Checks and sizes shared by several families."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._model import Backend, Trial, expect

ASYNCIO_ONLY: frozenset[Backend] = frozenset({"asyncio", "uvloop"})
LIMITS: tuple[int, ...] = (10, 100, 1000)
QUICK_N = 100
FULL_N = 10_000


def check_mapped(trial: Trial, result: Any, *, ordered: bool, bounded: bool) -> None:
    """Check that every item was done once, in order if *ordered*, within limit."""
    n = trial.n
    values = list(result)
    expect(len(values) == n, f"expected {n} results, got {len(values)}")
    if ordered:
        expect(values == list(range(n)), "results are not in input order")
    else:
        expect(sorted(values) == list(range(n)), "results are not the items")
    expect(trial.probe.done == n, f"{trial.probe.done} of {n} items done")
    expect(trial.probe.active == 0, f"{trial.probe.active} items still active")
    if bounded:
        expect(
            trial.probe.peak <= trial.limit,
            f"{trial.probe.peak} items ran at once, limit {trial.limit}",
        )


def names(variants: Iterable[Any]) -> tuple[str, ...]:
    """Return the names of *variants*."""
    return tuple(v.name for v in variants)


def counting_observer() -> Any:
    """A plait observer that counts the items that ended: the least one costs."""
    import plait

    class Counting(plait.Observer):
        def __init__(self) -> None:
            self.ended = 0

        def on_exit(self, event: plait.ItemEvent) -> None:
            self.ended += 1

    return Counting()


def tqdm_observer() -> Any:
    """A ``plait.TqdmObserver`` drawing into memory, as often as tqdm's default."""
    import io

    import plait

    return plait.TqdmObserver(file=io.StringIO())
