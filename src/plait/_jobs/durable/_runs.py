"""Running claimed jobs: a fixed set of runner tasks per queue, no task per job.

Each queue a worker serves is a ``Lane``: a queue of claimed jobs and as many
runner tasks as the queue's concurrency. The worker claims ahead of the
runners (``Lane.ahead``); a runner takes the next job without waiting while
there is one (an anyio task spawn per job would cost about as much as a
small job).
Jobs handed over wake one idle runner, and a runner taking a job while more
wait wakes the next: a handler that suspends has the following job started
by another runner one scheduling step later, while jobs that finish without
suspending run one after the other in the runner already awake, with no
task switch per job (that switch cost more than a small job itself), and
in one cancel scope until a run has it cancelled (``_run_in_scope``).

A run ends in one outcome, handed to ``on_outcome``: an ``Ack`` to record,
``RELEASE`` (hand the job back unfinished: the worker is stopping) or
``LOST`` (its lease is gone: record nothing, it is redelivered). Why a run
was cancelled is known because only ``cancel()`` cancels a run's scope,
with a reason; a cancellation that reaches a handler from outside (the
worker itself cancelled) releases the job and propagates, while a
``CancelledError`` a handler raises on its own is a failed attempt.
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping
from typing import Literal

import anyio
import anyio.lowlevel
from anyio import CancelScope, Event, get_cancelled_exc_class
from anyio.abc import TaskGroup

from .._model import JobHandler, JobHandlers
from ._engine import Ack, Claimed
from ._outcome import cancelled, failed, make_job, no_handler, succeeded, timed_out

Why = Literal["lost", "cancel", "stop"]

# How far ahead of its runners a lane may claim, in multiples of its
# concurrency. A lane claims one concurrency's worth ahead, and twice as far
# each time its runners ran out of jobs before a full claim came back: jobs
# that finish faster than a round trip to the database would otherwise leave
# the runners idle for most of it, and on SQLite every round trip takes the
# write lock that the other workers wait for, so fewer and larger ones carry
# more jobs (three worker processes of concurrency 100 ran 50,000 no-op jobs
# a second at twice the concurrency, 69,000 at up to 16 times). It halves
# again while a concurrency's worth of claimed jobs still waits.
MAX_AHEAD = 16

# A payload is stored text: decoded without json.loads's checks for bytes
# (0.7 us a small payload instead of 0.95).
_decode = json.JSONDecoder().decode

# The longest a runner runs jobs one after the other without letting the
# event loop run anything else, in seconds (a job that suspends lets it).
SLICE = 0.01


class Handoff(enum.Enum):
    """Outcomes that are not an Ack."""

    RELEASE = "release"
    LOST = "lost"


RELEASE = Handoff.RELEASE
LOST = Handoff.LOST
Outcome = Ack | Handoff


class Lane:
    """One queue's claimed jobs, its idle runners, and the count of jobs held."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        # Claimed ahead of the runners, so a batch waits in memory while the
        # round trip that brings it overlaps the running of the last one;
        # see MAX_AHEAD.
        self.ahead = limit
        self.held = 0
        # Held jobs whose outcome waits to be sent: their slots free up in the
        # round trip that sends it, so that round trip may claim for them.
        self.finishing = 0
        self.jobs: deque[Claimed] = deque()
        # The events idle runners wait on, and whether one was set and its
        # runner has not yet looked at the jobs (then no other is woken).
        self.idle: list[Event] = []
        self.waking = False
        self.closed = False

    def took_claim(self, asked: int, got: int) -> None:
        """Claim further ahead if the runners ran out of jobs before a full
        claim came back; less far once a concurrency's worth still waits,
        and no further than the concurrency once the queue runs short."""
        if got < asked:
            self.ahead = self.limit
        elif self.idle and not self.jobs:
            self.ahead = min(self.ahead * 2, self.limit * MAX_AHEAD)
        elif len(self.jobs) >= self.limit:
            self.ahead = max(self.limit, self.ahead // 2)

    @property
    def free(self) -> int:
        """Jobs the next round trip may claim."""
        return self.limit + self.ahead - self.held + self.finishing

    def wake_one(self) -> None:
        """Wake an idle runner for the waiting jobs, unless one is on its way."""
        if not self.waking and self.idle:
            self.waking = True
            self.idle.pop().set()

    def close(self) -> None:
        """No more jobs come: wake every idle runner to end once it is empty."""
        self.closed = True
        while self.idle:
            self.idle.pop().set()

    async def next_job(self) -> Claimed | None:
        """The next job, waiting while there is none; None once closed and empty."""
        while not self.jobs:
            if self.closed:
                return None
            wake = Event()
            self.idle.append(wake)
            try:
                await wake.wait()
            finally:
                if wake.is_set():
                    self.waking = False
                else:
                    self.idle.remove(wake)
        return self.take()

    def take(self) -> Claimed | None:
        """The next job if one waits, without waiting."""
        if not self.jobs:
            return None
        claimed = self.jobs.popleft()
        if self.jobs:
            self.wake_one()
        return claimed


class Runs:
    """The runner tasks of every lane and the cancel scopes of running jobs."""

    def __init__(
        self,
        handlers: JobHandlers,
        worker: str,
        queues: Mapping[str, int],
        on_outcome: Callable[[Claimed, Outcome], None],
    ) -> None:
        self.handlers = handlers
        self.worker = worker
        self.lanes = {name: Lane(name, limit) for name, limit in queues.items()}
        self.on_outcome = on_outcome
        self.scopes: dict[int, CancelScope] = {}
        self.why: dict[int, Why] = {}
        # Cancellations asked for before the run started: it is not started.
        self.cancel_first: set[int] = set()

    @contextlib.contextmanager
    def running(self, tg: TaskGroup) -> Generator[None, None, None]:
        """Start every lane's runners in *tg*; when the block ends, let them
        end once their lanes are empty (the caller then leaves *tg*)."""
        try:
            for lane in self.lanes.values():
                for _ in range(lane.limit):
                    tg.start_soon(self._runner, lane)
            yield
        finally:
            for lane in self.lanes.values():
                lane.close()

    def dispatch(self, claimed: Claimed) -> None:
        """Hand a claimed job to its lane's runners (once stopped: back)."""
        lane = self.lanes[claimed.queue]
        lane.held += 1
        if lane.closed:
            self.on_outcome(claimed, RELEASE)
            return
        lane.jobs.append(claimed)
        lane.wake_one()

    def stop(self) -> None:
        """Start no more jobs: hand back those claimed and not started, and
        let each runner end once its run is done."""
        for lane in self.lanes.values():
            waiting = list(lane.jobs)
            lane.jobs.clear()
            lane.close()
            for claimed in waiting:
                self.on_outcome(claimed, RELEASE)

    def finishing(self, claimed: Claimed) -> None:
        """Count a held job whose outcome is ready to be sent."""
        self.lanes[claimed.queue].finishing += 1

    def settled(self, claimed: Claimed, *, sent: bool) -> None:
        """Count a held job of its lane as gone: its outcome *sent* (acked or
        released), or its lease lost."""
        lane = self.lanes[claimed.queue]
        lane.held -= 1
        if sent:
            lane.finishing -= 1

    def cancel(self, job_id: int, why: Why) -> bool:
        """Cancel the run of *job_id* for *why*; False if it is not running.

        The first reason given wins: a run lost and then stopped is lost.
        """
        scope = self.scopes.get(job_id)
        if scope is None:
            if why == "cancel":
                self.cancel_first.add(job_id)
            return False
        self.why.setdefault(job_id, why)
        scope.cancel()
        return True

    def cancel_all(self, why: Why) -> None:
        """Cancel every running job for *why*."""
        for job_id in list(self.scopes):
            self.cancel(job_id, why)

    async def _runner(self, lane: Lane) -> None:
        claimed = await lane.next_job()
        while claimed is not None:
            if _worker_cancelled():
                # Start nothing once the worker is cancelled (a checkpoint may
                # not raise yet on asyncio): the worker releases the jobs it
                # holds. A handler started now would only see the
                # cancellation, or, raising its own first, be taken for
                # cancelled and released as if it had never run.
                return
            if await self._run_in_scope(lane, claimed):
                # Its scope ended with a cancelled run, or with its time
                # slice: the rest of the event loop (the worker's round trips
                # and heartbeats, other lanes, a stop()) runs before the next
                # job is taken.
                await anyio.lowlevel.checkpoint()
            claimed = await lane.next_job()

    async def _run_in_scope(self, lane: Lane, claimed: Claimed) -> bool:
        """Run *claimed*, then the jobs waiting in *lane* after it, in one
        cancel scope; return whether it ended before the lane was empty.

        A run needs a scope of its own only once it is cancelled (timed out,
        cancelled on request, its lease lost, the worker stopping), and
        entering one cost about as much as a small job: jobs share a scope
        until one of them has it cancelled, which ends the scope with that
        run, or for at most ``SLICE`` seconds, so that jobs that never
        suspend do not keep the rest of the event loop waiting.
        """
        scope = CancelScope()
        run: _Run | None = None
        ends = time.monotonic() + SLICE
        try:
            with scope:
                while True:
                    run = _Run(claimed, self.handlers.find(claimed.type))
                    if self._ready(run):
                        await self._call(run, scope)
                        if scope.cancel_called:
                            # Ended by its cancellation, or finished as it came:
                            # its outcome says which once the scope has ended.
                            break
                    outcome, run = run.outcome(None), None
                    self.on_outcome(claimed, outcome)
                    if _worker_cancelled():
                        return False
                    if time.monotonic() >= ends:
                        return True
                    if (next_job := lane.take()) is None:
                        return False
                    claimed = next_job
        except BaseException as exc:
            if run is None:
                raise
            if _cancelled_from_outside(exc):
                self.on_outcome(run.claimed, RELEASE)
                raise
            run.error = exc
        if run is not None:
            self.on_outcome(run.claimed, run.outcome(scope))
        return True

    def _ready(self, run: _Run) -> bool:
        """Whether *run* is to be called; if not, its outcome is set."""
        if run.handler is None:
            run.result = no_handler(run.claimed, self.worker, self.handlers.types())
            return False
        if run.claimed.id in self.cancel_first:
            self.cancel_first.discard(run.claimed.id)
            run.result = cancelled(run.claimed, run.handler, run.started)
            return False
        return True

    async def _call(self, run: _Run, scope: CancelScope) -> None:
        """Call *run*'s handler in *scope*, under its timeout; a cancellation
        of the scope leaves it, for the scope to take."""
        handler, job_id = run.handler, run.claimed.id
        assert handler is not None
        if handler.timeout is not None:
            scope.deadline = anyio.current_time() + handler.timeout
        elif scope.deadline != math.inf:
            scope.deadline = math.inf
        self.scopes[job_id] = scope
        try:
            payload = _decode(run.claimed.payload)
            run.value = await handler.fn(make_job(run.claimed, payload))
        except BaseException as exc:
            ours = scope.cancel_called and isinstance(exc, get_cancelled_exc_class())
            if ours or _cancelled_from_outside(exc):
                raise
            run.error = exc
        finally:
            del self.scopes[job_id]
            run.why = self.why.pop(job_id, None)


class _Run:
    """One run of a claimed job: what its handler returned or raised."""

    __slots__ = ("claimed", "error", "handler", "result", "started", "value", "why")

    def __init__(self, claimed: Claimed, handler: JobHandler | None) -> None:
        self.claimed = claimed
        self.handler = handler
        self.started = time.time()
        self.value: object = None
        self.error: BaseException | None = None
        self.why: Why | None = None
        self.result: Outcome | None = None

    def outcome(self, scope: CancelScope | None) -> Outcome:
        """The run's outcome; *scope*, its cancel scope if the run ended it."""
        if self.result is not None:
            return self.result
        claimed, handler, error, why = self.claimed, self.handler, self.error, self.why
        assert handler is not None
        caught = scope is not None and scope.cancelled_caught
        if why == "lost":
            return LOST
        if why == "cancel" and (error is not None or caught):
            return cancelled(claimed, handler, self.started, error)
        if error is not None:
            return failed(claimed, handler, error, self.started)
        if not caught:
            return succeeded(claimed, handler, self.value, self.started)
        if why == "stop":
            return RELEASE
        return timed_out(claimed, handler, self.started)


def _cancelled_from_outside(exc: BaseException) -> bool:
    """Whether *exc* is the cancellation of a scope around the runner.

    A run's own scope absorbs its cancellation, so a cancellation that
    leaves it while an enclosing scope is cancelled is that scope's; one
    raised while nothing around is cancelled is the handler's own doing.
    """
    return isinstance(exc, get_cancelled_exc_class()) and _worker_cancelled()


def _worker_cancelled() -> bool:
    """Whether a scope around the runner (the worker's) is cancelled."""
    return anyio.current_effective_deadline() == -math.inf
