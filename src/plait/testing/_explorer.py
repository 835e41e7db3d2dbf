"""The explorer: decides which runnable step goes next, and records it.

The event-loop glue (``_explore_asyncio``, ``_explore_trio``) tells the
explorer when a task's step becomes runnable (``add``) and asks it, each
time the loop is about to run a task step, which one (``choose``). Nothing
here imports an event loop.

The loop's *natural order* is the order the steps became runnable, with
steps that became runnable between the same two decisions ordered by task
creation (anyio delivers a cancellation to a set of tasks, in an order that
changes from run to run; trio's own deterministic mode sorts the same way).
A schedule with no deviations runs the steps in that order.
"""

from __future__ import annotations

import bisect
import random
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from anyio.lowlevel import cancel_shielded_checkpoint

from ._policies import Strategy, resolve_strategy, seed_check
from ._trace import Deviation, Schedule, TraceStep, Where, describe, format_trace

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


class Glue(Protocol):
    """What the explorer needs from the event loop it is attached to."""

    def owns_current(self) -> bool:
        """Return whether the caller runs in the explored loop."""
        ...

    def current_task(self) -> object:
        """Return the running task."""
        ...

    def name(self, task: Any) -> str:
        """Return the task's name."""
        ...

    def locate(self, task: Any) -> Where:
        """Return where the suspended task resumes."""
        ...


class Step:
    """A runnable step of one task, waiting for its turn."""

    __slots__ = ("handle", "key", "number", "payload", "task")

    def __init__(self, task: object, number: int, epoch: int) -> None:
        self.task = task
        self.number = number
        self.key = (epoch, number)
        self.payload: Any = None
        self.handle: Any = None


class ScheduleFuzzer:
    """Decides the schedule of an explored run, and records it.

    ``fuzz_schedule`` makes one and event loops that plait.testing explores
    consult it. Every point where a task yields to the event loop is a
    decision point (a checkpoint, a lock or event wait that resumes, a task's
    first step, a ``plait.fuzz_point()``): the strategy decides which
    runnable task goes next, drawing from a generator seeded by *seed*, so
    a seed replays its interleaving on the same backend.

    Attributes:
        seed: the seed this run replays from.
        strategy: the ``RandomDelay`` or ``PCT`` that takes the decisions.
        schedule: the ``Schedule`` being replayed instead, if any.
        decisions: how many decision points the run has passed.
        deviations: the decisions taken against the loop's natural order.
    """

    def __init__(
        self,
        seed: int,
        *,
        strategy: object = "random",
        schedule: Schedule | None = None,
        history: int = 30,
    ) -> None:
        self.seed = seed_check("ScheduleFuzzer()", seed)
        self.strategy: Strategy = resolve_strategy("ScheduleFuzzer()", strategy)
        self.schedule = schedule
        self.decisions = 0
        self.deviations: list[Deviation] = []
        self.glue: Glue | None = None
        self.ready: list[Step] = []
        self._policy = self.strategy.start(random.Random(f"plait-explore-{seed}"))
        self._numbers: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._names: list[str] = [""]
        self._task_steps: list[int] = [0]
        self._task_points: list[int] = [0]
        # (decision, task, where it resumed, the natural task or 0, site)
        self._recent: deque[tuple[int, int, Where, int, str | None]] = deque(
            maxlen=history
        )

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
                site,
            )
            for decision, number, where, natural, site in self._recent
        ]

    def taken(self) -> Schedule:
        """Return the deviations this run took, as a replayable ``Schedule``."""
        return Schedule(self.deviations)

    def format_trace(self) -> str:
        """Return the trace as a table, with the task names and lines."""
        return format_trace(self.trace, total=self.decisions)

    def attach(self, glue: Glue) -> None:
        """Start taking the decisions of the loop *glue* drives."""
        if self.glue is not None:
            raise RuntimeError(
                "this fuzz_schedule() already explores a running event loop; "
                "one schedule explores one loop at a time"
            )
        self.glue = glue

    def detach(self, glue: Glue) -> None:
        """Stop taking decisions for *glue*'s loop."""
        if self.glue is glue:
            self.glue = None
            self.ready.clear()

    def number(self, task: object) -> int:
        """Return the number of *task*, counting tasks in the order first seen."""
        number = self._numbers.get(task)
        if number is None:
            number = self._numbers[task] = len(self._names)
            glue = self.glue
            self._names.append(glue.name(task) if glue is not None else "task")
            self._task_steps.append(0)
            self._task_points.append(0)
        return number

    def name(self, number: int) -> str:
        """Return ``name#number`` for the task with *number*."""
        return f"{self._names[number]}#{number}"

    def add(self, task: object) -> Step:
        """Register a runnable step of *task*; return it."""
        step = Step(task, self.number(task), self.decisions)
        ready = self.ready
        if not ready or ready[-1].key <= step.key:
            ready.append(step)
        else:
            bisect.insort(ready, step, key=_key)
        return step

    def choose(self) -> Step:
        """Take a decision: remove the step to run next from ``ready``."""
        ready = self.ready
        self.decisions += 1
        if self.schedule is not None:
            index = self._replay(ready)
        else:
            index = self._policy.pick(ready, self.decisions)
        step = ready.pop(index)
        number = step.number
        steps = self._task_steps
        natural = 0
        if index:
            natural = ready[0].number
            self.deviations.append(
                Deviation("step", natural, steps[natural], number, steps[number])
            )
        steps[number] += 1
        recent = self._recent
        if recent.maxlen:
            glue = self.glue
            where = glue.locate(step.task) if glue is not None else "?"
            recent.append((self.decisions, number, where, natural, None))
        return step

    def _replay(self, ready: list[Step]) -> int:
        assert self.schedule is not None
        steps = self._task_steps
        natural = ready[0].number
        instead = self.schedule.steps_instead(natural, steps[natural])
        if instead:
            for index, step in enumerate(ready):
                if (step.number, steps[step.number]) in instead:
                    return index
        return 0

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


def _key(step: Step) -> tuple[int, int]:
    return step.key


Locate = Callable[[Any], str]
