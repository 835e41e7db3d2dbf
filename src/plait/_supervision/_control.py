"""A supervisor at work: its children, its restart decisions, its stop.

``Supervisor`` is the face users hold; from the time it is entered, a
``SupervisorControl`` does the work: it keeps the children, answers each
ended run, gives up when the restarts exceed the intensity, and stops
everything, once.

An ended run is answered in the run-end transition itself, synchronously:
the restart policy says whether it restarts, its restart is counted against
the intensity at that instant, and a give-up is decided there and then (its
stop runs in a task of its own). What takes time runs elsewhere, so one
service's backoff never delays the answer to another's end:

- ``one_for_one``: each restart waits out its backoff in a task of its own.
- ``one_for_all``, ``rest_for_one``: a restart is of a group (siblings are
  stopped, then everyone restarts in start order, each ready before the
  next), and two restarts of a group must not interleave; so the control
  task runs group restarts one at a time, in the order their ends came (as
  an OTP supervisor's one process does). A group restart takes in every
  service whose end awaits a restart when it begins: services that fail
  together restart together, once, after the longest of their backoffs.
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
    sleep_until,
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
        # Children whose ended run awaits a restart (insertion-ordered set).
        self._due: dict[Child, None] = {}
        # The backoff of each one_for_one restart under way, to cut short on
        # a shutdown.
        self._backoffs: dict[Child, CancelScope] = {}
        # Group restarts due, for the control task to run one at a time.
        self._groups_tx, self._groups_rx = create_memory_object_stream[Child](math.inf)
        self._scope = CancelScope()
        self._done = Event()

    def add(self, child: Child) -> None:
        """Add *child*, in place of an ended service of its name."""
        self.children.pop(child.name, None)
        self.children[child.name] = child

    async def run(self) -> None:
        """Run the group restarts, one at a time, until the shutdown."""
        try:
            with self._scope:
                async for child in self._groups_rx:
                    # A group restart already under way may have taken it in.
                    if not self.closing and child in self._due:
                        await self._restart_group()
        finally:
            self._groups_rx.close()
            self._done.set()

    async def shut_down(self, grace: float) -> None:
        """Stop the restarts under way, then every service (the shutdown's task)."""
        # Shielded (the grace periods bound it), so a caller that is
        # cancelled, or is itself a service being stopped, does not cut the
        # shutdown short. The shield is entered before the first checkpoint,
        # so a task group already cancelled from outside cannot cancel this
        # task first.
        with CancelScope(shield=True):
            self._scope.cancel()
            for backoff in self._backoffs.values():
                backoff.cancel()
            await self._done.wait()
            await self._stop_everything(grace)

    def _on_run_end(self, child: Child, run: Run) -> None:
        """Answer *run*'s end at once: restart it, or give up (run-end transition)."""
        if run.escaped:
            # Its error leaves the async with through the task group, or a
            # foreign cancellation ended it: either way, no restart.
            self.closing = self.closing or run.error is not None
            return
        # Ends during a shutdown are the shutdown's; a run stopped by the
        # supervisor (a sibling of a restart) restarts with its group; an
        # early end of a first run is start()'s to raise.
        if self.closing or run.stop_requested or run.initial:
            return
        policy = child.spec.restart
        if policy is RestartPolicy.TEMPORARY or (
            policy is RestartPolicy.TRANSIENT and run.outcome is not Outcome.FAILED
        ):
            return
        now = current_time()
        causes = self.budget.record(child.name, run.error, now)
        if causes is not None:
            self._give_up(child, run, causes)
            return
        self._due[child] = None
        self.runner.back_off(child)  # its name stays taken meanwhile
        if self.strategy is not RestartStrategy.ONE_FOR_ONE:
            with contextlib.suppress(BrokenResourceError, ClosedResourceError):
                self._groups_tx.send_nowait(child)
            return
        delay = self.budget.delay(child.name, now)
        self._announce([child], now, delay)
        backoff = self._backoffs[child] = CancelScope()
        self.tg.start_soon(
            self._relaunch,
            child,
            backoff,
            now + delay,
            name=f"plait.restart.{child.name}",
        )

    def _announce(self, restart: list[Child], now: float, delay: float) -> None:
        """Mark *restart* as backing off and tell the observers (on_restart)."""
        for child in restart:
            self._due.pop(child, None)
            self.runner.back_off(child)
            run = child.runs + 1
            event = ServiceEvent(self.name, child.name, run, now, delay=delay)
            notify(self.observers, "on_restart", event)

    async def _relaunch(self, child: Child, backoff: CancelScope, at: float) -> None:
        """Restart *child* (one_for_one) once its backoff is over, at *at*."""
        try:
            with backoff:
                # Every restart passes a checkpoint first: a restart due as
                # the supervisor's group is cancelled from outside never runs.
                await sleep_until(at)
                await fuzz_point("restart")
                if not self.closing and self.children.get(child.name) is child:
                    self.runner.launch(child, initial=False)
        finally:
            if self._backoffs.get(child) is backoff:
                del self._backoffs[child]

    async def _restart_group(self) -> None:
        """Restart the due services and their group (one_for_all, rest_for_one)."""
        now = current_time()
        due = [child for child in self.children.values() if child in self._due]
        if not due:
            return
        live = [c for c in self.children.values() if c.active or c in self._due]
        if self.strategy is RestartStrategy.REST_FOR_ONE:
            live = live[live.index(due[0]) :]
        delay = max(self.budget.delay(child.name, now) for child in due)
        await stop_in_tiers(self.runner, [c for c in live if c.active], self.grace)
        # A temporary sibling stopped for the restart is not restarted (as
        # in OTP); a due service never is temporary.
        restart = [c for c in live if c.spec.restart is not RestartPolicy.TEMPORARY]
        self._announce(restart, now, delay)
        await sleep(delay)
        await fuzz_point("restart")
        for child in [c for c in self.children.values() if c in restart]:
            if self.closing:  # asked while its shutdown task is yet to run
                return
            await self.runner.launch(child, initial=False).settled.wait()

    def _give_up(self, child: Child, run: Run, causes: list[Exception]) -> None:
        """Give up now: stop everything in a task of its own, then end the block."""
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
        self.tg.start_soon(self._abandon, name="plait.shutdown")

    async def _abandon(self) -> None:
        """Stop everything after a give-up, then cancel the block."""
        await self.shut_down(self.grace)
        self.tg.cancel_scope.cancel()  # the block ends; the supervisor raises

    async def _stop_everything(self, grace: float) -> None:
        try:
            children = list(self.children.values())
            self.report = await stop_in_tiers(self.runner, children, grace)
            for child in children:
                self.runner.settle(child)  # was waiting to restart
        finally:
            self._due.clear()
            self._groups_tx.close()
            self.closed.set()
