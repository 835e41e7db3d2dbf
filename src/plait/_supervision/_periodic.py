"""Periodic jobs: ``every`` for one, ``Scheduler`` for several.

Ticks are aligned to the start (tick *k* is due at ``start + k * interval``),
so a run's duration never shifts later ticks. A tick that passes while the
previous run is still going is *missed*: ``missed='skip'`` drops it and waits
for the next tick on the grid; ``missed='catch_up'`` runs once at once (however
many ticks were missed), then goes back to the grid.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeAlias, TypeVarTuple, Unpack

from anyio import (
    TASK_STATUS_IGNORED,
    CancelScope,
    Event,
    Lock,
    create_task_group,
    current_time,
    move_on_after,
    move_on_at,
)
from anyio.abc import TaskGroup, TaskStatus

from .._core._cancellation import non_cancel_subgroup
from .._core._checks import check_choice, check_seconds, fail
from .._core._random import plait_random
from ._service_spec import check_service_fn

PosArgsT = TypeVarTuple("PosArgsT")
MissedTickPolicy: TypeAlias = Literal["skip", "catch_up"]
"""What ``every`` does with ticks that pass while a run goes on."""
PeriodicErrorPolicy: TypeAlias = Literal["raise", "log"]
"""What ``every`` does when a run raises: stop and raise, or log and go on."""

logger = logging.getLogger("plait")


@dataclasses.dataclass(slots=True)
class PeriodicJob:
    """One periodic job: what to call, how to tick, and its counts."""

    interval: float
    fn: Callable[..., Awaitable[object]]
    args: tuple[Any, ...]
    name: str
    missed: MissedTickPolicy
    jitter: float
    overlap: bool
    immediate: bool
    runs: int = 0
    missed_ticks: int = 0


def make_periodic(
    call: str,
    interval: float,
    fn: Callable[..., Awaitable[object]],
    args: tuple[Any, ...],
    *,
    name: str | None,
    missed: MissedTickPolicy,
    jitter: float,
    overlap: bool,
    immediate: bool,
) -> PeriodicJob:
    """Check a job's options (raise naming *call* and the argument); return it."""
    check_seconds(call, "interval", interval, positive=True)
    check_service_fn(fn)
    check_choice(call, "missed", missed, ("skip", "catch_up"))
    check_seconds(call, "jitter", jitter)
    if jitter > interval:
        rule = f"at most the interval ({interval:g} s)"
        fail(call, "jitter", rule, jitter, error=ValueError)
    label = name if name is not None else getattr(fn, "__name__", repr(fn))
    return PeriodicJob(interval, fn, args, label, missed, jitter, overlap, immediate)


class PeriodicRunner:
    """Runs the jobs' calls as tasks, so a stop can wait for them or cancel them."""

    def __init__(
        self,
        tg: TaskGroup,
        errors: PeriodicErrorPolicy,
        lock: Lock | None,
        on_error: Callable[[BaseException], None],
        stop: Event,
    ) -> None:
        self.tg, self.errors, self.lock, self.on_error = tg, errors, lock, on_error
        self.stop_event = stop
        self.scopes: set[CancelScope] = set()
        self.idle = Event()
        self.idle.set()

    def start(self, job: PeriodicJob, done: Event) -> None:
        scope = CancelScope()
        self.scopes.add(scope)
        self.idle = Event() if self.idle.is_set() else self.idle
        self.tg.start_soon(self._call, job, scope, done, name=f"plait.every.{job.name}")

    async def _call(self, job: PeriodicJob, scope: CancelScope, done: Event) -> None:
        try:
            with scope:
                if self.lock is not None:
                    async with self.lock:
                        # A run that queued for its turn does not start once
                        # the stop is asked: only runs under way get the grace.
                        if not self.stop_event.is_set():
                            await self._invoke(job)
                else:
                    await self._invoke(job)
        finally:
            self.scopes.discard(scope)
            if not self.scopes:
                self.idle.set()
            done.set()

    async def _invoke(self, job: PeriodicJob) -> None:
        job.runs += 1
        try:
            await job.fn(*job.args)
        except Exception as exc:
            if self.errors == "raise":
                self.on_error(exc)
                raise
            logger.warning(
                "plait: periodic job %r failed: %r",
                job.name,
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
            )

    async def stop(self, grace: float) -> None:
        """Wait up to *grace* seconds for the calls under way, then cancel them."""
        with move_on_after(grace):
            await self.idle.wait()
        for scope in list(self.scopes):
            scope.cancel()


async def tick_loop(job: PeriodicJob, runner: PeriodicRunner, stop: Event) -> None:
    """Start *job*'s runs on its drift-free grid until *stop* is set."""
    start = current_time()
    tick = 0 if job.immediate else 1
    while True:
        due = start + tick * job.interval
        if job.jitter:
            due += plait_random().uniform(0.0, job.jitter)
        with move_on_at(due):
            await stop.wait()
        if stop.is_set():
            return
        done = Event()
        runner.start(job, done)
        if not job.overlap:
            await done.wait()
        elapsed_ticks = math.floor((current_time() - start) / job.interval)
        if elapsed_ticks > tick:  # ticks were passed while the run went on
            job.missed_ticks += elapsed_ticks - tick
            tick = elapsed_ticks + 1 if job.missed == "skip" else elapsed_ticks
            if job.missed == "catch_up":
                job.missed_ticks -= 1
        else:
            tick += 1


async def run_jobs(
    jobs: list[PeriodicJob],
    *,
    stopping: tuple[Event, ...],
    grace: float,
    errors: PeriodicErrorPolicy,
    sequential: bool,
    tg_ready: Callable[[TaskGroup, PeriodicRunner, Event], None] | None = None,
) -> None:
    """Run *jobs* until *stopping* is set or one fails with ``errors='raise'``."""
    failure: list[BaseException] = []
    stop = Event()  # ours: an error must not set the caller's event

    async def relay(event: Event) -> None:
        await event.wait()
        stop.set()

    def on_error(exc: BaseException) -> None:
        failure.append(exc)
        stop.set()

    try:
        async with create_task_group() as tg:
            lock = Lock() if sequential else None
            runner = PeriodicRunner(tg, errors, lock, on_error, stop)
            for job in jobs:
                tg.start_soon(tick_loop, job, runner, stop)
            for event in stopping:
                tg.start_soon(relay, event)
            if tg_ready is not None:
                tg_ready(tg, runner, stop)
            await stop.wait()
            await runner.stop(0.0 if failure else grace)
            tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # A lone job failure propagates as itself; with runs that failed at
        # the same time, or other errors, the group keeps every one of them.
        rest = non_cancel_subgroup(group)
        if len(failure) == 1 and rest is not None:
            _, others = rest.split(lambda e: e is failure[0])
            if others is None:
                raise failure[0] from None
        raise


async def every(
    interval: float,
    fn: Callable[[Unpack[PosArgsT]], Awaitable[object]],
    *args: *PosArgsT,
    missed: MissedTickPolicy = "skip",
    jitter: float = 0.0,
    overlap: bool = False,
    immediate: bool = True,
    errors: PeriodicErrorPolicy = "raise",
    grace: float = 5.0,
    stopping: Event | None = None,
    task_status: TaskStatus[None] = TASK_STATUS_IGNORED,
) -> None:
    """Call ``await fn(*args)`` every *interval* seconds, drift-free, until stopped.

    Runs at ``start``, ``start + interval``, ``start + 2 * interval`` ...
    on the event loop's clock, however long each run takes. It runs until
    cancelled (which cancels a run under way at once) or until *stopping* is
    set: it then starts no new run, waits up to *grace* seconds for the run
    under way and cancels it if it is still going, and returns. It takes
    *task_status* and *stopping*, so ``await sup.start(plait.every, 60,
    refresh)`` runs it as a service that stops gracefully with its
    supervisor.

    Args:
        interval: seconds between ticks (> 0).
        fn: the async function to call.
        *args: positional arguments for *fn*.
        missed: what to do with ticks that pass while a run goes on:
            ``'skip'`` (default) or ``'catch_up'`` (run once at once).
        jitter: each run starts up to this many seconds after its tick,
            drawn from plait's seedable random source (0 to *interval*).
        overlap: start a run at its tick even if the previous one is still
            going. Default ``False``: runs never overlap.
        immediate: run at the start (default) rather than one interval in.
        errors: ``'raise'`` (default): the first ``Exception`` from *fn*
            stops the loop, cancels other runs and propagates (runs that
            fail at the same moment propagate together, in an
            ``ExceptionGroup``); ``'log'``: log it at WARNING on the
            ``plait`` logger and keep ticking.
        grace: seconds a run under way may finish after *stopping* is set.
        stopping: an event that asks the loop to stop.
        task_status: reports readiness once the loop is set up.

    Example:
        >>> import anyio, plait
        >>> async def main() -> int:
        ...     ticks = []
        ...     stop = anyio.Event()
        ...     async def tick() -> None:
        ...         ticks.append(anyio.current_time())
        ...         if len(ticks) == 3:
        ...             stop.set()
        ...     await plait.every(0.01, tick, stopping=stop)
        ...     return len(ticks)
        >>> anyio.run(main)
        3
    """
    job = make_periodic(
        "every()",
        interval,
        fn,
        args,
        name=None,
        missed=missed,
        jitter=jitter,
        overlap=overlap,
        immediate=immediate,
    )
    check_common("every()", errors, grace)
    await run_jobs(
        [job],
        stopping=() if stopping is None else (stopping,),
        grace=grace,
        errors=errors,
        sequential=False,
        tg_ready=lambda tg, runner, stop: task_status.started(),
    )


def check_common(call: str, errors: str, grace: float) -> None:
    """Check the options ``every`` and ``Scheduler`` share."""
    check_choice(call, "errors", errors, ("raise", "log"))
    check_seconds(call, "grace", grace, finite=False)
