"""The vocabulary shared by case families, the worker and the runner."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Literal

Backend = Literal["asyncio", "uvloop", "trio"]
Kind = Literal["time", "memory", "structure"]
Role = Literal["plait", "baseline", "peer"]

BACKENDS: tuple[Backend, ...] = ("asyncio", "uvloop", "trio")


class CheckError(AssertionError):
    """A sample's result was wrong: the benchmark run must fail."""


class Probe:
    """Counters the work function keeps: items done, tasks active, peak active."""

    __slots__ = ("active", "cancelled", "done", "finished", "peak")

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.done = 0
        self.cancelled = 0
        self.finished = 0


WorkFn = Callable[[int], Coroutine[Any, Any, int]]


@dataclasses.dataclass
class Trial:
    """One repetition of one variant: its inputs, built outside the timed section."""

    backend: Literal["asyncio", "trio"]
    n: int
    params: Mapping[str, Any]
    probe: Probe
    work: WorkFn
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def limit(self) -> int:
        """The concurrency limit of the case (bounded cases only)."""
        return int(self.params["limit"])


RunFn = Callable[[Trial], Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class Variant:
    """One implementation of a case's job: plait's, a hand-written one, a peer's.

    Attributes:
        name: short identifier, unique within the family.
        label: what the report calls it.
        role: ``plait``, ``baseline`` (hand-written) or ``peer`` (a library).
        run: the timed coroutine function.
        backends: backends it runs on.
        requires: modules that must import; otherwise skipped with a note.
        per_item_task: spawns one task per item, so it is slow at large N and
            is capped (and extrapolated) in the scaling curves.
        unfit: why the variant cannot do this job at all (it is then skipped
            with this note instead of run).
    """

    name: str
    label: str
    role: Role
    run: RunFn
    backends: frozenset[Backend] = frozenset(BACKENDS)
    requires: tuple[str, ...] = ()
    per_item_task: bool = False
    unfit: str = ""


@dataclasses.dataclass(frozen=True)
class Case:
    """A job measured with several variants, compared against one baseline."""

    family: str
    title: str
    kind: Kind
    n: int
    baseline: str
    variants: tuple[str, ...]
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    backends: tuple[Backend, ...] = BACKENDS
    group: str = ""
    rounds: int | None = None  # fewer rounds than the run's, for costly cases

    @property
    def key(self) -> str:
        """A stable identifier of the case (family, title and N)."""
        return f"{self.family}:{self.title}:n={self.n}"


@dataclasses.dataclass(frozen=True)
class Family:
    """A family of cases: one module under ``benchmarks/cases``.

    Attributes:
        name: the module name.
        variants: every implementation the family knows.
        cases: the cases to run, given the mode (``quick`` or ``full``).
        check: raises CheckError when a trial's result is wrong; called
            after every repetition, outside the timed section.
        setup: prepares a trial's inputs (outside the timed section).
    """

    name: str
    variants: tuple[Variant, ...]
    cases: Callable[[str], list[Case]]
    check: Callable[[Trial, Any], None]
    setup: Callable[[Trial], None] | None = None

    def variant(self, name: str) -> Variant:
        """Return the variant called *name*."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(f"family {self.name!r} has no variant {name!r}")


def expect(condition: bool, message: str) -> None:
    """Raise CheckError with *message* unless *condition* holds."""
    if not condition:
        raise CheckError(message)
