"""Counting tasks, cancel scopes and scheduler steps during one run.

Used only by the untimed ``structure`` family. It hooks asyncio's task
factory and pure-Python ``Handle._run``, trio's public instrument API, and
``sys.setprofile`` for anyio's backend ``CancelScope.__enter__`` (a private
class, read here only to count, never to change behaviour).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from types import CodeType, FrameType
from typing import Any, Literal


class Counts:
    """Tasks spawned, anyio cancel scopes entered, scheduler steps taken."""

    __slots__ = ("scopes", "steps", "tasks")

    def __init__(self) -> None:
        self.tasks = 0
        self.scopes = 0
        self.steps = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a plain dict."""
        return {"tasks": self.tasks, "scopes": self.scopes, "steps": self.steps}


def _scope_code(backend: Literal["asyncio", "trio"]) -> CodeType:
    if backend == "trio":
        from anyio._backends import _trio

        return _trio.CancelScope.__enter__.__code__
    from anyio._backends import _asyncio

    return _asyncio.CancelScope.__enter__.__code__


@contextlib.contextmanager
def counting(backend: Literal["asyncio", "trio"]) -> Iterator[Counts]:
    """Count, inside the running loop, until the block exits."""
    counts = Counts()
    scope_code = _scope_code(backend)
    step_code: CodeType | None = None
    undo: list[Any] = []
    if backend == "trio":
        import trio

        class Instrument(trio.abc.Instrument):
            def task_spawned(self, task: trio.lowlevel.Task) -> None:
                counts.tasks += 1

            def before_task_step(self, task: trio.lowlevel.Task) -> None:
                counts.steps += 1

        instrument = Instrument()
        trio.lowlevel.add_instrument(instrument)
        undo.append(lambda: trio.lowlevel.remove_instrument(instrument))
    else:
        import asyncio

        loop = asyncio.get_running_loop()
        previous = loop.get_task_factory()

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> Any:
            counts.tasks += 1
            return asyncio.Task(coro, loop=loop, **kw)

        loop.set_task_factory(factory)
        undo.append(lambda: loop.set_task_factory(previous))
        step_code = asyncio.events.Handle._run.__code__

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            code = frame.f_code
            if code is scope_code:
                counts.scopes += 1
            elif code is step_code:
                counts.steps += 1

    sys.setprofile(profile)
    try:
        yield counts
    finally:
        sys.setprofile(None)
        for action in reversed(undo):
            action()
