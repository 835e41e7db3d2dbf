"""Properties of ``imap``: every kind of job, cancelled at any instant.

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

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plait
from plait import testing
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
    check(data.draw(scenarios(FAMILIES["imap"], backend)), backend)


@PROPERTY
@given(
    limit=st.integers(1, 5),
    buffer=st.none() | st.integers(0, 5),
    ordered=st.booleans(),
    reads=st.integers(1, 20),
    pause=st.integers(0, 3),
)
def test_a_slow_reader_holds_at_most_limit_plus_buffer_unread(
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
    pulled = read = worst = 0

    async def endless() -> AsyncIterator[int]:
        nonlocal pulled, worst
        index = 0
        while True:
            pulled += 1
            worst = max(worst, pulled - read)
            yield index
            index += 1

    async def fn(index: int) -> int:
        await anyio.lowlevel.checkpoint()
        return index

    async def main() -> None:
        nonlocal read
        async with (
            testing.assert_no_leaked_tasks(),
            plait.imap(
                fn, endless(), limit=limit, buffer=buffer, ordered=ordered
            ) as results,
        ):
            async for _ in results:
                read += 1
                for _ in range(pause):  # the reader dawdles
                    await anyio.lowlevel.checkpoint()
                await anyio.sleep(0.001)
                if read == reads:
                    break

    testing.run(main, backend=backend, virtual_time=backend != "uvloop")
    assert worst <= limit + slack
    assert pulled <= reads + limit + slack
    if reads > limit + slack:  # the reader was slow long enough to fill it
        assert worst == limit + slack
