"""Run a test body on a named backend, on virtual time and optionally fuzzed."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, TypeVarTuple, Unpack

import anyio

from plait._core._checks import check_choice
from plait._core._event_loop import name_after

from ._clock import VirtualClock
from ._fuzzing import fuzz_schedule

T = TypeVar("T")
PosArgsT = TypeVarTuple("PosArgsT")

_BACKENDS = ("asyncio", "uvloop", "trio")


def run(
    fn: Callable[[Unpack[PosArgsT]], Awaitable[T]],
    *args: *PosArgsT,
    backend: str = "asyncio",
    virtual_time: bool | VirtualClock = True,
    fuzz_seed: int | None = None,
) -> T:
    """Run ``fn(*args)`` on a fresh event loop, on virtual time by default.

    Inside, ``plait.testing.current_clock()`` returns the clock, and every
    sleep, timeout, retry backoff and rate limit runs on it: with
    ``virtual_time=True`` an hour of sleeping passes in milliseconds at exact
    instants (see ``VirtualClock``).

    Args:
        fn: an async function (pass it, don't call it: ``run(main)``, not
            ``run(main())``).
        *args: positional arguments for *fn*.
        backend: ``'asyncio'``, ``'uvloop'`` or ``'trio'``.
        virtual_time: ``True`` for a fresh autojumping ``VirtualClock``, a
            ``VirtualClock`` of your own (e.g. ``VirtualClock(autojump=False)``
            to move time by hand), or ``False`` for real time.
        fuzz_seed: when given, run under ``fuzz_schedule(fuzz_seed)``: seeded
            extra task switches at plait's hand-off points, and plait's random
            source (retry jitter) seeded, so the run replays exactly.

    Returns:
        What *fn* returned.

    Raises:
        VirtualTimeNotSupportedError: for ``backend='uvloop'`` with virtual
            time; pass ``virtual_time=False`` there.

    Example:
        >>> import anyio
        >>> from plait import testing
        >>> async def nap() -> float:
        ...     with anyio.move_on_after(3600):
        ...         await anyio.sleep_forever()
        ...     return anyio.current_time()
        >>> testing.run(nap, backend="trio")
        3600.0
    """
    given: object = fn
    if inspect.iscoroutine(given):
        given.close()  # it will never run: spare the "never awaited" warning
    if not callable(given):
        raise TypeError(
            f"fn must be an async function, got {fn!r}; pass the function and its "
            "arguments, e.g. run(main, 1), not run(main(1))"
        )
    check_choice("run()", "backend", backend, _BACKENDS)
    if isinstance(virtual_time, VirtualClock):
        clock: VirtualClock | None = virtual_time
    elif isinstance(virtual_time, bool):
        clock = VirtualClock() if virtual_time else None
    else:
        raise TypeError(
            f"virtual_time must be a bool or a VirtualClock, got {virtual_time!r}"
        )
    options = {} if clock is None else clock.backend_options(backend)
    name = "trio" if backend == "trio" else "asyncio"
    if backend == "uvloop":
        options["use_uvloop"] = True

    async def main() -> T:
        return await fn(*args)

    if fuzz_seed is not None and name == "trio":
        # Loaded before fuzz_schedule so that it seeds trio's scheduler too.
        from . import _trio  # noqa: F401  # pyright: ignore[reportUnusedImport]
    fuzzing = (
        contextlib.nullcontext() if fuzz_seed is None else fuzz_schedule(fuzz_seed)
    )
    with fuzzing:
        return anyio.run(name_after(main, fn), backend=name, backend_options=options)
