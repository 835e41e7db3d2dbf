"""Properties of ``imap`` over random jobs, readers and early exits."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given
from hypothesis import strategies as st

import plait
from jobs import (
    BACKENDS,
    ITEMS_FORMS,
    PROPERTY_SETTINGS,
    TICK,
    Backend,
    Items,
    ItemsForm,
    Job,
    JobError,
    Recorder,
    assert_nothing_left,
    fuzz_seeds,
    items_notes,
    jobs,
    origin_notes,
    run,
    task_count,
)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY_SETTINGS
@given(
    specs=jobs(),
    limit=st.integers(1, 4),
    buffer=st.none() | st.integers(0, 3),
    ordered=st.booleans(),
    return_exceptions=st.booleans(),
    with_index=st.booleans(),
    items_form=ITEMS_FORMS,
    reader_delay=st.integers(0, 3),
    stop_after=st.none() | st.integers(0, 12),
    items_fail_at=st.none() | st.integers(0, 12),
    fuzz_seed=fuzz_seeds(),
)
def test_imap_delivers_in_order_with_backpressure_and_leaks_nothing(
    backend: Backend,
    specs: list[Job],
    limit: int,
    buffer: int | None,
    ordered: bool,
    return_exceptions: bool,
    with_index: bool,
    items_form: ItemsForm,
    reader_delay: int,
    stop_after: int | None,
    items_fail_at: int | None,
    fuzz_seed: int | None,
) -> None:
    """A slow reader (``reader_delay`` ticks per result) holds the pool back.

    At most ``limit`` calls run at once, and at most ``limit + buffer`` items
    are pulled and not yet read (``buffer`` defaults to ``limit``).

    With ``items_fail_at``, the items iterable itself raises there, so only
    the jobs before it are items.
    """
    recorder = Recorder()
    if items_form == "list" or (items_fail_at or 0) >= len(specs):
        items_fail_at = None
    items = Items(len(specs), items_form, fail_at=items_fail_at)
    count = len(specs) if items_fail_at is None else items_fail_at
    delivered: list[Any] = []
    bounds: dict[str, int] = {"tasks": 0, "unread": 0}

    def pulled_not_read() -> None:
        pulled = max(items.pulled, len(recorder.started) + 1)
        bounds["unread"] = max(bounds["unread"], pulled - len(delivered))

    items.on_pull = pulled_not_read

    async def main() -> None:
        before = task_count()

        async def fn(index: int) -> int:
            bounds["tasks"] = max(bounds["tasks"], task_count() - before)
            pulled_not_read()
            return await recorder.run(specs[index], index)

        raised: BaseException | None = None
        try:
            async with plait.imap(
                fn,
                items.iterable(),
                limit=limit,
                buffer=buffer,
                ordered=ordered,
                return_exceptions=return_exceptions,
                with_index=with_index,
            ) as results:
                async for result in results:
                    if stop_after is not None and len(delivered) == stop_after:
                        break
                    delivered.append(result)
                    if reader_delay:
                        await anyio.sleep(reader_delay * TICK)
        except Exception as exc:
            raised = exc

        assert recorder.most_in_flight <= limit
        assert bounds["tasks"] <= limit + 1
        assert bounds["unread"] <= limit + (limit if buffer is None else buffer)
        assert len(set(recorder.started)) == len(recorder.started)
        if items_form == "async generator":
            assert items.done
        await assert_nothing_left(recorder, before)

        by_index = {exc.index: exc for exc in recorder.raised}

        def expected(index: int) -> Any:
            value = by_index[index] if specs[index].fails else specs[index].value(index)
            return (index, value) if with_index else value

        # The iterable's own error is nobody's result: it is raised, even
        # with return_exceptions (as bounded_map does), never delivered.
        assert not [r for r in delivered if (r[1] if with_index else r) is items.error]
        values = delivered
        if with_index:
            indexes = [index for index, _ in values]
        else:
            indexes = [r.index if isinstance(r, JobError) else r - 1000 for r in values]
        # Each result once, and it is the one its item produced.
        assert len(set(indexes)) == len(indexes)
        assert all(index < count for index in indexes)
        for index, result in zip(indexes, values, strict=True):
            assert result == expected(index)
            if specs[index].fails:
                assert (result[1] if with_index else result) is by_index[index]

        # The reader stops before the end when fewer reads than results are
        # allowed; the read after the last result raises the iterable's error.
        stopped = stop_after is not None and stop_after < count
        failing = [i for i, job in enumerate(specs[:count]) if job.fails]
        first_failure = failing[0] if failing and not return_exceptions else None
        if items.error is not None and not stopped:
            assert raised is items.error or first_failure is not None
        if ordered:
            if first_failure is not None and (
                stop_after is None or stop_after >= first_failure
            ):
                # Every earlier result, then the failure itself, unwrapped.
                assert indexes == list(range(first_failure))
                assert raised is by_index[first_failure]
            elif items.error is not None and not stopped:
                assert indexes == list(range(count))
                assert raised is items.error
            else:
                assert raised is None
                assert indexes == list(range(len(indexes)))
                assert len(indexes) == (stop_after if stopped else count)
        elif raised is not None:
            assert raised is items.error or not return_exceptions
            if raised is not items.error:
                assert isinstance(raised, JobError)
                assert raised is by_index[raised.index]
            assert return_exceptions or all(not specs[i].fails for i in indexes)
        else:
            assert first_failure is None or stopped
            if not stopped:
                assert sorted(indexes) == list(range(count))
        if isinstance(raised, JobError):
            assert origin_notes(raised, "imap") == [
                f"raised by imap() item {raised.index}"
            ]
        if items.error is not None and raised is items.error:
            assert items_notes(items.error, "imap") == [
                f"raised by imap() items iterable: {items.repr}"
            ]

    run(backend, main, fuzz_seed=fuzz_seed, recorder=recorder)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY_SETTINGS
@given(
    specs=jobs(),
    limit=st.integers(1, 4),
    return_exceptions=st.booleans(),
    fuzz_seed=fuzz_seeds(),
)
def test_imap_ordered_and_unordered_deliver_the_same_results(
    backend: Backend,
    specs: list[Job],
    limit: int,
    return_exceptions: bool,
    fuzz_seed: int | None,
) -> None:
    if not return_exceptions:
        specs = [Job(job.checkpoints, job.ticks, fails=False) for job in specs]

    async def read(ordered: bool) -> list[tuple[int, Any]]:
        recorder = Recorder()

        async def fn(index: int) -> int:
            return await recorder.run(specs[index], index)

        async with plait.imap(
            fn,
            range(len(specs)),
            limit=limit,
            ordered=ordered,
            return_exceptions=return_exceptions,
            with_index=True,
        ) as results:
            return [
                (index, str(r) if isinstance(r, JobError) else r)
                async for index, r in results
            ]

    async def main() -> None:
        in_order = await read(ordered=True)
        as_done = await read(ordered=False)
        assert [index for index, _ in in_order] == list(range(len(specs)))
        assert sorted(as_done) == in_order

    run(backend, main, fuzz_seed=fuzz_seed)


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY_SETTINGS
@given(
    limit=st.integers(1, 5),
    buffer=st.none() | st.integers(0, 5),
    ordered=st.booleans(),
    reads=st.integers(1, 20),
    pause=st.integers(0, 3),
)
def test_imap_slow_reader_holds_at_most_limit_plus_buffer_unread(
    backend: Backend,
    limit: int,
    buffer: int | None,
    ordered: bool,
    reads: int,
    pause: int,
) -> None:
    """Over an endless source, pulled and not read stays <= limit + buffer.

    And the bound is reached: a dawdling reader lets the pool fill it.
    """
    slack = limit if buffer is None else buffer
    pulled = [0]
    read = [0]
    worst = [0]

    async def endless() -> Any:
        index = 0
        while True:
            pulled[0] += 1
            worst[0] = max(worst[0], pulled[0] - read[0])
            yield index
            index += 1

    async def fn(index: int) -> int:
        await anyio.lowlevel.checkpoint()
        return index

    async def main() -> None:
        before = task_count()
        async with plait.imap(
            fn, endless(), limit=limit, buffer=buffer, ordered=ordered
        ) as results:
            async for _ in results:
                read[0] += 1
                # The reader dawdles: the pool must wait for it.
                for _ in range(pause):
                    await anyio.lowlevel.checkpoint()
                await anyio.sleep(TICK)
                if read[0] == reads:
                    break
        assert task_count() == before

    run(backend, main)
    assert worst[0] <= limit + slack
    assert pulled[0] <= reads + limit + slack
    if reads > limit + slack:  # the reader was slow long enough to fill it
        assert worst[0] == limit + slack
