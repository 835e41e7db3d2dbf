"""How schedule exploration picks the next step: random delays, or PCT.

A strategy is a frozen description (what the user passes); ``start`` makes
the per-run state that takes the decisions, drawing only from the run's own
seeded generator, so a seed replays its schedule exactly.

At a decision the explorer hands over the steps that could run now, in the
loop's natural order (index 0 is the step the loop would run next). The
policy returns the index to run. At a ``plait.fuzz_point()`` it says whether
the running task should let the others go first.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from .._core._checks import check_fraction, check_int, check_positive_int, fail


class Ready(Protocol):
    """What a policy sees of a runnable step: its task, and if it starts it."""

    @property
    def number(self) -> int: ...

    @property
    def first(self) -> bool: ...


class Policy(Protocol):
    """The per-run state of a strategy."""

    def begin(self, ready: Sequence[Ready], decision: int) -> None:
        """Prepare *decision*, *ready* runnable (held-back steps aside)."""
        ...

    def pick(
        self, candidates: Sequence[Ready], ready: Sequence[Ready], decision: int
    ) -> int:
        """Return the index of the step to run among *candidates*.

        They are the steps that may run at *decision*, in the loop's
        natural order (index 0 is what the loop would run); *ready* holds
        every runnable step.
        """
        ...

    def hold(self, step: Ready, ready: Sequence[Ready], decision: int) -> int:
        """Return for how many steps to hold *step* back (0: not at all).

        Asked only of a step that resumes a task, while others in *ready*
        can run: it runs later, as if what woke it had come later. -1 holds
        it back until ``still_held`` says otherwise.
        """
        ...

    def still_held(self, step: Ready, ready: Sequence[Ready], decision: int) -> bool:
        """Return whether a step held back with -1 stays held, *ready* runnable."""
        ...

    def yield_at_point(self, task: int, ready: Sequence[Ready], decision: int) -> bool:
        """Return whether *task* lets the *ready* steps run first."""
        ...


class RandomDelay:
    """Delay tasks' wake-ups at random, as slow I/O would.

    At each decision point, with chance *probability* the step the loop
    would run next is held back if it resumes a task (after a checkpoint, a
    wait, a sleep): it runs after 1 to *max_delay* other steps, as if what
    woke it had come later, while other tasks go on. A task's first step is not
    held back (no loop starts a task late), but with the same chance one of
    the next *max_delay* steps of its round goes first. At a
    ``plait.fuzz_point()`` the running task lets the others go first with
    the same chance. Good at bugs that need a few steps out of place; for
    bugs that need one task held back for long, use ``PCT``.

    Args:
        probability: chance in [0, 1] that a decision point deviates from the
            loop's order.
        max_delay: the most steps a wake-up is held back by, and how far
            down its round a step run before a first step may come from
            (>= 1).

    Example:
        >>> from plait.testing import RandomDelay
        >>> RandomDelay(probability=0.25)
        RandomDelay(probability=0.25, max_delay=3)
    """

    __slots__ = ("max_delay", "probability")

    def __init__(self, probability: float = 0.5, max_delay: int = 3) -> None:
        self.probability: float = check_fraction(
            "RandomDelay()", "probability", probability
        )
        self.max_delay: int = check_positive_int(
            "RandomDelay()", "max_delay", max_delay
        )

    def __repr__(self) -> str:
        return (
            f"RandomDelay(probability={self.probability!r}, max_delay={self.max_delay})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RandomDelay):
            return NotImplemented
        return (self.probability, self.max_delay) == (
            other.probability,
            other.max_delay,
        )

    def __hash__(self) -> int:
        return hash((RandomDelay, self.probability, self.max_delay))

    def start(self, rng: random.Random) -> Policy:
        """Return the decisions of one run, drawn from *rng*."""
        return _RandomDelayRun(self, rng)


class _RandomDelayRun:
    __slots__ = ("_max_delay", "_probability", "_rng")

    def __init__(self, strategy: RandomDelay, rng: random.Random) -> None:
        self._probability = strategy.probability
        self._max_delay = strategy.max_delay
        self._rng = rng

    def begin(self, ready: Sequence[Ready], decision: int) -> None:
        pass

    def pick(
        self, candidates: Sequence[Ready], ready: Sequence[Ready], decision: int
    ) -> int:
        if len(candidates) < 2 or self._rng.random() >= self._probability:
            return 0
        return self._rng.randint(1, min(self._max_delay, len(candidates) - 1))

    def hold(self, step: Ready, ready: Sequence[Ready], decision: int) -> int:
        if self._rng.random() >= self._probability:
            return 0
        return self._rng.randint(1, self._max_delay)

    def still_held(self, step: Ready, ready: Sequence[Ready], decision: int) -> bool:
        return False

    def yield_at_point(self, task: int, ready: Sequence[Ready], decision: int) -> bool:
        return bool(ready) and self._rng.random() < self._probability


class PCT:
    """Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010).

    Each task gets a random priority when it first becomes runnable, and at
    every decision point the runnable step of the highest-priority task
    runs: a lower-priority task's wake-up is held back while a task of
    higher priority can run (a task's first step still runs in its round,
    as on every event loop). At *depth* - 1 decision points drawn at random
    among the first *steps*, the task about to run drops below every other
    task. A bug that needs *d* ordering constraints between steps (its
    depth: 1 for "B's step runs before A's", 2 for "B runs between A's read
    and A's write", ...) in a run of *n* tasks and *k* steps is found by one
    run with probability at least 1/(n·k^(d-1)) when *depth* >= d, as long
    as the steps to be delayed resume tasks rather than start them.

    Args:
        depth: the bug depth to aim at (>= 1); depth - 1 priority changes.
        steps: the number of decision points the priority changes are
            spread over, about the length of one run. ``None``:
            ``explore()`` measures it with one run in the loop's natural
            order; elsewhere (``run``, the pytest marker) each seed draws
            it from 8, 16, ..., 1024, so that about one seed in eight
            spreads the changes over a span within twice the run's length.

    Example:
        >>> from plait.testing import PCT
        >>> PCT(depth=2, steps=40)
        PCT(depth=2, steps=40)
    """

    __slots__ = ("depth", "steps")

    def __init__(self, depth: int = 3, steps: int | None = None) -> None:
        self.depth: int = check_positive_int("PCT()", "depth", depth)
        self.steps: int | None = (
            None if steps is None else check_positive_int("PCT()", "steps", steps)
        )

    def __repr__(self) -> str:
        return f"PCT(depth={self.depth}, steps={self.steps})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PCT):
            return NotImplemented
        return (self.depth, self.steps) == (other.depth, other.steps)

    def __hash__(self) -> int:
        return hash((PCT, self.depth, self.steps))

    def start(self, rng: random.Random) -> Policy:
        """Return the decisions of one run, drawn from *rng*."""
        return _PCTRun(self, rng)


# Without a measured length, each seed spreads its changes over 2**3 to
# 2**10 decision points: a run's length is unknown, its order of magnitude is
# drawn.
_SCALES = tuple(2**n for n in range(3, 11))


class _PCTRun:
    __slots__ = ("_changes", "_demoted", "_depth", "_priority", "_rng")

    def __init__(self, strategy: PCT, rng: random.Random) -> None:
        steps = strategy.steps if strategy.steps is not None else rng.choice(_SCALES)
        changes = min(strategy.depth - 1, steps)
        # The i-th change point lowers the task about to run to priority i,
        # below every initial priority (those are >= depth).
        points = rng.sample(range(1, steps + 1), changes)
        self._changes = {point: float(i) for i, point in enumerate(points, 1)}
        self._demoted = 0
        self._depth = strategy.depth
        self._priority: dict[int, float] = {}
        self._rng = rng

    def _of(self, task: int) -> float:
        priority = self._priority.get(task)
        if priority is None:
            priority = self._priority[task] = self._depth + self._rng.random()
        return priority

    def _highest(
        self, ready: Sequence[Ready], start: int, stop: int
    ) -> tuple[int, float]:
        priorities = self._priority
        best, best_priority = -1, -1.0
        for index in range(start, stop):
            number = ready[index].number
            priority = priorities.get(number)
            if priority is None:
                priority = priorities[number] = self._depth + self._rng.random()
            if priority > best_priority:
                best, best_priority = index, priority
        return best, best_priority

    def _change(self, task: int, decision: int) -> None:
        change = self._changes.get(decision)
        if change is not None and self._demoted != decision:
            self._demoted = decision
            self._priority[task] = change

    def begin(self, ready: Sequence[Ready], decision: int) -> None:
        if decision in self._changes and self._demoted != decision and ready:
            # The task that would run next is the highest-priority runnable
            # one: lower ones are held back while it can run.
            top, _ = self._highest(ready, 0, len(ready))
            self._change(ready[top].number, decision)

    def pick(
        self, candidates: Sequence[Ready], ready: Sequence[Ready], decision: int
    ) -> int:
        best, _ = self._highest(candidates, 0, len(candidates))
        return best

    def _top_priority(self, ready: Sequence[Ready], decision: int) -> float:
        _, top = self._highest(ready, 0, len(ready))
        return top

    def hold(self, step: Ready, ready: Sequence[Ready], decision: int) -> int:
        # Held back for as long as a task of higher priority can run.
        return -1 if self._top_priority(ready, decision) > self._of(step.number) else 0

    def still_held(self, step: Ready, ready: Sequence[Ready], decision: int) -> bool:
        return self._top_priority(ready, decision) > self._of(step.number)

    def yield_at_point(self, task: int, ready: Sequence[Ready], decision: int) -> bool:
        self._change(task, decision)
        own = self._of(task)
        _, priority = self._highest(ready, 0, len(ready))
        return priority > own


class Strategy(Protocol):
    """What takes the decisions: ``RandomDelay``, ``PCT`` or a drawn schedule."""

    def start(self, rng: random.Random) -> Policy:
        """Return the decisions of one run, drawn from *rng*."""
        ...


def resolve_strategy(call: str, strategy: object) -> Strategy:
    """Return the strategy *strategy* names (``'random'``, ``'pct'``) or is."""
    if isinstance(strategy, RandomDelay | PCT):
        return strategy
    if not isinstance(strategy, str | type) and callable(
        getattr(strategy, "start", None)
    ):
        return strategy  # type: ignore[return-value]
    if strategy == "random":
        return RandomDelay()
    if strategy == "pct":
        return PCT()
    fail(
        call,
        "strategy",
        "'random', 'pct', a RandomDelay or a PCT",
        strategy,
        error=TypeError if not isinstance(strategy, str) else ValueError,
    )


def choose_strategy(
    call: str, strategy: object, probability: object, max_switches: object
) -> Strategy:
    """Return the strategy the arguments of *call* describe."""
    if probability is None and max_switches is None:
        return resolve_strategy(call, "random" if strategy is None else strategy)
    if strategy not in (None, "random"):
        fail(
            call,
            "probability",
            "left out with a strategy other than 'random' (it configures RandomDelay)",
            probability if probability is not None else max_switches,
            error=ValueError,
        )
    return RandomDelay(
        0.5 if probability is None else probability,  # type: ignore[arg-type]
        3 if max_switches is None else max_switches,  # type: ignore[arg-type]
    )


def seed_check(call: str, seed: object) -> int:
    """Return *seed* if it is an int from 0 to 2**32 - 1."""
    return check_int(call, "seed", seed, minimum=0, maximum=SEED_LIMIT)


SEED_LIMIT = 2**32 - 1
