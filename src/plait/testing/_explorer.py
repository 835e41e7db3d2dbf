"""The explorer: decides which runnable step goes next, and records it.

The event-loop glue (``_explore_asyncio``, ``_explore_trio``) tells the
explorer when a task's step becomes runnable (``add``) and asks it, each
time the loop is about to run a task step, which one (``choose``). Nothing
here imports an event loop.

The explorer runs steps in *rounds*, as trio runs batches and asyncio runs
the callbacks ready at the start of an iteration: the steps runnable when a
round starts run in it, steps that become runnable meanwhile wait for the
next one. Within a round any order is one a loop can produce. Across
rounds, only a step that *resumes* a task (after a checkpoint, a wait, a
sleep, I/O) may be held back to a later round, as it would be if what woke
it had come later; a task's first step runs in the round after it was
started, as on every event loop, so that a task that yields twice always
lets a task it started run first. A step that a timer woke (a sleep or a
deadline ending) is never held back behind one that a later timer woke:
loops fire timers in deadline order, so a sleep that ended first cannot
look as if it ended last.

The loop's *natural order* is round by round, and within a round the order
the steps became runnable, steps that became runnable between the same two
decisions ordered by task creation (anyio delivers a cancellation to a set
of tasks, in an order that changes from run to run; trio's own
deterministic mode sorts the same way). On asyncio it is asyncio's own
order. A schedule with no deviations runs the steps in that order.
"""

from __future__ import annotations

import bisect
import random
import weakref
from collections import deque
from typing import Any, Protocol

from ._policies import Strategy, resolve_strategy, seed_check
from ._trace import Deviation, Schedule, Where

# Marks a trace entry for a step held back (not a fuzz point's label).
HELD = "<held>"


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

    def parked(self, step: Step) -> None:
        """Take *step* out of the loop's queue: it is held back."""
        ...

    def released(self, step: Step) -> None:
        """Queue *step*, held back until now, to run."""
        ...


class Step:
    """A runnable step of one task, waiting for its turn."""

    __slots__ = (
        "box",
        "fired",
        "first",
        "handle",
        "holds",
        "key",
        "number",
        "parked_at",
        "payload",
        "task",
        "until",
        "where",
    )

    def __init__(self, task: object, number: int, key: tuple[int, int, int]) -> None:
        self.task: object = task
        self.number: int = number
        # (round, decisions made when it became runnable, order among those)
        self.key: tuple[int, int, int] = key
        self.first: bool = False
        # The deadline of the timer that woke it, if a timer did.
        self.fired: float | None = None
        self.holds: int = 0
        self.parked_at: int = 0
        self.until: int = 0
        self.where: Where | None = None
        self.payload: Any = None
        self.handle: Any = None
        self.box: list[Step | None] = []


class Explorer:
    """The decisions of one explored run (``ScheduleFuzzer`` is its public face).

    Attributes:
        seed: the seed this run replays from.
        strategy: what takes the decisions.
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
        self.seed: int = seed_check(f"{type(self).__name__}()", seed)
        self.strategy: Strategy = resolve_strategy(f"{type(self).__name__}()", strategy)
        self.schedule: Schedule | None = schedule
        self.decisions: int = 0
        self.round: int = 0
        self._added = 0
        self.deviations: list[Deviation] = []
        self.glue: Glue | None = None
        self.ready: list[Step] = []
        self.parked: list[Step] = []
        self._policy = self.strategy.start(random.Random(f"plait-explore-{seed}"))
        self._numbers: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._names: list[str] = [""]
        self._task_steps: list[int] = [0]
        self._task_points: list[int] = [0]
        # (decision, task, where it resumed, the natural task or 0, site)
        self._recent: deque[tuple[int, int, Where, int, str | None]] = deque(
            maxlen=history
        )

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
            self.parked.clear()

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

    def add(
        self, task: object, *, in_order: bool = False, fired: float | None = None
    ) -> Step:
        """Register a runnable step of *task* for the next round; return it.

        Steps that become runnable between the same two decisions come in
        the order they were added if *in_order*, else in the order their
        tasks were first seen: the order of a set of tasks (the order
        anyio and trio deliver a cancellation in) changes from run to run.
        *fired* is the deadline of the timer that woke the task, if one did:
        steps held back that earlier timers woke are released first.
        """
        if fired is not None:
            earlier = [
                s for s in self.parked if s.fired is not None and s.fired < fired
            ]
            if earlier:
                self._release(earlier)
        number = self._numbers.get(task)
        first = number is None
        if number is None:
            number = self.number(task)
        self._added += 1
        tiebreak = self._added if in_order else _UNORDERED + number
        step = Step(task, number, (self.round + 1, self.decisions, tiebreak))
        step.first = first
        step.fired = fired
        self._insert(step)
        return step

    def _insert(self, step: Step) -> None:
        ready = self.ready
        if not ready or ready[-1].key <= step.key:
            ready.append(step)
        else:
            bisect.insort(ready, step, key=_key)

    def choose(self) -> Step:
        """Take a decision for a loop that runs any of a round's steps (trio).

        Return the step to run, removed from ``ready``. There must be a
        step in ``ready`` or in ``parked``.
        """
        self._begin()
        ready = self.ready
        while True:
            if not ready:
                self._release(list(self.parked))
            if ready[0].key[0] > self.round:
                self.round = ready[0].key[0]
            step, natural = self._decide(ready[: self._eligible(ready)])
            if step is not None:
                ready.remove(step)
                return self._run(step, natural)

    def turn(self, owner: Step) -> Step | None:
        """Take a decision for a loop that runs its queue in order (asyncio).

        *owner*'s turn in the loop's queue came. Return the step to run now:
        *owner*, or another of the set of tasks a cancellation reached with
        it; or ``None`` when they were held back (parked).
        """
        self._begin()
        candidates = [owner]
        if owner.key[2] >= _UNORDERED:
            epoch = owner.key[:2]
            candidates = [
                s for s in self.ready if s.key[:2] == epoch and s.key[2] >= _UNORDERED
            ]
        step, natural = self._decide(candidates)
        if step is None:
            return None
        self.ready.remove(step)
        return self._run(step, natural)

    def _begin(self) -> None:
        if self.schedule is None:
            self._policy.begin(self.ready, self.decisions + 1)
        self.settle()

    def settle(self) -> None:
        """Release the parked steps whose wait is over, once a step has run.

        When nothing else can run, every parked step is released: a loop
        never idles (nor jumps virtual time) while a task could run.
        """
        parked = self.parked
        if not parked:
            return
        decisions, policy = self.decisions, self._policy
        due = [
            step
            for step in parked
            if (0 <= step.until <= decisions)
            or (step.until < 0 and not policy.still_held(step, self.ready, decisions))
        ]
        if due:
            self._release(due)
        if not self.ready and parked:
            self._release(list(parked))

    def _release(self, steps: list[Step]) -> None:
        taken = self._task_steps
        for step in steps:
            self.parked.remove(step)
            self.deviations.append(
                Deviation(
                    "hold",
                    step.number,
                    taken[step.number],
                    step.holds,
                    self.decisions - step.parked_at,
                )
            )
            # It woke up now: it runs in the next round, after what is queued.
            step.key = (self.round + 1, self.decisions, step.key[2])
            self._insert(step)
            if self.glue is not None:
                self.glue.released(step)

    def _eligible(self, ready: list[Step]) -> int:
        """Return how many steps at the front of *ready* are in this round."""
        current = self.round
        if ready[-1].key[0] <= current:
            return len(ready)
        return bisect.bisect_right(ready, current, key=_round)

    def _decide(self, candidates: list[Step]) -> tuple[Step | None, Step]:
        """From *candidates* (natural order), return the step to run, or None.

        Also return the step the loop would have run (among those not held).

        The others stay runnable. A step the strategy holds back is parked:
        it resumes a task (a task's first step is never held back), and runs
        later, as if what woke it had come later, once the strategy's wait
        is over or nothing else can run.
        """
        steps = self._task_steps
        policy, schedule = self._policy, self.schedule
        first = candidates[0]
        while candidates:
            decision = self.decisions + 1
            if schedule is not None:
                index = self._replayed(candidates)
                step = candidates[index]
                hold = schedule.hold(step.number, steps[step.number], step.holds + 1)
            else:
                index = policy.pick(candidates, self.ready, decision)
                step = candidates[index]
                hold = 0
                if self._may_hold(step):
                    hold = policy.hold(step, self.ready, decision)
            if hold and self._may_hold(step):
                self._park(step, hold)
                candidates.pop(index)
                continue
            natural = candidates[0]
            if index:
                self.deviations.append(
                    Deviation(
                        "step",
                        natural.number,
                        steps[natural.number],
                        step.number,
                        steps[step.number],
                    )
                )
            return step, natural
        return None, first

    def _may_hold(self, step: Step) -> bool:
        """Whether *step* may be held back (the strategy decides if it is)."""
        if step.first or len(self.ready) < 2:
            return False
        fired = step.fired
        if fired is None:
            return True
        # Not behind a step that a later timer woke, runnable or held back.
        return not any(
            s.fired is not None and s.fired > fired
            for steps in (self.ready, self.parked)
            for s in steps
        )

    def _park(self, step: Step, hold: int) -> None:
        step.holds += 1
        step.parked_at = self.decisions
        step.until = self.decisions + hold if hold > 0 else -1
        self.ready.remove(step)
        self.parked.append(step)
        if self.glue is not None:
            self.glue.parked(step)
        self._trace(0, step, 0, HELD)

    def _replayed(self, candidates: list[Step]) -> int:
        assert self.schedule is not None
        steps = self._task_steps
        natural = candidates[0]
        instead = self.schedule.steps_instead(natural.number, steps[natural.number])
        if instead:
            for index, step in enumerate(candidates):
                if (step.number, steps[step.number]) in instead:
                    return index
        return 0

    def _run(self, step: Step, natural: Step) -> Step:
        self.decisions += 1
        self._task_steps[step.number] += 1
        self._trace(self.decisions, step, natural.number if step is not natural else 0)
        return step

    def _trace(
        self, decision: int, step: Step, natural: int, site: str | None = None
    ) -> None:
        recent = self._recent
        if recent.maxlen:
            where = step.where
            if where is None:
                glue = self.glue
                where = step.where = glue.locate(step.task) if glue else "?"
            recent.append((decision, step.number, where, natural, site))


# Steps added out of order sort after those added in order, by task.
_UNORDERED = 2**62


def _key(step: Step) -> tuple[int, int, int]:
    return step.key


def _round(step: Step) -> int:
    return step.key[0]
