"""What the user declared for a service: a frozen spec, checked at ``start``."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._core._awaitables import short_repr
from .._core._checks import check_choice, check_int, check_optional_seconds, fail
from ._services import RestartPolicy, parse_enum

READY_MODES = ("auto", "started", "begin")
CALL = "Supervisor.start()"


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What to run and how, as ``Supervisor.start`` was asked; it never changes.

    The running service (its state, runs and counts) is kept apart, in a
    ``Child`` (``_service_run.py``), as OTP keeps a child spec apart from the
    running child.

    Attributes:
        name: unique among the supervisor's services that have not ended.
        fn: the async function.
        args: its positional arguments.
        restart: when it is restarted.
        priority: its shutdown tier (lower stops first).
        depends_on: names of the services that must stop after it.
        grace: seconds it may take to stop on request; ``None`` for the
            supervisor's.
        wait_for_started: it is ready on ``task_status.started()``, not when
            it begins.
        pass_task_status: it takes a ``task_status`` parameter.
        pass_stopping: it takes a ``stopping`` parameter.
    """

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    restart: RestartPolicy = RestartPolicy.PERMANENT
    priority: int = 0
    depends_on: tuple[str, ...] = ()
    grace: float | None = None
    wait_for_started: bool = False
    pass_task_status: bool = False
    pass_stopping: bool = False


def make_service_spec(
    running: Mapping[str, ServiceSpec],
    fn: object,
    args: tuple[Any, ...],
    *,
    name: str | None = None,
    restart: RestartPolicy | str = RestartPolicy.PERMANENT,
    priority: int = 0,
    depends_on: Sequence[str] | str = (),
    grace: float | None = None,
    ready: str = "auto",
) -> ServiceSpec:
    """Check the options against the *running* services; raise naming the argument."""
    check_service_fn(fn)
    assert callable(fn)
    if name is None:
        name = getattr(fn, "__name__", None) or short_repr(fn)
    if not isinstance(name, str) or not name:
        fail(CALL, "name", "a non-empty str", name, error=TypeError)
    if name in running:
        raise ValueError(
            f"{CALL} name: a service named {name!r} is already running in this "
            f"supervisor; give each service a unique name"
        )
    policy = parse_enum(RestartPolicy, CALL, "restart", restart)
    check_int(CALL, "priority", priority)
    deps = (depends_on,) if isinstance(depends_on, str) else tuple(depends_on)
    for dep in deps:
        other = running.get(dep)
        if other is None or dep == name:
            names = ", ".join(repr(n) for n in running)
            raise ValueError(
                f"{CALL} depends_on: {name!r} depends on {dep!r}, which is not a "
                f"running service of this supervisor (running: {names or 'none'}); "
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
    return ServiceSpec(
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
