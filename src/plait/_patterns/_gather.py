"""``gather``: run awaitables concurrently, results in argument order."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Literal, TypeVar, overload

from anyio import TaskHandle

from .._core._awaitables import (
    AwaitableOrFn,
    add_origin_note,
    close_unstarted,
    prepare_all,
    to_coroutine,
)
from .._core._cancellation import cancellation_pending
from .._core._checks import check_bool
from .._core._fuzz import current_fuzz_hook
from .._core._groups import create_task_group

T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    /,
    *,
    return_exceptions: Literal[False] = False,
) -> tuple[T1]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    /,
    *,
    return_exceptions: Literal[True],
) -> tuple[T1 | Exception]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    aw2: AwaitableOrFn[T2],
    /,
    *,
    return_exceptions: Literal[False] = False,
) -> tuple[T1, T2]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    aw2: AwaitableOrFn[T2],
    /,
    *,
    return_exceptions: Literal[True],
) -> tuple[T1 | Exception, T2 | Exception]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    aw2: AwaitableOrFn[T2],
    aw3: AwaitableOrFn[T3],
    /,
    *,
    return_exceptions: Literal[False] = False,
) -> tuple[T1, T2, T3]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    aw2: AwaitableOrFn[T2],
    aw3: AwaitableOrFn[T3],
    /,
    *,
    return_exceptions: Literal[True],
) -> tuple[T1 | Exception, T2 | Exception, T3 | Exception]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    aw2: AwaitableOrFn[T2],
    aw3: AwaitableOrFn[T3],
    aw4: AwaitableOrFn[T4],
    /,
    *,
    return_exceptions: Literal[False] = False,
) -> tuple[T1, T2, T3, T4]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    aw2: AwaitableOrFn[T2],
    aw3: AwaitableOrFn[T3],
    aw4: AwaitableOrFn[T4],
    /,
    *,
    return_exceptions: Literal[True],
) -> tuple[T1 | Exception, T2 | Exception, T3 | Exception, T4 | Exception]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    aw2: AwaitableOrFn[T2],
    aw3: AwaitableOrFn[T3],
    aw4: AwaitableOrFn[T4],
    aw5: AwaitableOrFn[T5],
    /,
    *,
    return_exceptions: Literal[False] = False,
) -> tuple[T1, T2, T3, T4, T5]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    aw2: AwaitableOrFn[T2],
    aw3: AwaitableOrFn[T3],
    aw4: AwaitableOrFn[T4],
    aw5: AwaitableOrFn[T5],
    /,
    *,
    return_exceptions: Literal[True],
) -> tuple[
    T1 | Exception, T2 | Exception, T3 | Exception, T4 | Exception, T5 | Exception
]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    aw2: AwaitableOrFn[T2],
    aw3: AwaitableOrFn[T3],
    aw4: AwaitableOrFn[T4],
    aw5: AwaitableOrFn[T5],
    aw6: AwaitableOrFn[T6],
    /,
    *,
    return_exceptions: Literal[False] = False,
) -> tuple[T1, T2, T3, T4, T5, T6]: ...


@overload
async def gather(
    aw1: AwaitableOrFn[T1],
    aw2: AwaitableOrFn[T2],
    aw3: AwaitableOrFn[T3],
    aw4: AwaitableOrFn[T4],
    aw5: AwaitableOrFn[T5],
    aw6: AwaitableOrFn[T6],
    /,
    *,
    return_exceptions: Literal[True],
) -> tuple[
    T1 | Exception,
    T2 | Exception,
    T3 | Exception,
    T4 | Exception,
    T5 | Exception,
    T6 | Exception,
]: ...


@overload
async def gather(
    *aws: AwaitableOrFn[T], return_exceptions: Literal[False] = False
) -> tuple[T, ...]: ...


@overload
async def gather(
    *aws: AwaitableOrFn[T], return_exceptions: Literal[True]
) -> tuple[T | Exception, ...]: ...


@overload
async def gather(
    *aws: AwaitableOrFn[Any], return_exceptions: bool = False
) -> tuple[Any, ...]: ...


async def gather(
    *aws: AwaitableOrFn[Any], return_exceptions: bool = False
) -> tuple[Any, ...]:
    """Run awaitables concurrently and return their results in argument order.

    A drop-in superset of ``anyio.gather``: it also takes other awaitables and
    zero-argument callables returning one (callables are called here, once).

    On the first failure the rest are cancelled and waited for, and an
    ``ExceptionGroup`` of the real failures is raised (the cancellations
    gather caused are left out); each failure carries a note naming the
    argument it came from. A ``BaseException`` that is not a cancellation
    (``SystemExit``, one of your own) cancels the rest too and propagates in
    a ``BaseExceptionGroup``, as from an anyio task group.

    Cancelled from outside, gather cancels every awaitable, waits for them
    and propagates the cancellation, unless one failed meanwhile (just as
    the cancellation came, or in its cleanup while cancelled): then the
    ``ExceptionGroup`` of those failures is raised instead, so none is lost.

    Args:
        *aws: coroutine objects, awaitables, or callables returning one.
        return_exceptions: if true, nothing is cancelled: each ``Exception``
            takes its result's place, except one raised while gather is
            being cancelled from outside (a cleanup failing), which is
            raised in an ``ExceptionGroup`` as above. ``BaseException``\\s
            that are not ``Exception`` still propagate.

    Returns:
        A tuple of results, in argument order; ``()`` for no arguments.

    Raises:
        TypeError: at the call, if an argument is neither awaitable nor
            callable, or a callable returns something not awaitable.
        ValueError: at the call, if a coroutine object is given twice.
        ExceptionGroup: the failures, when ``return_exceptions`` is false.

    Example:
        >>> import anyio, plait
        >>> async def double(x: int) -> int:
        ...     await anyio.sleep(0)
        ...     return 2 * x
        >>> async def main() -> tuple[int, int]:
        ...     return await plait.gather(double(1), lambda: double(2))
        >>> anyio.run(main)
        (2, 4)
    """
    check_bool("gather()", "return_exceptions", return_exceptions)
    awaitables = prepare_all("gather", aws)
    if not awaitables:
        return ()
    if return_exceptions:
        return await _gather_settled(awaitables)
    return await _gather_fail_fast(awaitables)


async def _gather_fail_fast(awaitables: list[Awaitable[Any]]) -> tuple[Any, ...]:
    # Tasks run the user's coroutines directly (no wrapper per task); origin
    # notes are added afterwards, from the handles, only when something failed.
    handles: list[TaskHandle[Any]] = []
    fuzz = current_fuzz_hook()
    try:
        async with create_task_group() as tg:
            tg.handles = handles
            for aw in awaitables:
                if fuzz is not None:
                    await fuzz("task_start")
                handles.append(tg.create_task(to_coroutine(aw)))
    except BaseExceptionGroup:
        _note_failures(handles, awaitables)
        raise
    finally:
        close_unstarted(awaitables[len(handles) :])
    return tuple([handle.return_value for handle in handles])


def _note_failures(
    handles: list[TaskHandle[Any]], awaitables: list[Awaitable[Any]]
) -> None:
    for index, handle in enumerate(handles):
        if handle.status is TaskHandle.Status.FAILED:
            exc = handle.exception
            if exc is not None:
                add_origin_note(exc, "gather", f"argument {index}", awaitables[index])


async def _gather_settled(awaitables: list[Awaitable[Any]]) -> tuple[Any, ...]:
    results: list[Any] = [None] * len(awaitables)
    fuzz = current_fuzz_hook()

    async def settle(index: int, aw: Awaitable[Any]) -> None:
        try:
            results[index] = await aw
        except Exception as exc:
            add_origin_note(exc, "gather", f"argument {index}", aw)
            if cancellation_pending():
                tg.keep(exc)
                raise  # raised while gather is cancelled: a failure, not a result
            results[index] = exc
        except BaseException as exc:
            tg.keep(exc)
            raise

    started = 0
    try:
        async with create_task_group() as tg:
            for index, aw in enumerate(awaitables):
                if fuzz is not None:
                    await fuzz("task_start")
                tg.start_soon(settle, index, aw)
                started = index + 1
    finally:
        close_unstarted(awaitables[started:])
    return tuple(results)
