"""Properties of ``imap``: backpressure over an endless source.

The cancellation family every pattern shares is in
``test_properties_cancellation.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
from hypothesis import given, settings
from hypothesis import strategies as st

import plait
from plait import testing
from stress._model import Backend


@settings(max_examples=30)
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
