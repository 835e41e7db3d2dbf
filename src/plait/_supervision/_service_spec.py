"""Checking ``Supervisor.start``'s arguments and turning them into a Service."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from anyio import current_time

from .._core._awaitables import short_repr
from .._core._checks import check_choice, check_int, check_optional_seconds, fail
from ._services import RestartPolicy, Service, parse_enum

READY_MODES = ("auto", "started", "begin")
CALL = "Supervisor.start()"


def make_service(
    services: Mapping[str, Service],
    fn: object,
    args: tuple[Any, ...],
    *,
    name: str | None,
    restart: RestartPolicy | str,
    priority: int,
    depends_on: Sequence[str] | str,
    grace: float | None,
    ready: str,
) -> Service:
    """Validate a service's options against *services*; raise naming the argument."""
    check_service_fn(fn)
    assert callable(fn)
    if name is None:
        name = getattr(fn, "__name__", None) or short_repr(fn)
    if not isinstance(name, str) or not name:
        fail(CALL, "name", "a non-empty str", name, error=TypeError)
    existing = services.get(name)
    if existing is not None and not existing.terminated:
        raise ValueError(
            f"{CALL} name: a service named {name!r} is already running in this "
            f"supervisor; give each service a unique name"
        )
    policy = parse_enum(RestartPolicy, CALL, "restart", restart)
    check_int(CALL, "priority", priority)
    deps = (depends_on,) if isinstance(depends_on, str) else tuple(depends_on)
    for dep in deps:
        other = services.get(dep)
        if other is None or other.terminated or dep == name:
            running = ", ".join(
                repr(n) for n, s in services.items() if not s.terminated
            )
            raise ValueError(
                f"{CALL} depends_on: {name!r} depends on {dep!r}, which is not a "
                f"running service of this supervisor (running: {running or 'none'}); "
                f"start {dep!r} first"
            )
        if priority > other.priority:
            raise ValueError(
                f"{CALL} priority {priority} of {name!r} contradicts depends_on: it "
                f"depends on {dep!r} (priority {other.priority}), which must stop "
                f"after it, and lower priorities stop first; give {name!r} a "
                f"priority <= {other.priority} or {dep!r} a higher one"
            )
    check_optional_seconds(CALL, "grace", grace, finite=False)
    check_choice(CALL, "ready", ready, READY_MODES)
    params = parameter_names(fn)
    takes_status = "task_status" in params
    if ready == "started" and not takes_status:
        raise TypeError(
            f"{CALL} ready='started' needs {name!r} to take a task_status parameter "
            f"and call task_status.started()"
        )
    return Service(
        name=name,
        fn=fn,
        args=args,
        restart=policy,
        priority=priority,
        depends_on=deps,
        grace=grace,
        wait_for_started=takes_status and ready != "begin",
        pass_task_status=takes_status,
        pass_stopping="stopping" in params,
        added_at=current_time(),
    )


def check_service_fn(fn: object) -> None:
    """Raise TypeError for what cannot be a service, showing the fix.

    A plain ``def`` function is refused before it runs (running it could
    block the event loop). Lambdas and other callables are judged by what
    calling them returns, as anyio does.
    """
    if inspect.iscoroutine(fn):
        fn.close()
        raise TypeError(
            "start() takes the async function and its arguments, not a coroutine "
            "object: write `await sup.start(serve, port)`, not "
            "`await sup.start(serve(port))`"
        )
    if not callable(fn):
        raise TypeError(f"fn must be an async function, got {short_repr(fn)}")
    target: object = fn
    while isinstance(target, functools.partial):
        target = target.func
    target = inspect.unwrap(target) if callable(target) else target
    if (
        (inspect.isfunction(target) or inspect.ismethod(target))
        and target.__name__ != "<lambda>"
        and not inspect.iscoroutinefunction(target)
        and not inspect.iscoroutinefunction(fn)
    ):
        qualname = getattr(target, "__qualname__", short_repr(target))
        raise TypeError(
            f"fn must be an async function, but {qualname} is a regular "
            f"function; define it with `async def {target.__name__}(...)` (a "
            f"supervisor runs services on the event loop)"
        )


def parameter_names(fn: Callable[..., Any]) -> set[str]:
    """Return the names *fn* accepts by keyword (empty if it has no signature)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return set()
    return {
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
