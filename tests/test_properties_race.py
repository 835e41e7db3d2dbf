"""Properties of ``race`` over random contestants: the winner, and no loser left.

The winner is the first contestant to return: a job records its return just
before returning, with no checkpoint between that and race seeing the value,
so the first ``return`` event in the recorder names the winner.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

import plait
from jobs import (
    BACKENDS,
    FORMS,
    PROPERTY_SETTINGS,
    TICK,
    Backend,
    Form,
    Job,
    JobError,
    Recorder,
    arguments,
    assert_nothing_left,
    fuzz_seeds,
    jobs,
    leaves,
    origin_notes,
    run,
    same_objects,
    task_count,
)

STAGGERS = st.none() | st.integers(0, 3).map(lambda ticks: ticks * TICK)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY_SETTINGS
@given(
    specs=jobs(min_size=1, max_size=8),
    form=FORMS,
    stagger=STAGGERS,
    fuzz_seed=fuzz_seeds(),
)
def test_race_returns_the_first_success_and_leaves_no_loser_running(
    backend: Backend,
    specs: list[Job],
    form: Form,
    stagger: float | None,
    fuzz_seed: int | None,
) -> None:
    recorder = Recorder()

    async def main() -> None:
        given_ = arguments(recorder, specs, form)
        before = task_count()
        outcome: Any
        try:
            outcome = await plait.race(*given_.args, stagger=stagger)
        except ExceptionGroup as group:
            outcome = group
        # Nothing runs on after race is over, and nothing is left behind.
        assert given_.all_closed()
        await assert_nothing_left(recorder, before)
        events = list(recorder.events)

        returns = [i for what, i in events if what == "return"]
        if not returns:
            # All failed: each failure once, from every contestant.
            assert all(job.fails for job in specs)
            assert isinstance(outcome, ExceptionGroup)
            errors = list(leaves(outcome))
            assert same_objects(errors, recorder.raised)
            assert sorted(exc.index for exc in recorder.raised) == list(
                range(len(specs))
            )
            for exc in recorder.raised:
                assert origin_notes(exc, "race") == [
                    f"raised by race() argument {exc.index}"
                ]
            return
        winner = returns[0]
        decided = events.index(("return", winner))
        late = [
            exc
            for exc in recorder.raised
            if events.index(("raise", exc.index)) > decided
        ]
        if late:
            # Failures after the race was decided are not swallowed.
            assert isinstance(outcome, ExceptionGroup)
            errors = list(leaves(outcome))
            assert all(isinstance(exc, JobError) for exc in errors), errors
            assert same_objects(errors, late)
        else:
            assert outcome == specs[winner].value(winner)

    run(backend, main, fuzz_seed=fuzz_seed, recorder=recorder)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@PROPERTY_SETTINGS
@given(
    specs=jobs(min_size=1, max_size=8),
    stagger=st.integers(1, 4).map(lambda ticks: ticks * TICK),
)
def test_race_stagger_starts_each_contestant_on_time(
    backend: Backend, specs: list[Job], stagger: float
) -> None:
    """Happy eyeballs: next start is ``stagger`` later, or at once on a failure.

    Exact instants need virtual time, which uvloop cannot have.
    """
    started_at: dict[int, float] = {}
    failed_at: dict[int, float] = {}

    class Timed(Recorder):
        async def run(self, job: Job, index: int) -> int:
            started_at[index] = anyio.current_time()
            try:
                return await super().run(job, index)
            except JobError:
                failed_at[index] = anyio.current_time()
                raise

    recorder = Timed()

    async def main() -> None:
        start = anyio.current_time()
        contestants = [
            (lambda job=job, index=index: recorder.run(job, index))
            for index, job in enumerate(specs)
        ]
        with contextlib.suppress(ExceptionGroup):
            await plait.race(*contestants, stagger=stagger)
        assert started_at[0] == start
        returned = [i for what, i in recorder.events if what == "return"]
        decided_at = math.inf
        if returned:
            decided_at = started_at[returned[0]] + specs[returned[0]].ticks * TICK
        for index in range(1, len(specs)):
            if index - 1 not in started_at:
                assert index not in started_at
                continue
            previous = started_at[index - 1]
            due = min(previous + stagger, failed_at.get(index - 1, math.inf))
            if due < decided_at - 1e-9:
                assert started_at[index] == pytest.approx(due, abs=1e-9)
            elif due > decided_at + 1e-9:
                assert index not in started_at
            elif index in started_at:
                # Due at the very instant the race was decided: either way.
                assert started_at[index] == pytest.approx(due, abs=1e-9)

    run(backend, main)
