"""Which event loop runs us, and running a function on a named one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeAlias, TypeVar, TypeVarTuple, Unpack, get_args

import anyio
import sniffio

from ._checks import check_choice

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
PosArgsT = TypeVarTuple("PosArgsT")

EventLoopName: TypeAlias = Literal["asyncio", "uvloop", "trio"]
"""The event loops ``run()`` starts: ``'asyncio'``, ``'uvloop'`` or ``'trio'``.

``run()`` takes any ``str`` (as ``anyio.run`` does) and checks it when
called; annotate your own settings with this alias to have a type checker
hold them to the three names.
"""

_EVENT_LOOPS: tuple[str, ...] = get_args(EventLoopName)


def current_backend() -> Literal["asyncio", "trio"]:
    """Return ``'asyncio'`` or ``'trio'``: the async library running this task.

    uvloop reports ``'asyncio'``: it is an asyncio event loop.

    Raises:
        RuntimeError: when no supported event loop is running.

    Example:
        >>> import anyio, plait
        >>> async def main() -> str:
        ...     return plait.current_backend()
        >>> anyio.run(main)
        'asyncio'
    """
    try:
        name = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        raise RuntimeError("current_backend() needs a running event loop") from None
    if name not in ("asyncio", "trio"):
        raise RuntimeError(f"plait supports asyncio and trio, not {name!r}")
    return "trio" if name == "trio" else "asyncio"


def backend_run_args(
    backend: str, backend_options: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """Translate plait's backend name to anyio's ``(backend, options)``."""
    check_choice("run()", "backend", backend, _EVENT_LOOPS)
    options = dict(backend_options or {})
    if backend == "uvloop":
        options.setdefault("use_uvloop", True)
        return "asyncio", options
    return backend, options


def run(
    fn: Callable[[Unpack[PosArgsT]], Awaitable[T]],
    *args: *PosArgsT,
    backend: str = "asyncio",
    backend_options: Mapping[str, Any] | None = None,
) -> T:
    """Run ``fn(*args)`` on a new event loop and return its result.

    Args:
        fn: an async function.
        *args: positional arguments for *fn*.
        backend: ``'asyncio'``, ``'uvloop'`` (asyncio on uvloop's loop) or
            ``'trio'`` (see ``EventLoopName``); any ``str`` type-checks, as
            with ``anyio.run``, and another name raises ``ValueError``.
        backend_options: passed to anyio's backend as ``backend_options``.

    Raises:
        ValueError: *backend* is not one of the three names.
        TypeError: *fn* is not callable, or *backend* is not a ``str``.

    Example:
        >>> import plait
        >>> async def answer() -> int:
        ...     await plait.sleep(0)
        ...     return 42
        >>> plait.run(answer, backend="asyncio")
        42
    """
    if not callable(fn):
        raise TypeError(f"fn must be an async function, got {fn!r}")
    name, options = backend_run_args(backend, backend_options)

    async def main() -> T:
        return await fn(*args)

    return anyio.run(name_after(main, fn), backend=name, backend_options=options)


def name_after(wrapper: F, fn: object) -> F:
    """Give *wrapper* the module and qualified name of *fn*; return it.

    anyio names the main task after the function it runs, so a task tree
    would show every program's root as this module's wrapper.
    """
    wrapper.__module__ = getattr(fn, "__module__", wrapper.__module__)
    wrapper.__qualname__ = getattr(fn, "__qualname__", wrapper.__qualname__)
    return wrapper
