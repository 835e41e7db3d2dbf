"""A supervisor at work: its children, its restart decisions, its stop.

``Supervisor`` is the face users hold; from the time it is entered, a
``SupervisorControl`` does the work: it keeps the children, decides on each
ended run in one task (as an OTP supervisor's process does), gives up when
the restarts exceed the intensity, and stops everything, once.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

from anyio import (
    BrokenResourceError,
    CancelScope,
    ClosedResourceError,
    Event,
    create_memory_object_stream,
    current_time,
    sleep,
)
from anyio.abc import TaskGroup

from .._core._fuzz import fuzz_point
from ._intensity import RestartBudget
from ._observers import ServiceEvent, SupervisorObserver, notify
from ._service_run import Child, Outcome, Run, ServiceRunner
from ._services import RestartPolicy, RestartStrategy
from ._shutdown import ShutdownReport, stop_in_tiers


class SupervisorControl:
    """What a supervisor has and does from the time it is entered (kept after).

    Args:
        tg: the supervisor's task group.
        name: the supervisor's name.
        strategy: which services restart with one that ended.
        grace: seconds a sibling stopped for a restart may take.
        budget: the restart intensity and backoff.
        observers: the observers to notify.
    """

    def __init__(
        self,
        tg: TaskGroup,
        *,
        name: str,
        strategy: RestartStrategy,
        grace: float,
        budget: RestartBudget,
        observers: Sequence[SupervisorObserver],
    ) -> None:
        self.tg, self.name, self.strategy = tg, name, strategy
        self.grace, self.budget, self.observers = grace, budget, observers
        self.runner = ServiceRunner(name, observers, tg, self._on_run_end)
        # By name, in start order (a name taken again moves to the end).
        self.children: dict[str, Child] = {}
        self.closing = False  # no more starts or restarts
        self.stopping = False  # a shutdown or a give-up is stopping everything
        self.closed = Event()  # set once that is over: the report is final
        self.report = ShutdownReport()
        self.gave_up: ExceptionGroup[Exception] | None = None
        # Ended runs, for the control task to decide on, one at a time.
        self._ends_tx, self._ends_rx = create_memory_object_stream[tuple[Child, Run]](
            math.inf
        )
        self._scope = CancelScope()
        self._done = Event()

    def add(self, child: Child) -> None:
        """Add *child*, in place of an ended service of its name."""
        self.children.pop(child.name, None)
        self.children[child.name] = child

    async def run(self) -> None:
        """Decide restarts, one ended run at a time, until the shutdown."""
        try:
            with self._scope:
                async for child, run in self._ends_rx:
                    # An end that waited in the queue while a shutdown was
                    # asked for is the shutdown's to handle, not a restart's.
                    if (
                        not self.closing
                        and run is child.run
                        and not run.stop_requested
                        and not run.initial
                    ):
                        await self._handle_end(child, run)
        finally:
            self._ends_rx.close()
            self._done.set()

    async def shut_down(self, grace: float) -> None:
        """Stop the control task, then every service (the shutdown's task)."""
        # Shielded (the grace periods bound it), so a caller that is
        # cancelled, or is itself a service being stopped, does not cut the
        # shutdown short. The shield is entered before the first checkpoint,
        # so a task group already cancelled from outside cannot cancel this
        # task first.
        with CancelScope(shield=True):
            self._scope.cancel()
            await self._done.wait()
            await self._stop_everything(grace)

    def _on_run_end(self, child: Child, run: Run) -> None:
        if run.escaped:
            # Its error leaves the async with through the task group, or a
            # foreign cancellation ended it: either way, no restart.
            self.closing = self.closing or run.error is not None
            return
        if not self.closing:
            with contextlib.suppress(BrokenResourceError, ClosedResourceError):
                self._ends_tx.send_nowait((child, run))

    async def _handle_end(self, child: Child, run: Run) -> None:
        restart_policy = child.spec.restart
        if restart_policy is RestartPolicy.TEMPORARY or (
            restart_policy is RestartPolicy.TRANSIENT
            and run.outcome is not Outcome.FAILED
        ):
            return
        now = current_time()
        causes = self.budget.record(child.name, run.error, now)
        if causes is not None:
            await self._give_up(child, run, causes)
            return
        delay = self.budget.delay(child.name, now)
        affected = self._affected(child)
        siblings = [other for other in affected if other is not child and other.active]
        await stop_in_tiers(self.runner, siblings, self.grace)
        restart = [child] + [
            other
            for other in affected
            if other is not child and other.spec.restart is not RestartPolicy.TEMPORARY
        ]
        for other in restart:
            self.runner.back_off(other)
            run_number = other.runs + 1
            event = ServiceEvent(self.name, other.name, run_number, now, delay=delay)
            notify(self.observers, "on_restart", event)
        await sleep(delay)
        await fuzz_point("restart")
        for other in [c for c in self.children.values() if c in restart]:
            if self.closing:  # asked while its shutdown task is yet to run
                return
            await self.runner.launch(other, initial=False).settled.wait()

    def _affected(self, child: Child) -> list[Child]:
        if self.strategy is RestartStrategy.ONE_FOR_ONE:
            return [child]
        live = [c for c in self.children.values() if c is child or c.active]
        if self.strategy is RestartStrategy.ONE_FOR_ALL:
            return live
        return live[live.index(child) :]

    async def _give_up(self, child: Child, run: Run, causes: list[Exception]) -> None:
        budget = self.budget
        group = ExceptionGroup(
            f"supervisor {self.name!r} gave up: more than {budget.max_restarts} "
            f"restart(s) within {budget.period}s (the last caused by service "
            f"{child.name!r})",
            causes,
        )
        notify(self.observers, "on_give_up", self.runner.event(child, run, error=group))
        self.gave_up = group
        self.closing = self.stopping = True
        with CancelScope(shield=True):
            await self._stop_everything(self.grace)
        self.tg.cancel_scope.cancel()  # the block ends; the supervisor raises

    async def _stop_everything(self, grace: float) -> None:
        try:
            children = list(self.children.values())
            self.report = await stop_in_tiers(self.runner, children, grace)
            for child in children:
                self.runner.settle(child)  # was waiting to restart
        finally:
            self._ends_tx.close()
            self.closed.set()
