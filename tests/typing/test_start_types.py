"""Static types of ``Supervisor.start``, as mypy and pyright both see them.

Checked by ``mypy`` (the project's config covers tests/) and by
``pyright -p .`` (the project's config includes this file; strict, per the
comments below, which also make pyright report a ``# type: ignore`` it does
not need: so every call marked wrong here is one both checkers reject).
pytest runs the correct calls for real, so each type asserted is the value's
type at run time too.
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

import functools
from typing import Any, assert_type

import anyio
from anyio.abc import TaskStatus

import plait


async def plain() -> None:
    await anyio.sleep_forever()


async def tick(label: str) -> None:
    await anyio.sleep(0)


async def stoppable(stopping: anyio.Event) -> None:
    await stopping.wait()


async def stoppable_args(host: str, port: int, *, stopping: anyio.Event) -> None:
    await stopping.wait()


async def db(stopping: anyio.Event, task_status: TaskStatus[str]) -> None:
    task_status.started("dsn")
    await stopping.wait()


async def pool(size: int, task_status: TaskStatus[list[int]]) -> None:
    task_status.started(list(range(size)))
    await anyio.sleep_forever()


async def server(
    host: str,
    port: int,
    *,
    stopping: anyio.Event,
    task_status: TaskStatus[tuple[str, int]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started((host, port))
    await stopping.wait()


async def three(a: int, b: str, c: bytes, *, task_status: TaskStatus[float]) -> None:
    task_status.started(1.5)
    await anyio.sleep_forever()


async def four(a: int, b: int, c: int, d: int, *, stopping: anyio.Event) -> None:
    await stopping.wait()


async def optional(a: int, b: int = 0) -> None:
    await anyio.sleep_forever()


async def names(*each: str) -> None:
    await anyio.sleep_forever()


async def test_start_returns_the_started_value_type() -> None:
    async with plait.Supervisor(observers=(), grace=0) as sup:
        assert_type(await sup.start(db), str)
        assert_type(await sup.start(pool, 3, name="pool"), list[int])
        assert_type(await sup.start(server, "::", 80), tuple[str, int])
        assert_type(await sup.start(three, 1, "b", b"c", priority=-1), float)
        assert await sup.start(pool, 2, name="pool2", ready="started") == [0, 1]
        assert await sup.start(server, "h", 1, name="s2", grace=1) == ("h", 1)


async def test_start_of_a_service_without_task_status_is_none() -> None:
    async with plait.Supervisor(observers=(), grace=0) as sup:
        assert_type(await sup.start(plain), None)
        assert_type(await sup.start(tick, "x", restart="temporary"), None)
        assert_type(await sup.start(stoppable, depends_on="plain"), None)
        assert_type(await sup.start(stoppable_args, "h", 1), None)
        assert_type(await sup.start(optional, 1), None)
        assert_type(await sup.start(optional, 1, 2, name="optional2"), None)
        assert_type(await sup.start(names, "a", "b"), None)
        assert_type(await sup.start(anyio.sleep_forever), None)
        assert_type(await sup.start(lambda: anyio.sleep(0), name="lambda"), None)
        assert_type(await sup.start(pool, 1, ready="begin"), None)


async def test_what_the_checkers_cannot_know_is_any_and_accepted() -> None:
    scheduler = plait.Scheduler()
    async with plait.Supervisor(observers=(), grace=0) as sup:
        # Four positional arguments and more are not checked.
        assert_type(await sup.start(four, 1, 2, 3, 4), Any)
        # Accepted by both; mypy and pyright infer these differently.
        await sup.start(functools.partial(pool, 1))
        await sup.start(plait.every, 60, tick, "x", name="every")
        assert_type(await sup.start(plait.every, 60, plain, name="e2"), None)
        assert_type(await sup.start(scheduler.run), None)


async def rejected_calls(sup: plait.Supervisor) -> None:
    """Calls both checkers reject (never run)."""

    def not_async() -> None:
        pass

    await sup.start(plain, 1)  # type: ignore[arg-type]
    await sup.start(tick, 1)  # type: ignore[arg-type]
    await sup.start(tick)  # type: ignore[arg-type, call-arg]
    await sup.start(tick, "x", "y")  # type: ignore[arg-type, call-arg]
    await sup.start(pool, "3")  # type: ignore[arg-type]
    await sup.start(db, "x")  # type: ignore[arg-type]
    await sup.start(server, "h")  # type: ignore[arg-type]
    await sup.start(plait.every, 60, tick, 1)  # type: ignore[misc, call-arg]
    await sup.start(plain, ready="later")  # type: ignore[call-overload, call-arg]
    await sup.start(plain, nme="x")  # type: ignore[call-overload]
    await sup.start(not_async)  # type: ignore[arg-type, call-arg]
    await sup.start(plain())  # type: ignore[call-overload]
    value: int = await sup.start(db)  # type: ignore[arg-type, call-arg]
    del value
