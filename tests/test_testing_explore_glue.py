"""The exploration glue's private dependencies, checked against what is installed.

``plait/testing/_explore_asyncio.py`` and ``_explore_trio.py`` name the
private details of asyncio and trio they rely on; these tests fail first
when a new Python or trio moves them, and show the clear error the glue
gives at run time when it meets such a change.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import trio

from plait.testing import (
    ExplorationNotSupportedError,
    ScheduleFuzzer,
    fuzz_schedule,
    run,
)
from plait.testing._explore_asyncio import AsyncioGlue, ExploringLoops
from plait.testing._explore_trio import TrioGlue


class TestAsyncioTaskSteps:
    """A task schedules each step with ``loop.call_soon``, the task as ``__self__``."""

    def scheduled(self) -> list[tuple[str, object, object]]:
        seen: list[tuple[str, object, object]] = []

        async def child(event: asyncio.Event) -> None:
            await event.wait()  # resumes through task_wakeup

        async def main() -> None:
            loop = asyncio.get_running_loop()
            original = loop.call_soon

            def call_soon(
                callback: Callable[..., object], *args: Any, **kw: Any
            ) -> Any:
                task = getattr(callback, "__self__", None)
                if isinstance(task, asyncio.Task):
                    seen.append((type(callback).__name__, callback, task))
                return original(callback, *args, **kw)

            loop.call_soon = call_soon  # type: ignore[method-assign,assignment]
            try:
                event = asyncio.Event()
                task = asyncio.create_task(child(event))  # first step
                await asyncio.sleep(0)  # a bare yield: TaskStepMethWrapper
                event.set()
                await task
            finally:
                del loop.call_soon

        asyncio.run(main())
        return seen

    def test_steps_and_wakeups_go_through_the_instance_call_soon(self) -> None:
        kinds = [kind for kind, _, _ in self.scheduled()]
        assert "TaskStepMethWrapper" in kinds
        wakeups = [
            cb for kind, cb, _ in self.scheduled() if kind != "TaskStepMethWrapper"
        ]
        assert wakeups
        assert {getattr(cb, "__name__", None) for cb in wakeups} == {"task_wakeup"}

    def test_an_unknown_task_callback_is_a_clear_error(self) -> None:
        class OddTask(asyncio.Task[None]):
            def _odd_step(self) -> None: ...

        async def main() -> None:
            loop = asyncio.get_running_loop()
            glue = AsyncioGlue(ScheduleFuzzer(0), loop)
            glue.attach()
            try:
                task = OddTask(asyncio.sleep(0), loop=loop)
                with pytest.raises(
                    RuntimeError, match="does not recognise how this Python"
                ):
                    loop.call_soon(task._odd_step)
                # A public Task method is a plain callback, not a step.
                loop.call_soon(task.cancel)
                await asyncio.sleep(0)
            finally:
                glue.detach()

        asyncio.run(main())

    def test_a_run_with_no_step_seen_is_a_clear_error(self) -> None:
        loops = ExploringLoops(ScheduleFuzzer(0))
        loop = loops()
        loop.close()
        loops.glues[0].steps_seen = 0
        with pytest.raises(RuntimeError, match="saw no task step"):
            loops.finish(completed=True)

    def test_timers_go_through_the_loops_call_at(self) -> None:
        loop = asyncio.new_event_loop()
        seen: list[float] = []
        original = loop.call_at

        def call_at(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            seen.append(when)
            return original(when, *args, **kwargs)

        try:
            loop.call_at = call_at  # type: ignore[method-assign,assignment]
            loop.call_later(1, print).cancel()
            loop.run_until_complete(asyncio.wait_for(asyncio.sleep(0.001), 1))
        finally:
            loop.close()
        assert len(seen) >= 3  # call_later, sleep, and wait_for's timeout

    def test_uvloop_is_refused(self) -> None:
        import uvloop

        loop = uvloop.new_event_loop()
        try:
            with pytest.raises(
                ExplorationNotSupportedError, match="not written in Python"
            ):
                AsyncioGlue(ScheduleFuzzer(0), loop)
        finally:
            loop.close()

    def test_detach_gives_the_loop_its_call_soon_back(self) -> None:
        loops = ExploringLoops(ScheduleFuzzer(0))
        loop = loops()
        try:
            assert "call_soon" in vars(loop)
            loops.finish(completed=False)
            assert "call_soon" not in vars(loop)
        finally:
            loop.close()


class TestTrioRunQueue:
    """trio's ``Runner.runq`` is a deque of runnable tasks the explorer replaces."""

    def test_the_running_runner_has_a_deque_runq(self) -> None:
        from trio._core import _run

        seen: list[object] = []

        async def main() -> None:
            seen.append(_run.GLOBAL_RUN_CONTEXT.runner.runq)

        trio.run(main)
        assert isinstance(seen[0], deque)

    def test_the_glue_takes_the_queue_and_gives_it_back(self) -> None:
        from trio._core import _run

        fuzzer = ScheduleFuzzer(0)
        glue = TrioGlue(fuzzer)
        queues: list[object] = []

        async def main() -> None:
            queues.append(type(_run.GLOBAL_RUN_CONTEXT.runner.runq).__name__)
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(trio.lowlevel.checkpoint)
            glue.detach()
            queues.append(type(_run.GLOBAL_RUN_CONTEXT.runner.runq).__name__)
            await trio.lowlevel.checkpoint()

        trio.run(main, instruments=[glue])
        assert queues == ["_RunQueue", "deque"]
        assert fuzzer.decisions >= 8

    def test_the_glue_expires_deadlines_one_at_a_time_and_gives_them_back(
        self,
    ) -> None:
        from trio._core import _run

        fuzzer = ScheduleFuzzer(0)
        glue = TrioGlue(fuzzer)
        kinds: list[str] = []

        async def main() -> None:
            runner = _run.GLOBAL_RUN_CONTEXT.runner
            kinds.append(type(runner.deadlines).__name__)
            async with trio.open_nursery() as nursery:
                for delay in (0.002, 0.001, 0.001):
                    nursery.start_soon(trio.sleep, delay)
            glue.detach()
            kinds.append(type(runner.deadlines).__name__)
            await trio.sleep(0.001)  # trio's own deadlines work again

        trio.run(main, instruments=[glue])
        assert kinds == ["_Deadlines", "Deadlines"]

    def test_a_changed_runner_is_a_clear_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from trio._core import _run

        async def main() -> None:
            monkeypatch.setattr(_run.GLOBAL_RUN_CONTEXT.runner, "runq", [])
            try:
                with pytest.raises(RuntimeError, match="cannot explore this trio"):
                    TrioGlue(ScheduleFuzzer(0)).attach()
            finally:
                monkeypatch.undo()

        trio.run(main)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_every_task_step_is_a_decision_point(backend: Any) -> None:
    async def worker() -> None:
        for _ in range(4):
            await anyio.lowlevel.checkpoint()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(worker)

    with fuzz_schedule(0) as fuzzer:
        run(main, backend=backend)
    # 3 workers x (a first step + 4 resumptions), plus the host's steps.
    assert fuzzer.decisions >= 15
