"""Schedule fuzzing: seeded extra task switches at plait's hand-off points."""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Generator
from typing import TYPE_CHECKING

from anyio.lowlevel import cancel_shielded_checkpoint

from plait._core._fuzz import set_fuzz_hook
from plait._core._random import plait_random

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

_SEED_LIMIT = 2**32 - 1


class ScheduleFuzzer:
    """The hook ``fuzz_schedule`` installs; records what it did.

    At each hand-off point (task start in plait's patterns, before and after
    each call of your function, limiter and rate waits, result delivery, and
    every ``plait.fuzz_point()``) it draws from its own seeded generator
    whether to let other tasks run first, and how many times. It switches
    with ``anyio.lowlevel.cancel_shielded_checkpoint()``, so fuzzing changes
    only the order in which ready tasks run: it never adds a cancellation
    point your code does not have, and it never reorders asyncio's ready
    queue itself (anyio's cancellation delivery relies on its FIFO order).

    Attributes:
        seed: the seed this run replays from.
        probability: chance that a point switches tasks.
        max_switches: most switches at one point.
        trace: ``(site, switches)`` for every point reached, in order.
    """

    def __init__(self, seed: int, *, probability: float, max_switches: int) -> None:
        self.seed = seed
        self.probability = probability
        self.max_switches = max_switches
        self.trace: list[tuple[str, int]] = []
        self._random = random.Random(f"plait-fuzz-{seed}")

    def __repr__(self) -> str:
        return f"<ScheduleFuzzer seed={self.seed} points={len(self.trace)}>"

    @property
    def switches(self) -> int:
        """How many task switches the fuzzer has added so far."""
        return sum(n for _, n in self.trace)

    async def __call__(self, site: str) -> None:
        switches = 0
        if self._random.random() < self.probability:
            switches = self._random.randint(1, self.max_switches)
        self.trace.append((site, switches))
        for _ in range(switches):
            await cancel_shielded_checkpoint()


@contextlib.contextmanager
def fuzz_schedule(
    seed: int, *, probability: float = 0.5, max_switches: int = 3
) -> Generator[ScheduleFuzzer, None, None]:
    """Perturb task interleavings reproducibly while the block runs.

    Installs a ``ScheduleFuzzer`` at plait's hand-off points and at every
    ``plait.fuzz_point()``, and seeds all of plait's randomness (retry and
    restart jitter) from *seed*. If trio is imported, its scheduler's own
    shuffling is seeded too, so the same seed replays the same interleaving
    on asyncio and on trio. Everything is restored on exit. Enter it around
    a whole run (``plait.testing.run(..., fuzz_seed=seed)`` does) or at the
    top of a test.

    Args:
        seed: any int from 0 to 2**32 - 1; report it to replay a failure.
        probability: chance in [0, 1] that a point switches tasks.
        max_switches: most task switches added at one point (>= 1).

    Yields:
        The fuzzer, whose ``trace`` tells which points switched.

    Example:
        >>> import anyio, plait
        >>> from plait.testing import fuzz_schedule, run
        >>> async def both_first() -> list[str]:
        ...     order: list[str] = []
        ...     async def step(name: str) -> None:
        ...         await plait.fuzz_point()
        ...         order.append(name)
        ...     async with anyio.create_task_group() as tg:
        ...         tg.start_soon(step, "a")
        ...         tg.start_soon(step, "b")
        ...     return order
        >>> orders = {tuple(run(both_first, fuzz_seed=s)) for s in range(20)}
        >>> sorted(orders)
        [('a', 'b'), ('b', 'a')]
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if not 0 <= seed <= _SEED_LIMIT:
        raise ValueError(f"seed must be between 0 and 2**32 - 1, got {seed}")
    if isinstance(probability, bool) or not isinstance(probability, int | float):
        raise TypeError(f"probability must be a number, got {probability!r}")
    if not 0 <= probability <= 1:
        raise ValueError(f"probability must be between 0 and 1, got {probability!r}")
    if isinstance(max_switches, bool) or not isinstance(max_switches, int):
        raise TypeError(f"max_switches must be an int, got {max_switches!r}")
    if max_switches < 1:
        raise ValueError(f"max_switches must be >= 1, got {max_switches}")
    fuzzer = ScheduleFuzzer(seed, probability=probability, max_switches=max_switches)
    source = plait_random()
    saved_plait = source.getstate()
    source.seed(f"plait-random-{seed}")
    trio_random: random.Random | None = None
    saved_trio: object = None
    if "trio" in sys.modules:
        from ._trio import scheduler_random

        trio_random = scheduler_random()
        saved_trio = trio_random.getstate()
        trio_random.seed(f"plait-trio-{seed}")
    previous = set_fuzz_hook(fuzzer)
    try:
        yield fuzzer
    finally:
        set_fuzz_hook(previous)
        source.setstate(saved_plait)
        if trio_random is not None:
            trio_random.setstate(saved_trio)  # type: ignore[arg-type]


def fuzz_seeds() -> SearchStrategy[int]:
    """Return a hypothesis strategy for fuzzing seeds.

    Shrinking moves toward small seeds, and hypothesis prints the failing one
    (``seed=17``), which replays the failure with ``fuzz_schedule(17)``.

    Example:
        >>> from hypothesis import given, settings
        >>> from plait.testing import fuzz_seeds, run
        >>> async def main() -> None: ...
        >>> @settings(max_examples=5, database=None)
        ... @given(seed=fuzz_seeds())
        ... def test_main(seed: int) -> None:
        ...     run(main, fuzz_seed=seed)
        >>> test_main()
    """
    from hypothesis import strategies as st

    return st.integers(min_value=0, max_value=_SEED_LIMIT)
