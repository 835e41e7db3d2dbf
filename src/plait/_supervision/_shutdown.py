"""Graceful, priority-ordered stopping of supervised services.

Services stop in tiers: the lowest priority first, and within one priority
the services nothing else still depends on before the ones they depend on.
A tier's services are asked to stop together; each one that has not ended
when its grace period runs out is cancelled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from anyio import create_task_group, move_on_at

from ._service_run import Child, Outcome, ServiceRunner


@dataclasses.dataclass(frozen=True, slots=True)
class ShutdownReport:
    """What a supervisor's shutdown did with each running service.

    A service whose grace period runs out is cancelled: that stop was forced,
    and it is reported so however the service took it (it let the
    cancellation end it, or caught it and returned). A service that shields
    itself from cancellation (or cleans up in a shielded scope) holds the
    shutdown until it leaves the shield: the grace period bounds when it is
    cancelled, not when it ends; ``overran`` says by how much.

    Attributes:
        tiers: the names stopped together, tier by tier, in stopping order.
        stopped: services that ended on request within their grace period.
        cancelled: services cancelled when their grace period ran out and
            that did not raise (forced stops).
        failed: services that raised while stopping, with the exception.
        overran: forced stops that kept running after their cancellation,
            with the seconds they held the shutdown past their grace,
            measured on the event loop's clock to the millisecond (a
            service the cancellation ends at once is not listed).

    Example:
        >>> import plait
        >>> report = plait.ShutdownReport(tiers=(("web",),), stopped=("web",))
        >>> report.clean
        True
    """

    tiers: tuple[tuple[str, ...], ...] = ()
    stopped: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    failed: tuple[tuple[str, BaseException], ...] = ()
    overran: tuple[tuple[str, float], ...] = ()

    @property
    def clean(self) -> bool:
        """Tell whether every service stopped on request, none cancelled or failed."""
        return not self.cancelled and not self.failed


def stop_tiers(children: Iterable[Child]) -> list[list[Child]]:
    """Group *children* into stopping tiers (lowest priority, dependants first)."""
    remaining: list[Child] = list(children)
    tiers: list[list[Child]] = []
    while remaining:
        lowest = min(child.spec.priority for child in remaining)
        needed = {dep for child in remaining for dep in child.spec.depends_on}
        tier = [
            child
            for child in remaining
            if child.spec.priority == lowest and child.name not in needed
        ]
        if not tier:  # unreachable while start() keeps priorities consistent
            tier = [child for child in remaining if child.spec.priority == lowest]
        tiers.append(tier)
        taken = {child.name for child in tier}
        remaining = [child for child in remaining if child.name not in taken]
    return tiers


async def stop_child(runner: ServiceRunner, child: Child, grace: float) -> None:
    """Ask *child*'s run to stop, and cancel it once its grace runs out: *grace*
    seconds from now, or sooner if it was asked to stop before."""
    run = runner.request_stop(child, grace)
    if run is None:
        return
    with move_on_at(run.stop_deadline):
        await run.done.wait()
    if not run.done.is_set():
        runner.force_stop(run)
        await run.done.wait()


async def stop_in_tiers(
    runner: ServiceRunner, children: Sequence[Child], default_grace: float
) -> ShutdownReport:
    """Stop *children* tier by tier and report how each one ended."""
    tiers = stop_tiers(child for child in children if child.active)
    for tier in tiers:
        async with create_task_group() as tg:
            for child in tier:
                grace = child.spec.grace
                grace = default_grace if grace is None else grace
                tg.start_soon(stop_child, runner, child, grace)
    stopped: list[str] = []
    cancelled: list[str] = []
    failed: list[tuple[str, BaseException]] = []
    overran: list[tuple[str, float]] = []
    for tier in tiers:
        for child in tier:
            run = child.run
            assert run is not None  # it was active
            if run.forced_at is not None and run.ended_at is not None:
                held = round(run.ended_at - run.forced_at, 3)
                if held > 0:
                    overran.append((child.name, held))
            if run.error is not None:
                failed.append((child.name, run.error))
            elif run.outcome is Outcome.CANCELLED:
                cancelled.append(child.name)
            else:
                stopped.append(child.name)
    return ShutdownReport(
        tiers=tuple(tuple(child.name for child in tier) for tier in tiers),
        stopped=tuple(stopped),
        cancelled=tuple(cancelled),
        failed=tuple(failed),
        overran=tuple(overran),
    )
