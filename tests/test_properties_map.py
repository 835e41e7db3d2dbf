"""Properties of ``bounded_map`` over random jobs and item sources."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import plait
from jobs import (
    BACKENDS,
    ITEMS_FORMS,
    PROPERTY_SETTINGS,
    Backend,
    Items,
    ItemsError,
    ItemsForm,
    Job,
    JobError,
    Recorder,
    assert_nothing_left,
    fuzz_seeds,
    items_notes,
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
    specs=jobs(),
    limit=st.integers(1, 4),
    items_form=ITEMS_FORMS,
    return_exceptions=st.booleans(),
    items_fail_at=st.none() | st.integers(0, 12),
    fuzz_seed=fuzz_seeds(),
)
def test_bounded_map_keeps_order_limit_and_every_failure(
    backend: Backend,
    specs: list[Job],
    limit: int,
    items_form: ItemsForm,
    return_exceptions: bool,
    items_fail_at: int | None,
    fuzz_seed: int | None,
) -> None:
    recorder = Recorder()
    if items_form == "list" or (items_fail_at or 0) >= len(specs):
        items_fail_at = None
    items = Items(len(specs), items_form, fail_at=items_fail_at)
    bounds: dict[str, int] = {"tasks": 0, "held": 0}

    async def main() -> None:
        before = task_count()

        async def fn(index: int) -> int:
            # The calling task is in `before`; the pool adds at most limit + 1.
            bounds["tasks"] = max(bounds["tasks"], task_count() - before)
            pulled = max(items.pulled, len(recorder.started) + 1)
            bounds["held"] = max(bounds["held"], pulled - len(recorder.finished))
            return await recorder.run(specs[index], index)

        outcome: Any
        try:
            outcome = await plait.bounded_map(
                fn, items.iterable(), limit=limit, return_exceptions=return_exceptions
            )
        except ExceptionGroup as group:
            outcome = group

        assert recorder.most_in_flight <= limit
        assert bounds["tasks"] <= limit + 1
        assert bounds["held"] <= limit
        assert len(set(recorder.started)) == len(recorder.started)
        if items_form == "async generator":
            assert items.done
        await assert_nothing_left(recorder, before)

        failures: list[Exception] = list(recorder.raised)
        if items.error is not None:
            failures.append(items.error)
        if isinstance(outcome, ExceptionGroup):
            # Every real failure, once; no cancellation among them.
            errors = list(leaves(outcome))
            if return_exceptions:
                assert errors == [items.error]
            else:
                assert failures
                assert all(isinstance(e, JobError | ItemsError) for e in errors)
                assert same_objects(errors, failures)
            for exc in recorder.raised:
                assert origin_notes(exc, "bounded_map") == [
                    f"raised by bounded_map() item {exc.index}"
                ]
            if items.error is not None:
                assert items_notes(items.error, "bounded_map") == [
                    f"raised by bounded_map() items iterable: {items.repr}"
                ]
            return
        assert items.error is None
        assert return_exceptions or not recorder.raised
        assert sorted(recorder.started) == list(range(len(specs)))
        raised = {exc.index: exc for exc in recorder.raised}
        assert isinstance(outcome, list)
        assert len(outcome) == len(specs)
        for index, (result, job) in enumerate(zip(outcome, specs, strict=True)):
            if job.fails:
                assert result is raised[index]
            else:
                assert result == job.value(index)
        assert recorder.cancelled == []

    run(backend, main, fuzz_seed=fuzz_seed, recorder=recorder)
