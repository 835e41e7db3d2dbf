"""The static types of ``Supervisor.start``: arguments checked, ``T`` returned.

``start(fn, *args)`` calls ``fn(*args)`` with ``stopping=`` and
``task_status=`` added when *fn* takes them, and returns what *fn* passes to
``task_status.started()``. Both mypy and pyright should check *args* against
*fn* and infer that value's type ``T``, and neither may reject a correct call.

A generic protocol over ``*args: *Ts`` with a ``task_status: TaskStatus[T]``
keyword does not get there: mypy infers ``Ts`` from it but not ``T`` (it
solves ``T`` as ``Never`` and rejects the call), and pyright folds a
``stopping`` or ``task_status`` that is not keyword-only into ``Ts`` (and
rejects the call). So ``start`` is overloaded by arity, up to three
positional arguments, over four shapes of service (it takes *stopping* and
*task_status*, only *task_status*, only *stopping*, or neither), with one
type variable per argument; both checkers infer every variable of such a
protocol. Past three arguments, or where neither checker can match *fn* to a
shape (a generic service such as ``plait.every`` with its own arguments, under
pyright), the call returns ``Any``: past three arguments they are not
checked; otherwise a last overload over a ``TypeVarTuple`` checks them for
a service that needs no keyword (and is the one checkers quote when no
overload matches). With ``ready="begin"`` the call returns ``None``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypedDict, TypeVar, TypeVarTuple, Unpack, overload

from ._service_shapes import (
    ReadyService0,
    ReadyService1,
    ReadyService2,
    ReadyService3,
    Service0,
    Service1,
    Service2,
    Service3,
    StoppableReadyService0,
    StoppableReadyService1,
    StoppableReadyService2,
    StoppableReadyService3,
    StoppableService0,
    StoppableService1,
    StoppableService2,
    StoppableService3,
)
from ._services import RestartPolicy

T = TypeVar("T")
X1 = TypeVar("X1")
X2 = TypeVar("X2")
X3 = TypeVar("X3")
PosArgsT = TypeVarTuple("PosArgsT")

ReadyMode = Literal["auto", "started", "begin"]


class StartOptions(TypedDict, total=False):
    """``Supervisor.start``'s options but *ready* (see ``Supervisor.start``)."""

    name: str | None
    restart: RestartPolicy | str
    priority: int
    depends_on: Sequence[str] | str
    grace: float | None


class ReadyOptions(StartOptions, total=False):
    """The options of a start that returns the service's ``started()`` value."""

    ready: Literal["auto", "started"]


class BeginOptions(StartOptions):
    """The options of a start that is ready when the service begins."""

    ready: Literal["begin"]


class AnyOptions(StartOptions, total=False):
    """The options of a start whose result the checker cannot know."""

    ready: ReadyMode


class ServiceStarter:
    """The typed ``start`` of ``Supervisor``; the supervisor implements ``_start``."""

    @overload
    async def start(
        self, fn: StoppableReadyService0[T], /, **options: Unpack[ReadyOptions]
    ) -> T: ...
    @overload
    async def start(
        self,
        fn: StoppableReadyService1[X1, T],
        arg1: X1,
        /,
        **options: Unpack[ReadyOptions],
    ) -> T: ...
    @overload
    async def start(
        self,
        fn: StoppableReadyService2[X1, X2, T],
        arg1: X1,
        arg2: X2,
        /,
        **options: Unpack[ReadyOptions],
    ) -> T: ...
    @overload
    async def start(
        self,
        fn: StoppableReadyService3[X1, X2, X3, T],
        arg1: X1,
        arg2: X2,
        arg3: X3,
        /,
        **options: Unpack[ReadyOptions],
    ) -> T: ...
    @overload
    async def start(
        self, fn: ReadyService0[T], /, **options: Unpack[ReadyOptions]
    ) -> T: ...
    @overload
    async def start(
        self, fn: ReadyService1[X1, T], arg1: X1, /, **options: Unpack[ReadyOptions]
    ) -> T: ...
    @overload
    async def start(
        self,
        fn: ReadyService2[X1, X2, T],
        arg1: X1,
        arg2: X2,
        /,
        **options: Unpack[ReadyOptions],
    ) -> T: ...
    @overload
    async def start(
        self,
        fn: ReadyService3[X1, X2, X3, T],
        arg1: X1,
        arg2: X2,
        arg3: X3,
        /,
        **options: Unpack[ReadyOptions],
    ) -> T: ...
    @overload
    async def start(
        self, fn: StoppableService0, /, **options: Unpack[ReadyOptions]
    ) -> None: ...
    @overload
    async def start(
        self, fn: StoppableService1[X1], arg1: X1, /, **options: Unpack[ReadyOptions]
    ) -> None: ...
    @overload
    async def start(
        self,
        fn: StoppableService2[X1, X2],
        arg1: X1,
        arg2: X2,
        /,
        **options: Unpack[ReadyOptions],
    ) -> None: ...
    @overload
    async def start(
        self,
        fn: StoppableService3[X1, X2, X3],
        arg1: X1,
        arg2: X2,
        arg3: X3,
        /,
        **options: Unpack[ReadyOptions],
    ) -> None: ...
    @overload
    async def start(self, fn: Service0, /, **options: Unpack[ReadyOptions]) -> None: ...
    @overload
    async def start(
        self, fn: Service1[X1], arg1: X1, /, **options: Unpack[ReadyOptions]
    ) -> None: ...
    @overload
    async def start(
        self,
        fn: Service2[X1, X2],
        arg1: X1,
        arg2: X2,
        /,
        **options: Unpack[ReadyOptions],
    ) -> None: ...
    @overload
    async def start(
        self,
        fn: Service3[X1, X2, X3],
        arg1: X1,
        arg2: X2,
        arg3: X3,
        /,
        **options: Unpack[ReadyOptions],
    ) -> None: ...
    @overload
    async def start(
        self,
        fn: Callable[..., Awaitable[object]],
        /,
        *args: object,
        **options: Unpack[BeginOptions],
    ) -> None: ...
    @overload
    async def start(
        self,
        fn: Callable[..., Awaitable[object]],
        arg1: object,
        arg2: object,
        arg3: object,
        arg4: object,
        /,
        *args: object,
        **options: Unpack[AnyOptions],
    ) -> Any: ...
    @overload
    async def start(
        self,
        fn: Callable[[*PosArgsT], Awaitable[object]],
        /,
        *args: *PosArgsT,
        **options: Unpack[AnyOptions],
    ) -> Any: ...
    async def start(
        self,
        fn: Callable[..., Awaitable[object]],
        /,
        *args: object,
        name: str | None = None,
        restart: RestartPolicy | str = RestartPolicy.PERMANENT,
        priority: int = 0,
        depends_on: Sequence[str] | str = (),
        grace: float | None = None,
        ready: ReadyMode = "auto",
    ) -> Any:
        """Start ``fn(*args)`` as a supervised service; return once it is ready.

        Args:
            fn: an async function; see ``Supervisor`` for *task_status* and
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
            Type checkers (mypy and pyright) check *args* against *fn* and
            infer that value's type, for up to three positional arguments.

        Raises:
            Exception: what the service raised before it became ready; such a
                service is not restarted.
            RuntimeError: if it returned (or was stopped by a shutdown)
                before it became ready, or the supervisor is not running; or,
                once the supervisor has closed, if the service raised a
                ``BaseException`` before it became ready (that exception
                itself leaves the supervisor's ``async with``).
            ValueError, TypeError: bad arguments, named in the message.

        If the caller is cancelled while it waits, the service carries on
        under the supervisor, which then treats an early end like any other.

        Example:
            >>> import anyio, plait
            >>> from anyio.abc import TaskStatus
            >>> async def pool(size: int, *, task_status: TaskStatus[str]) -> None:
            ...     task_status.started(f"pool of {size}")
            ...     await anyio.sleep_forever()
            >>> async def main() -> str:
            ...     async with plait.Supervisor(observers=(), grace=0) as sup:
            ...         return await sup.start(pool, 10)  # checked: str
            >>> anyio.run(main)
            'pool of 10'
        """
        options: AnyOptions = {
            "name": name,
            "restart": restart,
            "priority": priority,
            "depends_on": depends_on,
            "grace": grace,
            "ready": ready,
        }
        return await self._start(fn, args, options)

    async def _start(
        self,
        fn: Callable[..., Awaitable[object]],
        args: tuple[object, ...],
        options: AnyOptions,
    ) -> object:
        raise NotImplementedError
