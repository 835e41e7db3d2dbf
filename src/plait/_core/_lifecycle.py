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
  the block leaves as anyio's ``ExceptionGroup``. A failure always wins over
  a cancellation: over an outer one that reaches the group's exit, and over
  asyncio's ``Task.cancel()`` cutting a shielded ``_close`` short (it reaches
  through shields); the cancellation leaves only when nothing failed.
- **Release after the group.** ``_closed`` runs once nothing runs in the
  group any more, however the block ended, for what the owned work used
  (imap closes the async generator its workers pulled from); an error it
  raises leaves with the others, never instead of them.
- **The owner's own failure.** ``_close`` may raise to report that the owned
  work failed in a way of the owner's own (a supervisor that gave up): that
  error leaves the ``async with`` as itself, even when the block was
  cancelled (from outside, or by the owner to stop it), and never lost: with
  a block error or other failures of the owned work, all leave together in
  one ``ExceptionGroup``, the block's error first, then the owner's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Self, final

from anyio import AsyncContextManagerMixin, CancelScope
from anyio.abc import TaskGroup

from ._cancellation import is_cancelled, is_exception_group, non_cancel_subgroup
from ._groups import KeepingTaskGroup, create_task_group


class TaskGroupOwner(AsyncContextManagerMixin):
    """Base of a class that owns a task group while its ``async with`` block runs.

    Subclasses implement ``_open`` (start the background work in the group)
    and ``_close`` (stop it, bounded; it runs shielded from cancellation).

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

    async def _open(self, tg: KeepingTaskGroup) -> None:
        """Start the owned work in *tg*; an error here leaves ``async with``.

        A task of the owned work that ends with an exception it raised
        itself passes it to ``tg.keep`` first, so that it is not lost
        to a ``Task.cancel()`` met as the group exits (see ``_groups``).
        """

    async def _close(self) -> None:
        """Stop the owned work, within the owner's grace; runs shielded.

        Raise to report a failure of the owner's own (see the module's docs).
        """

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
            released = await _caught(self._closed)
            if released is None or is_cancelled(released):
                raise  # the error in flight wins over a cancellation met here
            errors = [released] if is_cancelled(exc) else [exc, released]
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
            await _exit_group(tg, exc, None)
        try:
            yield
        except BaseException as exc:
            close_error = await _shielded(self._close)
            if is_cancelled(exc):
                await _exit_cancelled(tg, exc, close_error)
                return
            tg.cancel_scope.cancel()
            await _exit_group(tg, exc, close_error)
        close_error = await _shielded(self._close)
        tg.cancel_scope.cancel()
        await _exit_group(tg, None, close_error)


async def _shielded(close: Callable[[], Awaitable[None]]) -> BaseException | None:
    """Run *close* shielded; return what it raised, if anything.

    A shield keeps cancel scopes out, not asyncio's ``Task.cancel()``: what
    gets through is raised after the group has exited, never instead of it.
    """
    failure: BaseException | None = None
    with CancelScope(shield=True):
        failure = await _caught(close)
    return failure


async def _caught(step: Callable[[], Awaitable[None]]) -> BaseException | None:
    """Run *step*; return what it raised, if anything."""
    try:
        await step()
    except BaseException as exc:
        return exc
    return None


async def _exit_group(
    tg: TaskGroup, block_error: BaseException | None, close_error: BaseException | None
) -> None:
    """Exit *tg* (cancelled); raise what failed (always, if an error is given).

    Cancellations inside a group the block raised are left out: on trio they
    would carry the Cancelled of the owned group's own scope, which only that
    group may absorb, out of it.
    """
    group = _group(block_error)
    if group is not None and not is_cancelled(group):
        block_error = non_cancel_subgroup(group) or group
    raised: BaseException | None = None
    try:
        await tg.__aexit__(None, None, None)
    except BaseException as exc:
        raised = exc
    _raise(_what_leaves(block_error, close_error, raised), block_error, raised)


async def _exit_cancelled(
    tg: TaskGroup, cancelled: BaseException, close_error: BaseException | None
) -> None:
    """Hand the block's cancellation to *tg*; return only if it is suppressed."""
    raised: BaseException | None = None
    try:
        # anyio's group tells a cancellation of its own from an outer one.
        if not await tg.__aexit__(type(cancelled), cancelled, cancelled.__traceback__):
            raised = cancelled
    except BaseException as exc:
        raised = exc
    _raise(_what_leaves(None, close_error, raised), cancelled, raised)


def _raise(failure: BaseException | None, *kept: BaseException | None) -> None:
    """Raise *failure*: one of *kept* as it is, any other without a context.

    The block's error and what anyio raised keep their own chaining; the
    owner's error or a new group is raised while the block's exception is
    being handled, which is no context of theirs.
    """
    if failure is None:
        return
    if any(failure is exc for exc in kept):
        raise failure
    raise failure from None


def _what_leaves(
    block_error: BaseException | None,
    close_error: BaseException | None,
    raised: BaseException | None,
) -> BaseException | None:
    """Return what leaves the ``async with``, given what exiting the group *raised*.

    A failure (the block's, the owner's, the owned work's) wins over a
    cancellation, as in an anyio task group: over an outer cancellation that
    reached the group's exit, and over a ``Task.cancel()`` that cut a
    shielded ``_close`` short (asyncio's reaches through shields).
    """
    owned = _failures_in(raised)
    failed_besides = block_error is not None or bool(owned)
    if close_error is not None and failed_besides and is_cancelled(close_error):
        close_error = None
    if block_error is None and close_error is None:
        return raised  # anyio's own: the owned work's group, or a cancellation
    errors = [e for e in (block_error, close_error) if e is not None]
    errors.extend(owned)
    if len(errors) == 1:
        return errors[0]
    if block_error is not None:
        message = "the async with block and the work it owned both failed"
    else:
        message = "the work owned by the async with block failed more than once"
    return BaseExceptionGroup(message, errors)


def _failures_in(raised: BaseException | None) -> list[BaseException]:
    """Return what in *raised* (by exiting the group) is not a cancellation."""
    if raised is None or is_cancelled(raised):
        return []
    group = _group(raised)
    if group is not None:
        rest = non_cancel_subgroup(group)
        return [] if rest is None else list(rest.exceptions)
    return [raised]


def _group(exc: BaseException | None) -> BaseExceptionGroup[BaseException] | None:
    """Return *exc* typed as the group of exceptions it is, if it is a group."""
    return exc if is_exception_group(exc) else None
