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
    when there is no deadline.

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
    return max(0.0, deadline - current_time())


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
