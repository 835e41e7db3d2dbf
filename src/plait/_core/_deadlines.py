"""Deadline arithmetic and small cancellation helpers."""

from __future__ import annotations

import math

from anyio import CancelScope, current_effective_deadline, current_time
from anyio.lowlevel import checkpoint as _anyio_checkpoint


async def checkpoint() -> None:
    """Let other tasks run, and raise if the enclosing scope is cancelled.

    Example:
        >>> import anyio, plait
        >>> anyio.run(plait.checkpoint)
    """
    await _anyio_checkpoint()


def effective_deadline() -> float | None:
    """Return the deadline that applies here, on the event loop's clock.

    ``None`` when no enclosing scope has a deadline. Inside a scope that is
    already cancelled it is ``-inf``, as anyio reports it.

    Example:
        >>> import anyio, plait
        >>> async def main() -> tuple[bool, bool]:
        ...     none = plait.effective_deadline() is None
        ...     with anyio.move_on_after(5):
        ...         return none, plait.effective_deadline() is not None
        >>> anyio.run(main)
        (True, True)
    """
    deadline = current_effective_deadline()
    return None if deadline == math.inf else deadline


def remaining() -> float | None:
    """Return the seconds left until the effective deadline.

    ``0.0`` once the deadline has passed (or the scope is cancelled), ``None``
    when there is no deadline. The value is rounded down to the microsecond,
    so it never exceeds the time really left: right after
    ``move_on_after(5)`` it is at most ``5``, never ``5.000000000000003``
    (the float sum ``start + 5`` behind the deadline can round up).

    Example:
        >>> import anyio, plait
        >>> async def main() -> bool:
        ...     with anyio.move_on_after(5):
        ...         left = plait.remaining()
        ...         return left is not None and 0 < left <= 5
        >>> anyio.run(main)
        True
    """
    deadline = effective_deadline()
    if deadline is None:
        return None
    left = deadline - current_time()
    if left <= 0:
        return 0.0
    # The deadline is `start + timeout` rounded to a float, which can land a
    # few ulps past the true instant; flooring to the microsecond removes that
    # error for any clock reading below 2**33 s, and errs on the safe side.
    return math.floor(left * 1_000_000) / 1_000_000


def shield() -> CancelScope:
    """Return a shielded cancel scope: cleanup inside it is not cancelled.

    Outer cancellation and deadlines do not reach the block; put a deadline
    of its own on it (``with plait.shield(), anyio.move_on_after(5):``) so
    that cleanup cannot hang forever.

    Example:
        >>> import anyio, plait
        >>> async def main() -> str:
        ...     with anyio.CancelScope() as scope:
        ...         scope.cancel()
        ...         with plait.shield():
        ...             await anyio.sleep(0)
        ...             return "cleanup ran"
        ...     return "not reached"
        >>> anyio.run(main)
        'cleanup ran'
    """
    return CancelScope(shield=True)
