"""Schedule exploration's front door: fuzz_schedule, fuzz_seeds, schedules."""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import sniffio

from .._core._fuzz import set_fuzz_hook
from .._core._random import plait_random
from ._fuzzer import ScheduleFuzzer
from ._policies import (
    SEED_LIMIT,
    Policy,
    Ready,
    choose_strategy,
    seed_check,
)
from ._trace import Schedule

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn, SearchStrategy

_active: ScheduleFuzzer | None = None


def active_fuzzer() -> ScheduleFuzzer | None:
    """Return the fuzzer of the innermost active ``fuzz_schedule``, if any."""
    return _active


@contextlib.contextmanager
def fuzz_schedule(
    seed: int,
    *,
    strategy: object = None,
    probability: float | None = None,
    max_switches: int | None = None,
    schedule: Schedule | None = None,
) -> Generator[ScheduleFuzzer, None, None]:
    """Explore task interleavings reproducibly while the block runs.

    Every point where a task yields to the event loop becomes a decision
    point (a checkpoint, a lock or event wait that resumes, a task's first
    step, a ``plait.fuzz_point()``), where *strategy* decides which runnable
    task goes next, drawing from a generator seeded by *seed*. All of
    plait's randomness (retry and restart jitter) is seeded from *seed*
    too, so the same seed replays the same interleaving on the same backend.

    Which loops are explored: the loops ``plait.testing.run`` starts inside
    the block (``run(..., fuzz_seed=seed)`` enters this for you), and, when
    the block is entered inside a running asyncio or trio loop, that loop
    until the block ends. uvloop cannot be explored: entering the block in
    a uvloop loop raises ``ExplorationNotSupportedError``. In a loop that
    is not explored, a ``plait.fuzz_point()`` reached inside the block
    raises ``RuntimeError`` rather than pretend to explore.

    Args:
        seed: any int from 0 to 2**32 - 1; report it to replay a failure.
        strategy: ``'random'`` (the default: ``RandomDelay()``), ``'pct'``
            (``PCT()``), or a ``RandomDelay`` or ``PCT`` with options.
        probability: shorthand for ``RandomDelay(probability, ...)``: the
            chance that a decision point deviates from the loop's order.
        max_switches: shorthand for ``RandomDelay(..., max_delay)``: how far
            down the loop's order the step run instead may come from.
        schedule: replay these deviations instead of drawing decisions.

    Yields:
        The fuzzer: its ``trace`` shows the last decision points, its
        ``taken()`` the deviations that made this interleaving.

    Example:
        >>> import anyio
        >>> from plait.testing import run
        >>> async def both_first() -> list[str]:
        ...     order: list[str] = []
        ...     async def step(name: str) -> None:
        ...         await anyio.lowlevel.checkpoint()
        ...         order.append(name)
        ...     async with anyio.create_task_group() as tg:
        ...         tg.start_soon(step, "a")
        ...         tg.start_soon(step, "b")
        ...     return order
        >>> orders = {tuple(run(both_first, fuzz_seed=s)) for s in range(20)}
        >>> sorted(orders)
        [('a', 'b'), ('b', 'a')]
    """
    seed_check("fuzz_schedule()", seed)
    chosen = choose_strategy("fuzz_schedule()", strategy, probability, max_switches)
    fuzzer = ScheduleFuzzer(seed, strategy=chosen, schedule=schedule)
    with exploring(fuzzer):
        yield fuzzer


@contextlib.contextmanager
def exploring(fuzzer: ScheduleFuzzer) -> Generator[ScheduleFuzzer, None, None]:
    """Make *fuzzer* the active one: seeded randomness, fuzz points, a running loop."""
    global _active
    source = plait_random()
    saved_plait = source.getstate()
    source.seed(f"plait-random-{fuzzer.seed}")
    trio_random: random.Random | None = None
    saved_trio: object = None
    if "trio" in sys.modules:
        from ._trio import scheduler_random

        trio_random = scheduler_random()
        saved_trio = trio_random.getstate()
        trio_random.seed(f"plait-trio-{fuzzer.seed}")
    detach = _attach_running(fuzzer)
    previous_hook = set_fuzz_hook(fuzzer)
    previous, _active = _active, fuzzer
    try:
        yield fuzzer
    finally:
        _active = previous
        set_fuzz_hook(previous_hook)
        if detach is not None:
            detach()
        source.setstate(saved_plait)
        if trio_random is not None:
            trio_random.setstate(saved_trio)  # type: ignore[arg-type]


def _attach_running(fuzzer: ScheduleFuzzer) -> Any:
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None
    if library == "trio":
        from ._explore_trio import TrioGlue

        trio_glue = TrioGlue(fuzzer)
        trio_glue.attach()
        return trio_glue.detach
    from ._explore_asyncio import AsyncioGlue, running_loop

    glue = AsyncioGlue(fuzzer, running_loop())
    glue.attach()
    return glue.detach


def fuzz_seeds() -> SearchStrategy[int]:
    """Return a hypothesis strategy for fuzzing seeds.

    Shrinking moves toward small seeds, and hypothesis prints the failing one
    (``seed=17``), which replays the failure with ``run(..., fuzz_seed=17)``.
    To let hypothesis take every decision itself and shrink the schedule,
    draw ``schedules()`` instead.

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

    return st.integers(min_value=0, max_value=SEED_LIMIT)


# Past this many drawn decisions a run goes on in the loop's order: a
# hypothesis example has a bounded amount of choices.
_DRAWN_DECISIONS = 200


class DrawnSchedule:
    """A schedule whose decisions hypothesis draws: what ``schedules()`` gives.

    Pass it to ``plait.testing.run(fn, schedule=...)``. After the run,
    ``taken`` is the ``Schedule`` of the deviations drawn, which replays the
    interleaving without hypothesis.

    Attributes:
        taken: the deviations the last run drew, or ``None`` before a run.
    """

    def __init__(self, draw: DrawFn) -> None:
        self.draw: DrawFn = draw
        self.taken: Schedule | None = None
        self.stopped: BaseException | None = None

    def __repr__(self) -> str:
        if self.taken is None:
            return "<a schedule hypothesis draws>"
        return f"<a drawn schedule: {self.taken!r}>"

    def start(self, rng: random.Random) -> Policy:
        """Return the decisions of one run, drawn by hypothesis."""
        self.stopped = None
        return _DrawnRun(self)


class _DrawnRun:
    def __init__(self, schedule: DrawnSchedule) -> None:
        from hypothesis import strategies as st

        self._schedule = schedule
        self._left = _DRAWN_DECISIONS
        self._st = st

    def _drawn(self, strategy: SearchStrategy[Any], natural: Any) -> Any:
        if self._left <= 0:
            return natural
        self._left -= 1
        try:
            return self._schedule.draw(strategy)
        except BaseException as stop:
            # Hypothesis ends an example by raising from a draw (its choices
            # ran out). Raised here it would break the event loop; the run
            # goes on in the loop's order and run() raises it afterwards.
            self._schedule.stopped = stop
            self._left = 0
            return natural

    def begin(self, ready: Sequence[Ready], decision: int) -> None:
        pass

    def pick(
        self, candidates: Sequence[Ready], ready: Sequence[Ready], decision: int
    ) -> int:
        if len(candidates) < 2:
            return 0
        index: int = self._drawn(self._st.integers(0, len(candidates) - 1), 0)
        return index

    def hold(self, step: Ready, ready: Sequence[Ready], decision: int) -> int:
        steps: int = self._drawn(self._st.integers(0, 4), 0)
        return steps

    def still_held(self, step: Ready, ready: Sequence[Ready], decision: int) -> bool:
        return False

    def yield_at_point(self, task: int, ready: Sequence[Ready], decision: int) -> bool:
        if not ready:
            return False
        yields: bool = self._drawn(self._st.booleans(), False)
        return yields


def schedules() -> SearchStrategy[DrawnSchedule]:
    """Return a hypothesis strategy for schedules: one more drawn input.

    Pass the drawn value to ``plait.testing.run(fn, schedule=...)``: at
    every decision point of that run hypothesis draws which runnable task
    goes next, so it searches interleavings as it searches any input, and
    shrinks a failing one toward the loop's natural order (fewest
    deviations). The failure carries a note with the ``Schedule`` that
    replays it.

    Example:
        >>> import anyio
        >>> from hypothesis import given, settings
        >>> from plait.testing import run, schedules
        >>> async def main() -> None:
        ...     async with anyio.create_task_group() as tg:
        ...         tg.start_soon(anyio.lowlevel.checkpoint)
        >>> @settings(max_examples=5, database=None)
        ... @given(schedule=schedules())
        ... def test_main(schedule) -> None:
        ...     run(main, schedule=schedule)
        >>> test_main()
    """
    from hypothesis import strategies as st

    return st.composite(lambda draw: DrawnSchedule(draw))()
