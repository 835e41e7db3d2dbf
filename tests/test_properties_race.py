"""Properties of ``race``: the stagger schedule (happy eyeballs).

The cancellation family every pattern shares is in
``test_properties_cancellation.py``.
"""

from __future__ import annotations

import contextlib
import math

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plait
from plait import testing
from plait.testing import JobPlan, Timeline, job_plans
from stress._model import Backend


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=30)
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
