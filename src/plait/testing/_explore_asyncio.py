"""Schedule exploration on asyncio: every task step passes through a gate.

This module touches asyncio's task machinery, which is why it is exempt
from plait's ban on importing asyncio. It relies on these private details
(checked by ``tests/test_testing_explore_glue.py`` against the installed
Python, and failing with a clear error at run time when they change):

- A task schedules each of its steps with ``loop.call_soon`` looked up on
  the loop object: its first step and the step after a bare yield as a
  ``TaskStepMethWrapper``, the step after an awaited future completes as
  the builtin ``task_wakeup``; both have the task as ``__self__``. An
  instance attribute ``call_soon`` therefore sees every task step, on any
  loop written in Python (not on uvloop, which is refused).

Nothing else is replaced: the loop's own callbacks (timers, I/O, anyio's
cancellation delivery, done-callbacks) keep asyncio's FIFO order. A task
step puts a slot in the loop's queue where the step itself would have
gone; when a slot's turn comes, the explorer decides which runnable step
runs in it, and a step not chosen waits for a later slot, as a step whose
wake-up came late would. An eager task's first step runs inside
``create_task`` and is no decision point.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from contextvars import Context
from typing import Any, TypeVarTuple

from ._clock import ExplorationNotSupportedError
from ._explorer import ScheduleFuzzer, Step
from ._trace import Where, resume_point, short_name

Ts = TypeVarTuple("Ts")

_STEP_TYPE_NAME = "TaskStepMethWrapper"
_WAKEUP_NAME = "task_wakeup"

_UVLOOP_MESSAGE = (
    "schedule exploration is not supported on {loop!r}: its scheduler is not "
    "written in Python, so plait.testing cannot decide which task runs next. "
    "Explore on 'asyncio' or 'trio' (fuzz_seed=..., explore(), the fuzz_schedule "
    "marker); on uvloop, run without a fuzz seed."
)


def _is_step(callback: object, task: asyncio.Task[Any]) -> bool:
    if type(callback).__name__ == _STEP_TYPE_NAME:
        return True
    name = getattr(callback, "__name__", None)
    if name == _WAKEUP_NAME:
        return True
    if isinstance(name, str) and not name.startswith("_") and hasattr(task, name):
        return False  # a public Task method scheduled as a plain callback
    raise RuntimeError(
        f"plait.testing does not recognise how this Python ({callback!r}) "
        "schedules a task's step, so it cannot explore its schedules; "
        "please report this with your Python version"
    )


class AsyncioGlue:
    """Attaches a ``ScheduleFuzzer`` to a running or new asyncio loop.

    Each task step the loop is asked to schedule becomes a runnable step of
    the explorer and puts one *slot* in the loop's queue. When a slot's turn
    comes the explorer takes a decision and the step it chooses runs there,
    in its own task's context. There is one slot per runnable step, so no
    step waits for a slot and none is run twice; a step not chosen simply
    runs in a later slot, as it would if its wake-up had come later.
    """

    def __init__(self, fuzzer: ScheduleFuzzer, loop: asyncio.AbstractEventLoop) -> None:
        if not isinstance(loop, asyncio.BaseEventLoop):
            raise ExplorationNotSupportedError(_UVLOOP_MESSAGE.format(loop=loop))
        self.fuzzer = fuzzer
        self.loop = loop
        self.steps_seen = 0
        self.attached = False
        self._call_soon = loop.call_soon
        # Slots run in a context of their own; each step in its task's.
        self._slot_context = Context()
        self._leftover: deque[Step] = deque()

    def attach(self) -> None:
        """Route the loop's task steps through the explorer."""
        if "call_soon" in vars(self.loop):
            raise RuntimeError(
                "this event loop is already being explored; one schedule at a time"
            )
        self.fuzzer.attach(self)
        self.attached = True
        self.loop.call_soon = self.call_soon  # type: ignore[method-assign]

    def detach(self) -> None:
        """Give the loop its own ``call_soon`` back; queued steps still run."""
        if vars(self.loop).get("call_soon") == self.call_soon:
            del self.loop.call_soon
        if self.attached:
            self.attached = False
            self._leftover.extend(self.fuzzer.ready)
            self.fuzzer.detach(self)

    def call_soon(
        self,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: Context | None = None,
    ) -> asyncio.Handle:
        task = getattr(callback, "__self__", None)
        if isinstance(task, asyncio.Task) and _is_step(callback, task):
            self.steps_seen += 1
            step = self.fuzzer.add(task)
            step.payload = (callback, args, context)
            handle = self._call_soon(self._slot, context=self._slot_context)
            step.handle = handle
            return handle
        return self._call_soon(callback, *args, context=context)

    def _slot(self) -> None:
        while True:
            if self.attached:
                step = self.fuzzer.choose()
            elif self._leftover:
                step = self._leftover.popleft()
            else:
                return
            # A step whose handle was cancelled lost its slot with it.
            if not step.handle.cancelled():
                break
        callback, args, context = step.payload
        if context is None:
            callback(*args)
        else:
            context.run(callback, *args)

    # The explorer's view of this loop.

    def owns_current(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def current_task(self) -> object:
        return asyncio.current_task()

    def name(self, task: asyncio.Task[Any]) -> str:
        return short_name(task.get_name(), task.get_coro())

    def locate(self, task: asyncio.Task[Any]) -> Where:
        return resume_point(task.get_coro())


def running_loop() -> asyncio.AbstractEventLoop:
    """Return the running asyncio loop."""
    return asyncio.get_running_loop()


class ExploringLoops:
    """A ``loop_factory`` whose loops *fuzzer* explores from their start."""

    def __init__(
        self,
        fuzzer: ScheduleFuzzer,
        base: Callable[[], asyncio.AbstractEventLoop] | None = None,
    ) -> None:
        self.fuzzer = fuzzer
        self.base = base
        self.glues: list[AsyncioGlue] = []

    def __call__(self) -> asyncio.AbstractEventLoop:
        # One loop at a time: anyio's pytest plugin makes one per hypothesis
        # example, each after the last one closed.
        for glue in self.glues:
            glue.detach()
        loop = self.base() if self.base is not None else asyncio.new_event_loop()
        glue = AsyncioGlue(self.fuzzer, loop)
        glue.attach()
        self.glues.append(glue)
        return loop

    def finish(self, *, completed: bool) -> None:
        """Detach from every loop made; check that task steps were seen."""
        for glue in self.glues:
            glue.detach()
        if completed and self.glues and not any(g.steps_seen for g in self.glues):
            raise RuntimeError(
                "plait.testing saw no task step in an explored asyncio run: this "
                "Python schedules task steps in a way it does not know, so the "
                "run was not explored; please report this with your Python version"
            )
