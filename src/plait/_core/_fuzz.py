"""The hand-off points where ``plait.testing`` may perturb the schedule.

The points sit on the patterns' one code path: each call reads the hook once,
and each point costs a test of it against ``None`` (once per item in the pool
loops), so a fuzzed run executes the very code an unfuzzed one does, plus the
hand-offs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

FuzzHook = Callable[[str], Awaitable[None]]

_hook: FuzzHook | None = None


def current_fuzz_hook() -> FuzzHook | None:
    """Return the active fuzzing hook, or ``None`` when not fuzzing."""
    return _hook


def set_fuzz_hook(hook: FuzzHook | None) -> FuzzHook | None:
    """Install *hook* (or remove it with ``None``); return the previous one."""
    global _hook
    previous, _hook = _hook, hook
    return previous


async def fuzz_point(site: str = "user") -> None:
    """Mark a point where a schedule-fuzzing test may switch to another task.

    Costs one global lookup when no fuzzing is active. Under
    ``plait.testing.fuzz_schedule`` it may yield to other tasks, as chosen by
    the fuzzing seed, which is how a check-then-act race in your code is found.

    Args:
        site: a label for the point, recorded by the fuzzer's trace.

    Example:
        >>> import anyio, plait
        >>> async def reserve(stock: dict[str, int]) -> None:
        ...     if stock["left"] > 0:
        ...         await plait.fuzz_point("between check and act")
        ...         stock["left"] -= 1
        >>> stock = {"left": 1}
        >>> anyio.run(reserve, stock)
        >>> stock
        {'left': 0}
    """
    hook = _hook
    if hook is not None:
        await hook(site)
