"""One lifecycle for every class that owns a task group on its user's behalf.

``Supervisor``, ``TrackedBackend``, ``Scheduler``, ``DurableBackend`` and
imap's block each run background work while the user's ``async with`` block
runs. They share this shape (anyio's ``AsyncContextManagerMixin`` over one
generator), so they behave alike:

- **Entered once.** A second ``async with`` on the same object, whether
  nested or after it stopped, is a ``RuntimeError`` naming the class; make a
  new object instead. Fields that exist only while entered live in the
  generator's frame or are set by ``_open``, never ``None`` placeholders that
  every method must assert on.
- **Shutdown always runs.** When the block ends (normally, by an error, or by
  a cancellation from outside), ``_close`` runs shielded: it is bounded by the
  owner's own grace periods, and nothing the owner started is left running
  when the ``async with`` is over.
- **The block's error leaves as itself.** An exception raised in the block is
  not wrapped in an ``ExceptionGroup`` (``except ValueError`` works around
  the ``async with``). If the owned work failed too, nothing is lost: both
  leave together in one ``ExceptionGroup``, the block's error first.
- **A cancellation of the block** is handed to the task group, as anyio does,
  so an enclosing scope catches it; a failure of the owned work that cancelled
  the block leaves as anyio's ``ExceptionGroup``.
- **Release after the group.** ``_closed`` runs once nothing runs in the
  group any more, however the block ended, for what the owned work used
  (imap closes the async generator its workers pulled from); an error it
  raises leaves with the others, never instead of them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import NoReturn, Self, final

from anyio import AsyncContextManagerMixin, CancelScope, create_task_group
from anyio.abc import TaskGroup

from ._cancellation import is_cancelled, non_cancel_subgroup


class TaskGroupOwner(AsyncContextManagerMixin):
    """Base of a class that owns a task group while its ``async with`` block runs.

    Subclasses implement ``_open`` (start the background work in the group)
    and ``_close`` (stop it, bounded; it runs shielded from cancellation),
    and may implement ``_closed`` (release what the work used, after the
    group has exited).

    Example:
        >>> import anyio
        >>> class Ticker(TaskGroupOwner):
        ...     ticks = 0
        ...     async def _open(self, tg: TaskGroup) -> None:
        ...         tg.start_soon(self._tick)
        ...     async def _close(self) -> None:
        ...         pass  # the group is cancelled after _close returns
        ...     async def _tick(self) -> None:
        ...         while True:
        ...             self.ticks += 1
        ...             await anyio.sleep(0)
        >>> async def main() -> bool:
        ...     async with Ticker() as ticker:
        ...         await anyio.sleep(0.01)
        ...     return ticker.ticks > 0
        >>> anyio.run(main)
        True
    """

    __entered = False

    async def _open(self, tg: TaskGroup) -> None:
        """Start the owned work in *tg*; an error here leaves ``async with``."""

    async def _close(self) -> None:
        """Stop the owned work, within the owner's grace; runs shielded."""

    async def _closed(self) -> None:
        """Release what the owned work used, once the group has exited.

        Not shielded: a cancellation of the block reaches it, as it reaches
        any code after a task group.
        """

    @final
    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self, None]:
        if self.__entered:
            raise RuntimeError(
                f"a {type(self).__name__} can be entered only once; make a new one"
            )
        self.__entered = True
        try:
            async with self.__owning():
                yield self
        except BaseException as exc:
            closing = await _caught(self._closed)
            if closing is None or is_cancelled(closing):
                raise  # the error in flight wins over a cancellation met here
            errors = [closing] if is_cancelled(exc) else [exc, closing]
            raise BaseExceptionGroup(
                f"{type(self).__name__}: releasing what its work used failed", errors
            ) from None
        await self._closed()

    @asynccontextmanager
    async def __owning(self) -> AsyncGenerator[None, None]:
        """Run the owned group around the block: the rules in the module doc."""
        tg = create_task_group()
        await tg.__aenter__()
        try:
            await self._open(tg)
        except BaseException as exc:
            tg.cancel_scope.cancel()
            await _exit_group(tg, exc)
        try:
            yield
        except BaseException as exc:
            closing = await _shielded(self._close)
            if is_cancelled(exc) and closing is None:
                # anyio's group tells a cancellation of its own from an outer one.
                if await tg.__aexit__(type(exc), exc, exc.__traceback__):
                    return
                raise
            tg.cancel_scope.cancel()
            await _exit_group(tg, exc, closing)
        closing = await _shielded(self._close)
        tg.cancel_scope.cancel()
        if closing is None:
            await tg.__aexit__(None, None, None)
            return
        await _exit_group(tg, closing)


async def _shielded(close: Callable[[], Awaitable[None]]) -> BaseException | None:
    """Run *close* shielded; return what it raised, if anything.

    A shield keeps cancel scopes out, not asyncio's ``Task.cancel()``: what
    gets through is raised after the group has exited, never instead of it.
    """
    with CancelScope(shield=True):
        closing = await _caught(close)
    return closing


async def _caught(step: Callable[[], Awaitable[None]]) -> BaseException | None:
    """Run *step*; return what it raised, if anything."""
    try:
        await step()
    except BaseException as exc:
        return exc
    return None


async def _exit_group(
    tg: TaskGroup, block_error: BaseException, closing: BaseException | None = None
) -> NoReturn:
    """Exit *tg* (cancelled), then raise *block_error* and what else failed.

    A native cancellation (asyncio's ``Task.cancel()``) that arrives while the
    owned work stops does not replace the error already on its way out: as in
    an anyio task group, that error wins. Cancellations inside a group the
    block raised are left out: the group propagates whatever it holds, and
    trio's would otherwise carry the Cancelled of the owned group's own
    scope, which only that group may absorb, out of it.
    """
    if isinstance(block_error, BaseExceptionGroup) and not is_cancelled(block_error):
        block_error = non_cancel_subgroup(block_error) or block_error
    errors = [block_error]
    if closing is not None and not is_cancelled(closing):
        errors.append(closing)
    try:
        await tg.__aexit__(None, None, None)
    except BaseExceptionGroup as group:
        errors += group.exceptions
    except BaseException as exc:
        if not is_cancelled(exc):
            errors.append(exc)
    if len(errors) > 1:
        raise BaseExceptionGroup(
            "the async with block and the work it owned both failed", errors
        ) from None
    raise block_error
