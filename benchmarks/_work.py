"""The trivial work every item does: one checkpoint of the running loop.

It uses the backend's own checkpoint so that the measured cost is the
pattern's, not anyio's dispatch; every variant gets the same function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from ._model import Probe, WorkFn


def native_checkpoint(
    backend: Literal["asyncio", "trio"],
) -> Callable[[], Awaitable[None]]:
    """Return the backend's cheapest checkpoint."""
    if backend == "trio":
        import trio

        return trio.lowlevel.checkpoint
    import asyncio

    async def checkpoint() -> None:
        await asyncio.sleep(0)

    return checkpoint


def make_work(backend: Literal["asyncio", "trio"], probe: Probe) -> WorkFn:
    """Return ``work(x) -> x`` that checkpoints once and keeps *probe* counts."""
    checkpoint = native_checkpoint(backend)

    async def work(x: int) -> int:
        probe.active += 1
        if probe.active > probe.peak:
            probe.peak = probe.active
        await checkpoint()
        probe.active -= 1
        probe.done += 1
        return x

    return work


def cancelled_exc(backend: Literal["asyncio", "trio"]) -> type[BaseException]:
    """Return the backend's cancellation exception class."""
    if backend == "trio":
        import trio

        return trio.Cancelled
    import asyncio

    return asyncio.CancelledError


def sleep_forever(backend: Literal["asyncio", "trio"]) -> Callable[[], Awaitable[None]]:
    """Return the backend's wait-until-cancelled."""
    if backend == "trio":
        import trio

        return trio.sleep_forever
    import asyncio

    async def forever() -> None:
        await asyncio.get_running_loop().create_future()

    return forever
