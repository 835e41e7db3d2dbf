"""What a case is, what a family declares, and what a run observed."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Literal

from plait.testing import ConcurrencyProbe, JobSpec, Timeline

Backend = Literal["asyncio", "uvloop", "trio"]
BACKENDS: tuple[Backend, ...] = ("asyncio", "uvloop", "trio")

Source = Literal["none", "deadline", "sibling", "task"]
SOURCES: tuple[Source, ...] = ("none", "deadline", "sibling", "task")
"""Where an outer cancellation comes from: nowhere, an enclosing
``move_on_after``, a sibling task cancelling the enclosing scope, or
asyncio's ``Task.cancel()`` of the task making the call (asyncio only)."""

TICK = 0.125
"""Scenario times are multiples of this many (virtual) seconds."""

REAL_TICK = 0.001
"""What a tick lasts on real time (uvloop has no virtual time)."""

MAX_TICKS = 16
"""Longest job delay and latest cancellation, in ticks (2 s of virtual time)."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One case: the jobs, the family's mode, the cancellation, the fuzz seed.

    Times (job delays, ``cancel_at``, staggers) are in virtual seconds,
    multiples of ``TICK``; on real time each tick lasts ``REAL_TICK``.
    """

    family: str
    jobs: tuple[JobSpec, ...]
    mode: tuple[tuple[str, Any], ...]
    source: Source = "none"
    cancel_at: float = 0.0
    fuzz_seed: int | None = None

    def __getitem__(self, key: str) -> Any:
        return dict(self.mode)[key]

    def describe(self) -> str:
        """Return the scenario in one line, for reports."""
        jobs = ", ".join(_job_text(job) for job in self.jobs)
        mode = ", ".join(f"{k}={v!r}" for k, v in self.mode)
        cancel = "" if self.source == "none" else f" at {self.cancel_at:g}s"
        return (
            f"{self.family}({mode}) jobs=[{jobs}] cancel={self.source}{cancel} "
            f"fuzz_seed={self.fuzz_seed}"
        )


def _job_text(job: JobSpec) -> str:
    end = (
        "fails"
        if job.fails
        else "hangs"
        if job.hangs
        else "interrupts"
        if job.interrupts
        else "returns"
    )
    cancel = "" if job.on_cancel == "propagate" else f"/on_cancel={job.on_cancel}"
    return f"{job.index}:{end}@{job.delay:g}+{job.checkpoints}cp{cancel}"


@dataclasses.dataclass(frozen=True)
class JobKinds:
    """Which kinds of job a family's cases may hold (see ``JobSpec``)."""

    failures: bool = True
    hangs: bool = True
    interrupts: bool = True
    cleanup_failures: bool = True
    catches_cancellation: bool = True


@dataclasses.dataclass
class Run:
    """What a family's call gets: the scenario and the jobs, ready to call.

    ``calls[i]()`` runs job *i* (tracked by ``timeline`` under label
    ``str(i)``, counted by ``probe``); ``seconds(t)`` turns scenario time
    into the event loop's; ``extra`` is the family's own record of the run.
    """

    scenario: Scenario
    calls: list[Callable[[], Coroutine[Any, Any, int]]]
    timeline: Timeline
    probe: ConcurrencyProbe
    tick: float
    backend: Backend
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def seconds(self, virtual: float) -> float:
        """Scenario seconds as the event loop's seconds."""
        return virtual / TICK * self.tick


Outcome = Literal["value", "cancelled", "raised", "hung"]


@dataclasses.dataclass
class Observation:
    """What a run did, as seen from outside and from the jobs' timeline.

    Attributes:
        outcome: the call returned, ended as the outer cancellation, raised,
            or did not end within the harness's bound.
        value: what it returned.
        error: what it raised.
        fired: whether the outer cancellation was requested.
        running_after: jobs started and not ended when the call was over.
        leaked: tasks the call started that outlived it.
        late: timeline events recorded after the call was over.
        cancelled_class: the event loop's cancellation exception class.
    """

    outcome: Outcome
    value: Any
    error: BaseException | None
    fired: bool
    running_after: list[str]
    leaked: list[str]
    late: int
    cancelled_class: type[BaseException]
    run: Run


Call = Callable[[Run], Awaitable[Any]]
Check = Callable[[Observation], list[str]]


@dataclasses.dataclass(frozen=True)
class Family:
    """One API driven one way, and the invariants it must keep.

    Attributes:
        name: the family's name on the command line.
        call: runs the API with the run's jobs; what it returns is the value.
        check: the family's invariants; returns one line per anomaly.
        modes: each mode parameter and the values a case draws from.
        kinds: the kinds of job its cases may hold.
        jobs: fewest and most jobs in a case.
        sources: the outer cancellations its cases may draw.
        backends: the event loops it runs on.
        real_time: run on real time even where virtual time exists.
        weight: its share of the cases of a run.
        known: why it fails today, when another stream owns the fix (the
            report says so instead of weakening the invariant).
        adjust: turns a drawn scenario into one the family's contract
            covers, where an API documents a limit.
    """

    name: str
    call: Call
    check: Check
    modes: Mapping[str, Sequence[Any]] = dataclasses.field(default_factory=dict)
    kinds: JobKinds = JobKinds()
    jobs: tuple[int, int] = (0, 6)
    sources: tuple[Source, ...] = SOURCES
    backends: tuple[Backend, ...] = BACKENDS
    real_time: bool = False
    weight: int = 4
    known: str = ""
    adjust: Callable[[Scenario], Scenario] | None = None
