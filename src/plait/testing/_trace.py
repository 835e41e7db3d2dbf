"""What an explored run did: its deviations, and a readable trace of its steps.

A *deviation* is a decision point where the explorer ran something other
than what the loop would have run: a step of another task went first, or a
task let the others go first at a ``plait.fuzz_point()``. The deviations of a
run are its ``Schedule``: replaying them (``run(..., schedule=...)``) gives
the same interleaving, and shrinking drops the ones a failure does not need.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Iterator, Sequence
from types import CodeType, CoroutineType, FrameType, GeneratorType
from typing import Any, Literal, NamedTuple


class Deviation(NamedTuple):
    """One decision taken against the loop's natural order.

    ``kind='hold'``: task number *task*'s step *at* (counting from 0),
    which resumes it, was held back for the *ran*-th time, while *ran_at*
    other steps ran: it runs later, as if what woke it had come later.
    ``kind='step'``: when task *task* was next with its step *at*, task
    *ran* ran its step *ran_at* first (a reordering within a round, which
    trio does itself).
    ``kind='point'``: at its *at*-th ``plait.fuzz_point()`` (counting from
    1), task *task* let the others run first. Tasks are numbered from 1 in
    the order the explorer first sees them.
    """

    kind: Literal["hold", "step", "point"]
    task: int
    at: int
    ran: int = 0
    ran_at: int = 0

    def __str__(self) -> str:
        if self.kind == "point":
            return f"{self.task}.{self.at}y"
        if self.kind == "hold":
            return f"{self.task}.{self.at}h{self.ran}:{self.ran_at}"
        return f"{self.task}.{self.at}>{self.ran}.{self.ran_at}"


class Schedule:
    """The deviations from the loop's natural order that make one interleaving.

    ``str(schedule)`` is a compact form (``"1.3h1:2 1.3>2.0 4.1y"``: task
    1's step 3 was held back a first time, while 2 other steps ran; when
    task 1 was next with its step 3, task 2 ran its step 0 first; task 4
    yielded at its first fuzz point) that
    ``Schedule.parse`` reads back, and ``plait.testing.run(fn,
    schedule=...)`` replays either. With no deviations it is the loop's
    natural order.

    Example:
        >>> from plait.testing import Schedule
        >>> schedule = Schedule.parse("1.3h1:2 1.3>2.0 4.1y")
        >>> len(schedule), str(schedule)
        (3, '1.3h1:2 1.3>2.0 4.1y')
    """

    __slots__ = ("_holds", "_points", "_steps", "deviations")

    def __init__(self, deviations: Iterable[Deviation] = ()) -> None:
        self.deviations: tuple[Deviation, ...] = tuple(deviations)
        self._steps: dict[tuple[int, int], set[tuple[int, int]]] = {}
        for d in self.deviations:
            if d.kind == "step":
                self._steps.setdefault((d.task, d.at), set()).add((d.ran, d.ran_at))
        self._points = {(d.task, d.at) for d in self.deviations if d.kind == "point"}
        self._holds = {
            (d.task, d.at, d.ran): d.ran_at for d in self.deviations if d.kind == "hold"
        }

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Read a schedule from its ``str()`` form."""
        deviations: list[Deviation] = []
        for word in text.split():
            try:
                if word.endswith("y"):
                    task, at = word[:-1].split(".")
                    deviations.append(Deviation("point", int(task), int(at)))
                elif "h" in word:
                    where, held = word.split("h")
                    task, at = where.split(".")
                    times, steps = held.split(":")
                    deviations.append(
                        Deviation("hold", int(task), int(at), int(times), int(steps))
                    )
                else:
                    where, instead = word.split(">")
                    task, at = where.split(".")
                    ran, ran_at = instead.split(".")
                    deviations.append(
                        Deviation("step", int(task), int(at), int(ran), int(ran_at))
                    )
            except ValueError:
                raise ValueError(
                    "Schedule.parse() text must be words like '1.3h1:2', '1.3>2.0' "
                    f"or '4.1y', got {word!r}"
                ) from None
        return cls(deviations)

    def __str__(self) -> str:
        return " ".join(map(str, self.deviations))

    def __repr__(self) -> str:
        return f"Schedule.parse({str(self)!r})"

    def __len__(self) -> int:
        return len(self.deviations)

    def __iter__(self) -> Iterator[Deviation]:
        return iter(self.deviations)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self.deviations == other.deviations

    def __hash__(self) -> int:
        return hash(self.deviations)

    def steps_instead(self, task: int, at: int) -> set[tuple[int, int]] | None:
        """Return the ``(task, step)`` pairs to run before *task*'s step *at*."""
        return self._steps.get((task, at))

    def hold(self, task: int, at: int, times: int) -> int:
        """Return for how many steps *task*'s step *at* is held back a *times*-th time.

        0 when it is not.
        """
        return self._holds.get((task, at, times), 0)

    def yields_at(self, task: int, at: int) -> bool:
        """Return whether *task* lets others run at its *at*-th fuzz point."""
        return (task, at) in self._points


class TraceStep(NamedTuple):
    """One decision point of an explored run, as the trace shows it."""

    decision: int
    """Its number in the run, from 1 (0 for a step held back: it ran later)."""
    task: str
    """The task that ran (``name#number``; numbers count tasks from 1)."""
    location: str
    """Where that task resumed (``file:line in function``)."""
    instead_of: str | None = None
    """The task the loop would have run, when the explorer deviated."""
    site: str | None = None
    """For a ``plait.fuzz_point()``: its label (the task then yielded)."""
    held: bool = False
    """Whether the step was held back here (it runs later)."""

    def __str__(self) -> str:
        deviated = self.instead_of is not None or self.site is not None or self.held
        mark = "*" if deviated else " "
        number = "" if self.held else self.decision
        text = f"{number:>6}{mark} {self.task:<24} {self.location}"
        if self.held:
            text += "  <- held back, as if woken later"
        elif self.site is not None:
            text += f"  <- yielded at fuzz_point({self.site!r})"
        elif self.instead_of is not None:
            text += f"  <- ran before {self.instead_of}"
        return text


def format_trace(steps: Sequence[TraceStep], *, total: int) -> str:
    """Return *steps* (the last of *total*) as a table, one step a line."""
    shown = sum(not step.held for step in steps)
    head = f"the last {shown} of {total} steps (* = a deviation):"
    if shown >= total:
        head = f"all {total} steps (* = a deviation):"
    lines = [head, f"{'step':>6}  {'task':<24} resumed at"]
    lines.extend(map(str, steps))
    return "\n".join(lines)


# Frames of these packages are the machinery between a task and its code;
# the trace shows the innermost frame outside them.
_MACHINERY = ("asyncio", "anyio", "trio", "outcome", "sniffio", "contextlib")
_machinery_dirs: tuple[str, ...] | None = None
_is_machinery: dict[CodeType, bool] = {}


def _dirs() -> tuple[str, ...]:
    global _machinery_dirs
    if _machinery_dirs is None:
        found = [os.path.dirname(__file__) + os.sep]
        for name in _MACHINERY:
            spec = importlib.util.find_spec(name)
            if spec is None:
                continue
            if spec.submodule_search_locations:
                found.extend(p + os.sep for p in spec.submodule_search_locations)
            elif spec.origin is not None:
                found.append(spec.origin)
        fuzz = importlib.util.find_spec("plait._core._fuzz")
        if fuzz is not None and fuzz.origin is not None:
            found.append(fuzz.origin)
        _machinery_dirs = tuple(found)
    return _machinery_dirs


FIRST_STEP = "(first step)"
FINISHED = "(finished)"

Where = tuple[CodeType, int] | str
"""Where a task resumes: a code object and line, or ``FIRST_STEP``."""


def resume_point(coroutine: object) -> Where:
    """Return where a suspended *coroutine* resumes (cheap; ``describe`` it).

    Follows what it awaits down to the innermost frame and keeps the
    innermost one outside asyncio, anyio, trio and plait.testing: the line
    the task resumes at in code someone wrote.
    """
    if (
        getattr(coroutine, "cr_frame", None) is not None
        and getattr(coroutine, "cr_running", True) is False
        and getattr(coroutine, "cr_suspended", True) is False
    ):
        return FIRST_STEP
    chosen: FrameType | None = None
    fallback: FrameType | None = None
    # A coroutine, a generator, or what it awaits (a future's iterator: the end).
    awaited: Any = coroutine
    while True:
        frame: FrameType | None
        kind: type[Any] = type(awaited)  # pyright: ignore[reportUnknownVariableType]
        if kind is CoroutineType:
            frame, awaited = awaited.cr_frame, awaited.cr_await
        elif kind is GeneratorType:
            frame, awaited = awaited.gi_frame, awaited.gi_yieldfrom
        else:
            break
        if frame is None:
            break
        fallback = frame
        code = frame.f_code
        machinery = _is_machinery.get(code)
        if machinery is None:
            machinery = _is_machinery[code] = code.co_filename.startswith(_dirs())
        if not machinery:
            chosen = frame
    frame = chosen or fallback
    if frame is None:
        return FINISHED
    return frame.f_code, frame.f_lineno


def describe(where: Where) -> str:
    """Return ``file:line in function`` for a ``resume_point``."""
    if isinstance(where, str):
        return where
    code, line = where
    return f"{os.path.basename(code.co_filename)}:{line} in {code.co_name}"


def short_name(name: str, coroutine: object) -> str:
    """Return a short name for a task: its function's, without the qualifiers.

    asyncio names a task without a name ``Task-<n>``; the function it runs
    says more.
    """
    if name.startswith("Task-"):
        name = getattr(coroutine, "__qualname__", name)
    if "<function " in name:  # the repr of a functools.partial
        name = name.split("<function ", 1)[1].split(" ", 1)[0]
    if name.startswith("<"):  # trio's own tasks: <init>, <TrioToken...>
        return name
    return name.rsplit(".", 1)[-1]
