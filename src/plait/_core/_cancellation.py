"""Telling cancellation apart from failure."""

from __future__ import annotations

from typing import cast

from anyio import get_cancelled_exc_class


def is_cancelled(exc: BaseException) -> bool:
    """Tell whether *exc* is the running backend's cancellation.

    True for the cancellation exception itself (``asyncio.CancelledError`` or
    ``trio.Cancelled``) and for an exception group made only of them, at any
    depth. Must be called inside a running event loop.

    Example:
        >>> import anyio, plait
        >>> async def main() -> bool:
        ...     with anyio.CancelScope() as scope:
        ...         scope.cancel()
        ...         try:
        ...             await anyio.sleep(1)
        ...         except BaseException as exc:
        ...             return plait.is_cancelled(exc)
        ...     return False
        >>> anyio.run(main)
        True
    """
    cancelled = get_cancelled_exc_class()
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        return all(is_cancelled(inner) for inner in group.exceptions)
    return isinstance(exc, cancelled)


def non_cancel_subgroup(
    group: BaseExceptionGroup[BaseException],
) -> BaseExceptionGroup[BaseException] | None:
    """Return *group* without its cancellation exceptions, or ``None``.

    The structure (nesting, messages, notes, tracebacks) of what is left is
    kept, as ``BaseExceptionGroup.split`` keeps it.

    Example:
        >>> import anyio, plait
        >>> async def main() -> list[str]:
        ...     group = BaseExceptionGroup(
        ...         "mixed", [ValueError("x"), anyio.get_cancelled_exc_class()()]
        ...     )
        ...     rest = plait.non_cancel_subgroup(group)
        ...     assert rest is not None
        ...     return [type(e).__name__ for e in rest.exceptions]
        >>> anyio.run(main)
        ['ValueError']
    """
    _, rest = group.split(get_cancelled_exc_class())
    return rest
