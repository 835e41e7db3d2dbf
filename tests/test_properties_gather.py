"""Properties of ``gather`` over random jobs: order, failures, no leftovers."""

from __future__ import annotations

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


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY_SETTINGS
@given(specs=jobs(), form=FORMS, fuzz_seed=fuzz_seeds())
def test_gather_fails_fast_and_reports_every_failure_once(
    backend: Backend, specs: list[Job], form: Form, fuzz_seed: int | None
) -> None:
    recorder = Recorder()

    async def main() -> None:
        given_ = arguments(recorder, specs, form)
        before = task_count()
        try:
            results = await plait.gather(*given_.args)
        except ExceptionGroup as group:
            assert any(job.fails for job in specs)
            errors = list(leaves(group))
            assert all(isinstance(exc, JobError) for exc in errors), errors
            assert same_objects(errors, recorder.raised)
            for exc in recorder.raised:
                assert origin_notes(exc, "gather") == [
                    f"raised by gather() argument {exc.index}"
                ]
        else:
            assert not any(job.fails for job in specs)
            assert results == tuple(job.value(i) for i, job in enumerate(specs))
            assert sorted(recorder.returned) == list(range(len(specs)))
        assert given_.all_closed()
        await assert_nothing_left(recorder, before)

    run(backend, main, fuzz_seed=fuzz_seed, recorder=recorder)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY_SETTINGS
@given(specs=jobs(), form=FORMS, fuzz_seed=fuzz_seeds())
def test_gather_return_exceptions_puts_each_failure_in_its_slot(
    backend: Backend, specs: list[Job], form: Form, fuzz_seed: int | None
) -> None:
    recorder = Recorder()

    async def main() -> None:
        given_ = arguments(recorder, specs, form)
        before = task_count()
        results = await plait.gather(*given_.args, return_exceptions=True)
        raised = {exc.index: exc for exc in recorder.raised}
        assert len(raised) == len(recorder.raised)
        expected = [
            raised[i] if job.fails else job.value(i) for i, job in enumerate(specs)
        ]
        assert len(results) == len(specs)
        for result, wanted in zip(results, expected, strict=True):
            assert result is wanted or (type(result) is int and result == wanted)
        assert recorder.cancelled == []
        assert sorted(recorder.finished) == list(range(len(specs)))
        assert task_count() == before
        assert given_.all_closed()

    run(backend, main, fuzz_seed=fuzz_seed, recorder=recorder)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY_SETTINGS
@given(
    specs=jobs(min_size=1),
    form=FORMS,
    return_exceptions=st.booleans(),
    cancel_after=st.integers(0, 4),
    fuzz_seed=fuzz_seeds(),
)
def test_gather_cancelled_from_outside_swallows_nothing(
    backend: Backend,
    specs: list[Job],
    form: Form,
    return_exceptions: bool,
    cancel_after: int,
    fuzz_seed: int | None,
) -> None:
    """An outer cancel propagates as itself; real failures still surface."""
    recorder = Recorder()

    async def main() -> None:
        given_ = arguments(recorder, specs, form)
        before = task_count()
        outcome: Any = None
        scope = anyio.move_on_after(cancel_after * TICK)
        try:
            with scope:
                outcome = await plait.gather(
                    *given_.args, return_exceptions=return_exceptions
                )
        except ExceptionGroup as group:
            # Caught outside the scope: on trio, failures that meet the outer
            # cancel leave gather grouped with it, and the scope takes it out.
            outcome = group
        if isinstance(outcome, tuple):
            # Finished: a result or an error per slot, never a cancellation.
            assert len(outcome) == len(specs)
            for index, (result, job) in enumerate(zip(outcome, specs, strict=True)):
                if job.fails:
                    assert isinstance(result, JobError)
                    assert result.index == index
                else:
                    assert result == job.value(index)
        elif isinstance(outcome, ExceptionGroup):
            assert not return_exceptions
            errors = list(leaves(outcome))
            assert all(isinstance(exc, JobError) for exc in errors), errors
            assert same_objects(errors, recorder.raised)
        else:
            assert scope.cancelled_caught
            if not return_exceptions:
                # Nothing failed, or its error would have left the scope.
                assert recorder.raised == []
        assert recorder.running == set()
        assert task_count() == before
        assert given_.all_closed()

    run(backend, main, fuzz_seed=fuzz_seed, recorder=recorder)
