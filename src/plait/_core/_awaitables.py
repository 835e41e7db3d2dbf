"""Turning the arguments patterns accept into awaitables, and labelling errors.

Patterns accept coroutine objects, other awaitables, and zero-argument
callables returning an awaitable. Callables are judged by calling them, as
anyio's ``start_soon`` does. Coroutine objects plait never starts are closed,
so they never warn "coroutine ... was never awaited".
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import CoroutineType
from typing import Any, NoReturn, TypeAlias, TypeVar

T = TypeVar("T")

AwaitableOrFn: TypeAlias = Awaitable[T] | Callable[[], Awaitable[T]]
"""What ``gather``, ``race`` and ``as_completed`` take: an awaitable giving a
``T``, or a function of no arguments returning one (``lambda: fetch(url)``)."""

_REPR_LIMIT = 60


def short_repr(obj: object) -> str:
    """Return ``repr(obj)`` cut to a length that fits in an error note."""
    try:
        text = repr(obj)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(obj).__name__} object>"
    if len(text) > _REPR_LIMIT:
        text = text[: _REPR_LIMIT - 3] + "..."
    return text


def is_awaitable(obj: object) -> bool:
    """Tell whether *obj* can be awaited (fast for coroutine objects)."""
    return type(obj) is CoroutineType or inspect.isawaitable(obj)


def close_unstarted(objs: Iterable[object]) -> None:
    """Close the coroutine objects among *objs* that never ran."""
    for obj in objs:
        if inspect.iscoroutine(obj) and inspect.getcoroutinestate(obj) == (
            inspect.CORO_CREATED
        ):
            obj.close()


def check_awaitables(pattern: str, args: tuple[object, ...]) -> None:
    """Raise at the call if an argument is neither awaitable nor callable.

    TypeError for such an argument; ValueError for a coroutine object given
    twice (it can run only once). Every coroutine object among *args* is
    closed before raising.
    """
    for index, arg in enumerate(args):
        if not (is_awaitable(arg) or callable(arg)):
            close_unstarted(args)
            raise TypeError(
                f"{pattern}() argument {index} must be an awaitable or a "
                f"zero-argument callable returning one, got {short_repr(arg)}"
            )
    if len(set(map(id, args))) < len(args):  # rare: find the repeated coroutine
        _check_no_coroutine_twice(pattern, args)


def _check_no_coroutine_twice(pattern: str, args: tuple[object, ...]) -> None:
    first: dict[int, int] = {}
    for index, arg in enumerate(args):
        if inspect.iscoroutine(arg):
            earlier = first.setdefault(id(arg), index)
            if earlier != index:
                close_unstarted(args)
                raise ValueError(
                    f"{pattern}() argument {index} must be another coroutine "
                    f"object than argument {earlier} (a coroutine runs only "
                    f"once: call the async function again, or pass the function "
                    f"itself), got {short_repr(arg)}"
                )


def call_for_awaitable(
    pattern: str, label: str, fn: Callable[..., object], result: object
) -> Awaitable[Any]:
    """Return *result* of calling *fn* if it is awaitable, else raise TypeError."""
    if is_awaitable(result):
        return result  # type: ignore[return-value]
    raise_not_awaitable(pattern, label, fn, result)


class NotAwaitableError(TypeError):
    """A callable given to a pattern returned something that is not awaitable.

    Misuse, never a failure to retry or to put among the results: patterns
    stop and raise it at the call.
    """


def raise_not_awaitable(
    pattern: str, label: str, fn: Callable[..., object], result: object
) -> NoReturn:
    """Raise the TypeError for a callable that returned a non-awaitable."""
    raise not_awaitable_error(pattern, label, fn, result)


def not_awaitable_error(
    pattern: str, label: str, fn: Callable[..., object], result: object
) -> NotAwaitableError:
    """Build the TypeError for a callable that returned a non-awaitable."""
    close_unstarted((result,))
    name = getattr(fn, "__qualname__", None) or short_repr(fn)
    if label == "fn":
        hint = "define it with 'async def' (or return a coroutine from it)"
    else:
        hint = (
            f"pass an async function or a lambda returning a coroutine, e.g. "
            f"{pattern}(fetch) or {pattern}(lambda: fetch(url))"
        )
    return NotAwaitableError(
        f"{pattern}() {label} must return an awaitable, but {name}() returned "
        f"{short_repr(result)}: {hint}"
    )


def to_awaitable(pattern: str, label: str, arg: object) -> Awaitable[Any]:
    """Return *arg* itself if awaitable, else the awaitable its call returns."""
    if is_awaitable(arg):
        return arg  # type: ignore[return-value]
    fn: Callable[[], object] = arg  # type: ignore[assignment]
    return call_for_awaitable(pattern, label, fn, fn())


def prepare_all(pattern: str, args: tuple[object, ...]) -> list[Awaitable[Any]]:
    """Check *args* and turn each into an awaitable, calling the callables.

    On any error, every coroutine object made or passed so far is closed.
    """
    check_awaitables(pattern, args)
    made: list[Awaitable[Any]] = []
    try:
        for index, arg in enumerate(args):
            made.append(to_awaitable(pattern, f"argument {index}", arg))
    except BaseException:
        close_unstarted(made)
        close_unstarted(args)
        raise
    return made


async def _await(aw: Awaitable[T]) -> T:
    return await aw


def to_coroutine(aw: Awaitable[T]) -> Coroutine[Any, Any, T]:
    """Return *aw* if it is a coroutine, else a coroutine that awaits it."""
    if type(aw) is CoroutineType:
        return aw  # pyright: ignore[reportUnknownVariableType]
    return _await(aw)


def add_origin_note(exc: BaseException, pattern: str, where: str, obj: object) -> None:
    """Note on *exc* which argument or item of *pattern* it came from (once)."""
    note = f"raised by {pattern}() {where}: {short_repr(obj)}"
    notes = getattr(exc, "__notes__", None)
    if notes is None or note not in notes:
        exc.add_note(note)
