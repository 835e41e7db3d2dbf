"""explore(): try schedules until one fails, then shrink it to what races."""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, TypeVarTuple, Unpack, cast

import anyio

from .._core._checks import check_bool, check_choice, check_int, check_positive_int
from ._clock import ExplorationNotSupportedError
from ._fuzzer import ScheduleFuzzer
from ._fuzzing import exploring
from ._policies import PCT, SEED_LIMIT, Strategy, resolve_strategy
from ._run import UVLOOP_EXPLORATION, run
from ._trace import Deviation, Schedule, TraceStep

T = TypeVar("T")
PosArgsT = TypeVarTuple("PosArgsT")

# Shrinking replays the failing schedule with parts of its deviations left
# out; past this many replays it keeps the smallest failing one found.
_SHRINK_RUNS = 500
# A shrunk trace that long is shown whole; a longer one around its
# deviations and before the failure.
_WHOLE_TRACE = 60
_CONTEXT = 3


class Exploration:
    """What ``explore()`` found: the first failing schedule, shrunk, or none.

    ``str()`` of it is the report: the failure, the seed, how to replay the
    shrunk schedule, and its trace, which task ran at each decision point
    and the line it resumed at, each deviation from the loop's order marked.

    Attributes:
        failed: whether some schedule failed.
        schedules: how many schedules were run before the first failure (or
            in all), the loop's natural order included.
        seed: the seed whose schedule failed first (``None`` when the loop's
            natural order fails, or when nothing failed).
        error: the exception that schedule raised.
        schedule: the fewest deviations from the loop's natural order that
            still fail (``run(fn, schedule=...)`` replays them).
        deviations: how many deviations the failing schedule had before
            shrinking.
        trace: the decision points of the shrunk schedule.
    """

    def __init__(
        self,
        *,
        backend: str,
        strategy: Strategy,
        schedules: int,
        seed: int | None = None,
        error: BaseException | None = None,
        schedule: Schedule | None = None,
        deviations: int = 0,
        trace: Sequence[TraceStep] = (),
        name: str = "fn",
    ) -> None:
        self.backend = backend
        self.strategy = strategy
        self.schedules = schedules
        self.seed = seed
        self.error = error
        self.schedule = schedule
        self.deviations = deviations
        self.trace: list[TraceStep] = list(trace)
        self._name = name

    @property
    def failed(self) -> bool:
        """Whether some schedule failed."""
        return self.error is not None

    def __repr__(self) -> str:
        if not self.failed:
            return f"<Exploration: no failure in {self.schedules} schedules>"
        return (
            f"<Exploration: seed {self.seed} failed with "
            f"{type(self.error).__name__}, shrunk to {self.schedule!r}>"
        )

    def __str__(self) -> str:
        where = f"on {self.backend} with {self.strategy!r}"
        if self.error is None or self.schedule is None:
            return (
                f"explore({self._name}) {where}: "
                f"no failure in {self.schedules} schedules"
            )
        found = (
            "the loop's natural order fails"
            if self.seed is None
            else f"seed {self.seed} failed, schedule {self.schedules} tried"
        )
        call = f"plait.testing.run({self._name}, ..., backend={self.backend!r}"
        seed = f", fuzz_seed={self.seed}" if self.seed else ""
        lines = [
            f"explore({self._name}) {where}: {found}",
            *_describe_error(self.error),
            f"shrunk from {self.deviations} deviations from the loop's order to "
            f"{len(self.schedule)}: {str(self.schedule)!r}",
            f"replay: {call}{seed}, schedule=Schedule.parse({str(self.schedule)!r}))",
        ]
        if self.seed is not None:
            lines.append(
                f"unshrunk: {call}, fuzz_seed={self.seed}, strategy={self.strategy!r})"
            )
        lines.append(_trace_text(self.trace))
        return "\n".join(lines)


def _describe_error(error: BaseException, indent: str = "") -> list[str]:
    """Return lines naming *error* and, for a group, what it holds."""
    lines = [f"{indent}{type(error).__name__}: {error}"]
    if isinstance(error, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", error)
        for inner in group.exceptions:
            lines.extend(_describe_error(inner, indent + "  "))
    return lines


def _trace_text(trace: Sequence[TraceStep]) -> str:
    steps = sum(not step.held for step in trace)
    if len(trace) <= _WHOLE_TRACE:
        shown = list(trace)
        head = f"trace of the shrunk schedule, {steps} steps (* = a deviation):"
    else:
        keep: set[int] = set(range(len(trace) - 2 * _CONTEXT, len(trace)))
        for index, step in enumerate(trace):
            if step.instead_of is not None or step.site is not None or step.held:
                keep.update(range(index - _CONTEXT, index + _CONTEXT + 1))
        shown = [trace[i] for i in sorted(keep) if 0 <= i < len(trace)]
        head = (
            f"trace of the shrunk schedule, {steps} steps, shown around each "
            "deviation (*) and before the failure:"
        )
    lines = [head, f"{'step':>6}  {'task':<24} resumed at"]
    previous = 0
    for step in shown:
        if step.decision > previous + 1 and previous:
            lines.append(f"{'...':>6}")
        lines.append(str(step))
        previous = step.decision or previous
    return "\n".join(lines)


def explore(
    fn: Callable[[Unpack[PosArgsT]], Awaitable[object]],
    *args: *PosArgsT,
    runs: int = 200,
    backend: str = "asyncio",
    strategy: object = "random",
    seed: int = 0,
    virtual_time: bool = True,
    deadline: float | None = 3600.0,
    shrink: bool = True,
) -> Exploration:
    """Run ``fn(*args)`` under many schedules; shrink the first one that fails.

    First in the loop's natural order, then under the schedules of seeds
    *seed*, *seed* + 1, ... (``run(fn, fuzz_seed=...)``), until one raises
    an exception or *runs* schedules passed. The failing schedule is then
    shrunk: its deviations from the loop's natural order are left out, in
    halves, then quarters, ... (delta debugging), as long as the run still
    fails with the same kind of exception, so that what is left points at
    the steps that race. *fn* must be safe to call again: every schedule
    runs it afresh.

    Args:
        fn: an async function whose failure (an exception) is the bug.
        *args: positional arguments for *fn*.
        runs: how many seeds to try (>= 1).
        backend: ``'asyncio'`` or ``'trio'`` (``'uvloop'`` raises
            ``ExplorationNotSupportedError``).
        strategy: ``'random'``, ``'pct'``, a ``RandomDelay`` or a ``PCT``.
            A ``PCT`` without ``steps`` gets the length of the natural run.
        seed: the first seed.
        virtual_time: run on a fresh ``VirtualClock`` each time (default),
            or on real time (then a run that sleeps replays less exactly).
        deadline: with virtual time, fail a run that takes longer than
            this many virtual seconds, so that a deadlock fails at once
            (``TimeoutError``) instead of hanging; ``None`` for none.
        shrink: whether to shrink the failing schedule.

    Returns:
        An ``Exploration``: print it for the report.

    Example:
        >>> import anyio
        >>> from plait.testing import explore
        >>> async def lost_update() -> None:
        ...     box = {"n": 0}
        ...     async def add(warmup: int) -> None:
        ...         for _ in range(warmup):
        ...             await anyio.lowlevel.checkpoint()
        ...         n = box["n"]
        ...         await anyio.lowlevel.checkpoint()
        ...         box["n"] = n + 1
        ...     async with anyio.create_task_group() as tg:
        ...         tg.start_soon(add, 0)
        ...         tg.start_soon(add, 2)
        ...     assert box["n"] == 2, box
        >>> found = explore(lost_update)
        >>> found.failed, len(found.schedule)
        (True, 1)
    """
    check_positive_int("explore()", "runs", runs)
    check_choice("explore()", "backend", backend, ("asyncio", "uvloop", "trio"))
    if backend == "uvloop":
        raise ExplorationNotSupportedError(UVLOOP_EXPLORATION)
    check_int("explore()", "seed", seed, minimum=0, maximum=SEED_LIMIT)
    check_bool("explore()", "virtual_time", virtual_time)
    check_bool("explore()", "shrink", shrink)
    chosen = resolve_strategy("explore()", strategy)
    name = getattr(fn, "__name__", "fn")
    target: Callable[..., Awaitable[object]] = _bounded(
        fn, deadline if virtual_time else None
    )

    def attempt(**how: Any) -> tuple[ScheduleFuzzer, BaseException | None]:
        # Only the final replay keeps a trace: the search runs go faster.
        how.setdefault("history", 0)
        fuzzer = ScheduleFuzzer(how.pop("fuzz_seed", 0), **how)
        try:
            with exploring(fuzzer):
                run(target, *args, backend=backend, virtual_time=virtual_time)  # type: ignore[arg-type]
        except Exception as error:
            return fuzzer, error
        return fuzzer, None

    natural, error = attempt(schedule=Schedule())
    if error is None and isinstance(chosen, PCT) and chosen.steps is None:
        chosen = PCT(chosen.depth, steps=max(1, natural.decisions))
    tried = 1
    found: int | None = None
    failing = natural
    if error is None:
        for number in range(seed, min(seed + runs, SEED_LIMIT + 1)):
            tried += 1
            failing, error = attempt(fuzz_seed=number, strategy=chosen)
            if error is not None:
                found = number
                break
    if error is None:
        return Exploration(backend=backend, strategy=chosen, schedules=tried, name=name)
    taken = failing.taken()
    replay = functools.partial(attempt, fuzz_seed=found or 0)
    smallest = _shrink(taken, _kind(error), replay) if shrink else taken
    final, final_error = replay(schedule=smallest, history=100_000)
    return Exploration(
        backend=backend,
        strategy=chosen,
        schedules=tried,
        seed=found,
        error=final_error if final_error is not None else error,
        schedule=final.taken() if final_error is not None else smallest,
        deviations=len(taken),
        trace=final.trace,
        name=name,
    )


def _bounded(
    fn: Callable[..., Awaitable[object]], deadline: float | None
) -> Callable[..., Awaitable[object]]:
    if deadline is None or math.isinf(deadline):
        return fn

    @functools.wraps(fn)
    async def bounded(*args: Any) -> object:
        with anyio.fail_after(deadline):
            return await fn(*args)

    return bounded


def _kind(error: BaseException) -> tuple[str, ...]:
    """Return what makes two failures the same one: the exception types."""
    if isinstance(error, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", error)
        leaves: list[str] = []
        for inner in group.exceptions:
            leaves.extend(_kind(inner))
        return tuple(sorted(set(leaves)))
    return (type(error).__qualname__,)


Attempt = Callable[..., tuple[ScheduleFuzzer, BaseException | None]]


def _shrink(taken: Schedule, kind: tuple[str, ...], attempt: Attempt) -> Schedule:
    """Delta-debug *taken*: the fewest deviations that still fail as *kind*."""
    budget = [_SHRINK_RUNS]

    def fails(deviations: Sequence[Deviation]) -> Schedule | None:
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        fuzzer, error = attempt(schedule=Schedule(deviations))
        if error is None or _kind(error) != kind:
            return None
        return fuzzer.taken()

    current = list(taken)
    parts = 2
    while len(current) >= 1 and budget[0] > 0:
        size = math.ceil(len(current) / parts)
        chunks = [current[i : i + size] for i in range(0, len(current), size)]
        reduced = False
        for index in range(len(chunks)):
            complement = [d for j, c in enumerate(chunks) if j != index for d in c]
            for candidate in (chunks[index], complement):
                if len(candidate) >= len(current):
                    continue
                still = fails(candidate)
                if still is not None and len(still) < len(current):
                    current, reduced = list(still), True
                    break
            if reduced:
                break
        if reduced:
            parts = max(parts - 1, 2)
        elif parts >= len(current):
            break
        else:
            parts = min(parts * 2, len(current))
    return Schedule(current)
