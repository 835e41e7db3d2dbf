"""The task group plait's patterns run their tasks in.

It is anyio's, with one repair: on asyncio, anyio 4.16's group runs a
checkpoint in ``__aexit__`` when no child is left, and a ``Task.cancel()``
landing on it makes the group raise a bare ``CancelledError``, dropping the
errors its children raised (anyio issue #1069; the fix, PR #1071, is not
released). plait promises that no failure is lost, so the tasks of a
pattern tell the group what they raise (``keep``), and an exit that gives
back a bare cancellation after a failure raises the group anyio would have
raised. Once plait requires an anyio with the fix, the repair in
``__aexit__``, ``keep`` and its calls, and ``handles`` can go.
"""

from __future__ import annotations

from collections.abc import Coroutine
from contextvars import Context
from types import TracebackType
from typing import Any, Literal, TypeVar

from anyio import TaskHandle
from anyio import create_task_group as create_anyio_task_group
from anyio.abc import TaskGroup

from ._cancellation import is_cancelled

T_co = TypeVar("T_co", covariant=True)


class KeepingTaskGroup(TaskGroup):
    """anyio's task group, keeping what its tasks raise (anyio issue #1069).

    A task that ends with an exception calls ``keep`` with it; handles of
    tasks whose exception is read afterwards may be listed in ``handles``
    instead. Only the exit reads them, and only when anyio's group raised a
    bare cancellation: then the failures leave in the group anyio raises
    for failed children (``ExceptionGroup`` or ``BaseExceptionGroup``),
    the block's own error first. The cancellation stays requested
    (``Task.cancelling()`` counts it), as anyio leaves it when it raises
    the children's errors instead of a ``Task.cancel()`` met while waiting
    for them.
    """

    __slots__ = ("_group", "_kept", "cancel_scope", "handles")

    def __init__(self) -> None:
        self._group = create_anyio_task_group()
        self.cancel_scope = self._group.cancel_scope
        self._kept: list[BaseException] = []
        self.handles: list[TaskHandle[Any]] = []

    def keep(self, exc: BaseException) -> None:
        """Remember *exc*, raised by a task of this group, unless a cancellation."""
        if not is_cancelled(exc):
            self._kept.append(exc)

    def create_task(
        self,
        coro: Coroutine[Any, Any, T_co],
        *,
        name: object = None,
        context: Context | None = None,
    ) -> TaskHandle[T_co]:
        return self._group.create_task(coro, name=name, context=context)

    async def start(
        self,
        func: Any,
        *args: object,
        name: object = None,
        return_handle: Literal[False, True] = False,
    ) -> Any:
        return await self._group.start(
            func, *args, name=name, return_handle=return_handle
        )

    async def __aenter__(self) -> KeepingTaskGroup:
        await self._group.__aenter__()
        self.cancel_scope = self._group.cancel_scope  # trio's is made on entering
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool:
        try:
            return await self._group.__aexit__(exc_type, exc_val, exc_tb)
        except BaseException as raised:
            if isinstance(raised, BaseExceptionGroup) or not is_cancelled(raised):
                raise
            failures = self._failures(exc_val)
            if not failures:
                raise
            raise BaseExceptionGroup(
                "unhandled errors in a TaskGroup", failures
            ) from None

    def _failures(self, block_error: BaseException | None) -> list[BaseException]:
        """Return the failures anyio's group would have raised, the block's first."""
        failures: list[BaseException] = []
        if block_error is not None and not is_cancelled(block_error):
            failures.append(block_error)
        found = [*self._kept]
        for handle in self.handles:
            if handle.status is TaskHandle.Status.FAILED:
                exc = handle.exception
                if exc is not None and not is_cancelled(exc):
                    found.append(exc)
        for exc in found:  # a task may report what it raises more than once
            if all(exc is not seen for seen in failures):
                failures.append(exc)
        return failures


def create_task_group() -> KeepingTaskGroup:
    """Return a new task group for a pattern's tasks (see ``KeepingTaskGroup``)."""
    return KeepingTaskGroup()
