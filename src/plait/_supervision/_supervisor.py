"""Supervisor: owns long-running services, restarts them, stops them in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from anyio import current_time
from anyio.abc import TaskGroup

from .._core._checks import check_optional_seconds, check_seconds
from .._core._lifecycle import TaskGroupOwner
from ._control import SupervisorControl
from ._intensity import RestartBudget
from ._observers import LoggingObserver, SupervisorObserver
from ._service_run import Child, Outcome, Run
from ._service_spec import ServiceSpec, make_service_spec
from ._services import RestartStrategy, ServiceStats, parse_enum
from ._shutdown import ShutdownReport
from ._start_types import AnyOptions, ServiceStarter


class Supervisor(TaskGroupOwner, ServiceStarter):
    """Own long-running services: start, watch, restart and stop them.

    Use it as an async context manager, entered once. Services started with
    ``start`` run in the supervisor's own task group; when one ends, its
    restart policy and the supervisor's strategy decide what is restarted,
    after an exponential backoff. Restarts beyond *max_restarts* within
    *period* seconds make the supervisor give up: it stops every service,
    cancels the block, and raises from the ``async with`` an
    ``ExceptionGroup`` of the failures that caused it (as itself, even if
    the block was being cancelled from outside).

    Each end is answered when it happens: its restart counts against the
    intensity at that instant, so the give-up comes with the failure that
    exceeds it. Under ``one_for_one`` every service waits out its own
    backoff, whatever the others do. Under ``one_for_all`` and
    ``rest_for_one`` a restart is of a group (the others are stopped, then
    all restart in start order, each ready before the next), and group
    restarts run one at a time, in the order of the ends that caused them,
    never interleaved (as in OTP); one takes in every service whose end
    awaits a restart when it begins, so services that fail together restart
    together, once, after the longest of their backoffs.

    Leaving the block (normally, by an exception or by cancellation) shuts
    the services down gracefully, tier by tier (see ``shutdown``); the
    shutdown is shielded and bounded by the grace periods. An error raised
    in the block leaves the ``async with`` as itself, after the shutdown; if
    the supervisor gave up too, both leave in one ``ExceptionGroup``, the
    block's error first. A cancellation from outside leaves (for its scope to
    catch) only when nothing failed: a failure wins over it, as in a task
    group.

    A service is an async function. It receives *task_status* if it has a
    parameter of that name and is ready when it calls
    ``task_status.started()``; otherwise it is ready as soon as it runs. It
    receives *stopping*, an ``anyio.Event`` set when the supervisor asks it to
    stop, if it has a parameter of that name.

    Only an ``Exception`` raised by a service is a failure that restarts.
    Cancellations by the supervisor itself (stopping a sibling for a restart,
    shutting down) never count toward restarts or intensity, and a
    cancellation from outside the supervisor is never answered with a
    restart. A ``BaseException`` that is not a cancellation (``SystemExit``,
    ``KeyboardInterrupt``, your own) is never survived: nothing restarts,
    the other services are shut down gracefully, and it leaves the
    ``async with`` in anyio's ``ExceptionGroup``, as from any task group.

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

    name: str
    """The supervisor's label, for logs and hooks."""
    strategy: RestartStrategy
    """Which services restart with the one that ended."""
    max_restarts: int
    """Restarts allowed within *period* before it gives up."""
    period: float
    """The intensity window, in seconds."""
    grace: float
    """Default seconds a service may take to stop on request."""

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
        self.strategy = parse_enum(RestartStrategy, call, "strategy", strategy)
        check_seconds(call, "grace", grace, finite=False)
        self._budget = RestartBudget(
            max_restarts=max_restarts,
            period=period,
            backoff=backoff,
            max_backoff=max_backoff,
            jitter=jitter,
        )
        self.max_restarts, self.period, self.grace = max_restarts, period, grace
        self._observers: tuple[SupervisorObserver, ...] = (
            (LoggingObserver(),) if observers is None else tuple(observers)
        )
        self._control: SupervisorControl | None = None  # from the time it is entered

    # -- lifecycle (TaskGroupOwner) -------------------------------------------

    async def _open(self, tg: TaskGroup) -> None:
        control = SupervisorControl(
            tg,
            name=self.name,
            strategy=self.strategy,
            grace=self.grace,
            budget=self._budget,
            observers=self._observers,
        )
        self._control = control
        tg.start_soon(control.run, name=f"plait.supervisor.{self.name}")

    async def _close(self) -> None:
        try:
            await self.shutdown()
        finally:
            # Even if asyncio's Task.cancel() cut the wait short: a give-up
            # wins over a cancellation, as a failed task does in a task group.
            if self._control is not None and self._control.gave_up is not None:
                raise self._control.gave_up

    # -- public API ----------------------------------------------------------

    async def _start(
        self,
        fn: Callable[..., object],
        args: tuple[object, ...],
        options: AnyOptions,
    ) -> object:
        control = self._require_running()
        running = control.children.values()
        spec = make_service_spec(
            {child.name: child.spec for child in running if not child.terminated},
            fn,
            args,
            **options,
        )
        child = Child(spec, added_at=current_time())
        control.add(child)
        run = control.runner.launch(child, initial=True)
        try:
            await run.settled.wait()
        finally:
            control.runner.release_caller(run)
        if run.ready:
            return run.value
        return await self._not_ready(control, spec, run)

    async def _not_ready(
        self, control: SupervisorControl, spec: ServiceSpec, run: Run
    ) -> object:
        """Raise what ``start`` raises for a service that ended before it was ready."""
        error = run.error
        if error is not None and not run.escaped:
            error.add_note(f"service {spec.name!r} failed before it was ready")
            raise error
        if error is not None:
            # It leaves the supervisor's async with, once: the block (if this
            # is its task) is cancelled meanwhile; another caller learns why.
            await control.closed.wait()
            raise RuntimeError(
                f"service {spec.name!r} raised {error!r} before it was ready; "
                f"it ended supervisor {self.name!r}"
            ) from None
        if run.outcome is Outcome.CANCELLED:
            why = "from outside" if run.escaped else f"by {self.name!r}'s shutdown"
            raise RuntimeError(
                f"service {spec.name!r} was cancelled {why} before it was ready"
            )
        raise RuntimeError(
            f"service {spec.name!r} returned without calling task_status.started()"
        )

    async def shutdown(self, *, grace: float | None = None) -> ShutdownReport:
        """Stop every service gracefully, tier by tier, and report how.

        Tiers go from the lowest priority up; within a priority, services stop
        before the ones they depend on. Each service of a tier has its
        *stopping* event set, and is cancelled if it has not ended when its
        grace period runs out (a service already asked to stop, by a group
        restart the shutdown interrupts, keeps the grace it was given then);
        the next tier starts when the whole tier has ended. No restarts happen
        during or after a shutdown, and ``start`` then raises. Calling it
        again returns the first call's report (before the supervisor is
        entered: an empty one).

        The work is done by the supervisor's own task, shielded and bounded
        by the grace periods: a caller that is cancelled meanwhile, or a
        service that calls it and is stopped in its turn, does not cut it
        short. A service that shields itself from the cancellation at the
        end of its grace holds its tier until it leaves the shield (the
        report's ``overran``).

        Args:
            grace: seconds each service may take, unless it was started with
                its own *grace*; default the supervisor's *grace*.
        """
        check_optional_seconds("Supervisor.shutdown()", "grace", grace, finite=False)
        control = self._control
        if control is None:
            return ShutdownReport()
        control.closing = True
        if not control.stopping:
            control.stopping = True
            grace = self.grace if grace is None else grace
            control.tg.start_soon(control.shut_down, grace, name="plait.shutdown")
        await control.closed.wait()
        return control.report

    def stats(self) -> dict[str, ServiceStats]:
        """Return a snapshot of every service's health, in start order.

        Call it from the event loop's thread (it reads the loop's clock).
        """
        if self._control is None:
            return {}
        now = current_time()
        children = self._control.children
        return {name: child.snapshot(now) for name, child in children.items()}

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
        if self._control is not None:
            await self._control.closed.wait()

    @property
    def report(self) -> ShutdownReport | None:
        """The shutdown's report, once the supervisor has shut down."""
        control = self._control
        if control is None or not control.closed.is_set():
            return None
        return control.report

    def _require_running(self) -> SupervisorControl:
        if self._control is None:
            raise RuntimeError(
                "use the supervisor as a context manager first: "
                "`async with plait.Supervisor() as sup: await sup.start(...)`"
            )
        if self._control.closing:
            raise RuntimeError(f"supervisor {self.name!r} is shutting down")
        return self._control
