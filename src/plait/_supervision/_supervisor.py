"""Supervisor: owns long-running services, restarts them, stops them in order."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Literal, Self

from anyio import (
    BrokenResourceError,
    CancelScope,
    ClosedResourceError,
    Event,
    create_memory_object_stream,
    create_task_group,
    current_time,
    sleep,
)
from anyio.abc import TaskGroup

from .._core._checks import check_optional_seconds, check_seconds
from .._core._fuzz import fuzz_point
from .._core._owned_group import close_owned_group
from ._intensity import RestartBudget
from ._observers import LoggingObserver, ServiceEvent, SupervisorObserver, notify
from ._service_run import ServiceRunner
from ._service_spec import make_service
from ._services import (
    Outcome,
    RestartPolicy,
    RestartStrategy,
    Run,
    Service,
    ServiceState,
    ServiceStats,
    parse_enum,
)
from ._shutdown import ShutdownReport, stop_in_tiers


class Supervisor:
    """Own long-running services: start, watch, restart and stop them.

    Use it as an async context manager. Services started with ``start`` run
    in the supervisor's own task group; when one ends, its restart policy and
    the supervisor's strategy decide what is restarted, after an exponential
    backoff. Restarts beyond *max_restarts* within *period* seconds make the
    supervisor give up: it stops every service and raises an
    ``ExceptionGroup`` of the failures that caused it, from the ``async with``.

    Leaving the block (normally, by an exception or by cancellation) shuts
    the services down gracefully, tier by tier (see ``shutdown``); on
    cancellation that shutdown is shielded and bounded by the grace periods.

    A service is an async function. It receives *task_status* if it has a
    parameter of that name and is ready when it calls
    ``task_status.started()``; otherwise it is ready as soon as it runs. It
    receives *stopping*, an ``anyio.Event`` set when the supervisor asks it to
    stop, if it has a parameter of that name.

    Only an ``Exception`` raised by a service is a failure. Cancellations by
    the supervisor itself (stopping a sibling for a restart, shutting down)
    never count toward restarts or intensity, and a cancellation from outside
    the supervisor is never answered with a restart.

    Args:
        name: a label for logs and hooks.
        strategy: ``'one_for_one'`` (default), ``'one_for_all'`` or
            ``'rest_for_one'`` (or a ``RestartStrategy``).
        max_restarts: restarts allowed within *period* (default 3).
        period: the intensity window in seconds (default 5.0).
        backoff: delay in seconds before the first restart in a row of a
            service (default 0.1); it doubles for each further restart of it
            within *period*, up to *max_backoff*.
        max_backoff: cap on one backoff delay (default 5.0).
        jitter: fraction in [0, 1] by which each delay is shortened at random,
            drawn from plait's seedable random source (default 0.1).
        grace: default seconds a service may take to stop on request before
            it is cancelled (default 5.0).
        observers: ``SupervisorObserver``s to notify; default one
            ``LoggingObserver``. Pass ``()`` for none.

    Example:
        >>> import anyio, plait
        >>> async def ticker(stopping: anyio.Event) -> None:
        ...     await stopping.wait()
        >>> async def main() -> tuple[str, ...]:
        ...     async with plait.Supervisor(observers=()) as sup:
        ...         await sup.start(ticker, name="ticker")
        ...         report = await sup.shutdown()
        ...     return report.stopped
        >>> anyio.run(main)
        ('ticker',)
    """

    def __init__(
        self,
        *,
        name: str = "supervisor",
        strategy: RestartStrategy | str = RestartStrategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        period: float = 5.0,
        backoff: float = 0.1,
        max_backoff: float = 5.0,
        jitter: float = 0.1,
        grace: float = 5.0,
        observers: Iterable[SupervisorObserver] | None = None,
    ) -> None:
        self.name = name
        call = "Supervisor()"
        self.strategy: RestartStrategy = parse_enum(
            RestartStrategy, call, "strategy", strategy
        )
        check_seconds(call, "grace", grace, finite=False)
        self._budget = RestartBudget(
            max_restarts=max_restarts,
            period=period,
            backoff=backoff,
            max_backoff=max_backoff,
            jitter=jitter,
        )
        self.max_restarts: int = max_restarts
        self.period: float = period
        self.grace: float = grace
        self._observers: tuple[SupervisorObserver, ...] = (
            (LoggingObserver(),) if observers is None else tuple(observers)
        )
        self._runner = ServiceRunner(name, self._observers, self._on_run_end)
        self._services: dict[str, Service] = {}
        self._order: list[Service] = []
        self._tg: TaskGroup | None = None
        self._control_scope: CancelScope | None = None
        self._control_done: Event | None = None
        self._closing = False
        self._shutdown_done: Event | None = None
        self._closed: Event | None = None  # set once the shutdown is over
        self._report: ShutdownReport | None = None
        self._gave_up: ExceptionGroup[Exception] | None = None

    # -- context manager -------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._tg is not None:
            raise RuntimeError("a Supervisor can be entered only once")
        self._control_scope, self._control_done = CancelScope(), Event()
        self._closed = Event()
        self._events_tx, self._events_rx = create_memory_object_stream[
            tuple[Service, Run]
        ](math.inf)
        tg = create_task_group()
        await tg.__aenter__()
        self._tg = tg
        tg.start_soon(self._control, name=f"plait.supervisor.{self.name}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        suppress = await close_owned_group(self._tg, self.shutdown, exc_type, exc, tb)
        if self._gave_up is not None:
            raise self._gave_up
        return suppress

    # -- public API --------------------------------------------------------

    async def start(
        self,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        name: str | None = None,
        restart: RestartPolicy | str = RestartPolicy.PERMANENT,
        priority: int = 0,
        depends_on: Sequence[str] | str = (),
        grace: float | None = None,
        ready: Literal["auto", "started", "begin"] = "auto",
    ) -> Any:
        """Start ``fn(*args)`` as a supervised service; return once it is ready.

        Args:
            fn: an async function; see the class docs for *task_status* and
                *stopping*.
            *args: positional arguments for *fn*.
            name: unique among this supervisor's services that have not
                ended for good; default ``fn.__name__``.
            restart: ``'permanent'`` (default), ``'transient'`` or
                ``'temporary'`` (or a ``RestartPolicy``).
            priority: shutdown priority: lower tiers stop first. A service
                must not have a higher priority than one it depends on
                (it would have to stop after it). Default 0.
            depends_on: names of running services this one needs; they stop
                after it.
            grace: seconds it may take to stop on request; default the
                supervisor's *grace*.
            ready: ``'auto'`` (default): ready on ``task_status.started()``
                if *fn* takes *task_status*, else when it begins;
                ``'started'`` insists on ``started()``; ``'begin'`` is ready
                when it begins (any *task_status* call is then a no-op).

        Returns:
            The value passed to ``task_status.started()``, else ``None``.

        Raises:
            Exception: what the service raised before it became ready; such a
                service is not restarted.
            RuntimeError: if it returned (or was stopped by a shutdown)
                before it became ready, or the supervisor is not running.
            ValueError, TypeError: bad arguments, named in the message.

        If the caller is cancelled while it waits, the service carries on
        under the supervisor, which then treats an early end like any other.
        """
        tg = self._require_running()
        service = make_service(
            self._services,
            fn,
            args,
            name=name,
            restart=restart,
            priority=priority,
            depends_on=depends_on,
            grace=grace,
            ready=ready,
        )
        self._services[service.name] = service
        self._order = [s for s in self._order if s.name != service.name]
        self._order.append(service)
        run = self._runner.launch(tg, service, initial=True)
        try:
            await run.settled.wait()
        finally:
            # A caller that stops waiting leaves an early end to the restart logic.
            run.initial = run.initial and run.settled.is_set()
        if run.ready:
            return run.value
        service.state = (
            ServiceState.FAILED
            if run.outcome is Outcome.FAILED
            else ServiceState.STOPPED
        )
        if run.error is not None:
            run.error.add_note(f"service {service.name!r} failed before it was ready")
            raise run.error
        if run.outcome is Outcome.CANCELLED:
            raise RuntimeError(
                f"service {service.name!r} was stopped before it was ready "
                f"(supervisor {self.name!r} is shutting down)"
            )
        raise RuntimeError(
            f"service {service.name!r} returned without calling task_status.started()"
        )

    async def shutdown(self, *, grace: float | None = None) -> ShutdownReport:
        """Stop every service gracefully, tier by tier, and report how.

        Tiers go from the lowest priority up; within a priority, services stop
        before the ones they depend on. Each service of a tier has its
        *stopping* event set, and is cancelled if it has not ended when its
        grace period runs out; the next tier starts when the whole tier has
        ended. No restarts happen during or after a shutdown, and ``start``
        then raises. Calling it again returns the first call's report.

        The work is done by the supervisor's own task, shielded and bounded
        by the grace periods: a caller that is cancelled meanwhile, or a
        service that calls it and is stopped in its turn, does not cut it
        short.

        Args:
            grace: seconds each service may take, unless it was started with
                its own *grace*; default the supervisor's *grace*.
        """
        check_optional_seconds("Supervisor.shutdown()", "grace", grace, finite=False)
        if self._shutdown_done is None:
            self._shutdown_done = Event()
            self._closing = True
            if self._tg is None:
                self._report = ShutdownReport()
                self._shutdown_done.set()
            else:
                grace = self.grace if grace is None else grace
                self._tg.start_soon(self._shut_down, grace, name="plait.shutdown")
        await self._shutdown_done.wait()
        assert self._report is not None
        return self._report

    def stats(self) -> dict[str, ServiceStats]:
        """Return a snapshot of every service's health, in start order.

        Call it from the event loop's thread (it reads the loop's clock).
        """
        now = current_time()
        return {service.name: service.snapshot(now) for service in self._order}

    async def wait_closed(self) -> None:
        """Wait until the supervisor has shut down (by any means, give-up included).

        Returns at once if it has, or if it was never entered.

        Example:
            >>> import anyio, plait
            >>> async def main() -> tuple[str, ...]:
            ...     async def admin(sup: plait.Supervisor) -> None:
            ...         await sup.shutdown()
            ...     async with plait.Supervisor(observers=(), grace=0) as sup:
            ...         await sup.start(admin, sup, restart="temporary")
            ...         await sup.wait_closed()
            ...         assert sup.report is not None
            ...         return sup.report.cancelled
            >>> anyio.run(main)
            ('admin',)
        """
        if self._closed is not None:
            await self._closed.wait()

    @property
    def report(self) -> ShutdownReport | None:
        """The shutdown's report, once the supervisor has shut down."""
        return self._report

    # -- internals -----------------------------------------------------------

    def _require_running(self) -> TaskGroup:
        if self._tg is None:
            raise RuntimeError(
                "use the supervisor as a context manager first: "
                "`async with plait.Supervisor() as sup: await sup.start(...)`"
            )
        if self._closing:
            raise RuntimeError(f"supervisor {self.name!r} is shutting down")
        return self._tg

    def _on_run_end(self, service: Service, run: Run) -> None:
        if not self._closing:
            with contextlib.suppress(BrokenResourceError, ClosedResourceError):
                self._events_tx.send_nowait((service, run))

    async def _control(self) -> None:
        """Decide restarts, one ended run at a time (as an OTP supervisor does)."""
        assert self._control_scope is not None
        assert self._control_done is not None
        try:
            with self._control_scope:
                async for service, run in self._events_rx:
                    # An end that waited in the queue while a shutdown was
                    # asked for is the shutdown's to handle, not a restart's.
                    if (
                        not self._closing
                        and run is service.run
                        and not run.stop_requested
                        and not run.initial
                    ):
                        await self._handle_end(service, run)
        finally:
            self._events_rx.close()
            self._control_done.set()

    async def _handle_end(self, service: Service, run: Run) -> None:
        failed = run.outcome is Outcome.FAILED
        if service.restart is RestartPolicy.TEMPORARY or (
            service.restart is RestartPolicy.TRANSIENT and not failed
        ):
            return
        now = current_time()
        causes = self._budget.record(service, run, now)
        if causes is not None:
            await self._give_up(service, run, causes)
            return
        delay = self._budget.delay(service, now)
        affected = self._affected(service)
        for other in affected:
            other.state = ServiceState.BACKING_OFF if other.active else other.state
        siblings = [
            other for other in affected if other is not service and other.active
        ]
        await stop_in_tiers(siblings, self.grace)
        restart = [service] + [
            other
            for other in affected
            if other is not service and other.restart is not RestartPolicy.TEMPORARY
        ]
        for other in restart:
            other.state = ServiceState.BACKING_OFF
            event = ServiceEvent(
                self.name, other.name, other.runs + 1, now, delay=delay
            )
            notify(self._observers, "on_restart", event)
        await sleep(delay)
        await fuzz_point("restart")
        assert self._tg is not None
        for other in (s for s in self._order if s in restart):
            if self._closing:  # asked while its shutdown task is yet to run
                return
            await self._runner.launch(self._tg, other, initial=False).settled.wait()

    def _affected(self, service: Service) -> list[Service]:
        if self.strategy is RestartStrategy.ONE_FOR_ONE:
            return [service]
        live = [s for s in self._order if s is service or s.active]
        if self.strategy is RestartStrategy.ONE_FOR_ALL:
            return live
        return live[live.index(service) :]

    async def _give_up(
        self, service: Service, run: Run, causes: list[Exception]
    ) -> None:
        group = ExceptionGroup(
            f"supervisor {self.name!r} gave up: more than {self.max_restarts} "
            f"restart(s) within {self.period}s (the last caused by service "
            f"{service.name!r})",
            causes,
        )
        notify(
            self._observers, "on_give_up", self._runner.event(service, run, error=group)
        )
        self._gave_up = group
        self._closing = True
        if self._shutdown_done is None:
            self._shutdown_done = Event()
        with CancelScope(shield=True):
            await self._stop_everything(self.grace)
        assert self._tg is not None
        self._tg.cancel_scope.cancel()

    async def _shut_down(self, grace: float) -> None:
        # The supervisor's own task does the work, shielded (the grace periods
        # bound it), so a caller that is cancelled, or is itself a service
        # being stopped, does not cut the shutdown short. The shield is entered
        # before the first checkpoint, so a task group already cancelled from
        # outside cannot cancel this task first.
        assert self._control_scope is not None
        assert self._control_done is not None
        with CancelScope(shield=True):
            self._control_scope.cancel()
            await self._control_done.wait()
            if self._report is None:  # else a give-up has stopped everything
                await self._stop_everything(grace)

    async def _stop_everything(self, grace: float) -> ShutdownReport:
        assert self._shutdown_done is not None
        try:
            self._report = await stop_in_tiers(self._order, grace)
            for service in self._order:
                if not service.active and not service.terminated:
                    service.state = ServiceState.STOPPED  # was waiting to restart
        finally:
            self._events_tx.close()
            self._shutdown_done.set()
            assert self._closed is not None
            self._closed.set()
        return self._report
