"""Closing a task group that an async context manager owns on its user's behalf."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

from anyio import CancelScope
from anyio.abc import TaskGroup

from ._cancellation import is_cancelled


async def close_owned_group(
    tg: TaskGroup,
    shutdown: Callable[[], Awaitable[object]],
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> bool | None:
    """Run *shutdown* shielded, then exit *tg* with the block's exception.

    The shutdown runs even when the block was cancelled from outside (it is
    bounded by its own grace periods). An error raised by the block passes
    through unwrapped: once the shutdown is over nothing runs in *tg*, and
    handing it the error would only wrap it in an ``ExceptionGroup`` of one.
    """
    try:
        with CancelScope(shield=True):
            await shutdown()
    finally:
        if exc is None or is_cancelled(exc):
            suppress = await tg.__aexit__(exc_type, exc, tb)
        else:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
            suppress = False
    return suppress
