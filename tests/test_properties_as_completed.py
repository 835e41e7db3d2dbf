"""Properties of ``as_completed`` over random jobs: limit, order, failures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import plait
from jobs import (
    BACKENDS,
    FORMS,
    PROPERTY_SETTINGS,
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
@given(
    specs=jobs(min_size=1),
    form=FORMS,
    limit=st.none() | st.integers(1, 4),
    stop_after=st.none() | st.integers(0, 12),
    fuzz_seed=fuzz_seeds(),
)
def test_as_completed_keeps_limit_and_completion_order(
    backend: Backend,
    specs: list[Job],
    form: Form,
    limit: int | None,
    stop_after: int | None,
    fuzz_seed: int | None,
) -> None:
    recorder = Recorder()

    async def main() -> None:
        given_ = arguments(recorder, specs, form)
        before = task_count()
        received: list[plait.TaskHandle[int]] = []
        outcome: ExceptionGroup[Exception] | None = None
        try:
            async with plait.as_completed(*given_.args, limit=limit) as done:
                async for handle in done:
                    if stop_after is not None and len(received) == stop_after:
                        break
                    received.append(handle)
        except ExceptionGroup as group:
            outcome = group

        assert recorder.most_in_flight <= (limit or len(specs))
        assert given_.all_closed()
        await assert_nothing_left(recorder, before)

        # Handles come in the order their calls ended, each once.
        assert len(set(map(id, received))) == len(received)
        ended = [i for what, i in recorder.events if what in ("return", "raise")]
        assert [handle_index(h) for h in received] == ended[: len(received)]
        if outcome is not None:
            errors = list(leaves(outcome))
            assert all(isinstance(exc, JobError) for exc in errors), errors
            assert same_objects(errors, recorder.raised)
            for exc in recorder.raised:
                assert origin_notes(exc, "as_completed") == [
                    f"raised by as_completed() argument {exc.index}"
                ]
        else:
            assert recorder.raised == []
            if stop_after is None or stop_after >= len(specs):
                assert sorted(recorder.returned) == list(range(len(specs)))
                assert len(received) == len(specs)
                assert [h.return_value for h in received] == [
                    specs[i].value(i) for i in recorder.returned
                ]

    run(backend, main, fuzz_seed=fuzz_seed, recorder=recorder)


def handle_index(handle: plait.TaskHandle[int]) -> int:
    """Return which job a finished handle ran."""
    if handle.status is plait.TaskHandle.Status.FINISHED:
        return handle.return_value - 1000
    exc = handle.exception
    assert isinstance(exc, JobError), handle.status
    return exc.index
