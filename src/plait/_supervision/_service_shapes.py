"""The shapes of a service, as protocols ``Supervisor.start`` is typed with.

A service takes *stopping*, *task_status*, both or neither (by keyword, as
the supervisor passes them), and some positional arguments. There is one
protocol per shape and number of positional arguments, each with one type
variable per argument and ``T_co`` for the value passed to
``task_status.started()``, because that is what both mypy and pyright can
infer (see ``_start_types.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeVar

from anyio import Event
from anyio.abc import TaskStatus

T_co = TypeVar("T_co", covariant=True)
A1 = TypeVar("A1", contravariant=True)
A2 = TypeVar("A2", contravariant=True)
A3 = TypeVar("A3", contravariant=True)


class StoppableReadyService0(Protocol[T_co]):
    """Takes *stopping*, *task_status* and no positional argument."""

    def __call__(
        self, *, stopping: Event, task_status: TaskStatus[T_co]
    ) -> Awaitable[object]: ...


class StoppableReadyService1(Protocol[A1, T_co]):
    """Takes *stopping*, *task_status* and one positional argument."""

    def __call__(
        self, arg1: A1, /, *, stopping: Event, task_status: TaskStatus[T_co]
    ) -> Awaitable[object]: ...


class StoppableReadyService2(Protocol[A1, A2, T_co]):
    """Takes *stopping*, *task_status* and two positional arguments."""

    def __call__(
        self, arg1: A1, arg2: A2, /, *, stopping: Event, task_status: TaskStatus[T_co]
    ) -> Awaitable[object]: ...


class StoppableReadyService3(Protocol[A1, A2, A3, T_co]):
    """Takes *stopping*, *task_status* and three positional arguments."""

    def __call__(
        self,
        arg1: A1,
        arg2: A2,
        arg3: A3,
        /,
        *,
        stopping: Event,
        task_status: TaskStatus[T_co],
    ) -> Awaitable[object]: ...


class ReadyService0(Protocol[T_co]):
    """Takes *task_status* and no positional argument."""

    def __call__(self, *, task_status: TaskStatus[T_co]) -> Awaitable[object]: ...


class ReadyService1(Protocol[A1, T_co]):
    """Takes *task_status* and one positional argument."""

    def __call__(
        self, arg1: A1, /, *, task_status: TaskStatus[T_co]
    ) -> Awaitable[object]: ...


class ReadyService2(Protocol[A1, A2, T_co]):
    """Takes *task_status* and two positional arguments."""

    def __call__(
        self, arg1: A1, arg2: A2, /, *, task_status: TaskStatus[T_co]
    ) -> Awaitable[object]: ...


class ReadyService3(Protocol[A1, A2, A3, T_co]):
    """Takes *task_status* and three positional arguments."""

    def __call__(
        self, arg1: A1, arg2: A2, arg3: A3, /, *, task_status: TaskStatus[T_co]
    ) -> Awaitable[object]: ...


class StoppableService0(Protocol):
    """Takes *stopping* and no positional argument."""

    def __call__(self, *, stopping: Event) -> Awaitable[object]: ...


class StoppableService1(Protocol[A1]):
    """Takes *stopping* and one positional argument."""

    def __call__(self, arg1: A1, /, *, stopping: Event) -> Awaitable[object]: ...


class StoppableService2(Protocol[A1, A2]):
    """Takes *stopping* and two positional arguments."""

    def __call__(
        self, arg1: A1, arg2: A2, /, *, stopping: Event
    ) -> Awaitable[object]: ...


class StoppableService3(Protocol[A1, A2, A3]):
    """Takes *stopping* and three positional arguments."""

    def __call__(
        self, arg1: A1, arg2: A2, arg3: A3, /, *, stopping: Event
    ) -> Awaitable[object]: ...


class Service0(Protocol):
    """Takes neither keyword, and no positional argument."""

    def __call__(self) -> Awaitable[object]: ...


class Service1(Protocol[A1]):
    """Takes neither keyword, and one positional argument."""

    def __call__(self, arg1: A1, /) -> Awaitable[object]: ...


class Service2(Protocol[A1, A2]):
    """Takes neither keyword, and two positional arguments."""

    def __call__(self, arg1: A1, arg2: A2, /) -> Awaitable[object]: ...


class Service3(Protocol[A1, A2, A3]):
    """Takes neither keyword, and three positional arguments."""

    def __call__(self, arg1: A1, arg2: A2, arg3: A3, /) -> Awaitable[object]: ...
