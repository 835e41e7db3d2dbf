"""Job specs for property tests: delay, result or failure, cancellation point."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import anyio
from anyio.lowlevel import checkpoint

from plait._core._fuzz import fuzz_point

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

# Delays are whole multiples of 1/8 s: exact in binary floating point, so
# virtual instants compare exactly, and ties are common enough to be tested.
TICK = 0.125


class JobError(Exception):
    """The failure a failing ``JobSpec`` raises; ``index`` says which job."""

    def __init__(self, index: int) -> None:
        super().__init__(f"job {index} failed")
        self.index = index


@dataclasses.dataclass(frozen=True, slots=True)
class JobSpec:
    """One job for a property test: switch tasks, wait, then return or fail.

    Calling it (``await spec()``) passes a ``plait.fuzz_point``, checkpoints
    ``checkpoints`` times, sleeps ``delay`` seconds, then returns ``result``
    or raises ``JobError(index)``. Pass specs to any pattern as the function
    (``bounded_map(JobSpec.run, specs, limit=2)``) or as awaitables
    (``gather(*(spec() for spec in specs))``).

    Attributes:
        index: the job's position, also its identity in results and errors.
        delay: seconds to sleep, a multiple of 1/8.
        checkpoints: extra task switches before the sleep.
        fails: whether it raises ``JobError`` instead of returning.

    Example:
        >>> from plait.testing import JobSpec, run
        >>> run(JobSpec(index=3, delay=0.5)), run(JobSpec(3, 0.5).run)
        (3, 3)
    """

    index: int
    delay: float = 0.0
    checkpoints: int = 0
    fails: bool = False

    @property
    def result(self) -> int:
        """What the job returns when it does not fail: its index."""
        return self.index

    async def run(self) -> int:
        """Run the job (the same as awaiting ``spec()``)."""
        await fuzz_point("job")
        for _ in range(self.checkpoints):
            await checkpoint()
        await anyio.sleep(self.delay)
        if self.fails:
            raise JobError(self.index)
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
) -> SearchStrategy[JobSpec]:
    """Return a hypothesis strategy for one ``JobSpec`` with this *index*.

    Args:
        index: the job's index.
        max_delay: longest delay, in seconds (rounded down to 1/8 s).
        max_checkpoints: most extra task switches.
        failures: whether the job may fail.
    """
    from hypothesis import strategies as st

    return st.builds(
        JobSpec,
        index=st.just(index),
        delay=st.integers(0, int(max_delay / TICK)).map(lambda n: n * TICK),
        checkpoints=st.integers(0, max_checkpoints),
        fails=st.booleans() if failures else st.just(False),
    )


def job_plans(
    *,
    min_jobs: int = 0,
    max_jobs: int = 8,
    max_delay: float = 2.0,
    failures: bool = True,
    cancellation: bool = True,
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
            draw(job_specs(i, max_delay=max_delay, failures=failures))
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
