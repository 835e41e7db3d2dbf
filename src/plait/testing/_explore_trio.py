"""Schedule exploration on trio: the explorer becomes trio's run queue.

This module imports trio, which is why it is exempt from plait's import ban;
it is imported only when a trio run is explored. Private items it relies on
(checked by ``tests/test_testing_explore_glue.py`` against the installed
trio, and failing with a clear error at run time when they change):

- ``trio._core._run.GLOBAL_RUN_CONTEXT.runner``: the running ``Runner``.
- ``Runner.runq``: the deque of runnable tasks. trio appends a task when it
  becomes runnable (``reschedule``), asks whether it is empty, and once per
  pass of its loop takes the whole batch (``list(runq)``, then
  ``runq.clear()``). Replacing it with an object that answers the same
  calls lets the explorer hand out one chosen task per pass.
- ``Runner.deadlines``: the cancel scopes' deadlines, whose
  ``next_deadline()`` and ``expire(now)`` trio's loop calls once per pass.
  Standing in for it, the explorer expires one deadline at a time, so that
  it knows which deadline woke each task (tasks a sleep's end wakes are
  never held back behind tasks a later deadline woke).

Everything else stays trio's own: between two steps trio checks I/O,
expires deadlines and delivers cancellations, as it does between batches.
A batch of one task is a batch trio itself can run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import trio
from trio._core import _run as _trio_run  # pyright: ignore[reportPrivateUsage]

from ._explorer import Explorer, Step
from ._trace import Where, resume_point, short_name


def _running_runner() -> Any:
    runner = getattr(_trio_run.GLOBAL_RUN_CONTEXT, "runner", None)
    if runner is None or not isinstance(getattr(runner, "runq", None), deque):
        raise RuntimeError(
            "plait.testing cannot explore this trio's schedules: "
            "trio._core._run.GLOBAL_RUN_CONTEXT.runner.runq is not the deque of "
            f"runnable tasks it expects ({runner!r}); please report this"
        )
    deadlines = getattr(runner, "deadlines", None)
    if not all(callable(getattr(deadlines, m, None)) for m in _DEADLINE_METHODS):
        raise RuntimeError(
            "plait.testing cannot explore this trio's schedules: "
            "trio._core._run.GLOBAL_RUN_CONTEXT.runner.deadlines has no "
            f"next_deadline() and expire(now) ({deadlines!r}); please report this"
        )
    return runner


_DEADLINE_METHODS = ("next_deadline", "expire")


class _RunQueue:
    """Stands in for trio's run queue: holds runnable tasks, hands out one."""

    __slots__ = ("_batch", "_fuzzer", "firing")

    def __init__(self, fuzzer: Explorer) -> None:
        self._fuzzer = fuzzer
        self._batch: list[trio.lowlevel.Task] | None = None
        # The deadline being expired, while trio's deadlines wake tasks.
        self.firing: float | None = None

    def append(self, task: trio.lowlevel.Task) -> None:
        self._fuzzer.add(task, fired=self.firing)

    # Held-back tasks are runnable to trio: it must not wait while they are.

    def __len__(self) -> int:
        return len(self._fuzzer.ready) + len(self._fuzzer.parked)

    def __bool__(self) -> bool:
        return bool(self._fuzzer.ready or self._fuzzer.parked)

    def __iter__(self) -> Iterator[trio.lowlevel.Task]:
        batch = self._batch
        if batch is None:
            fuzzer = self._fuzzer
            task: Any = fuzzer.choose().task if self else None
            batch = self._batch = [] if task is None else [task]
        return iter(batch)

    def clear(self) -> None:
        self._batch = None


class _Deadlines:
    """Stands in for trio's deadlines: expires them one deadline at a time."""

    __slots__ = ("_queue", "deadlines")

    def __init__(self, deadlines: Any, queue: _RunQueue) -> None:
        self.deadlines = deadlines
        self._queue = queue

    def __getattr__(self, name: str) -> Any:
        return getattr(self.deadlines, name)

    def expire(self, now: float) -> bool:
        deadlines, queue = self.deadlines, self._queue
        expired = False
        try:
            while (deadline := deadlines.next_deadline()) <= now:
                queue.firing = deadline
                expired = deadlines.expire(deadline) or expired
        finally:
            queue.firing = None
        return expired


class TrioGlue(trio.abc.Instrument):
    """Attaches an explorer to a trio run (as an instrument, or mid-run)."""

    def __init__(self, fuzzer: Explorer) -> None:
        self.fuzzer = fuzzer
        # trio runs each batch of runnable tasks in an order of its choosing.
        self.in_order = False
        self._runner: Any = None

    def before_run(self) -> None:
        self.attach()

    def after_run(self) -> None:
        self.detach()

    def attach(self) -> None:
        """Take over the running trio's run queue."""
        runner = _running_runner()
        self.fuzzer.attach(self)
        self._runner = runner
        queue = _RunQueue(self.fuzzer)
        for task in runner.runq:
            queue.append(task)
        runner.runq = queue
        runner.deadlines = _Deadlines(runner.deadlines, queue)

    def detach(self) -> None:
        """Give trio a run queue of its own again, with the tasks waiting in ours."""
        runner, self._runner = self._runner, None
        if runner is not None and isinstance(runner.runq, _RunQueue):
            waiting = [*self.fuzzer.ready, *self.fuzzer.parked]
            runner.runq = deque(step.task for step in waiting)
        if runner is not None and isinstance(runner.deadlines, _Deadlines):
            runner.deadlines = runner.deadlines.deadlines
        self.fuzzer.detach(self)

    # The explorer's view of this run.

    def parked(self, step: Step) -> None:
        pass  # out of the explorer's ready list is out of trio's batches

    def released(self, step: Step) -> None:
        pass

    def owns_current(self) -> bool:
        runner = getattr(_trio_run.GLOBAL_RUN_CONTEXT, "runner", None)
        return runner is not None and runner is self._runner

    def current_task(self) -> object:
        return trio.lowlevel.current_task()

    def name(self, task: trio.lowlevel.Task) -> str:
        return short_name(task.name, task.coro)

    def locate(self, task: trio.lowlevel.Task) -> Where:
        return resume_point(task.coro)
