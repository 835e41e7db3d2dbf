"""Properties of ``race``: every kind of job, cancelled at any instant.

The scenarios and their invariants are the stress harness's (``stress/``):
jobs from ``plait.testing.job_plans`` (they return, fail, hang, fail in
their cleanup, swallow the cancellation and return, or raise a
BaseException), each mode of the pattern, an enclosing deadline, a sibling
cancelling the scope or asyncio's ``Task.cancel()`` at a drawn instant, on
virtual time (real time on uvloop) under a drawn fuzzing seed. Every real
failure surfaces exactly once, the call ends as the cancellation only when
nothing failed, nothing is invented or left running, the limits hold.
"""

from __future__ import annotations

import contextlib
import math

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plait
from plait import testing
from plait.testing import JobPlan, Timeline, job_plans
from stress import FAMILIES, check, scenarios
from stress._model import Backend

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(data=st.data())
def test_nothing_is_lost_under_an_outer_cancellation(
    backend: Backend, data: st.DataObject
) -> None:
    check(data.draw(scenarios(FAMILIES["race"], backend)), backend)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@PROPERTY
@given(
    plan=job_plans(min_jobs=1, max_jobs=8, cancellation=False),
    stagger=st.integers(1, 4).map(lambda ticks: ticks / 8),
)
def test_stagger_starts_each_contestant_on_time(
    backend: Backend, plan: JobPlan, stagger: float
) -> None:
    """Happy eyeballs: next start is ``stagger`` later, or at once on a failure.

    Exact instants need virtual time, which uvloop cannot have.
    """
    timeline = Timeline()
    jobs = plan.jobs

    async def main() -> None:
        start = anyio.current_time()
        contestants = [timeline.wrap(job.run, str(job.index)) for job in jobs]
        with contextlib.suppress(ExceptionGroup):
            await plait.race(*contestants, stagger=stagger)
        started = {int(e.label): e.time for e in timeline if e.kind == "start"}
        failed = {int(e.label): e.time for e in timeline if e.kind == "fail"}
        finished = [e for e in timeline if e.kind == "finish"]
        decided_at = finished[0].time if finished else math.inf
        assert started[0] == start
        for index in range(1, len(jobs)):
            if index - 1 not in started:
                assert index not in started
                continue
            due = min(started[index - 1] + stagger, failed.get(index - 1, math.inf))
            if due < decided_at:
                assert started[index] == due
            elif due > decided_at:
                assert index not in started
            elif index in started:  # due at the very instant the race was decided
                assert started[index] == due

    testing.run(main, backend=backend)
