"""The public face of an explored run's decisions: ``ScheduleFuzzer``.

It is the explorer (``_explorer.Explorer``) with what a user reads: the
trace, the deviations taken as a ``Schedule``, and the hook that makes a
``plait.fuzz_point()`` one more decision point.
"""

from __future__ import annotations

from anyio.lowlevel import cancel_shielded_checkpoint

from ._explorer import HELD, Explorer
from ._policies import choose_strategy
from ._trace import Deviation, Schedule, TraceStep, describe, format_trace

# plait's own hand-off points (patterns, supervision): under exploration
# every real yield is a decision point already, and a switch where the code
# does not yield would be a schedule no event loop can produce.
PLAIT_SITES = frozenset(
    {"task_start", "before_call", "after_call", "deliver", "rate_wait", "restart"}
)

NOT_EXPLORED = (
    "plait.fuzz_point() ran under fuzz_schedule() in an event loop that is not "
    "being explored. Exploration takes over the scheduler of the loops "
    "plait.testing runs (plait.testing.run(..., fuzz_seed=...), "
    "plait.testing.explore(), @pytest.mark.fuzz_schedule) and of a running "
    "asyncio or trio loop fuzz_schedule() is entered in; uvloop cannot be explored"
)


class ScheduleFuzzer(Explorer):
    """Decides the schedule of an explored run, and records it.

    ``fuzz_schedule`` makes one and event loops that plait.testing explores
    consult it. Every point where a task yields to the event loop is a
    decision point (a checkpoint, a lock or event wait that resumes, a task's
    first step, a ``plait.fuzz_point()``): the strategy decides which
    runnable task goes next, drawing from a generator seeded by *seed*, so
    a seed replays its interleaving on the same backend.

    Its keyword arguments are those of ``fuzz_schedule`` (and *history*: how
    many decision points the trace keeps, 0 for none).

    Attributes:
        seed: the seed this run replays from.
        strategy: the ``RandomDelay`` or ``PCT`` that takes the decisions.
        schedule: the ``Schedule`` being replayed instead, if any.
        decisions: how many decision points the run has passed.
        deviations: the decisions taken against the loop's natural order.

    Example:
        >>> import anyio
        >>> from plait.testing import fuzz_schedule, run
        >>> async def pair() -> None:
        ...     async with anyio.create_task_group() as tg:
        ...         tg.start_soon(anyio.lowlevel.checkpoint)
        ...         tg.start_soon(anyio.lowlevel.checkpoint)
        >>> with fuzz_schedule(3) as fuzzer:
        ...     run(pair)
        >>> fuzzer.decisions > 4, fuzzer.tasks >= 3
        (True, True)
    """

    decisions: int

    def __init__(
        self,
        seed: int,
        *,
        strategy: object = None,
        probability: float | None = None,
        max_switches: int | None = None,
        schedule: Schedule | None = None,
        history: int = 30,
    ) -> None:
        chosen = choose_strategy(
            "ScheduleFuzzer()", strategy, probability, max_switches
        )
        super().__init__(seed, strategy=chosen, schedule=schedule, history=history)

    def __repr__(self) -> str:
        return (
            f"<ScheduleFuzzer seed={self.seed} strategy={self.strategy!r} "
            f"decisions={self.decisions} deviations={len(self.deviations)}>"
        )

    @property
    def switches(self) -> int:
        """How many decisions went against the loop's natural order."""
        return len(self.deviations)

    @property
    def tasks(self) -> int:
        """How many tasks the run has had steps of."""
        return len(self._names) - 1

    @property
    def trace(self) -> list[TraceStep]:
        """The last decision points of the run, oldest first."""
        return [
            TraceStep(
                decision,
                self.name(number),
                describe(where),
                self.name(natural) if natural else None,
                None if site is HELD else site,
                site is HELD,
            )
            for decision, number, where, natural, site in self._recent
        ]

    def taken(self) -> Schedule:
        """Return the deviations this run took, as a replayable ``Schedule``."""
        return Schedule(self.deviations)

    def format_trace(self) -> str:
        """Return the trace as a table, with the task names and lines."""
        return format_trace(self.trace, total=self.decisions)

    async def __call__(self, site: str) -> None:
        if site in PLAIT_SITES:
            return
        glue = self.glue
        if glue is None or not glue.owns_current():
            raise RuntimeError(NOT_EXPLORED)
        task = glue.current_task()
        number = self.number(task)
        self._task_points[number] += 1
        at = self._task_points[number]
        self.decisions += 1
        if self.schedule is not None:
            yields = self.schedule.yields_at(number, at)
        else:
            yields = self._policy.yield_at_point(number, self.ready, self.decisions)
        if not yields:
            return
        self.deviations.append(Deviation("point", number, at))
        if self._recent.maxlen:
            self._recent.append((self.decisions, number, glue.locate(task), 0, site))
        await cancel_shielded_checkpoint()
