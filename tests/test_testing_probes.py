"""Invariant helpers and job specs, run through plait's patterns."""

from __future__ import annotations

import math

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plait
from plait.testing import (
    Clock,
    ConcurrencyProbe,
    JobError,
    JobPlan,
    JobSpec,
    Timeline,
    assert_no_leaked_tasks,
    current_clock,
    fuzz_schedule,
    fuzz_seeds,
    job_plans,
    job_specs,
    run,
)

pytestmark = pytest.mark.virtual_time


class TestConcurrencyProbe:
    async def test_counts_peak_of_overlapping_blocks(self) -> None:
        probe = ConcurrencyProbe()
        release = anyio.Event()

        async def hold() -> None:
            async with probe:
                await release.wait()

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(hold)
            await anyio.wait_all_tasks_blocked()
            assert probe.current == 4
            release.set()
        assert (probe.current, probe.peak, probe.entries) == (0, 4, 4)

    async def test_sequential_blocks_peak_at_one(self) -> None:
        probe = ConcurrencyProbe()
        for _ in range(3):
            with probe:
                await anyio.lowlevel.checkpoint()
        assert (probe.peak, probe.entries) == (1, 3)

    async def test_block_left_by_error_counts_as_left(self) -> None:
        probe = ConcurrencyProbe()
        with pytest.raises(KeyError), probe:
            raise KeyError("x")
        assert probe.current == 0
        assert "peak=1" in repr(probe)

    @settings(max_examples=15)
    @given(limit=st.integers(1, 5), items=st.integers(0, 12))
    async def test_bounded_map_never_exceeds_its_limit(
        self, limit: int, items: int
    ) -> None:
        probe = ConcurrencyProbe()
        # A fixture would outlive hypothesis' examples; read the loop's clock.
        unit = 1.0 if current_clock().virtual else 0.005

        async def work(n: int) -> int:
            await anyio.sleep(unit)
            return n

        results = await plait.bounded_map(probe.wrap(work), range(items), limit=limit)
        assert results == list(range(items))
        assert probe.peak == min(limit, items)
        assert probe.current == 0


class TestAssertNoLeakedTasks:
    async def test_structured_code_passes(self) -> None:
        async with assert_no_leaked_tasks():
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.sleep, 0.01)
            await plait.gather(anyio.sleep(0.01), anyio.sleep(0.02))

    async def test_task_parked_in_outer_group_fails(self) -> None:
        async with anyio.create_task_group() as outer:
            with pytest.raises(AssertionError, match=r"1 task.*'parked'"):
                async with assert_no_leaked_tasks():
                    outer.start_soon(anyio.sleep_forever, name="parked")
            outer.cancel_scope.cancel()

    async def test_tasks_alive_before_the_block_are_not_leaks(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep_forever, name="older")
            await anyio.lowlevel.checkpoint()
            async with assert_no_leaked_tasks():
                await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()

    async def test_error_in_block_propagates_unchecked(self) -> None:
        async with anyio.create_task_group() as outer:
            with pytest.raises(ValueError, match="body"):
                async with assert_no_leaked_tasks():
                    outer.start_soon(anyio.sleep_forever)
                    raise ValueError("body")
            outer.cancel_scope.cancel()


class TestTimeline:
    async def test_records_start_finish_fail_and_cancel_in_order(
        self, clock: Clock
    ) -> None:
        timeline = Timeline()
        unit = 1.0 if clock.virtual else 0.05

        async def ok() -> None:
            await anyio.sleep(unit)

        async def bad() -> None:
            await anyio.sleep(2 * unit)
            raise KeyError("bad")

        start = anyio.current_time()
        with anyio.move_on_after(3 * unit):
            async with anyio.create_task_group() as tg:
                tg.start_soon(timeline.wrap(ok))
                tg.start_soon(timeline.wrap(anyio.sleep_forever, "forever"))
                with pytest.raises(KeyError), timeline.track("bad"):
                    await bad()
                timeline.mark("after bad")
        assert timeline.kinds("ok") == ["start", "finish"]
        assert timeline.kinds("bad") == ["start", "fail"]
        assert timeline.kinds("forever") == ["start", "cancel"]
        assert timeline.labels("mark") == ["after bad"]
        assert timeline.time_of("ok", "finish") - start == clock.approx(unit)
        assert timeline.time_of("bad", "fail") - start == clock.approx(2 * unit)
        assert timeline.time_of("forever", "cancel") - start == clock.approx(3 * unit)
        assert [event.seq for event in timeline] == list(range(len(timeline)))
        fail = next(e for e in timeline if e.kind == "fail")
        assert isinstance(fail.error, KeyError)

    def test_time_of_missing_event(self) -> None:
        with pytest.raises(LookupError, match="no 'finish' event for 'x'"):
            Timeline().time_of("x", "finish")

    async def test_race_cancels_the_losers_at_the_winners_instant(
        self, clock: Clock
    ) -> None:
        timeline = Timeline()
        unit = 1.0 if clock.virtual else 0.05

        async def job(delay: float) -> float:
            await anyio.sleep(delay)
            return delay

        start = anyio.current_time()
        winner = await plait.race(
            timeline.wrap(job, "slow")(3 * unit),
            timeline.wrap(job, "fast")(0.5 * unit),
            timeline.wrap(job, "mid")(unit),
        )
        assert winner == 0.5 * unit
        assert timeline.labels("finish") == ["fast"]
        assert sorted(timeline.labels("cancel")) == ["mid", "slow"]
        for label in ("mid", "slow"):
            cancelled_at = timeline.time_of(label, "cancel")
            assert cancelled_at - start == clock.approx(0.5 * unit)


class TestJobSpecs:
    def test_spec_returns_or_fails(self) -> None:
        assert run(JobSpec(2, delay=0.5, checkpoints=2)) == 2
        with pytest.raises(JobError, match="job 4 failed") as info:
            run(JobSpec(4, fails=True).run)
        assert info.value.index == 4

    def test_spec_sleeps_its_delay_exactly(self) -> None:
        async def main() -> float:
            await JobSpec(0, delay=1.625)()
            return anyio.current_time()

        assert run(main, backend="trio") == 1.625

    @settings(max_examples=20)
    @given(job_specs(3, max_delay=1.0))
    def test_strategy_respects_its_bounds(self, spec: JobSpec) -> None:
        assert spec.index == 3
        assert 0 <= spec.delay <= 1.0
        assert (spec.delay * 8).is_integer()

    @settings(max_examples=20)
    @given(job_plans(min_jobs=2, max_jobs=4, failures=False, cancellation=False))
    def test_plan_strategy_without_failures(self, plan: JobPlan) -> None:
        assert 2 <= len(plan.jobs) <= 4
        assert [job.index for job in plan.jobs] == list(range(len(plan.jobs)))
        assert plan.failing == frozenset()
        assert plan.cancel_after is None

    def test_plan_bounds_are_checked(self) -> None:
        with pytest.raises(ValueError, match="min_jobs <= max_jobs"):
            job_plans(min_jobs=3, max_jobs=2)


def _gather_outcome_is_possible(plan: JobPlan, outcome: tuple[str, object]) -> bool:
    """Whether gather may end so, for this plan on virtual time.

    Events at the same instant (a job failing just as the caller cancels, two
    jobs failing together) may be seen in either order, depending on the
    interleaving: every order is allowed, nothing else is.
    """
    first_failure = min(
        (job.delay for job in plan.jobs if job.fails), default=float("inf")
    )
    longest = max((job.delay for job in plan.jobs), default=0.0)
    end = min(first_failure, longest)
    cancel = plan.cancel_after if plan.cancel_after is not None else float("inf")
    kind, detail = outcome
    if kind == "cancelled":
        return cancel <= end and detail == cancel
    if cancel < end:
        return False
    if kind == "failed":
        failing_now = {j.index for j in plan.jobs if j.fails and j.delay == end}
        return (
            first_failure == end
            and isinstance(detail, set)
            and bool(detail)
            and detail <= failing_now
        )
    return first_failure > longest and detail == tuple(plan.results())


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=30, database=None)
@given(plan=job_plans(max_jobs=5), seed=fuzz_seeds())
def test_gather_under_fuzzing_and_virtual_time(
    backend: str, plan: JobPlan, seed: int
) -> None:
    """A property test in the shape plait's own suite uses for each pattern."""

    async def main() -> tuple[str, object]:
        start = anyio.current_time()
        outcome: tuple[str, object] = ("cancelled", None)
        deadline = plan.cancel_after if plan.cancel_after is not None else math.inf
        with anyio.move_on_after(deadline):
            async with assert_no_leaked_tasks():
                try:
                    results = await plait.gather(*(job() for job in plan.jobs))
                except ExceptionGroup as group:
                    failed = {getattr(e, "index", None) for e in group.exceptions}
                    outcome = ("failed", failed)
                else:
                    outcome = ("done", results)
        if outcome[0] == "cancelled":
            outcome = ("cancelled", anyio.current_time() - start)
        return outcome

    with fuzz_schedule(seed):
        outcome = run(main, backend=backend)
    assert _gather_outcome_is_possible(plan, outcome), outcome
