"""Graceful, priority-ordered stopping of supervised services.

Services stop in tiers: the lowest priority first, and within one priority
the services nothing else still depends on before the ones they depend on.
A tier's services are asked to stop together; each one that has not ended
when its grace period runs out is cancelled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from anyio import create_task_group, move_on_after

from ._services import Outcome, Service, ServiceState


@dataclasses.dataclass(frozen=True, slots=True)
class ShutdownReport:
    """What a supervisor's shutdown did with each running service.

    Attributes:
        tiers: the names stopped together, tier by tier, in stopping order.
        stopped: services that ended cleanly within their grace period.
        cancelled: services cancelled when their grace period ran out.
        failed: services that raised while stopping, with the exception.

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

    @property
    def clean(self) -> bool:
        """Tell whether every service stopped on request, none cancelled or failed."""
        return not self.cancelled and not self.failed


def stop_tiers(services: Iterable[Service]) -> list[list[Service]]:
    """Group *services* into stopping tiers (lowest priority, dependants first)."""
    remaining: list[Service] = list(services)
    tiers: list[list[Service]] = []
    while remaining:
        lowest = min(service.priority for service in remaining)
        needed = {dep for service in remaining for dep in service.depends_on}
        tier = [
            service
            for service in remaining
            if service.priority == lowest and service.name not in needed
        ]
        if not tier:  # unreachable while start() keeps priorities consistent
            tier = [service for service in remaining if service.priority == lowest]
        tiers.append(tier)
        taken = {service.name for service in tier}
        remaining = [service for service in remaining if service.name not in taken]
    return tiers


async def stop_service(service: Service, grace: float) -> None:
    """Ask *service*'s run to stop, and cancel it if *grace* seconds pass."""
    run = service.run
    if run is None or run.done.is_set():
        return
    run.stop_requested = True
    service.state = ServiceState.STOPPING
    run.stopping.set()
    with move_on_after(grace):
        await run.done.wait()
    if not run.done.is_set():
        run.scope.cancel()
        await run.done.wait()


async def stop_in_tiers(
    services: Sequence[Service], default_grace: float
) -> ShutdownReport:
    """Stop *services* tier by tier and report how each one ended."""
    tiers = stop_tiers(service for service in services if service.active)
    for tier in tiers:
        async with create_task_group() as tg:
            for service in tier:
                grace = service.grace if service.grace is not None else default_grace
                tg.start_soon(stop_service, service, grace)
    stopped: list[str] = []
    cancelled: list[str] = []
    failed: list[tuple[str, BaseException]] = []
    for tier in tiers:
        for service in tier:
            run = service.run
            assert run is not None
            if run.outcome is Outcome.FAILED and run.error is not None:
                failed.append((service.name, run.error))
            elif run.outcome is Outcome.CANCELLED:
                cancelled.append(service.name)
            else:
                stopped.append(service.name)
    return ShutdownReport(
        tiers=tuple(tuple(service.name for service in tier) for tier in tiers),
        stopped=tuple(stopped),
        cancelled=tuple(cancelled),
        failed=tuple(failed),
    )
