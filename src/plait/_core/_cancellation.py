"""Telling cancellation apart from failure."""

from __future__ import annotations

import math
from typing import TypeGuard, cast

from anyio import current_effective_deadline, get_cancelled_exc_class


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


def cancellation_pending() -> bool:
    """Tell whether the next checkpoint here will raise a cancellation.

    True when an enclosing scope (up to the nearest shield) has been
    cancelled, explicitly or by its deadline (anyio then reports the
    effective deadline as ``-inf``). A deadline that has passed but not yet
    fired does not count: the answer never depends on the clock moving
    between two looks. Patterns ask it when a call fails, to tell a failure
    of its own from one raised while it was being cancelled (its cleanup
    failing), and a scope's cancellation from one delivered outside any
    scope (asyncio's ``Task.cancel()``).
    """
    return current_effective_deadline() == -math.inf


def raised_while_cancelled(exc: BaseException) -> bool:
    """Tell whether *exc* came from cleanup run because the code is cancelled.

    True when a cancellation is in its context chain (it was raised in an
    ``except`` or ``finally`` block handling one) and a cancellation is still
    pending here. A failure met just as a cancellation was requested but
    before it was delivered has none in its context; a ``TimeoutError`` from
    a ``fail_after`` inside the code has one, but that cancellation was
    caught there and is no longer pending (a scope catches its own
    cancellation only when no enclosing one is cancelled too). A
    cancellation outside any cancel scope (asyncio's ``Task.cancel()``)
    leaves nothing pending to see.
    """
    if not cancellation_pending():
        return False
    seen: set[int] = set()
    context = exc.__context__
    while context is not None and id(context) not in seen:
        if is_cancelled(context):
            return True
        seen.add(id(context))
        context = context.__context__
    return False


def is_exception_group(
    exc: BaseException | None,
) -> TypeGuard[BaseExceptionGroup[BaseException]]:
    """Tell whether *exc* is an exception group.

    ``isinstance`` alone leaves a type checker with a group of unknown
    members; every member of a ``BaseExceptionGroup`` is a ``BaseException``.
    """
    return isinstance(exc, BaseExceptionGroup)


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
