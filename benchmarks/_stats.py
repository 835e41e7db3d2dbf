"""Medians, spread and bootstrap intervals of ratios from interleaved samples."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence

CONFIDENCE = 0.90
RESAMPLES = 4_000


def median(values: Sequence[float]) -> float:
    """Return the median of *values*."""
    return statistics.median(values)


def spread(values: Sequence[float]) -> float:
    """Return the relative half-range of *values*: ``(max - min) / 2 / median``."""
    if len(values) < 2:
        return 0.0
    mid = statistics.median(values)
    return (max(values) - min(values)) / 2 / mid if mid else 0.0


def paired_ratio(
    numerator: Sequence[float | None],
    denominator: Sequence[float | None],
    *,
    seed: int = 0,
) -> tuple[float, float, float] | None:
    """Return the median ratio of round-paired samples and its bootstrap interval.

    Samples of the same round ran next to each other in time, so their ratio
    cancels most of the machine's drift; the interval is the percentile
    bootstrap (``CONFIDENCE``) of the median of those per-round ratios.
    Rounds where either sample is missing are left out; ``None`` if none is left.
    """
    ratios = [
        a / b
        for a, b in zip(numerator, denominator, strict=True)
        if a is not None and b is not None and b > 0
    ]
    if not ratios:
        return None
    point = statistics.median(ratios)
    if len(ratios) == 1:
        return point, point, point
    rng = random.Random(seed)
    k = len(ratios)
    boots = sorted(
        statistics.median(rng.choices(ratios, k=k)) for _ in range(RESAMPLES)
    )
    tail = (1 - CONFIDENCE) / 2
    lo = boots[int(tail * RESAMPLES)]
    hi = boots[min(RESAMPLES - 1, int((1 - tail) * RESAMPLES))]
    return point, lo, hi
