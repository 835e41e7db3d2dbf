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
- Timers (``call_later``, ``asyncio.sleep``, anyio's deadlines) are made
  with ``loop.call_at`` looked up on the loop object, so an instance
  attribute ``call_at`` sees each timer and its deadline: a task step
  queued while a timer's callback runs was woken by that timer.

Nothing else is replaced: the loop's own callbacks (timers, I/O, anyio's
cancellation delivery, done-callbacks) keep asyncio's FIFO order, and a
timer's callback runs as it would, only noting its deadline meanwhile. A task
step goes into the loop's queue behind a gate where the step itself would
have gone; when the gate's turn comes, the explorer decides whether it
runs or is held back: it leaves the queue and joins its end again once
other steps ran, as a step whose wake-up came late would. A step never
runs before its place in the queue: the loop's callbacks queued before it
(anyio's cancellation delivery among them) still run first. An eager
task's first step runs inside ``create_task`` and is no decision point.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import Context
from typing import Any, TypeVarTuple

from ._clock import ExplorationNotSupportedError
from ._explorer import Explorer, Step
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


_step_types: set[type] = set()


def _is_step(callback: object, task: asyncio.Task[Any]) -> bool:
    kind = type(callback)
    if kind in _step_types:
        return True
    if kind.__name__ == _STEP_TYPE_NAME:
        _step_types.add(kind)
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
    """Attaches an explorer to a running or new asyncio loop.

    Each task step the loop is asked to schedule goes into the loop's queue
    behind a gate, where the step itself would have gone. When the gate's
    turn comes the explorer decides: the step runs, or it is held back and
    queued again at the end once other steps ran, as if what woke it had
    come later. A step thus
    runs at its place in the queue or later, never earlier, and the loop's
    own callbacks keep their order. (Steps woken by one cancellation, which
    anyio delivers to a set of tasks in the set's changing order, are run
    in the order of their tasks, each in the gate that comes first.)
    """

    def __init__(self, fuzzer: Explorer, loop: asyncio.AbstractEventLoop) -> None:
        if not isinstance(loop, asyncio.BaseEventLoop):
            raise ExplorationNotSupportedError(_UVLOOP_MESSAGE.format(loop=loop))
        self.fuzzer = fuzzer
        self.loop = loop
        self.steps_seen = 0
        self.attached = False
        self._call_soon = loop.call_soon
        self._call_at = loop.call_at
        # The deadline of the timer whose callback is running, if one is.
        self._firing: float | None = None
        # Gates run in a context of their own; each step in its task's.
        self._gate_context = Context()

    def attach(self) -> None:
        """Route the loop's task steps through the explorer."""
        if "call_soon" in vars(self.loop):
            raise RuntimeError(
                "this event loop is already being explored; one schedule at a time"
            )
        self.fuzzer.attach(self)
        self.attached = True
        self.loop.call_soon = self.call_soon  # type: ignore[method-assign]
        self.loop.call_at = self.call_at  # type: ignore[method-assign]

    def detach(self) -> None:
        """Give the loop its own ``call_soon`` back; queued steps still run."""
        if vars(self.loop).get("call_soon") == self.call_soon:
            del self.loop.call_soon
        if vars(self.loop).get("call_at") == self.call_at:
            del self.loop.call_at
        if self.attached:
            self.attached = False
            self.fuzzer.detach(self)

    def call_soon(
        self,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: Context | None = None,
    ) -> asyncio.Handle:
        owner: object = getattr(callback, "__self__", None)
        if isinstance(owner, asyncio.Task):
            task: asyncio.Task[Any] = owner  # pyright: ignore[reportUnknownVariableType]
            if not _is_step(callback, task):
                return self._call_soon(callback, *args, context=context)
            self.steps_seen += 1
            # asyncio runs its queue in order, except that a cancellation
            # reaches a set of tasks in the set's order (anyio's delivery).
            step = self.fuzzer.add(
                task, in_order=not _cancelled(args), fired=self._firing
            )
            step.payload = (callback, args, context)
            step.box = [step]
            handle = self._call_soon(self._gate, step.box, context=self._gate_context)
            step.handle = handle
            return handle
        return self._call_soon(callback, *args, context=context)

    def call_at(
        self,
        when: float,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        return self._call_at(when, self._fire, when, callback, *args, context=context)

    def _fire(self, when: float, callback: Callable[[*Ts], object], *args: *Ts) -> None:
        outer, self._firing = self._firing, when
        try:
            callback(*args)
        finally:
            self._firing = outer

    def _gate(self, box: list[Step | None]) -> None:
        owner = box[0]
        if owner is None:
            return  # its step ran in an earlier gate, or is held back
        if not self.attached:
            _run(owner)
            return
        fuzzer = self.fuzzer
        step = fuzzer.turn(owner)
        if step is not None:
            if step is not owner:
                # step's own gate comes later: it takes this one, owner that.
                later = step.box
                step.box = box
                if box[0] is owner:
                    later[0] = owner
                    owner.box = later
                else:
                    later[0] = None
            _run(step)
        fuzzer.settle()

    def parked(self, step: Step) -> None:
        step.box[0] = None

    def released(self, step: Step) -> None:
        step.box = [step]
        self._call_soon(self._gate, step.box, context=self._gate_context)

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
        fuzzer: Explorer,
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


def _cancelled(args: tuple[object, ...]) -> bool:
    """Return whether a task is woken by the cancellation of what it awaited."""
    woken_by = args[0] if args else None
    return isinstance(woken_by, asyncio.Future) and bool(
        woken_by.cancelled()  # pyright: ignore[reportUnknownMemberType]
    )


def _run(step: Step) -> None:
    callback, args, context = step.payload
    # A step and its gate refer to each other: part them, so that what the
    # step held (its task, a finished future) goes when the step has run,
    # as it would without exploration, not at the next garbage collection.
    step.payload = step.handle = step.task = None
    step.box = []
    if context is None:
        callback(*args)
    else:
        context.run(callback, *args)
