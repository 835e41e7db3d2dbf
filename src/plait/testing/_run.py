"""Run a test body on a named backend, on virtual time and optionally explored."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, TypeVarTuple, Unpack

import anyio

from .._core._checks import check_choice, fail
from .._core._event_loop import name_after
from ._clock import ExplorationNotSupportedError, VirtualClock
from ._fuzzer import ScheduleFuzzer
from ._fuzzing import DrawnSchedule, active_fuzzer, exploring
from ._policies import PCT, RandomDelay, choose_strategy, seed_check
from ._trace import Schedule

T = TypeVar("T")
PosArgsT = TypeVarTuple("PosArgsT")

_BACKENDS = ("asyncio", "uvloop", "trio")

UVLOOP_EXPLORATION = (
    "schedule exploration is not supported on uvloop: its scheduler is C code "
    "plait.testing cannot take decisions in. Explore on 'asyncio' or 'trio', or "
    "run on uvloop without fuzz_seed/schedule"
)


def run(
    fn: Callable[[Unpack[PosArgsT]], Awaitable[T]],
    *args: *PosArgsT,
    backend: str = "asyncio",
    virtual_time: bool | VirtualClock = True,
    fuzz_seed: int | None = None,
    strategy: object = None,
    schedule: Schedule | DrawnSchedule | None = None,
) -> T:
    """Run ``fn(*args)`` on a fresh event loop, on virtual time by default.

    Inside, ``plait.testing.current_clock()`` returns the clock, and every
    sleep, timeout, retry backoff and rate limit runs on it: with
    ``virtual_time=True`` an hour of sleeping passes in milliseconds at exact
    instants (see ``VirtualClock``).

    With *fuzz_seed* (or *schedule*) the run's schedule is explored: at every
    point where a task yields to the loop, the strategy decides which
    runnable task goes next (see ``fuzz_schedule``); the same seed gives the
    same interleaving on the same backend. An exception the run raises then
    carries a note naming the seed, how to replay it, and the last steps.

    Args:
        fn: an async function (pass it, don't call it: ``run(main)``, not
            ``run(main())``).
        *args: positional arguments for *fn*.
        backend: ``'asyncio'``, ``'uvloop'`` or ``'trio'``.
        virtual_time: ``True`` for a fresh autojumping ``VirtualClock``, a
            ``VirtualClock`` of your own (e.g. ``VirtualClock(autojump=False)``
            to move time by hand), or ``False`` for real time.
        fuzz_seed: explore the schedule drawn from this seed (0 to 2**32 - 1);
            plait's random source (retry jitter) is seeded from it too.
        strategy: with *fuzz_seed*: ``'random'`` (default), ``'pct'``, or a
            ``RandomDelay`` or ``PCT``.
        schedule: replay this ``Schedule`` (from a failure report or
            ``explore()``), or take the decisions a hypothesis
            ``schedules()`` draws.

    Returns:
        What *fn* returned.

    Raises:
        VirtualTimeNotSupportedError: for ``backend='uvloop'`` with virtual
            time; pass ``virtual_time=False`` there.
        ExplorationNotSupportedError: for ``backend='uvloop'`` with a fuzz
            seed or a schedule.

    Example:
        >>> import anyio
        >>> from plait import testing
        >>> async def nap() -> float:
        ...     with anyio.move_on_after(3600):
        ...         await anyio.sleep_forever()
        ...     return anyio.current_time()
        >>> testing.run(nap, backend="trio")
        3600.0
    """
    given: object = fn
    if inspect.iscoroutine(given):
        given.close()  # it will never run: spare the "never awaited" warning
    if not callable(given):
        raise TypeError(
            f"fn must be an async function, got {fn!r}; pass the function and its "
            "arguments, e.g. run(main, 1), not run(main(1))"
        )
    check_choice("run()", "backend", backend, _BACKENDS)
    if isinstance(virtual_time, VirtualClock):
        clock: VirtualClock | None = virtual_time
    elif isinstance(virtual_time, bool):
        clock = VirtualClock() if virtual_time else None
    else:
        raise TypeError(
            f"virtual_time must be a bool or a VirtualClock, got {virtual_time!r}"
        )
    fuzzer, entering = _fuzzer(fuzz_seed, strategy, schedule)
    if fuzzer is not None and backend == "uvloop":
        raise ExplorationNotSupportedError(UVLOOP_EXPLORATION)
    options = {} if clock is None else clock.backend_options(backend)
    name = "trio" if backend == "trio" else "asyncio"
    if backend == "uvloop":
        options["use_uvloop"] = True

    async def main() -> T:
        return await fn(*args)

    if fuzzer is not None and name == "trio":
        # Loaded before the fuzzer is entered so that it seeds trio's scheduler.
        from . import _trio  # noqa: F401  # pyright: ignore[reportUnusedImport]
    with entering:
        finish = None if fuzzer is None else _explore_options(fuzzer, name, options)
        completed = False
        try:
            result = anyio.run(
                name_after(main, fn), backend=name, backend_options=options
            )
            completed = True
        except Exception as error:
            if fuzzer is not None:
                error.add_note(failure_note(fuzzer, backend, fn))
            raise
        finally:
            if finish is not None:
                finish(completed=completed)
            if isinstance(schedule, DrawnSchedule) and fuzzer is not None:
                schedule.taken = fuzzer.taken()
                if schedule.stopped is not None:
                    raise schedule.stopped
    return result


def _fuzzer(
    seed: int | None, strategy: object, schedule: object
) -> tuple[ScheduleFuzzer | None, contextlib.AbstractContextManager[Any]]:
    if seed is not None:
        seed_check("run()", seed)
    if schedule is not None and not isinstance(schedule, Schedule | DrawnSchedule):
        fail(
            "run()",
            "schedule",
            "a Schedule or a value drawn from schedules()",
            schedule,
            error=TypeError,
        )
    if isinstance(schedule, DrawnSchedule):
        if strategy is not None:
            fail(
                "run()",
                "strategy",
                "left out with a drawn schedule",
                strategy,
                error=ValueError,
            )
        fuzzer = ScheduleFuzzer(0 if seed is None else seed, strategy=schedule)
        return fuzzer, exploring(fuzzer)
    if schedule is not None and strategy is not None:
        fail(
            "run()", "strategy", "left out with a schedule", strategy, error=ValueError
        )
    if seed is not None or schedule is not None:
        chosen = choose_strategy("run()", strategy, None, None)
        fuzzer = ScheduleFuzzer(
            0 if seed is None else seed, strategy=chosen, schedule=schedule
        )
        return fuzzer, exploring(fuzzer)
    if strategy is not None:
        fail("run()", "strategy", "given with a fuzz_seed", strategy, error=ValueError)
    return active_fuzzer(), contextlib.nullcontext()


def _explore_options(
    fuzzer: ScheduleFuzzer, name: str, options: dict[str, Any]
) -> Callable[..., None] | None:
    if name == "trio":
        from ._explore_trio import TrioGlue

        options["instruments"] = [*options.get("instruments", ()), TrioGlue(fuzzer)]
        return None
    from ._explore_asyncio import ExploringLoops

    loops = ExploringLoops(fuzzer, options.get("loop_factory"))
    options["loop_factory"] = loops
    return loops.finish


def failure_note(fuzzer: ScheduleFuzzer, backend: str, fn: object) -> str:
    """Return the note an explored run's failure carries: what, how to replay."""
    name = getattr(fn, "__name__", "fn")
    if fuzzer.schedule is not None or not isinstance(
        fuzzer.strategy, RandomDelay | PCT
    ):
        how = f"schedule=Schedule.parse({str(fuzzer.taken())!r})"
    else:
        how = f"fuzz_seed={fuzzer.seed}, strategy={fuzzer.strategy!r}"
    return (
        f"plait.testing: failed under schedule exploration on {backend} "
        f"({fuzzer.switches} deviations from the loop's order in "
        f"{fuzzer.decisions} decisions)\n"
        f"replay: plait.testing.run({name}, ..., backend={backend!r}, {how})\n"
        f"{fuzzer.format_trace()}"
    )
