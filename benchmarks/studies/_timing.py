"""A small in-process A/B timer for studies (interleaved, medians, bootstrap)."""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable, Sequence

from .._stats import paired_ratio

Job = Callable[[], Awaitable[object]]


async def interleave(
    jobs: dict[str, Job],
    *,
    rounds: int,
    min_time: float,
    timer: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Time every job once per round, order alternating; seconds per call.

    *timer* may be ``time.process_time`` (CPU seconds of this process) on a
    machine other processes load, where wall time mostly measures them.
    """
    names = list(jobs)
    out: dict[str, list[float]] = {name: [] for name in names}
    for name in names:
        await jobs[name]()  # warm-up
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            total, reps = 0.0, 0
            while reps == 0 or total < min_time:
                gc.collect()
                start = timer()
                await jobs[name]()
                total += timer() - start
                reps += 1
            out[name].append(total / reps)
    return out


def summary(samples: dict[str, list[float]], baseline: str, per: int) -> list[str]:
    """Return one line per job: µs per item and ratio to *baseline* with interval."""
    lines = []
    base: Sequence[float | None] = samples[baseline]
    for name, values in samples.items():
        ratio = paired_ratio(list(values), list(base))
        assert ratio is not None
        mid = sorted(values)[len(values) // 2] / per * 1e6
        point, lo, hi = ratio
        lines.append(
            f"{name:<34} {mid:8.2f} µs/item  {point:5.2f}x [{lo:.2f}-{hi:.2f}]"
        )
    return lines
