"""Job specs for property tests: what a job does, and what it does when cancelled."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Literal

import anyio
from anyio.lowlevel import checkpoint

from plait._core._fuzz import fuzz_point

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

# Delays are whole multiples of 1/8 s: exact in binary floating point, so
# virtual instants compare exactly, and ties are common enough to be tested.
TICK = 0.125

OnCancel = Literal["propagate", "fail", "return"]


class JobError(Exception):
    """The failure a failing ``JobSpec`` raises; ``index`` says which job.

    Attributes:
        index: the job that raised it.
        cancel_pending: whether a cancellation was pending in the job's task
            when it raised (it failed just as it was being cancelled, before
            the cancellation reached it).
    """

    def __init__(self, index: int, *, cancel_pending: bool = False) -> None:
        super().__init__(f"job {index} failed")
        self.index = index
        self.cancel_pending = cancel_pending


class JobCleanupError(JobError):
    """What a job with ``on_cancel="fail"`` raises when it is cancelled.

    Raised from the ``except`` block that caught the cancellation, as a
    failing cleanup does, so the cancellation is its ``__context__``.
    """

    def __init__(self, index: int) -> None:
        super().__init__(index, cancel_pending=True)
        self.args: tuple[Any, ...] = (f"job {index} failed in its cleanup",)


class JobInterrupt(BaseException):
    """The ``BaseException`` (not an ``Exception``) an interrupting job raises."""

    def __init__(self, index: int) -> None:
        super().__init__(f"job {index} interrupted")
        self.index = index


def _cancel_pending() -> bool:
    # An enclosing scope was cancelled (explicitly or by its deadline).
    return anyio.current_effective_deadline() == -math.inf


@dataclasses.dataclass(frozen=True, slots=True)
class JobSpec:
    """One job for a property test: switch tasks, wait, then end as told.

    Calling it (``await spec()``) passes a ``plait.fuzz_point``, checkpoints
    ``checkpoints`` times, sleeps ``delay`` seconds, then returns ``result``
    (its index), raises ``JobError(index)`` (``fails``), raises
    ``JobInterrupt(index)``, a ``BaseException`` (``interrupts``), or waits
    until it is cancelled (``hangs``). Cancelled while it waits, it lets the
    cancellation through (``on_cancel="propagate"``), fails in its cleanup
    with ``JobCleanupError(index)`` (``"fail"``), or swallows the
    cancellation and returns its result (``"return"``). Pass specs to any
    pattern as the function (``bounded_map(JobSpec.run, specs, limit=2)``)
    or as awaitables (``gather(*(spec() for spec in specs))``).

    Attributes:
        index: the job's position, also its identity in results and errors.
        delay: seconds to sleep, a multiple of 1/8.
        checkpoints: extra task switches before the sleep.
        fails: raise ``JobError`` instead of returning.
        hangs: after the checkpoints, wait until cancelled.
        interrupts: raise ``JobInterrupt`` instead of returning.
        on_cancel: what the job does when it is cancelled.

    Raises:
        ValueError: at construction, for more than one of ``fails``,
            ``hangs`` and ``interrupts``, or an unknown ``on_cancel``.

    Example:
        >>> from plait.testing import JobSpec, run
        >>> run(JobSpec(index=3, delay=0.5)), run(JobSpec(3, 0.5).run)
        (3, 3)
    """

    index: int
    delay: float = 0.0
    checkpoints: int = 0
    fails: bool = False
    hangs: bool = False
    interrupts: bool = False
    on_cancel: OnCancel = "propagate"

    def __post_init__(self) -> None:
        if self.fails + self.hangs + self.interrupts > 1:
            raise ValueError(
                "JobSpec() fails, hangs and interrupts must be one at most, got "
                f"fails={self.fails}, hangs={self.hangs}, "
                f"interrupts={self.interrupts}"
            )
        if self.on_cancel not in ("propagate", "fail", "return"):
            raise ValueError(
                "JobSpec() on_cancel must be 'propagate', 'fail' or 'return', "
                f"got {self.on_cancel!r}"
            )

    @property
    def result(self) -> int:
        """What the job returns when it does not fail: its index."""
        return self.index

    async def run(self) -> int:
        """Run the job (the same as awaiting ``spec()``)."""
        await fuzz_point("job")
        try:
            for _ in range(self.checkpoints):
                await checkpoint()
            if self.hangs:
                await anyio.sleep_forever()
            await anyio.sleep(self.delay)
        except anyio.get_cancelled_exc_class():
            if self.on_cancel == "fail":
                raise JobCleanupError(self.index) from None
            if self.on_cancel == "return":
                return self.index
            raise
        if self.fails:
            raise JobError(self.index, cancel_pending=_cancel_pending())
        if self.interrupts:
            raise JobInterrupt(self.index)
        return self.index

    async def __call__(self) -> int:
        return await self.run()


@dataclasses.dataclass(frozen=True, slots=True)
class JobPlan:
    """Jobs to run through a pattern, and when to cancel the whole run.

    Attributes:
        jobs: the specs, with ``jobs[i].index == i``.
        cancel_after: seconds after the start at which the test should
            cancel the pattern (``anyio.move_on_after(plan.cancel_after)``),
            or ``None`` to let it finish.
    """

    jobs: tuple[JobSpec, ...]
    cancel_after: float | None = None

    @property
    def failing(self) -> frozenset[int]:
        """Indexes of the jobs that fail."""
        return frozenset(job.index for job in self.jobs if job.fails)

    def results(self) -> list[int]:
        """Every job's result, in index order (as if none failed)."""
        return [job.result for job in self.jobs]


def job_specs(
    index: int = 0,
    *,
    max_delay: float = 2.0,
    max_checkpoints: int = 3,
    failures: bool = True,
    hangs: bool = False,
    interrupts: bool = False,
    cleanup_failures: bool = False,
    catches_cancellation: bool = False,
) -> SearchStrategy[JobSpec]:
    """Return a hypothesis strategy for one ``JobSpec`` with this *index*.

    Shrinking moves toward a job that returns at once and lets a
    cancellation through.

    Args:
        index: the job's index.
        max_delay: longest delay, in seconds (rounded down to 1/8 s).
        max_checkpoints: most extra task switches.
        failures: whether the job may fail (``fails``).
        hangs: whether it may wait until cancelled (``hangs``).
        interrupts: whether it may raise a ``BaseException`` (``interrupts``).
        cleanup_failures: whether it may fail when cancelled
            (``on_cancel="fail"``).
        catches_cancellation: whether it may swallow a cancellation and
            return (``on_cancel="return"``).
    """
    from hypothesis import strategies as st

    endings = ["returns"]
    endings += ["fails"] * failures + ["hangs"] * hangs + ["interrupts"] * interrupts
    reactions: list[OnCancel] = ["propagate"]
    if cleanup_failures:
        reactions.append("fail")
    if catches_cancellation:
        reactions.append("return")

    @st.composite
    def specs(draw: st.DrawFn) -> JobSpec:
        ending = draw(st.sampled_from(endings))
        return JobSpec(
            index,
            delay=draw(st.integers(0, int(max_delay / TICK))) * TICK,
            checkpoints=draw(st.integers(0, max_checkpoints)),
            fails=ending == "fails",
            hangs=ending == "hangs",
            interrupts=ending == "interrupts",
            on_cancel=draw(st.sampled_from(reactions)),
        )

    return specs()


def job_plans(
    *,
    min_jobs: int = 0,
    max_jobs: int = 8,
    max_delay: float = 2.0,
    failures: bool = True,
    cancellation: bool = True,
    hangs: bool = False,
    interrupts: bool = False,
    cleanup_failures: bool = False,
    catches_cancellation: bool = False,
) -> SearchStrategy[JobPlan]:
    """Return a hypothesis strategy for ``JobPlan``\\s.

    Shrinking moves toward fewer jobs, shorter delays, no failures and no
    cancellation, so a failing plan is reported in its simplest form.

    Args:
        min_jobs: fewest jobs.
        max_jobs: most jobs.
        max_delay: longest job delay, in seconds.
        failures: whether jobs may fail.
        cancellation: whether a plan may cancel the run part-way; its
            ``cancel_after`` is then a multiple of 1/8 s up to ``max_delay``.
        hangs: whether jobs may wait until cancelled.
        interrupts: whether jobs may raise a ``BaseException``.
        cleanup_failures: whether jobs may fail when cancelled.
        catches_cancellation: whether jobs may swallow a cancellation and
            return.

    Example:
        >>> from hypothesis import given, settings
        >>> import plait
        >>> from plait.testing import JobPlan, job_plans, run
        >>> async def main(plan: JobPlan) -> list[int]:
        ...     return await plait.bounded_map(lambda job: job(), plan.jobs, limit=2)
        >>> @settings(max_examples=10, database=None)
        ... @given(job_plans(failures=False, cancellation=False))
        ... def test_results_in_order(plan: JobPlan) -> None:
        ...     assert run(main, plan) == plan.results()
        >>> test_results_in_order()
    """
    from hypothesis import strategies as st

    if not 0 <= min_jobs <= max_jobs:
        raise ValueError(
            f"need 0 <= min_jobs <= max_jobs, got min_jobs={min_jobs}, "
            f"max_jobs={max_jobs}"
        )

    @st.composite
    def plans(draw: st.DrawFn) -> JobPlan:
        count = draw(st.integers(min_jobs, max_jobs))
        jobs = tuple(
            draw(
                job_specs(
                    i,
                    max_delay=max_delay,
                    failures=failures,
                    hangs=hangs,
                    interrupts=interrupts,
                    cleanup_failures=cleanup_failures,
                    catches_cancellation=catches_cancellation,
                )
            )
            for i in range(count)
        )
        cancel_after = None
        if cancellation:
            cancel_after = draw(
                st.none()
                | st.integers(0, int(max_delay / TICK)).map(lambda n: n * TICK)
            )
        return JobPlan(jobs, cancel_after)

    return plans()
